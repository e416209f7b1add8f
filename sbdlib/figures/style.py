"""One look for every figure: each model's colour and display name, figure sizes, and where figures are
saved.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from sbdlib.models import DECODERS, MODELS, model_color, model_label
from sbdlib.scales import DEFAULT_SCALE, scale

COLORS: dict[str, str] = {name: d.color for name, d in DECODERS.items()}  # from the one registry (sbdlib.models)
LABELS: dict[str, str] = {name: d.label for name, d in DECODERS.items()}
FALLBACK_COLOR = "#555555"

FIGURES_DIR = Path(__file__).resolve().parents[2] / "figures"  # shipped: written only by `make figures`
READER_FIGURES_DIR = Path(__file__).resolve().parents[2] / "runs" / "figures"  # git-ignored: everyone else
SHIP_FIGURES_VAR = "SBDLIB_SHIP_FIGURES"  # set to 1 by `make figures`; not a compute setting
DPI = 120
PANEL_INCHES = 1.1  # side of one image tile in figures
MAX_FIGURE_INCHES = 20.0  # wider multi-panel figures wrap into rows
SUPTITLE_TOP = 0.95  # panels end here, leaving room for a figure title above them


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
