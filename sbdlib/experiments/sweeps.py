"""Sweeps: an experiment planned and checked, then run spec by spec into its results table.

:func:`run_spec` is the one unit of work (a configuration for its seeds, trained and
evaluated into rows); :func:`run_experiment` runs an experiment's specs in turn, and the Ray
runner (:mod:`sbdlib.experiments.distributed`) the same specs side by side, from one :class:`Plan`.
"""

from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import torch

from sbdlib.checks import check_seed
from sbdlib.experiments.paths import _refuse_shipped, checkpoint_name, checkpoint_path, config_name, results_path
from sbdlib.experiments.results import read_results, write_results
from sbdlib.experiments.rows import result_row
from sbdlib.experiments.runs import MAX_POPULATION, build_vae, evaluate_run, scaled_dataset, train_population
from sbdlib.experiments.specs import DEFAULT_EXPERIMENT, EXPERIMENTS, RunSpec, check_budget_scale, experiment_specs
from sbdlib.experiments.storage import Storage, open_storage
from sbdlib.scales import Scale
from sbdlib.scales import scale as current_scale
from sbdlib.training.checkpoints import read_checkpoint

# An estimate, not a measurement: a prototype population trainer reached about 32,000 images/s
# on one H100 (a 50-model population); sbdlib's own GPU throughput is not measured here.
PROTOTYPE_GPU_IMAGES_PER_SECOND = 32_000


@dataclass(frozen=True)
class SpecRun:
    """What :func:`run_spec` did for one configuration.

    Attributes:
        spec: The configuration.
        rows: One results row per seed, in seed order.
        start_steps: Per seed, the step its checkpoint held when the call began: 0 (trained
            from scratch), between 0 and the spec's steps (resumed), its steps (finished already:
            only evaluated); the spec's steps are ``spec.scale_for(scale).steps``.
    """

    spec: RunSpec
    rows: list[dict[str, Any]]
    start_steps: tuple[int, ...]


def _checkpoint_step(path: Path) -> int:
    """The step a checkpoint holds (0 when there is none)."""
    return int(read_checkpoint(path)["step"]) if path.exists() else 0


def run_spec(spec: RunSpec, seeds: Sequence[int], *, scale: Scale | None = None, storage: Storage | str | None = None,
             retrain: bool = False, ship: bool = False, progress: str = "auto",
             device: str | torch.device | None = None, max_population: int = MAX_POPULATION) -> SpecRun:
    """Train (or load, or resume) one configuration for ``seeds`` as populations, and evaluate each run into a row.

    The one unit of work of a sweep: :func:`run_experiment` calls it for each spec in turn,
    and each Ray task of :mod:`sbdlib.experiments.distributed` calls it for one spec, so both give the
    same rows. Checkpoints go to ``storage`` (a folder or URL, :mod:`sbdlib.experiments.storage`) if given,
    else ``runs/`` (``data/`` with ``ship``).
    """
    s = scale or current_scale()
    seeds = list(seeds)
    store = open_storage(storage) if isinstance(storage, (str, os.PathLike)) else storage
    names = [checkpoint_name(spec, seed, s) for seed in seeds]
    with (store.local_folder(names) if store is not None else _no_folder()) as folder:
        paths = [checkpoint_path(spec, seed, s, shipped=ship, folder=folder) for seed in seeds]
        start_steps = tuple(0 if retrain else _checkpoint_step(p) for p in paths)
        # Ctrl-C raises KeyboardInterrupt here: a stopped sweep stops (no rows for half-trained runs, no next spec).
        runs = train_population(spec, seeds, scale=s, retrain=retrain, ship=ship, progress=progress, device=device,
                                max_population=max_population, checkpoint_dir=folder)
    rows = []
    for seed, (vae, history) in zip(seeds, runs):
        t0 = time.perf_counter()
        metrics = evaluate_run(vae, spec, s)
        rows.append(result_row(spec, seed, s, vae, history, metrics, time.perf_counter() - t0))
    return SpecRun(spec, rows, start_steps)


@contextmanager
def _no_folder() -> Iterator[None]:
    """No storage: :func:`train_population` picks ``runs/`` or ``data/`` itself."""
    yield None


def check_specs(specs: Sequence[RunSpec], scale: Scale) -> None:
    """Build every spec's dataset and model once, so a bad dataset, variant or decoder fails before any training."""
    if not specs:
        raise ValueError("no configuration to run; pick an experiment of "
                         f"{sorted(EXPERIMENTS)} (and --decoders it has)")
    for spec in specs:
        try:
            with torch.random.fork_rng(devices=[]):  # building initialises weights: leave the caller's RNG alone
                build_vae(spec, scaled_dataset(spec, scale), spec.scale_for(scale))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"configuration {config_name(spec, scale)} cannot be built: {exc}") from None


def prepare_storage(storage: Storage | str | os.PathLike | None, ship: bool) -> Storage | None:
    """The sweep's checkpoint storage, checked writable now (``None``: ``runs/``, or ``data/`` with ``ship``)."""
    if storage is None:
        return None
    if ship:
        raise ValueError("--ship writes the shipped checkpoints into data/checkpoints; --storage puts them elsewhere: "
                         "give one or the other")
    store = storage if isinstance(storage, Storage) else open_storage(storage)
    store.check_writable()
    return store


@dataclass(frozen=True)
class Plan:
    """An experiment checked and ready to run: what both the local loop and the Ray runner work from."""

    scale: Scale
    specs: list[RunSpec]
    seeds: list[int]
    results: Path
    storage: Storage | None


def plan_experiment(experiment: str, seeds: Iterable[int] | None = None, *, scale: Scale | None = None,
                    ship: bool = False, specs: Sequence[RunSpec] | None = None,
                    storage: Storage | str | os.PathLike | None = None) -> Plan:
    """An experiment's specs, seeds, results table and storage, checked: bad input fails here, before any training."""
    s = scale or current_scale()
    check_budget_scale(experiment, s)
    specs = experiment_specs(experiment) if specs is None else list(specs)
    seeds = list(range(s.seeds)) if seeds is None else list(seeds)
    for seed in seeds:
        check_seed(seed, "each seed")
    out = results_path(experiment, s, shipped=ship)
    _refuse_shipped(out, ship)
    check_specs(specs, s)
    return Plan(s, specs, seeds, out, prepare_storage(storage, ship))


def run_experiment(experiment: str = DEFAULT_EXPERIMENT, seeds: Iterable[int] | None = None, *,
                   scale: Scale | None = None, retrain: bool = False, ship: bool = False, progress: str = "auto",
                   device: str | torch.device | None = None, max_population: int = MAX_POPULATION,
                   specs: Sequence[RunSpec] | None = None, storage: Storage | str | os.PathLike | None = None
                   ) -> list[dict[str, Any]]:
    """Train (or load) and evaluate every spec of an experiment for ``seeds`` (default ``0..scale.seeds-1``).

    One population per spec, one spec after another (:func:`run_spec`; the Ray runner,
    :func:`sbdlib.experiments.distributed.run_experiment_on_ray`, runs the same specs side by side);
    rows are written to :func:`results_path` (``runs/`` unless ``ship``) after each spec, so
    an interrupted sweep keeps what it has. Checkpoints go to ``storage`` if given.

    Returns:
        The rows, in (spec, seed) order.
    """
    plan = plan_experiment(experiment, seeds, scale=scale, ship=ship, specs=specs, storage=storage)
    rows: list[dict[str, Any]] = []
    for spec in plan.specs:
        rows.extend(run_spec(spec, plan.seeds, scale=plan.scale, storage=plan.storage, retrain=retrain, ship=ship,
                             progress=progress, device=device, max_population=max_population).rows)
        write_results(rows, plan.results)
    return rows


def shipped_or_run(experiment: str = DEFAULT_EXPERIMENT, scale: Scale | None = None, retrain: bool = False,
                   progress: str = "auto") -> list[dict[str, Any]]:
    """The shipped results of an experiment at this scale if present (and ``retrain`` is off), else run it into ``runs/``."""
    path = results_path(experiment, scale)
    if path.exists() and not retrain:
        return read_results(path)
    return run_experiment(experiment, scale=scale, retrain=retrain, progress=progress)


def gpu_hours_estimate(experiment: str, scale: Scale | None = None,
                       images_per_second: float = PROTOTYPE_GPU_IMAGES_PER_SECOND) -> float:
    """Rough GPU-hours of an experiment at ``scale``: its training images (specs x seeds x steps x
    batch) over a population's throughput (default: the prototype's H100 figure, an estimate)."""
    s = scale or current_scale()
    check_budget_scale(experiment, s)
    images = sum(s.seeds * spec.scale_for(s).steps * s.batch_size for spec in experiment_specs(experiment))
    return images / images_per_second / 3600


def parse_seeds(text: Sequence[str] | str) -> list[int]:
    """``"0-9"``, ``"0 1 2"``, ``"0-4,7"`` -> the list of seeds (one clear error otherwise)."""
    parts = [p for chunk in ([text] if isinstance(text, str) else text) for p in re.split(r"[,\s]+", chunk) if p]
    seeds: list[int] = []
    for part in parts:
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match or (match.group(2) and int(match.group(2)) < int(match.group(1))):
            raise ValueError(f"cannot read seeds {part!r}; write them as '0-9', '0 1 2' or '0-4,7'")
        lo, hi = int(match.group(1)), int(match.group(2) or match.group(1))
        check_seed(hi, "each seed")  # before the range is built: "0-99999999999" would not fit in memory
        seeds.extend(range(lo, hi + 1))
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds repeat in {' '.join(parts)!r}")
    return seeds
