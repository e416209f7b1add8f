"""Object ownership: the share of an object's pixels won by the one slot that wins most of them
(notebook 13).
"""

from __future__ import annotations

import math

import torch

from sbdlib.metrics.information import ArrayLike


def object_ownership(true_labels: ArrayLike, pred_labels: ArrayLike) -> torch.Tensor:
    """Per image, how whole each object stays: the share of its pixels won by the slot that wins most of them.

    Averaged over the image's objects (true labels > 0): 1 where every object lies in one slot,
    1/K where an object's pixels are spread evenly over K slots. It does not see two objects
    merged into one slot (the foreground ARI does): read the two together.

    Args:
        true_labels: ``[N, P]`` integer ground-truth labels per pixel, 0 the background.
        pred_labels: ``[N, P]`` integer predicted labels (e.g. the argmax slot of each pixel).

    Returns:
        ``[N]`` float64 shares; NaN for an image without objects.
    """
    true = torch.as_tensor(true_labels).long()
    pred = torch.as_tensor(pred_labels).long().to(true.device)
    if true.dim() != 2 or true.shape != pred.shape:
        raise ValueError(f"true_labels and pred_labels must both be [N, P], got {tuple(true.shape)} and "
                         f"{tuple(pred.shape)}")
    n = true.shape[0]
    num_true, num_pred = int(true.max()) + 1 if true.numel() else 1, int(pred.max()) + 1 if pred.numel() else 1
    table = torch.zeros(n, num_true * num_pred, dtype=torch.float64, device=true.device)
    table.scatter_add_(1, true * num_pred + pred, torch.ones_like(true, dtype=torch.float64))
    table = table.reshape(n, num_true, num_pred)[:, 1:]  # [N, objects, slots]: the background left out
    size = table.sum(2)
    share = table.max(2).values / size.clamp_min(1)
    present = size > 0
    return torch.where(present.any(1), (share * present).sum(1) / present.sum(1).clamp_min(1),
                       torch.full((n,), math.nan, dtype=torch.float64, device=true.device)).cpu()
