"""Figures and the slot explorer of notebook 13: scenes and their masks, slots, every run's scores and curves.

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

from sbdlib.experiments.object_rows import OBJECT_METRICS, base_steps, group_label, groups
from sbdlib.figures.images import tile_images
from sbdlib.figures.seeds import STRIP_JITTER
from sbdlib.figures.style import _finish
from sbdlib.figures.widgets import PICTURE_NOTE, PictureBox, image_to_png, panels_png
from sbdlib.models import DECODERS, model_color
from sbdlib.models.slots import SlotAutoencoder

LABEL_CMAP = "tab10"  # one colour per object (and per slot) in label maps
SLOT_SLIDERS = 4      # principal directions of one slot offered as sliders
SLIDER_SPAN = 3.0     # sliders move a slot this many standard deviations along each direction


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
    """For each model and scene: the scene, its truth, the reconstruction, each pixel's slot, then every slot's painting and mask.

    A slot's painting is its RGB times its mask (what it adds to the image); its mask is shown in
    grey from 0 (black) to 1 (white), so a disc that two slots share at half strength is grey in both.
    The predicted segments' title gives the scene's foreground ARI and object ownership.
    """
    from sbdlib.experiments.object_runs import predicted_labels
    from sbdlib.metrics import foreground_ari, object_ownership

    n, size = images.shape[0], images.shape[-1]
    k = next(iter(models.values())).slot_attention.num_slots
    columns = 4 + 2 * k
    fig, axes = plt.subplots(n * len(models), columns, figsize=(1.05 * columns, 1.2 * n * len(models) + 0.5),
                             squeeze=False)
    truth = label_colours(labels, size)
    for m, (name, model) in enumerate(models.items()):
        model.eval()
        out = model(images, torch.Generator().manual_seed(seed))
        pred = predicted_labels(out["masks"])
        ari, owned = foreground_ari(labels, pred), object_ownership(labels, pred)
        segments = label_colours(pred + 1, size)
        parts = (out["masks"] * out["rgb"]).clamp(0, 1)
        colour = DECODERS[model.config["decoder"]].color
        for i in range(n):
            row = axes[m * n + i]
            panels = [images[i].permute(1, 2, 0), truth[i], out["recon"][i].clamp(0, 1).permute(1, 2, 0), segments[i],
                      *(parts[i, j].permute(1, 2, 0) for j in range(k)), *(out["masks"][i, j, 0] for j in range(k))]
            titles = ["scene", "truth", "reconstruction", "each pixel's slot", *(f"slot {j} paints" for j in range(k)),
                      *(f"slot {j} mask" for j in range(k))]
            for c, (ax, panel, title) in enumerate(zip(row, panels, titles)):
                ax.imshow(np.asarray(panel), interpolation="nearest", cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(title, fontsize=7)
                if c == 3:
                    ax.set_xlabel(f"ARI {ari[i]:.2f}, own. {owned[i]:.2f}", fontsize=7)
            row[0].set_ylabel(f"{name}\nscene {i}" if i == 0 else f"scene {i}", color=colour, fontsize=7,
                              fontweight="bold" if i == 0 else "normal")
    fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return _finish(fig, save)


GROUP_MARKERS = "osD^vP*"  # one marker per kind of run (the recipe, each variant, each budget), the same for both decoders


def _group_style(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, int], tuple[str, str, str]]:
    """Each ``(decoder, variant, steps)`` group: its label, colour (the decoder's, lightened off the recipe) and marker."""
    base = base_steps(rows)
    kinds = sorted({(variant, steps) for _, variant, steps in groups(rows)}, key=lambda k: (k != ("", base), k[1], k[0]))
    return {key: (group_label(*key, base), model_color(key[0], "changed" if key[1] or key[2] != base else ""),
                  GROUP_MARKERS[kinds.index(key[1:]) % len(GROUP_MARKERS)]) for key in groups(rows)}


def plot_groups(rows: Sequence[Mapping[str, Any]], *, metrics: Sequence[str] = ("ari", "ownership"),
                baselines: Mapping[str, Mapping[str, float]] | None = None, title: str = "",
                save: str | None = None) -> Figure:
    """Every seed of every group of runs (points), its median (bar), one panel per metric; reference lines per metric."""
    grouped, style = groups(rows), _group_style(rows)
    fig, axes = plt.subplots(len(metrics), 1, figsize=(3.0 + 1.55 * len(grouped), 0.8 + 3.2 * len(metrics)),
                             squeeze=False)
    rng = np.random.default_rng(0)
    for ax, metric in zip(axes[:, 0], metrics):
        for x, (key, members) in enumerate(grouped.items()):
            label, colour, marker = style[key]
            values = np.array([r[metric] for r in members], dtype=float)
            ax.scatter(x + rng.uniform(-STRIP_JITTER, STRIP_JITTER, len(values)), values, color=colour, marker=marker,
                       edgecolor="black", linewidth=0.4, s=36, zorder=3)
            ax.hlines(np.median(values), x - 0.32, x + 0.32, color=DECODERS[key[0]].color, linewidth=2.5, zorder=2)
        for (name, value), line in zip((baselines or {}).get(metric, {}).items(), ("--", ":", "-.", (0, (1, 3)))):
            ax.axhline(value, color="grey", linestyle=line, linewidth=1, label=name)
        ax.set_xticks(range(len(grouped)), [f"{style[k][0].replace(', ', chr(10))}\n({len(m)} seeds)"
                                            for k, m in grouped.items()], fontsize=7)
        ax.set_xlim(-0.6, len(grouped) - 0.4)
        ax.set_xlabel("runs (points: seeds; bars: medians)")
        ax.set_ylabel(f"{OBJECT_METRICS[metric][0]} (held-out scenes)")
        name = OBJECT_METRICS[metric][0]
        ax.set_title(f"{name[0].upper()}{name[1:]} of every run", fontsize=9)
    if any((baselines or {}).get(m) for m in metrics):  # the reference lines, once, beside the last panel
        axes[0, 0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="references",
                           title_fontsize=7)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return _finish(fig, save)


def plot_ari_curves(runs: Mapping[str, tuple[str, Sequence[Mapping[str, Any]]]], *, title: str = "",
                    mark_step: int | None = None, save: str | None = None) -> Figure:
    """Foreground ARI and reconstruction loss against training step: ``{label: (colour, [history per seed])}``, one line per run.

    ``mark_step``: a dotted vertical line there (where a shorter budget ended).
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    styles = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)))
    for g, (label, (colour, histories)) in enumerate(runs.items()):
        for i, history in enumerate(histories):
            for ax, key in zip(axes, ("ari", "loss")):
                ax.plot(history["step"], history[key], color=colour, linestyle=styles[g % len(styles)], alpha=0.7,
                        linewidth=1.1, label=f"{label} ({len(histories)} seeds)" if i == 0 else None)
    axes[0].set_ylabel("foreground ARI (held-out scenes)")
    axes[1].set_ylabel("squared error per image (training batches)")
    for ax, name in zip(axes, ("Segmentation during training", "Reconstruction during training")):
        if mark_step is not None:
            ax.axvline(mark_step, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("training step")
        ax.set_title(name, fontsize=10)
    axes[1].legend(fontsize=7, loc="upper right")  # one legend: the curves fall low on this panel
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return _finish(fig, save)


def plot_object_shares(shares: Mapping[str, tuple[str, Tensor, Tensor]], *, owned: float = 0.9, title: str = "",
                       save: str | None = None) -> Figure:
    """Per disc, how much of it one slot holds: ``{label: (colour, won [M, K], strength [M, K])}`` (:func:`sbdlib.experiments.object_runs.object_slot_shares`).

    Left: the share of each disc's pixels won by its top slot (a dotted line at ``owned``);
    right: the top slot's mean mask over the disc (1: one slot paints it whole; 0.5: two share it).
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    bins = np.linspace(0, 1, 26)
    for label, (colour, won, strength) in shares.items():
        for ax, values in zip(axes, (won.max(1).values, strength.max(1).values)):
            ax.hist(values.cpu().numpy(), bins=bins, color=colour, alpha=0.55, edgecolor=colour,
                    weights=np.full(len(values), 1 / max(1, len(values))), label=f"{label} ({len(values)} discs)")
    axes[0].axvline(owned, color="grey", linestyle=":", linewidth=1)
    axes[0].set_xlabel("share of the disc's pixels won by its top slot")
    axes[1].set_xlabel("top slot's mean mask over the disc")
    for ax, name in zip(axes, ("Who wins a disc's pixels", "How strongly the top slot paints a disc")):
        ax.set_ylabel("fraction of discs")
        ax.set_title(name, fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=8)
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
