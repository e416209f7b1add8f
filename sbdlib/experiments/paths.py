"""Where runs live, and their names: run and configuration names, checkpoint and results paths.

``data/`` holds the shipped artefacts (read-only to notebooks); ``runs/`` (git-ignored) holds
what a reader trains. A run's name (:func:`run_name`) is its checkpoint's file name everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

from sbdlib.experiments.specs import DEFAULT_DATASET, DEFAULT_EXPERIMENT, RunSpec
from sbdlib.scales import Scale
from sbdlib.scales import scale as current_scale

REPO_DIR = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_DIR / "data"                 # shipped, read-only to notebooks
CHECKPOINT_DIR = DATA_DIR / "checkpoints"
RESULTS_DIR = DATA_DIR / "results"
RUNS_DIR = REPO_DIR / "runs"                 # git-ignored: runs a reader trains
RETRAIN_SUFFIX = ".tmp-retrain"  # a retrain trains into <checkpoint>.tmp-retrain, moved over the old file when it ends


def _slug(text: str) -> str:
    """File-safe form of a dataset name (``circles/xy`` -> ``circles-xy``)."""
    return text.replace("/", "-")


def run_name(decoder: str | RunSpec, seed: int, dataset: str = DEFAULT_DATASET, scale: Scale | None = None) -> str:
    """File-safe name of a run, e.g. ``circles-xy_sbd_s0_course`` or ``circles-xyh_tiny-64px_sbd_s0_course``."""
    spec = decoder if isinstance(decoder, RunSpec) else RunSpec(decoder, dataset)
    s = scale or current_scale()
    size = f"-{spec.image_size}px" if spec.size(s) != s.image_size else ""
    model = spec.model_name
    beta = "" if spec.beta == 1.0 else f"_beta{spec.beta:g}"
    beta += f"_factorvae-g{spec.gamma:g}" if spec.gamma else ""
    options = "".join(f"_{k}-{v}" for k, v in spec.dataset_options)
    budget = f"_{spec.budget}" if spec.budget else ""
    return f"{_slug(spec.dataset)}{size}{options}_{model}{beta}{budget}_s{seed}_{s.name}"


def checkpoint_path(spec: RunSpec, seed: int, scale: Scale | None = None, *, shipped: bool = False,
                    folder: str | os.PathLike | None = None) -> Path:
    """Where a run's checkpoint lives: ``folder`` if given, else ``data/checkpoints`` (shipped) or ``runs/``."""
    return (Path(folder) if folder is not None else checkpoints_folder(shipped)) / checkpoint_name(spec, seed, scale)


def checkpoints_folder(shipped: bool = False) -> Path:
    """The default checkpoint folder: ``data/checkpoints`` (shipped) or ``runs/checkpoints``."""
    return CHECKPOINT_DIR if shipped else RUNS_DIR / "checkpoints"


def checkpoint_name(spec: RunSpec, seed: int, scale: Scale | None = None) -> str:
    """A run's checkpoint file name, the same in every folder and storage: ``<run name>.pt``."""
    return f"{run_name(spec, seed, scale=scale)}.pt"


def config_name(spec: RunSpec, scale: Scale | None = None) -> str:
    """A configuration's name, its runs' names without the seed (e.g. ``circles-xy_sbd_quick``)."""
    return run_name(spec, 0, scale=scale).replace("_s0_", "_")


def results_path(experiment: str = DEFAULT_EXPERIMENT, scale: Scale | None = None, *, shipped: bool = True) -> Path:
    """The experiment's results table: ``data/results`` (shipped) or ``runs/results``."""
    s = scale or current_scale()
    return (RESULTS_DIR if shipped else RUNS_DIR / "results") / f"{experiment}_{s.name}.csv"


def _refuse_shipped(path: Path, ship: bool) -> None:
    """A clear error when a run would write into the shipped ``data/`` without ``ship=True``."""
    if not ship and DATA_DIR in path.resolve().parents:
        raise ValueError(f"{path} is a shipped artefact: notebooks only read data/. Train into runs/ (the default "
                         f"of train_or_load and run_experiment), or regenerate the shipped ones with `make results`")


def retrain_path(path: Path) -> Path:
    """Where a retrain of ``path`` trains until it ends (the finished run at ``path`` stays until then)."""
    return path.with_name(path.name + RETRAIN_SUFFIX)
