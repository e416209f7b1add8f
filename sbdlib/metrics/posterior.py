"""The encoder's posterior means (and standard deviations) over a batch of images, in chunks."""

from __future__ import annotations

from typing import Any

import torch

from sbdlib.devices import module_device

# Largest number of images passed to a representation function (or rendered) at once.
MAX_CHUNK = 256


@torch.no_grad()
def posterior(vae: Any, images: torch.Tensor, chunk: int = MAX_CHUNK) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and log-variances of ``images`` ``[N, C, H, W]``, on the CPU.

    Args:
        vae: Anything with ``encode(x) -> (mean [B, D], logvar [B, D])``.
        images: ``[N, C, H, W]`` images in [0, 1].
        chunk: Images per encoder pass.

    Returns:
        ``(mean [N, D], logvar [N, D])`` float32 CPU tensors.
    """
    if images.dim() != 4 or images.shape[0] < 1:
        raise ValueError(f"images must have shape [N, C, H, W] with N >= 1, got {tuple(images.shape)}")
    device = module_device(vae)
    means, logvars = [], []
    for start in range(0, images.shape[0], chunk):
        mean, logvar = vae.encode(images[start:start + chunk].to(device))
        means.append(mean.detach().float().cpu())
        logvars.append(logvar.detach().float().cpu())
    return torch.cat(means), torch.cat(logvars)
