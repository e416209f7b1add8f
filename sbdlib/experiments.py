"""Runs the notebooks share: train-or-load a checkpoint, evaluate it, multi-seed result tables.

A run is named by its dataset, decoder, seed and scale, e.g. ``circles-xy_sbd_s0_course``.
Its checkpoint lives in ``data/checkpoints/`` and its results row in
``data/results/<dataset>_<scale>.csv``; the course-scale ones are shipped with the course,
so later notebooks start instantly and retrain only when asked.
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import Any, Iterable

import torch

from sbdlib.checkpoints import load_checkpoint
from sbdlib.data import get_dataset
from sbdlib.metrics import evaluate
from sbdlib.models import VAE
from sbdlib.scales import Scale, scale as current_scale
from sbdlib.training import History, train

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
CHECKPOINT_DIR = DATA_DIR / "checkpoints"
RESULTS_DIR = DATA_DIR / "results"
DEFAULT_DATASET = "circles/xy"
RESULT_FIELDS = ("dataset", "decoder", "seed", "scale", "steps", "batch_size", "lr", "width", "likelihood",
                 "nll", "kl", "elbo", "latents_used", "mig", "factor_vae", "num_active_dims",
                 "train_seconds", "eval_seconds")


def run_name(decoder: str, seed: int, dataset: str = DEFAULT_DATASET, scale: Scale | None = None) -> str:
    """File-safe name of a run, e.g. ``circles-xy_sbd_s0_course``."""
    s = scale or current_scale()
    return f"{dataset.replace('/', '-')}_{decoder}_s{seed}_{s.name}"


def scaled_dataset(dataset: str = DEFAULT_DATASET, scale: Scale | None = None):
    """The named dataset at the scale's image size."""
    return get_dataset(dataset, image_size=(scale or current_scale()).image_size)


def build_vae(decoder: str, dataset, scale: Scale | None = None, **kwargs: Any) -> VAE:
    """A VAE sized for ``scale`` (its width and likelihood) and for the dataset's images."""
    s = scale or current_scale()
    kwargs.setdefault("likelihood", s.likelihood)
    return VAE(decoder, channels=dataset.num_channels, image_size=dataset.image_size, width=s.width, **kwargs)


def train_or_load(
    decoder: str,
    seed: int = 0,
    *,
    dataset: str = DEFAULT_DATASET,
    scale: Scale | None = None,
    retrain: bool = False,
    progress: str = "auto",
    directory: Path | str = CHECKPOINT_DIR,
) -> tuple[VAE, History]:
    """Load the run's checkpoint if it exists, else train it with the scale's settings and save it.

    Args:
        decoder: ``"sbd"``, ``"deconv"`` or ``"coordconv"``.
        seed: Fixes weights, data and noise.
        dataset: A :func:`sbdlib.data.get_dataset` name.
        scale: Settings (default: :func:`sbdlib.scale`).
        retrain: Train even if a checkpoint exists (it is overwritten at the end).
        progress: Passed to :func:`sbdlib.training.train`.
        directory: Where checkpoints live.

    Returns:
        ``(vae, history)``, the model in eval mode (on CPU when loaded, else where it trained).
    """
    s = scale or current_scale()
    path = Path(directory) / f"{run_name(decoder, seed, dataset, s)}.pt"
    if path.exists() and not retrain:
        vae, payload = load_checkpoint(path)
        return vae, History.from_dict(payload["history"])
    if path.exists():
        path.unlink()
    ds = scaled_dataset(dataset, s)
    torch.manual_seed(seed)
    vae = build_vae(decoder, ds, s)
    history = train(vae, ds, steps=s.steps, batch_size=s.batch_size, lr=s.lr, seed=seed, checkpoint=path,
                    progress=progress, title=f"{decoder} seed {seed}")
    return vae, history


def evaluate_run(vae: VAE, dataset: str = DEFAULT_DATASET, scale: Scale | None = None, seed: int = 1234
                 ) -> dict[str, float]:
    """NLL, KL, ELBO, latents used, MIG and the FactorVAE score of a trained VAE at ``scale``."""
    s = scale or current_scale()
    fv = dict(num_train=s.factor_vae_train, num_eval=s.factor_vae_eval, num_variance_estimate=s.factor_vae_variance)
    return evaluate(vae, scaled_dataset(dataset, s), eval_size=s.eval_size, seed=seed, factor_vae=fv)


def results_path(dataset: str = DEFAULT_DATASET, scale: Scale | None = None) -> Path:
    """The CSV holding one row per run for this dataset and scale."""
    s = scale or current_scale()
    return RESULTS_DIR / f"{dataset.replace('/', '-')}_{s.name}.csv"


def load_results(path: Path | str) -> list[dict[str, Any]]:
    """Read a results CSV back, numbers as numbers."""
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            rows.append({k: _number(v) for k, v in row.items()})
    return rows


def _number(text: str) -> Any:
    """'3' -> 3, '0.5' -> 0.5, other text unchanged."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def write_results(rows: Iterable[dict[str, Any]], path: Path | str) -> Path:
    """Write rows (dicts with :data:`RESULT_FIELDS`) to a CSV, replacing it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=RESULT_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    return path


def run_seeds(
    decoders: Iterable[str] = ("deconv", "sbd"),
    seeds: Iterable[int] | None = None,
    *,
    dataset: str = DEFAULT_DATASET,
    scale: Scale | None = None,
    retrain: bool = False,
    progress: str = "auto",
) -> list[dict[str, Any]]:
    """Train (or load) and evaluate every (decoder, seed) run; one results row each.

    Rows are written to :func:`results_path` as they finish, so an interrupted sweep keeps
    what it has.

    Returns:
        The rows, in (decoder, seed) order.
    """
    s = scale or current_scale()
    seeds = list(range(s.seeds)) if seeds is None else list(seeds)
    rows = []
    for decoder in decoders:
        for seed in seeds:
            vae, history = train_or_load(decoder, seed, dataset=dataset, scale=s, retrain=retrain, progress=progress)
            t1 = time.perf_counter()
            metrics = evaluate_run(vae, dataset, s)
            rows.append(dict(dataset=dataset, decoder=decoder, seed=seed, scale=s.name, steps=len(history),
                             batch_size=s.batch_size, lr=s.lr, width=s.width, likelihood=vae.likelihood,
                             train_seconds=round(history.seconds, 2), eval_seconds=round(time.perf_counter() - t1, 2),
                             **{k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else v)
                                for k, v in metrics.items()}))
            write_results(rows, results_path(dataset, s))
    return rows


def shipped_or_run(dataset: str = DEFAULT_DATASET, scale: Scale | None = None, retrain: bool = False,
                   progress: str = "auto") -> list[dict[str, Any]]:
    """The shipped results table for this scale if present (and ``retrain`` is off), else run it."""
    path = results_path(dataset, scale)
    if path.exists() and not retrain:
        return load_results(path)
    return run_seeds(dataset=dataset, scale=scale, retrain=retrain, progress=progress)


def main(argv: list[str] | None = None) -> None:
    """Command line: train (or load) and evaluate runs at the current ``SBDLIB_SCALE``.

    Example, the shipped course-scale checkpoints and results:
    ``SBDLIB_SCALE=course python -m sbdlib.experiments --decoders deconv sbd --seeds 0 1 2``
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sbdlib.experiments", description=main.__doc__.splitlines()[0])
    parser.add_argument("--decoders", nargs="+", default=["deconv", "sbd"])
    parser.add_argument("--seeds", nargs="+", type=int, default=None)
    parser.add_argument("--dataset", default=DEFAULT_DATASET)
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args(argv)
    rows = run_seeds(args.decoders, args.seeds, dataset=args.dataset, retrain=args.retrain, progress="text")
    for row in rows:
        print({k: row[k] for k in ("decoder", "seed", "elbo", "latents_used", "mig", "factor_vae", "train_seconds")})
    print(f"results: {results_path(args.dataset)}")


if __name__ == "__main__":
    main()
