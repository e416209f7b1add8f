"""Algorithm 1 of the paper: :func:`spatial_broadcast` tiles a latent vector over the image and appends
coordinate maps.
"""

from __future__ import annotations

import torch

from sbdlib.checks import check_int, seeded_generator

COORD_SHUFFLE_SEED = 0
COORD_CHANNELS = 2  # the x and y maps (coordinate_maps); spatial_broadcast appends them after the latents


def coordinate_maps(height: int, width: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """The x and y maps of Algorithm 1: ``[2, H, W]``, each in [-1, 1].

    Channel 0 is x = linspace(-1, 1, width) varying along the width; channel 1 is
    y = linspace(-1, 1, height) varying along the height.
    """
    x = torch.linspace(-1.0, 1.0, width, device=device, dtype=dtype)
    y = torch.linspace(-1.0, 1.0, height, device=device, dtype=dtype)
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    return torch.stack([xx, yy])


def spatial_broadcast(z: torch.Tensor, height: int, width: int, coords: torch.Tensor | None = None) -> torch.Tensor:
    """Algorithm 1 of the paper: tile ``z`` over every pixel and append coordinates.

    Args:
        z: Latents ``[B, k]``.
        height: Output height H.
        width: Output width W.
        coords: The coordinate maps ``[2, H, W]`` (default :func:`coordinate_maps`; the
            App. B ablation passes shuffled ones).

    Returns:
        ``[B, k + 2, H, W]``: channels ``0..k-1`` the tiled latents, channel ``k`` the
        x map (varying along the width) and channel ``k + 1`` the y map, both in [-1, 1].
    """
    if z.dim() != 2:
        raise ValueError(f"spatial_broadcast expects z of shape [B, k], got {tuple(z.shape)}")
    check_int(height, "height")
    check_int(width, "width")
    b, k = z.shape
    tiled = z[:, :, None, None].expand(b, k, height, width)
    if coords is None:
        coords = coordinate_maps(height, width, device=z.device, dtype=z.dtype)
    coords = coords.to(device=z.device, dtype=z.dtype)
    return torch.cat([tiled, coords.expand(b, COORD_CHANNELS, height, width)], dim=1)


def shuffle_pixels(maps: torch.Tensor, seed: int | torch.Generator = COORD_SHUFFLE_SEED) -> torch.Tensor:
    """Permute the pixels of ``[C, H, W]`` maps once, keeping each pixel's channels together.

    The App. B ablation: each (x, y) pair survives, but its place in the image is random.
    ``seed`` is an integer seed, or a ``torch.Generator`` the permutation is drawn from.
    """
    c, h, w = maps.shape
    generator = seed if isinstance(seed, torch.Generator) else seeded_generator(seed)
    perm = torch.randperm(h * w, generator=generator)
    return maps.reshape(c, h * w)[:, perm.to(maps.device)].reshape(c, h, w)
