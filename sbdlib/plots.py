"""Figures of the course: reconstructions, traversals, posterior widths, latent geometry, MIG.

Every figure that draws a decoder uses the same colour (:data:`COLORS`) and display name
(:data:`LABELS`), so DeConv and the Spatial Broadcast decoder are recognisable at a glance
in every notebook. Each plotting function returns its :class:`matplotlib.figure.Figure`,
gives it a title and axis labels, and writes ``figures/<save>.png`` when ``save`` is a name.

Models are passed as ``{key: vae}`` dicts. A key that is a decoder name (``"deconv"``,
``"sbd"``, ``"coordconv"``) gets that decoder's label; any other key (e.g. ``"sbd seed 3"``)
is shown as written, in the colour of ``vae.decoder_name``. An ablation variant's key is
``decoder/variant`` (``"sbd/shuffled-coords"``, :func:`model_key`): its decoder's colour,
lightened, so a variant reads as a member of its decoder's family.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor
from torchvision.utils import make_grid

from sbdlib.scales import DEFAULT_SCALE, scale

from sbdlib.devices import module_device
from sbdlib.metrics import (LATENT_USED_STD, affine_r2, choose_latents, grid_affine_r2, grid_posterior, metric_columns,
                            posterior)
from sbdlib.models import (DECODERS, MODELS, VARIANT_SEPARATOR, VARIANT_TINT, model_color,  # noqa: F401
                           model_key as key_of_model, model_label)

COLORS: dict[str, str] = {name: d.color for name, d in DECODERS.items()}  # from the one registry (sbdlib.models)
LABELS: dict[str, str] = {name: d.label for name, d in DECODERS.items()}
FALLBACK_COLOR = "#555555"

FIGURES_DIR = Path(__file__).resolve().parents[1] / "figures"  # shipped: written only by `make figures`
READER_FIGURES_DIR = Path(__file__).resolve().parents[1] / "runs" / "figures"  # git-ignored: everyone else
SHIP_FIGURES_VAR = "SBDLIB_SHIP_FIGURES"  # set to 1 by `make figures`; not a compute setting
DPI = 120

TILE_PAD = 2  # pixels between tiles
TILE_PAD_VALUE = 0.5  # grey separators
PANEL_INCHES = 1.1  # side of one image tile in figures
TRAVERSAL_TILE_INCHES = 0.55
DEFAULT_TRAVERSAL_STEPS = 7
DEFAULT_TRAVERSAL_SPAN = 2.0  # the paper: sweep each latent over [-2, 2]
GEOMETRY_GRID = 12  # grid values per factor in latent-geometry plots
GEOMETRY_CMAP_A = "winter"  # lines of constant factor_a
GEOMETRY_CMAP_B = "autumn"  # lines of constant factor_b
GEOMETRY_CMAP_RANGE = (0.1, 0.9)  # part of each colormap used (avoids near-white ends)
HELD_OUT_COLOR = "black"
SMOOTHING_FRACTION = 0.02  # moving-average window of training curves, as a fraction of the run
MAX_FIGURE_INCHES = 20.0  # wider multi-panel figures wrap into rows
SUPTITLE_TOP = 0.95  # panels end here, leaving room for a figure title above them
MAX_LEGEND_RUNS = 6  # training-curve panels name their runs up to this many
# Training-curve panels: (title, y-axis label) per logged quantity.
HISTORY_LABELS = {"nll": ("NLL", "nats per image"), "kl": ("KL", "nats per image"),
                  "elbo": ("negative ELBO", "nats per image"), "loss": ("loss minimised", "nats per image"),
                  "tc": ("total correlation (discriminator estimate)", "nats"),
                  "disc_accuracy": ("discriminator accuracy", "fraction correct"),
                  "disc_loss": ("discriminator loss", "cross-entropy (nats)")}
STRIP_JITTER = 0.08  # horizontal jitter of per-seed points
JITTER_SEED = 0


# ----------------------------------------------------------------------------- helpers


def save_figure(fig: Figure, name: str, directory: str | Path | None = None) -> Path:
    """Write ``fig`` as ``<directory>/<name>.png``.

    Notebooks never write tracked files: by default figures go to the git-ignored
    ``runs/figures/``; only ``make figures`` (which sets ``SBDLIB_SHIP_FIGURES=1``) writes the
    shipped ``figures/``. The shipped figures are the course scale's; at any other scale the
    file is named ``<name>_<scale>.png``.

    Args:
        fig: The figure.
        name: File stem, e.g. ``"04_traversals"`` (a trailing ``.png`` is accepted).
        directory: Override of the folder (tests write into a temporary folder).

    Returns:
        The path written.
    """
    shipped = os.environ.get(SHIP_FIGURES_VAR) == "1"
    folder = Path(directory) if directory is not None else (FIGURES_DIR if shipped else READER_FIGURES_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    stem = name[:-4] if name.endswith(".png") else name
    if not stem or "/" in stem or "\\" in stem:
        raise ValueError(f"figure name must be a plain file stem, got {name!r}")
    if scale().name != DEFAULT_SCALE:  # quick and paper runs never overwrite the course's figures
        stem = f"{stem}_{scale().name}"
    path = folder / f"{stem}.png"
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def _finish(fig: Figure, save: str | None) -> Figure:
    """Save the figure when ``save`` names it; return it."""
    if save:
        save_figure(fig, save)
    return fig


def model_key(row: Mapping[str, Any]) -> str:
    """The model of a results row: its decoder (``"sbd"``), or ``decoder/variant`` for an ablation variant."""
    return key_of_model(str(row["decoder"]), row.get("variant") or "")


def decoder_name(key: str, vae: Any = None) -> str:
    """The decoder behind a model key: the registered model's, else ``vae.decoder_name``, else the key's first word."""
    if key in MODELS:
        return MODELS[key][0]
    if isinstance(getattr(vae, "decoder_name", None), str):
        return vae.decoder_name
    for decoder in COLORS:  # free-form keys such as "sbd seed 3" or "deconv_best"
        if key.startswith((decoder + " ", decoder + "_")):
            return decoder
    return key


def label_of(key: str, vae: Any = None) -> str:
    """Display name of a model key (``"sbd"`` -> ``"Spatial Broadcast"``, ``"sbd/shuffled-coords"`` ->
    ``"Spatial Broadcast, shuffled-coords"``; other keys unchanged)."""
    if key in MODELS:
        return model_label(*MODELS[key])  # one function names every registered model (sbdlib.models)
    return LABELS.get(key, key)


def color_of(key: str, vae: Any = None) -> str:
    """Colour of a model key: its decoder's entry of :data:`COLORS` (lightened for a variant)."""
    if key in MODELS:
        return model_color(*MODELS[key])  # one function colours every registered model (sbdlib.models)
    return COLORS.get(decoder_name(key, vae), FALLBACK_COLOR)


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


# ----------------------------------------------------------------------- reconstructions


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


# ----------------------------------------------------------------------------- traversals


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


# ------------------------------------------------------------------------ posterior widths


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


# ------------------------------------------------------------------------- latent geometry


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


# ---------------------------------------------------------------------- multi-seed results


PLOT_LABELS = {"beta": r"$\beta$ (KL weight)",
               "grid_r2": "affine $R^2$ of the two factors' grid",
               "hole_ratio": "reconstruction error, hole / outside",
               "hole_inside": "reconstruction error in the hole (MSE per pixel)",
               "presence_share": "presence's share of the top latent's variance",
               "runner_up_share": "presence's share of the runner-up latent's variance"}  # beyond the results columns
METRIC_LABELS = {**{c.name: c.label for c in metric_columns()}, **PLOT_LABELS}  # as registered at import
DISTRIBUTION_METRICS = ("mig", "factor_vae", "latents_used", "affine_r2")  # rotation-sensitive first, then not


def metric_label(metric: str) -> str:
    """Axis label of a results column (its metric's :class:`sbdlib.metrics.Column` label) or of a plotted quantity."""
    labels = {c.name: c.label for c in metric_columns()}
    return labels.get(metric) or PLOT_LABELS.get(metric, metric)


def _finite_by_model(rows: Iterable[Mapping[str, Any]], metric: str) -> dict[str, list[float]]:
    """``{model key: [finite values of metric]}`` from result rows (:func:`model_key`)."""
    values: dict[str, list[float]] = {}
    for row in rows:
        v = row.get(metric)
        if isinstance(v, (int, float)) and math.isfinite(v):
            values.setdefault(model_key(row), []).append(float(v))
    return values


def _strip(ax: Axes, values: dict[str, list[float]], decoders: Sequence[str], metric: str,
           paper: Mapping[str, float] | None, paper_label: str, highlight: dict[str, list[float]]) -> None:
    """One panel: per decoder a box, every seed as a dot, the median starred, references and highlights."""
    rng = np.random.default_rng(JITTER_SEED)
    labelled: set[str] = set()

    def once(label: str) -> str | None:  # each legend entry once per panel
        if label in labelled:
            return None
        labelled.add(label)
        return label

    for x, d in enumerate(decoders):
        v = np.asarray(values.get(d, []))
        color = color_of(d)
        if len(v):
            ax.boxplot(v, positions=[x], widths=0.45, showfliers=False, medianprops=dict(color=color),
                       boxprops=dict(color=color), whiskerprops=dict(color=color), capprops=dict(color=color))
            ax.scatter(x + rng.uniform(-STRIP_JITTER, STRIP_JITTER, len(v)), v, color=color, alpha=0.7, s=22,
                       zorder=3, label=once("one seed"))
            ax.scatter([x], [np.median(v)], marker="*", s=220, color=color, edgecolor="black", zorder=4,
                       label=once("median"))
        if d in highlight:
            ax.scatter([x + 0.3] * len(highlight[d]), highlight[d], marker="D", s=70, facecolor="white",
                       edgecolor=color, linewidth=2, zorder=6, label=once("your run"))
        if paper and d in paper:
            ax.hlines(paper[d], x - 0.3, x + 0.3, color="black", linewidth=2.5, zorder=5, label=once(paper_label))
    ax.set_xticks(range(len(decoders)), [f"{label_of(d)}\n({len(values.get(d, []))} seeds)".replace(", ", ",\n")
                                         for d in decoders])
    ax.set_xlim(-0.6, len(decoders) - 0.4)
    ax.set_xlabel("decoder")
    ax.set_ylabel(metric_label(metric))
    ax.set_title(f"{metric_label(metric)} per seed", fontsize=10)


def _model_order(values: Iterable[Mapping[str, list[float]]], decoders: Sequence[str] | None, what: Any
                 ) -> Sequence[str]:
    """The model keys to draw: ``decoders`` if given, else deconv, sbd, coordconv, then the rest sorted."""
    seen = {d for v in values for d in v}
    if not seen:
        raise ValueError(f"no finite values of {what} in the rows")
    if decoders is not None:
        return decoders
    return [d for d in COLORS if d in seen] + sorted(d for d in seen if d not in COLORS)


def _panel_grid(count: int, panel: float, height: float, **kwargs: Any) -> tuple[Figure, np.ndarray]:
    """A figure of ``count`` panels ``panel`` inches wide, wrapped into rows at :data:`MAX_FIGURE_INCHES`."""
    ncols = max(1, min(count, int(MAX_FIGURE_INCHES // panel)))
    nrows = math.ceil(count / ncols)
    return plt.subplots(nrows, ncols, figsize=(panel * ncols, height * nrows), squeeze=False, **kwargs)


def plot_seed_distributions(rows: Iterable[Mapping[str, Any]], metrics: Sequence[str] = DISTRIBUTION_METRICS, *,
                            paper: Mapping[str, Mapping[str, float]] | None = None, paper_label: str = "paper",
                            highlight: Iterable[Mapping[str, Any]] = (), decoders: Sequence[str] | None = None,
                            suptitle: str | None = None, save: str | None = None) -> Figure:
    """Every seed of every model, one panel per metric: the distributions the paper's claims are about.

    Rows are grouped by :func:`model_key`: by decoder, with each ablation variant a group of its own.

    Args:
        rows: Result rows (:func:`sbdlib.results.read_results`); non-finite values are skipped.
        metrics: Columns, one panel each (default: MIG, FactorVAE score, latents used, affine R^2).
        paper: Optional ``{metric: {model key: value}}`` reference values, drawn as black bars.
        paper_label: Legend text of the reference values.
        highlight: Extra rows (e.g. the pair a reader just trained), drawn as open diamonds.
        decoders: Order of the model keys (default: deconv, sbd, coordconv, then variants and others, sorted).
        suptitle: Figure title (the scale and seed count belong here).
        save: File stem to write into ``figures/``, or None.

    Returns:
        The figure.
    """
    rows, highlight = list(rows), list(highlight)
    per_metric = {m: _finite_by_model(rows, m) for m in metrics}
    decoders = _model_order(per_metric.values(), decoders, list(metrics))
    fig, axes = _panel_grid(len(metrics), max(3.2, 1.3 * len(decoders) + 1.6), 3.8)
    for ax, m in zip(axes.flat, metrics):
        _strip(ax, per_metric[m], decoders, m, (paper or {}).get(m), paper_label, _finite_by_model(highlight, m))
    for ax in list(axes.flat)[len(metrics):]:
        ax.remove()
    axes[0, 0].legend(fontsize=7, loc="best")
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return _finish(fig, save)


def plot_seeds_by_group(rows: Iterable[Mapping[str, Any]], metric: str | Sequence[str], group: str = "dataset", *,
                        decoders: Sequence[str] | None = None, suptitle: str | None = None,
                        save: str | None = None) -> Figure:
    """One or more metrics, one panel per value of a column (e.g. each dataset), every seed of every model in each.

    :func:`plot_seed_distributions` turned around: for experiments that vary the data (notebook
    11's held-out regions) or the training budget (notebook 10) rather than the model. Groups
    keep their first-seen order; several metrics give one row of panels each, with a y axis
    shared along the row.

    Args:
        rows: Result rows (extra columns such as a notebook's own measures are fine).
        metric: The column to draw, or several (one row of panels each).
        group: The column whose values get a panel each.
        decoders: Order of the model keys (default: as in :func:`plot_seed_distributions`).
        suptitle: Figure title (the scale and seed count belong here).
        save: File stem to write into ``figures/``, or None.
    """
    rows = list(rows)
    metrics = [metric] if isinstance(metric, str) else list(metric)
    groups = list(dict.fromkeys(str(r[group]) for r in rows))
    per_group = {(m, g): _finite_by_model([r for r in rows if str(r[group]) == g], m) for m in metrics for g in groups}
    decoders = _model_order(per_group.values(), decoders, metrics)
    panel = max(2.6, 1.1 * len(decoders) + 1.2)
    if len(metrics) == 1:  # one metric: the groups' panels wrap into rows
        fig, axes = _panel_grid(len(groups), panel, 3.6, sharey=True)
    else:                  # several: a row of panels per metric
        fig, axes = plt.subplots(len(metrics), len(groups), figsize=(panel * len(groups), 3.6 * len(metrics)),
                                 squeeze=False, sharey="row")
    cells = [(m, g) for m in metrics for g in groups]
    for k, (ax, (m, g)) in enumerate(zip(axes.flat, cells)):
        _strip(ax, per_group[(m, g)], decoders, m, None, "", {})
        ax.set_title(g if len(metrics) == 1 else f"{metric_label(m)}: {g}", fontsize=9)
        if k % axes.shape[1]:
            ax.set_ylabel("")  # panels share y along a row: one label per row
    for ax in list(axes.flat)[len(cells):]:
        ax.remove()
    axes[0, 0].legend(fontsize=7, loc="best")
    names = ", ".join(metric_label(m) for m in metrics)
    fig.suptitle(suptitle or f"{names} per seed, by {group}", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, SUPTITLE_TOP))
    return _finish(fig, save)


def _sweep_panel(ax: Axes, rows: Sequence[Mapping[str, Any]], x: str, y: str, sweep: str, log_x: bool) -> None:
    """One panel of a sweep: every run a dot, the per-value medians joined in sweep order, per model."""
    groups: dict[str, dict[float, list[tuple[float, float]]]] = {}
    for row in rows:
        vx, vy = row.get(x), row.get(y)
        if all(isinstance(v, (int, float)) and math.isfinite(v) for v in (vx, vy)):
            groups.setdefault(model_key(row), {}).setdefault(float(row[sweep]), []).append((float(vx), float(vy)))
    if not groups:
        raise ValueError(f"no rows with finite {x!r} and {y!r}")
    for key in [k for k in COLORS if k in groups] + sorted(k for k in groups if k not in COLORS):
        color, by_value = color_of(key), dict(sorted(groups[key].items()))
        points = np.asarray([p for runs in by_value.values() for p in runs])
        ax.scatter(points[:, 0], points[:, 1], color=color, alpha=0.45, s=18)
        medians = np.asarray([np.median(np.asarray(runs), axis=0) for runs in by_value.values()])
        ax.plot(medians[:, 0], medians[:, 1], "-o", color=color, markeredgecolor="black", markersize=6,
                label=f"{label_of(key)} (median of each {sweep})")
        for value, (mx, my) in zip(by_value, medians):
            ax.annotate(f"{value:g}", (mx, my), textcoords="offset points", xytext=(4, 4), fontsize=7, color=color)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(metric_label(x) + (" (log scale)" if log_x else ""))
    ax.set_ylabel(metric_label(y))
    ax.set_title(f"{metric_label(y)} against {metric_label(x)}", fontsize=10)
    ax.legend(fontsize=7, loc="best")


def plot_sweep(rows: Iterable[Mapping[str, Any]], pairs: Sequence[tuple[str, str]] = (("kl", "nll"), ("nll", "mig")),
               *, sweep: str = "beta", log_x: Sequence[str] = ("beta",), suptitle: str | None = None,
               save: str | None = None) -> Figure:
    """A hyperparameter sweep (Fig. 3): one panel per ``(x, y)`` pair of results columns.

    Every run is a dot in its model's colour; the medians over seeds at each value of
    ``sweep`` are joined in order and labelled with the value. The default panels are the
    rate-distortion plane (NLL against KL) and MIG against NLL.

    Args:
        rows: Result rows (:func:`sbdlib.results.read_results`); non-finite values are skipped.
        pairs: ``(x column, y column)`` per panel.
        sweep: The column that was swept (default ``"beta"``).
        log_x: Columns drawn on a logarithmic x axis where they are a panel's x (beta is swept log-spaced).
        suptitle: Figure title (the scale and seed count belong here).
        save: File stem to write into ``figures/``, or None.

    Returns:
        The figure.
    """
    rows = list(rows)
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 4.2), squeeze=False)
    for ax, (x, y) in zip(axes[0], pairs):
        _sweep_panel(ax, rows, x, y, sweep, x in log_x)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return _finish(fig, save)


# -------------------------------------------------------------------------- training curves


def _smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing moving average (shorter at the start, so the curve keeps its length)."""
    v = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(v) < 2:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


def plot_history(histories: Mapping[str, Any], *, keys: Sequence[str] = ("nll", "kl", "elbo"),
                 window: int | None = None, save: str | None = None) -> Figure:
    """Training curves (smoothed) of each model, one panel per metric.

    Args:
        histories: ``{key: History}`` (``history.step`` and ``history[metric]``); keys are
            decoder names or other labels.
        keys: Metrics to draw, one panel each.
        window: Moving-average window in steps (default: 2% of the longest run).
        save: File stem to write into ``figures/``, or None.

    Returns:
        The figure.
    """
    if not histories:
        raise ValueError("histories must name at least one run")
    longest = max(len(h.step) for h in histories.values())
    window = window or max(1, int(SMOOTHING_FRACTION * longest))
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.3), squeeze=False)
    for ax, metric in zip(axes[0], keys):
        positive = True
        for key, history in histories.items():
            if metric not in getattr(history, "metrics", {}):
                continue
            values = history[metric]
            positive &= min(values, default=1.0) > 0
            color = color_of(key)
            ax.plot(history.step, values, color=color, alpha=0.15, linewidth=0.8)
            ax.plot(history.step, _smooth(values, window), color=color, linewidth=1.6, label=label_of(key))
        if positive and metric in ("nll", "elbo"):
            ax.set_yscale("log")
        title, unit = HISTORY_LABELS.get(metric, (metric, "value"))
        ax.set_title(title)
        ax.set_xlabel("training step")
        ax.set_ylabel(unit)
        if len(histories) <= MAX_LEGEND_RUNS:
            ax.legend(fontsize=8)
    fig.suptitle(f"Training curves (moving average over {window} steps)")
    fig.tight_layout()
    return _finish(fig, save)
