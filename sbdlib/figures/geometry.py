"""The latent space seen from the factors: posterior widths and the latent geometry of a grid of
positions.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from sbdlib.figures.images import _check_models
from sbdlib.figures.style import COLORS, FALLBACK_COLOR, LABELS, _finish, color_of, label_of
from sbdlib.metrics import LATENT_USED_STD, affine_r2, choose_latents, grid_posterior, posterior

GEOMETRY_GRID = 12  # grid values per factor in latent-geometry plots
GEOMETRY_CMAP_A = "winter"  # lines of constant factor_a
GEOMETRY_CMAP_B = "autumn"  # lines of constant factor_b
GEOMETRY_CMAP_RANGE = (0.1, 0.9)  # part of each colormap used (avoids near-white ends)
HELD_OUT_COLOR = "black"


def plot_posterior_std(vaes: Mapping[str, Any], images: Tensor, *, threshold: float = LATENT_USED_STD,
                       sort: bool = True, save: str | None = None) -> Figure:
    """Grouped bars of each latent's mean posterior std, per model, with the "used" threshold.

    A latent counts as used when its mean posterior std is below ``threshold`` (0.5).

    Args:
        vaes: ``{key: vae}``.
        images: Reference batch ``[N, C, H, W]``.
        threshold: The dashed line and the "latents used" count.
        sort: Sort each model's latents by std (bar ``k`` = its ``k``-th most informative
            latent, the latent index written on the bar); else bar ``k`` = latent ``k``.
        save: File stem to write into ``figures/``, or None.

    Returns:
        The figure.
    """
    _check_models(vaes)
    stds = {key: posterior(vae, images)[1].double().mul(0.5).exp().mean(0).numpy() for key, vae in vaes.items()}
    dims = max(len(s) for s in stds.values())
    width = 0.8 / len(vaes)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * dims + 2), 3.6))
    for i, (key, std) in enumerate(stds.items()):
        order = np.argsort(std, kind="stable") if sort else np.arange(len(std))
        x = np.arange(len(std)) + (i - (len(vaes) - 1) / 2) * width
        used = int((std < threshold).sum())
        vae = vaes[key]
        bars = ax.bar(x, std[order], width=width, color=color_of(key, vae),
                      label=f"{label_of(key, vae)} (latents used: {used})")
        if sort:
            for bar, d in zip(bars, order):
                ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"z{d}", ha="center",
                        va="bottom", fontsize=6)
    ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"used if std < {threshold:g}")
    ax.set_xticks(np.arange(dims), [str(k + 1) for k in range(dims)] if sort else [f"z{k}" for k in range(dims)])
    ax.set_xlabel("latent rank (most informative first)" if sort else "latent")
    ax.set_ylabel("mean posterior std")
    ax.set_ylim(0, max(1.15, max(float(s.max()) for s in stds.values()) * 1.1))
    ax.set_title(f"Posterior std per latent over {images.shape[0]} images (prior std = 1)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=len(vaes) + 1, frameon=False)
    fig.tight_layout()
    return _finish(fig, save)


def _grid_colors(count: int, cmap: str) -> np.ndarray:
    """``count`` RGBA colours evenly spread over the used part of ``cmap``."""
    lo, hi = GEOMETRY_CMAP_RANGE
    return plt.get_cmap(cmap)(np.linspace(lo, hi, count))


def _draw_grid(ax: Axes, points: np.ndarray, held_out: np.ndarray) -> None:
    """Draw ``points [n_a, n_b, 2]`` as lines of constant a and of constant b, held-out points black."""
    n_a, n_b = points.shape[:2]
    for i, color in enumerate(_grid_colors(n_a, GEOMETRY_CMAP_A)):
        ax.plot(points[i, :, 0], points[i, :, 1], color=color, linewidth=1.2)
    for j, color in enumerate(_grid_colors(n_b, GEOMETRY_CMAP_B)):
        ax.plot(points[:, j, 0], points[:, j, 1], color=color, linewidth=1.2)
    if held_out.any():
        ax.scatter(points[held_out][:, 0], points[held_out][:, 1], s=14, color=HELD_OUT_COLOR, zorder=3,
                   label="held out (hole)")
        ax.legend(fontsize=7, loc="best")


def plot_latent_geometry(vae: Any, dataset: Any, factor_a: str = "x", factor_b: str = "y", *,
                         n: int = GEOMETRY_GRID, latents: Sequence[int] | None = None, ax: Axes | None = None,
                         title: str | None = None, save: str | None = None) -> Figure:
    """The paper's Fig. 4: a grid over two factors, encoded, drawn in two latents.

    The ``n x n`` grid over ``(factor_a, factor_b)`` (other factors at their defaults) is
    rendered and encoded; posterior means are plotted in two latents and joined as in the
    ground-truth grid: lines of constant ``factor_a`` in the :data:`GEOMETRY_CMAP_A` colours,
    lines of constant ``factor_b`` in :data:`GEOMETRY_CMAP_B`. Points in the dataset's
    held-out hole are drawn black. A good representation looks like an affine image of the
    grid; the panel reports the R^2 of the best affine fit (:func:`affine_r2`).

    Args:
        vae: Has ``encode``.
        dataset: A :class:`sbdlib.data.FactorDataset` with both factors.
        factor_a: Factor constant along the first family of lines.
        factor_b: Factor constant along the second family.
        n: Grid values per factor.
        latents: Two latent indices (default: the two with the lowest mean posterior
            variance over the grid images).
        ax: Axes to draw into (default: a new figure).
        title: Panel title (default: the model's decoder and the factors).
        save: File stem to write into ``figures/``, or None.

    Returns:
        The figure holding the axes.
    """
    factors, held_out, mean, logvar = grid_posterior(vae, dataset, factor_a, factor_b, n)
    latents = choose_latents(logvar, latents)
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.2, 4.0))
    else:
        fig = ax.figure
    points = mean[:, latents].numpy().reshape(n, n, 2)
    _draw_grid(ax, points, held_out.numpy().reshape(n, n))
    ia, ib = dataset.factor_index(factor_a), dataset.factor_index(factor_b)
    r2 = affine_r2(factors[:, [ia, ib]].numpy(), mean[:, latents].numpy())
    ax.text(0.02, 0.02, f"affine $R^2$ = {r2:.2f}", transform=ax.transAxes, fontsize=8, va="bottom",
            bbox=dict(facecolor="white", alpha=0.7, edgecolor="none"))
    ax.set_xlabel(f"z{latents[0]} (posterior mean)")
    ax.set_ylabel(f"z{latents[1]} (posterior mean)")
    decoder = getattr(vae, "config", {}).get("decoder", "")
    ax.set_title(title if title is not None else f"{LABELS.get(decoder, decoder)}: {factor_a}-{factor_b} grid",
                 color=COLORS.get(decoder, FALLBACK_COLOR), fontsize=10)
    return _finish(fig, save)


def plot_factor_grid(dataset: Any, factor_a: str = "x", factor_b: str = "y", *, n: int = GEOMETRY_GRID,
                     ax: Axes | None = None) -> Figure:
    """The ground-truth grid in factor space, coloured as in :func:`plot_latent_geometry`.

    ``factor_a`` is horizontal and ``factor_b`` vertical; a ``y`` axis points down, as in the
    images.
    """
    _, factors, held_out = dataset.grid(factor_a, factor_b, n, n)
    ia, ib = dataset.factor_index(factor_a), dataset.factor_index(factor_b)
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.2, 4.0))
    else:
        fig = ax.figure
    _draw_grid(ax, factors[:, [ia, ib]].numpy().reshape(n, n, 2), held_out.numpy().reshape(n, n))
    if factor_b == "y":
        ax.invert_yaxis()
    ax.set_xlabel(factor_a)
    ax.set_ylabel(factor_b)
    ax.set_title(f"ground truth: {factor_a}-{factor_b} grid", fontsize=10)
    return fig


def plot_geometry_comparison(vaes: Mapping[str, Any], dataset: Any, factor_a: str = "x", factor_b: str = "y", *,
                             n: int = GEOMETRY_GRID, latents: Mapping[str, Sequence[int]] | None = None,
                             suptitle: str | None = None, save: str | None = None) -> Figure:
    """The ground-truth grid beside each model's embedding of it (Fig. 4 layout).

    Args:
        vaes: ``{key: vae}``.
        dataset: A :class:`sbdlib.data.FactorDataset`.
        factor_a: First factor.
        factor_b: Second factor.
        n: Grid values per factor.
        latents: Optional ``{key: (d1, d2)}`` per model (default: its two lowest-variance latents).
        suptitle: Figure title (default names the dataset and factors).
        save: File stem to write into ``figures/``, or None.

    Returns:
        The figure: ``1 + len(vaes)`` panels in a row.
    """
    _check_models(vaes)
    fig, axes = plt.subplots(1, 1 + len(vaes), figsize=(3.6 * (1 + len(vaes)), 3.7), squeeze=False)
    plot_factor_grid(dataset, factor_a, factor_b, n=n, ax=axes[0, 0])
    for ax, (key, vae) in zip(axes[0, 1:], vaes.items()):
        chosen = (latents or {}).get(key)
        plot_latent_geometry(vae, dataset, factor_a, factor_b, n=n, latents=chosen, ax=ax,
                             title=label_of(key, vae))
        ax.title.set_color(color_of(key, vae))
        ax.title.set_fontweight("bold")
    fig.suptitle(suptitle or f"Latent geometry of the {factor_a}-{factor_b} grid ({dataset.name})")
    fig.tight_layout()
    return _finish(fig, save)
