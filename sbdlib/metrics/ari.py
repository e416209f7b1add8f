"""The foreground adjusted Rand index: how well a model's segments match the true objects, background
pixels left out (notebook 13).
"""

from __future__ import annotations

import math

import torch

from sbdlib.metrics.information import ArrayLike


def _pairs(counts: torch.Tensor) -> torch.Tensor:
    """Pairs among ``counts`` items: ``n (n - 1) / 2``, elementwise."""
    return counts * (counts - 1) / 2


def foreground_ari(true_labels: ArrayLike, pred_labels: ArrayLike) -> torch.Tensor:
    """Foreground adjusted Rand index per image: how well predicted segments match the objects.

    The ARI (Hubert & Arabie, 1985) counts the pairs of pixels on which two labellings agree
    (same segment in both, or different in both), corrected for chance: 1 for the same
    partition whatever the label names, about 0 for a random one. *Foreground*: pixels whose
    true label is 0 (the background) are left out, as in MONet, IODINE and Slot Attention.
    Where both labellings put all foreground pixels in one segment the ARI is 1; an image
    without foreground pixels gets NaN.

    Args:
        true_labels: ``[N, P]`` integer ground-truth labels per pixel, 0 the background.
        pred_labels: ``[N, P]`` integer predicted labels (e.g. the argmax slot of each pixel).

    Returns:
        ``[N]`` float64 ARIs, one per image.
    """
    true = torch.as_tensor(true_labels)
    pred = torch.as_tensor(pred_labels).to(true.device)
    if true.dim() != 2 or true.shape != pred.shape:
        raise ValueError(f"true_labels and pred_labels must both be [N, P], got {tuple(true.shape)} and "
                         f"{tuple(pred.shape)}")
    if true.is_floating_point() or pred.is_floating_point() or (true.numel() and min(true.min(), pred.min()) < 0):
        raise ValueError("labels must be integers >= 0 (0 in true_labels is the background)")
    true, pred = true.long(), pred.long()
    n = true.shape[0]
    num_true, num_pred = int(true.max()) + 1 if true.numel() else 1, int(pred.max()) + 1 if pred.numel() else 1
    # The contingency table of each image, [N, true segments, predicted segments], foreground pixels only.
    table = torch.zeros(n, num_true * num_pred, dtype=torch.float64, device=true.device)
    table.scatter_add_(1, true * num_pred + pred, (true > 0).double())
    table = table.reshape(n, num_true, num_pred)
    rows, cols = table.sum(2), table.sum(1)
    agree, true_pairs, pred_pairs = _pairs(table).sum((1, 2)), _pairs(rows).sum(1), _pairs(cols).sum(1)
    total_pairs = _pairs(rows.sum(1))
    expected = true_pairs * pred_pairs / total_pairs.clamp_min(1)
    best = (true_pairs + pred_pairs) / 2
    ari = (agree - expected) / torch.where(best == expected, torch.ones_like(best), best - expected)
    ari = torch.where(best == expected, torch.ones_like(ari), ari)  # one segment in both: identical partitions
    return torch.where(rows.sum(1) > 0, ari, torch.full_like(ari, math.nan)).cpu()
