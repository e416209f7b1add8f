"""Affine R^2 of the latent geometry: how well an affine map of two latents explains a grid of the two
positional factors; rotation-invariant.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from sbdlib.metrics.information import ArrayLike
from sbdlib.metrics.posterior import posterior

# Affine R^2 of the latent geometry: an AFFINE_GRID x AFFINE_GRID grid of the two factors.
AFFINE_GRID = 32
POSITIONAL_FACTORS = ("x", "y")  # datasets with both get an affine_r2 in their results rows


def affine_r2(factors: ArrayLike, codes: ArrayLike) -> float:
    """How affine a 2-D embedding is: R^2 of the best affine map from codes to factors.

    Fits ``factors ~ codes @ A + b`` by least squares and returns the fraction of the
    factors' variance it explains (1 = the embedding is an exact affine image of the grid).
    Unlike MIG and the FactorVAE score it does not change when the latents are rotated:
    a rotated but perfect pair of latents still scores 1.

    Args:
        factors: ``[N, 2]`` ground-truth factor values.
        codes: ``[N, 2]`` posterior means in the chosen latents.

    Returns:
        R^2 in (-inf, 1], pooled over both factors.
    """
    factors, codes = np.asarray(factors, np.float64), np.asarray(codes, np.float64)
    if factors.ndim != 2 or codes.ndim != 2 or len(factors) != len(codes) or len(codes) < 3:
        raise ValueError(f"affine_r2 needs factors [N, 2] and codes [N, 2] with N >= 3, got shapes "
                         f"{factors.shape} and {codes.shape}")
    design = np.column_stack([codes, np.ones(len(codes))])
    coef, *_ = np.linalg.lstsq(design, factors, rcond=None)
    residual = ((factors - design @ coef) ** 2).sum()
    total = ((factors - factors.mean(0)) ** 2).sum()
    return float(1.0 - residual / total) if total > 0 else float("nan")


def choose_latents(logvar: torch.Tensor, latents: Sequence[int] | None = None) -> list[int]:
    """The given two latents (validated), or the two with the lowest mean posterior variance."""
    if latents is None:
        latents = np.argsort(logvar.double().exp().mean(0).numpy(), kind="stable")[:2].tolist()
    latents = [int(d) for d in latents]
    dims = logvar.shape[1]
    if len(latents) != 2 or latents[0] == latents[1] or not all(0 <= d < dims for d in latents):
        raise ValueError(f"latents must be two different indices in [0, {dims}), got {latents}")
    return latents


def grid_posterior(vae: Any, dataset: Any, factor_a: str, factor_b: str, n: int
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """An ``n x n`` grid over two factors, encoded: (factors ``[n*n, K]``, held-out mask ``[n*n]``,
    posterior means ``[n*n, D]``, log-variances ``[n*n, D]``)."""
    images, factors, held_out = dataset.grid(factor_a, factor_b, n, n)
    mean, logvar = posterior(vae, images)
    return factors, held_out, mean, logvar


def grid_affine_r2(vae: Any, dataset: Any, factor_a: str = "x", factor_b: str = "y", *, n: int = AFFINE_GRID,
                   latents: Sequence[int] | None = None) -> tuple[float, list[int]]:
    """:func:`affine_r2` of a model's embedding of the ``n x n`` factor grid (held-out points included).

    The measure behind the paper's Fig. 4, in one number: render the grid, encode it, take
    the two latents with the lowest mean posterior variance over the grid and fit the
    true ``(factor_a, factor_b)`` from them affinely.

    Args:
        vae: Has ``encode``.
        dataset: A :class:`sbdlib.data.FactorDataset`.
        factor_a: First factor.
        factor_b: Second factor.
        n: Grid values per factor (default 32, a 32 x 32 grid of positions).
        latents: Two latents (default: the two lowest-variance ones over the grid).

    Returns:
        ``(r2, [d1, d2])``.
    """
    factors, _, mean, logvar = grid_posterior(vae, dataset, factor_a, factor_b, n)
    latents = choose_latents(logvar, latents)
    ia, ib = dataset.factor_index(factor_a), dataset.factor_index(factor_b)
    return affine_r2(factors[:, [ia, ib]].numpy(), mean[:, latents].numpy()), latents
