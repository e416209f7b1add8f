"""The reconstruction error inside a held-out hole of the factor space (notebook 11)."""

from __future__ import annotations

import math
from typing import Any

import torch

from sbdlib.devices import module_device
from sbdlib.metrics.affine_r2 import AFFINE_GRID
from sbdlib.metrics.posterior import MAX_CHUNK, posterior


def hole_reconstruction_error(vae: Any, dataset: Any, factor_a: str, factor_b: str, *, n: int = AFFINE_GRID
                              ) -> dict[str, float]:
    """Mean squared reconstruction error per pixel of the ``n x n`` grid, inside the held-out hole and outside it.

    App. H's generalisation test in one pair of numbers: the hole's images were never seen in
    training, so a decoder that composes its factors reconstructs them about as well as the
    rest (``ratio`` near 1), and one that memorised the training region does worse inside.
    Reconstructions decode the posterior mean (:meth:`sbdlib.models.VAE.reconstruct`).

    Args:
        vae: Has ``encode`` and ``decode_image``.
        dataset: A :class:`sbdlib.data.FactorDataset` with a hole over ``(factor_a, factor_b)``.
        factor_a: First factor of the hole.
        factor_b: Second factor of the hole.
        n: Grid values per factor.

    Returns:
        ``{"inside", "outside", "ratio"}``: mean errors over the grid points in and out of
        the hole, and inside / outside.
    """
    if getattr(dataset, "hole", None) is None:
        raise ValueError(f"{getattr(dataset, 'name', 'the dataset')} has no held-out hole; build it with "
                         f"hole='center' or hole='corner' (e.g. get_dataset('circles/xy', hole='center'))")
    images, _, held_out = dataset.grid(factor_a, factor_b, n, n)
    mean, _ = posterior(vae, images)
    device = module_device(vae)
    with torch.no_grad():
        recon = torch.cat([vae.decode_image(mean[i:i + MAX_CHUNK].to(device)).float().cpu()
                           for i in range(0, len(mean), MAX_CHUNK)])
    error = ((recon - images) ** 2).flatten(1).mean(1).double()
    inside, outside = float(error[held_out].mean()), float(error[~held_out].mean())
    return {"inside": inside, "outside": outside, "ratio": inside / outside if outside > 0 else math.nan}
