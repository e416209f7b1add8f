"""Latents used (Watters et al., 2019): latents whose mean posterior standard deviation is below 0.5."""

from __future__ import annotations

import torch

from sbdlib.metrics.information import ArrayLike

# Watters et al.: a latent is "used" when its mean posterior std is below 0.5.
LATENT_USED_STD = 0.5


def mean_posterior_std(logvar: ArrayLike) -> torch.Tensor:
    """Posterior std ``exp(logvar / 2)`` averaged over a dataset, per latent dimension.

    Args:
        logvar: Posterior log-variances [N, D] (numpy or torch).

    Returns:
        Mean posterior std [D] (float tensor on the input's device).
    """
    t = torch.as_tensor(logvar)
    if t.ndim != 2 or t.shape[0] < 1 or not torch.is_floating_point(t):
        raise ValueError(f"logvar must be a floating array of shape [N, D] with N >= 1, got "
                         f"shape {tuple(t.shape)} and dtype {t.dtype}")
    return torch.exp(0.5 * t.detach()).mean(dim=0)


def latents_used(logvar: ArrayLike, threshold: float = LATENT_USED_STD) -> int:
    """Number of latents in use: mean posterior std below ``threshold`` (the paper: 0.5).

    An unused latent collapses to the prior (std 1); a used one has a narrow posterior.

    Args:
        logvar: Posterior log-variances [N, D] over a dataset (not stds).
        threshold: Std below which a latent counts as used.

    Returns:
        Count of used latents, in 0..D.
    """
    return int((mean_posterior_std(logvar) < threshold).sum().item())
