"""What a model draws: reconstructions, latent traversals and image tiles."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor
from torchvision.utils import make_grid

from sbdlib.devices import module_device
from sbdlib.figures.style import PANEL_INCHES, _finish, color_of, label_of
from sbdlib.metrics import posterior

TILE_PAD = 2  # pixels between tiles
TILE_PAD_VALUE = 0.5  # grey separators
TRAVERSAL_TILE_INCHES = 0.55
DEFAULT_TRAVERSAL_STEPS = 7
DEFAULT_TRAVERSAL_SPAN = 2.0  # the paper: sweep each latent over [-2, 2]


@torch.no_grad()
def _decode(vae: Any, z: Tensor) -> Tensor:
    """Images ``[B, C, H, W]`` in [0, 1] (CPU) of latents ``[B, D]``."""
    return vae.decode_image(z.to(module_device(vae))).detach().float().cpu()


def latent_order(vae: Any, images: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Latents sorted from most to least informative, by mean posterior variance.

    A latent the VAE uses has a narrow posterior (variance well below the prior's 1);
    an unused one collapses to the prior. Ties keep the lower index first.

    Args:
        vae: Has ``encode(x) -> (mean [B, D], logvar [B, D])``.
        images: Reference batch ``[N, C, H, W]``.

    Returns:
        ``(order [D] int, mean_variance [D] float)``: ``order[0]`` is the latent with the
        lowest mean posterior variance; ``mean_variance[d]`` is latent ``d``'s variance
        averaged over the batch (indexed by latent, so ``mean_variance[order]`` is sorted).
    """
    _, logvar = posterior(vae, images)
    mean_variance = logvar.double().exp().mean(0).numpy()
    order = np.argsort(mean_variance, kind="stable")
    return order, mean_variance


def tile_images(images: Tensor, ncol: int, pad: int = TILE_PAD, pad_value: float = TILE_PAD_VALUE) -> np.ndarray:
    """Tile ``[N, C, H, W]`` images row-major into one ``[H', W', 3]`` array for ``imshow``.

    ``ncol`` images per row, separated by ``pad`` grey pixels (torchvision's ``make_grid``).
    """
    n, c, h, w = images.shape
    if c not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got {c}")
    grid = make_grid(images.detach().float().clamp(0, 1).cpu(), nrow=ncol, padding=pad, pad_value=pad_value)
    return grid.permute(1, 2, 0).numpy()


def _tile_centres(count: int, size: int, pad: int = TILE_PAD) -> np.ndarray:
    """Pixel coordinates of the centres of ``count`` tiles of side ``size`` along one axis."""
    return pad + np.arange(count) * (size + pad) + (size - 1) / 2


def _check_models(vaes: Mapping[str, Any]) -> None:
    """Raise ValueError on an empty model dict."""
    if not vaes:
        raise ValueError("vaes must name at least one model, e.g. {'deconv': vae1, 'sbd': vae2}")


def plot_reconstructions(vaes: Mapping[str, Any], images: Tensor, *, save: str | None = None) -> Figure:
    """Inputs in the top row, each model's reconstructions below (the paper's Fig. 2 style).

    Reconstructions decode the posterior mean.

    Args:
        vaes: ``{key: vae}``; each has ``reconstruct(x) -> [B, C, H, W]`` in [0, 1].
        images: ``[N, C, H, W]`` inputs (a handful, e.g. 8).
        save: File stem to write into ``figures/``, or None.

    Returns:
        The figure: one row per input set / model, a strip of ``N`` images each.
    """
    _check_models(vaes)
    rows: list[tuple[str, str, Tensor]] = [("Input", "black", images.detach().float().cpu())]
    with torch.no_grad():
        for key, vae in vaes.items():
            recon = vae.reconstruct(images.to(module_device(vae))).detach().float().cpu()
            rows.append((label_of(key, vae), color_of(key, vae), recon))
    n = images.shape[0]
    fig, axes = plt.subplots(len(rows), 1, figsize=(max(4.0, PANEL_INCHES * n), PANEL_INCHES * len(rows) + 0.6),
                             squeeze=False)
    for ax, (name, color, batch) in zip(axes[:, 0], rows):
        ax.imshow(tile_images(batch, n), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(name, color=color, rotation=0, ha="right", va="center", fontsize=10, fontweight="bold")
    axes[-1, 0].set_xlabel("test images (reconstruction = decoded posterior mean)")
    fig.suptitle("Reconstructions")
    fig.tight_layout()
    return _finish(fig, save)


def traverse(vae: Any, z: Tensor, dim: int, values: Tensor) -> Tensor:
    """One traversal: the code ``z`` ``[D]`` with latent ``dim`` set to each of ``values`` ``[V]``, decoded.

    Args:
        vae: Has ``decode_image(z [B, D]) -> [B, C, H, W]`` in [0, 1].
        z: The code to start from ``[D]`` (e.g. a seed image's posterior mean).
        dim: The latent to sweep; every other latent keeps its value in ``z``.
        values: The values latent ``dim`` takes ``[V]``.

    Returns:
        Images ``[V, C, H, W]`` in [0, 1] (probabilities, not logits), on the CPU.
    """
    values = torch.as_tensor(values, dtype=torch.float32).reshape(-1)
    if z.dim() != 1 or not 0 <= int(dim) < z.shape[0]:
        raise ValueError(f"need z of shape [D] and 0 <= dim < D, got z of shape {tuple(z.shape)} and dim {dim}")
    codes = z.detach().float().cpu().repeat(len(values), 1)  # [V, D]: one copy of z per value
    codes[:, int(dim)] = values
    return _decode(vae, codes)


def traversal_images(vae: Any, image: Tensor, order: Sequence[int], *, steps: int = DEFAULT_TRAVERSAL_STEPS,
                     span: float = DEFAULT_TRAVERSAL_SPAN) -> tuple[Tensor, np.ndarray]:
    """Decoded traversals: each latent in ``order`` swept over ``[-span, span]``, others at the mean.

    Args:
        vae: Has ``encode`` and ``decode_image``.
        image: Seed image ``[C, H, W]``.
        order: Latents to sweep, one output row each.
        steps: Values per sweep.
        span: Half-width of the sweep.

    Returns:
        ``(images [len(order) * steps, C, H, W], values [steps])``, row-major by latent.
    """
    if image.dim() != 3:
        raise ValueError(f"image must have shape [C, H, W], got {tuple(image.shape)}")
    if steps < 2 or not span > 0:
        raise ValueError(f"need steps >= 2 and span > 0, got steps={steps}, span={span}")
    mean, _ = posterior(vae, image[None])
    values = torch.linspace(-span, span, steps)
    return torch.cat([traverse(vae, mean[0], int(d), values) for d in order]), values.numpy()


def plot_traversals(vaes: Mapping[str, Any], image: Tensor, *, steps: int = DEFAULT_TRAVERSAL_STEPS,
                    span: float = DEFAULT_TRAVERSAL_SPAN, reference: Tensor | None = None,
                    num_latents: int | None = None, save: str | None = None) -> Figure:
    """Latent traversals of several models side by side (one panel per model).

    From the seed image's posterior mean, each latent is swept over ``[-span, span]`` with
    the others fixed. Rows are latents ordered by mean posterior variance over
    ``reference`` (lowest = most informative first); each row's label gives the latent's
    index and that variance.

    Args:
        vaes: ``{key: vae}`` (e.g. ``{"deconv": ..., "sbd": ...}``).
        image: Seed image ``[C, H, W]``.
        steps: Values per sweep (columns).
        span: Half-width of the sweep (the paper: 2).
        reference: Batch ``[N, C, H, W]`` for the variance ordering (default: the seed alone;
            pass a few hundred images for a meaningful order).
        num_latents: Show only the first rows (default: every latent).
        save: File stem to write into ``figures/``, or None.

    Returns:
        The figure.
    """
    _check_models(vaes)
    ref = image[None] if reference is None else reference
    fig, axes = plt.subplots(1, len(vaes), squeeze=False, figsize=(
        len(vaes) * (TRAVERSAL_TILE_INCHES * steps + 1.4), 0.9 + TRAVERSAL_TILE_INCHES * _rows(vaes, num_latents)))
    for ax, (key, vae) in zip(axes[0], vaes.items()):
        order, variance = latent_order(vae, ref)
        order = order[:num_latents] if num_latents else order
        tiles, values = traversal_images(vae, image, order, steps=steps, span=span)
        ax.imshow(tile_images(tiles, steps), interpolation="nearest")
        size = image.shape[-1]
        ax.set_xticks(_tile_centres(steps, size), [f"{v:+.1f}" for v in values], fontsize=8)
        ax.set_yticks(_tile_centres(len(order), image.shape[-2]),
                      [f"z{d}  ($\\sigma^2$={variance[d]:.3f})" for d in order], fontsize=8)
        ax.set_xlabel("latent value (others at the posterior mean)")
        ax.set_ylabel("latent, by mean posterior variance")
        ax.set_title(label_of(key, vae), color=color_of(key, vae), fontweight="bold")
        ax.tick_params(length=0)
    fig.suptitle(f"Latent traversals over [{-span:g}, {span:g}] (most informative latents first)")
    fig.tight_layout()
    return _finish(fig, save)


def _rows(vaes: Mapping[str, Any], num_latents: int | None) -> int:
    """Rows of the traversal figure: the largest latent count shown."""
    most = max(int(getattr(vae, "latent_dim", 10)) for vae in vaes.values())
    return min(most, num_latents) if num_latents else most
