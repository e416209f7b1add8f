"""Figures and the slot explorer of notebook 13: scenes and their masks, slots, every seed's ARI.

Decoder colours and names are the course's (:data:`sbdlib.models.DECODERS`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from sbdlib.models import DECODERS
from sbdlib.objects import SlotAutoencoder
from sbdlib.plots import save_figure, tile_images
from sbdlib.widgets import PICTURE_NOTE, PictureBox, image_to_png, panels_png

LABEL_CMAP = "tab10"  # one colour per object (and per slot) in label maps
SLOT_SLIDERS = 4      # principal directions of one slot offered as sliders
SLIDER_SPAN = 3.0     # sliders move a slot this many standard deviations along each direction
STRIP_JITTER = 0.08


def _finish(fig: Figure, save: str | None) -> Figure:
    """Save the figure when ``save`` names it (:func:`sbdlib.plots.save_figure`); return it."""
    if save:
        save_figure(fig, save)
    return fig


def label_colours(labels: Tensor, image_size: int) -> np.ndarray:
    """Integer labels ``[N, H*W]`` -> ``[N, H, W, 3]`` colours (0, the background, black)."""
    cmap = plt.get_cmap(LABEL_CMAP)
    palette = np.array([(0.0, 0.0, 0.0)] + [cmap(i % 10)[:3] for i in range(int(labels.max()) + 1)])
    return palette[labels.reshape(-1, image_size, image_size).cpu().numpy()]


def plot_scenes(images: Tensor, labels: Tensor, *, ncol: int = 8, title: str = "", save: str | None = None) -> Figure:
    """Scenes ``[N, 3, H, W]`` above their ground-truth label maps ``[N, H*W]`` (one colour per object)."""
    size = images.shape[-1]
    maps = torch.from_numpy(label_colours(labels, size)).permute(0, 3, 1, 2).float()
    fig, axes = plt.subplots(2, 1, figsize=(1.1 * ncol, 2.6))
    for ax, tiles, name in zip(axes, (images, maps), ("scenes", "ground-truth masks (one colour per object)")):
        ax.imshow(tile_images(tiles[:ncol], ncol), interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    return _finish(fig, save)


@torch.no_grad()
def plot_slots(models: Mapping[str, SlotAutoencoder], images: Tensor, labels: Tensor, *, seed: int = 1234,
               save: str | None = None, suptitle: str = "") -> Figure:
    """For each model and scene: the scene, its ground truth, the reconstruction, the predicted segments, each slot.

    A slot's panel is its RGB times its mask (what it adds to the image).
    """
    from sbdlib.metrics import foreground_ari
    from sbdlib.object_runs import predicted_labels

    n, size = images.shape[0], images.shape[-1]
    k = next(iter(models.values())).slot_attention.num_slots
    columns = 4 + k
    fig, axes = plt.subplots(n * len(models), columns, figsize=(1.15 * columns, 1.25 * n * len(models)),
                             squeeze=False)
    truth = label_colours(labels, size)
    for m, (name, model) in enumerate(models.items()):
        model.eval()
        out = model(images, torch.Generator().manual_seed(seed))
        pred = predicted_labels(out["masks"])
        ari = foreground_ari(labels, pred)
        segments = label_colours(pred + 1, size)
        parts = (out["masks"] * out["rgb"]).clamp(0, 1)
        colour = DECODERS[model.config["decoder"]].color
        for i in range(n):
            row = axes[m * n + i]
            panels = [images[i].permute(1, 2, 0), truth[i], out["recon"][i].clamp(0, 1).permute(1, 2, 0), segments[i],
                      *(parts[i, j].permute(1, 2, 0) for j in range(k))]
            titles = ["scene", "truth", "reconstruction", f"slots (ARI {ari[i]:.2f})", *(f"slot {j}" for j in range(k))]
            for ax, panel, title in zip(row, panels, titles):
                ax.imshow(np.asarray(panel), interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(title, fontsize=8)
            if i == 0:
                row[0].set_ylabel(name, color=colour, fontsize=8, fontweight="bold", loc="top")
    fig.suptitle(suptitle)
    return _finish(fig, save)


def plot_ari_seeds(rows: Sequence[Mapping[str, Any]], *, baselines: Mapping[str, float] | None = None,
                   title: str = "", save: str | None = None) -> Figure:
    """Every seed's foreground ARI per training budget and slot decoder (points, medians as bars), reference lines."""
    budgets = sorted({r["steps"] for r in rows})
    decoders = [d for d in DECODERS if any(r["decoder"] == d for r in rows)]
    fig, ax = plt.subplots(figsize=(4.0 + 1.6 * len(budgets), 3.8))
    rng = np.random.default_rng(0)
    ticks = []
    for b, steps in enumerate(budgets):
        start = b * (len(decoders) + 1)
        for i, d in enumerate(decoders):
            values = np.array([r["ari"] for r in rows if r["decoder"] == d and r["steps"] == steps], dtype=float)
            ax.scatter(start + i + rng.uniform(-STRIP_JITTER, STRIP_JITTER, len(values)), values,
                       color=DECODERS[d].color, edgecolor="black", linewidth=0.4, s=40, zorder=3,
                       label=DECODERS[d].label if b == 0 else None)
            if len(values):
                ax.hlines(np.median(values), start + i - 0.3, start + i + 0.3, color=DECODERS[d].color, linewidth=2.5,
                          zorder=2)
        seeds = max(sum(r["steps"] == steps and r["decoder"] == d for r in rows) for d in decoders)
        ticks.append((start + (len(decoders) - 1) / 2, f"{steps:,} steps\n({seeds} seeds each)"))
    for (name, value), style in zip((baselines or {}).items(), ("--", ":", "-.")):
        ax.axhline(value, color="grey", linestyle=style, linewidth=1, label=name)
    ax.set_xticks([t for t, _ in ticks], [n for _, n in ticks], fontsize=8)
    ax.set_xlabel("training budget (points: seeds, bars: medians)")
    ax.set_ylabel("foreground ARI (held-out scenes)")
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return _finish(fig, save)


def plot_ari_curves(histories: Mapping[tuple[str, int], Mapping[str, Any]], *, title: str = "",
                    save: str | None = None) -> Figure:
    """Foreground ARI and reconstruction loss against training step, one line per run, decoder colours."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for (decoder, seed), history in histories.items():
        for ax, key in zip(axes, ("ari", "loss")):
            ax.plot(history["step"], history[key], color=DECODERS[decoder].color, alpha=0.75, linewidth=1.2,
                    label=DECODERS[decoder].label if seed == min(s for d, s in histories if d == decoder) else None)
    axes[0].set_ylabel("foreground ARI (256 held-out scenes)")
    axes[1].set_ylabel("squared error per image")
    for ax, name in zip(axes, ("Segmentation during training", "Reconstruction during training")):
        ax.set_xlabel("training step")
        ax.set_title(name)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _finish(fig, save)


def slot_directions(model: SlotAutoencoder, images: Tensor, slot: int, seed: int = 1234) -> tuple[Tensor, Tensor]:
    """The principal directions ``[D, D]`` (rows) and their standard deviations ``[D]`` of one slot over ``images``."""
    with torch.no_grad():
        slots = model(images, torch.Generator().manual_seed(seed))["slots"][:, slot]
    centred = slots - slots.mean(0)
    _, s, v = torch.linalg.svd(centred, full_matrices=False)
    return v, s / max(1, len(slots) - 1) ** 0.5


def slot_explorer(model: SlotAutoencoder, images: Tensor, *, scene: int = 0, slot: int = 0,
                  seed: int = 1234) -> ipywidgets.Widget:
    """Sliders moving one slot of one scene along its principal directions; the scene and the slot re-decoded live."""
    with torch.no_grad():
        base = model(images[scene:scene + 1], torch.Generator().manual_seed(seed))["slots"][0]
    directions, stds = slot_directions(model, images, slot, seed)
    sliders = [ipywidgets.FloatSlider(value=0.0, min=-SLIDER_SPAN, max=SLIDER_SPAN, step=0.1,
                                      description=f"direction {i}", continuous_update=True)
               for i in range(min(SLOT_SLIDERS, len(stds)))]
    scene_image = ipywidgets.Image(format="png", width=160, height=160)
    slot_image = ipywidgets.Image(format="png", width=160, height=160)
    colour = DECODERS[model.config["decoder"]].color

    def update(_change: object = None) -> None:
        slots = base.clone()
        for s, d, sd in zip(sliders, directions, stds):
            slots[slot] = slots[slot] + float(s.value) * sd * d
        with torch.no_grad():
            image, masks, rgb = model.paint(slots[None])
        scene_image.value = image_to_png(image[0].clamp(0, 1))
        slot_image.value = image_to_png((masks[0, slot] * rgb[0, slot]).clamp(0, 1))

    for s in sliders:
        s.observe(update, names="value")
    update()
    title = ipywidgets.HTML(f"<b style='color:{colour}'>{DECODERS[model.config['decoder']].label} slots</b>: "
                            f"slot {slot} of scene {scene}, moved along its {len(sliders)} main directions (in std)")

    def picture() -> bytes:
        values = tuple(f"{s.description} = {s.value:+.1f}" for s in sliders)
        return panels_png([("scene", colour, scene_image.value), (f"slot {slot}", colour, slot_image.value)],
                          PICTURE_NOTE, side_lines=values)

    def summary() -> str:
        return f"Slot explorer: slot {slot} of scene {scene}, {len(sliders)} sliders"

    return PictureBox([title, ipywidgets.HBox([ipywidgets.VBox(sliders), scene_image, slot_image])], picture, summary)


@torch.no_grad()
def slot_traversal(model: SlotAutoencoder, image: Tensor, slot: int, *, directions: Tensor, stds: Tensor,
                   count: int = 3, steps: int = 7, seed: int = 1234, save: str | None = None,
                   title: str = "") -> Figure:
    """Rows: one slot moved along its first ``count`` principal directions (-2..2 std); columns: the steps."""
    base = model(image[None], torch.Generator().manual_seed(seed))["slots"][0]
    values = torch.linspace(-2, 2, steps)
    rows = []
    for d in range(count):
        moved = base.expand(steps, -1, -1).clone()
        moved[:, slot] += values[:, None] * stds[d] * directions[d]
        rows.append(model.paint(moved)[0].clamp(0, 1))
    fig, ax = plt.subplots(figsize=(0.8 * steps + 1, 0.85 * count + 0.6))
    ax.imshow(tile_images(torch.cat(rows), steps), interpolation="nearest")
    ax.set_yticks([(i + 0.5) * (image.shape[-1] + 2) for i in range(count)], [f"dir. {i}" for i in range(count)])
    ax.set_xticks([(i + 0.5) * (image.shape[-1] + 2) for i in range(steps)], [f"{v:+.1f}" for v in values.tolist()])
    ax.set_xlabel("position along the direction (standard deviations of the slot over held-out scenes)")
    ax.set_title(title, fontsize=9, color=DECODERS[model.config["decoder"]].color)
    fig.tight_layout()
    return _finish(fig, save)
