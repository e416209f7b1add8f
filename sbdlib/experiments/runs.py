"""One configuration's runs: built, trained as populations (or loaded), evaluated.

:func:`train_population` trains (or resumes, or loads) a spec's seeds as populations
(:func:`sbdlib.training.train_many`); :func:`train_or_load` is one run of it, shipped if it
exists; :func:`try_runs` are the notebooks' short "try it" runs, in memory.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from sbdlib.checks import check_int
from sbdlib.data import get_dataset
from sbdlib.devices import default_device, resolve_device
from sbdlib.experiments.paths import _refuse_shipped, checkpoint_path, config_name, retrain_path, run_name
from sbdlib.experiments.specs import DEFAULT_DATASET, RunSpec
from sbdlib.metrics import evaluate
from sbdlib.models import VAE, variant_options
from sbdlib.scales import Scale
from sbdlib.scales import scale as current_scale
from sbdlib.training import train_many
from sbdlib.training.checkpoints import (compact_checkpoint, describe_progress, is_finished, load_checkpoint,
                                         read_checkpoint)
from sbdlib.training.history import History

EVAL_SEED = 1234                             # the held-out set and the metrics' own generator
MAX_POPULATION = 25                          # members trained at once (bounds GPU memory)
CHECKPOINTS_PER_RUN = 10                     # checkpoints written during a run (an exact resume point each)
TRY_STEPS = 60                               # a "try it" run of notebooks 07-12 at the quick scale (tests)
TRY_COURSE_STEPS = 500                       # ... at any other scale: the spec's course settings, this long
TRY_EVAL_SIZE = 500                          # its held-out images


def scaled_dataset(dataset: str | RunSpec = DEFAULT_DATASET, scale: Scale | None = None):
    """The named dataset (or a spec's) at the spec's image size (default: the scale's)."""
    spec = dataset if isinstance(dataset, RunSpec) else RunSpec("sbd", dataset)
    return get_dataset(spec.dataset, image_size=spec.size(scale or current_scale()), **dict(spec.dataset_options))


def build_vae(decoder: str | RunSpec, dataset, scale: Scale | None = None, **kwargs: Any) -> VAE:
    """A VAE sized for ``scale`` (its width and likelihood), the dataset's images and the spec's variant."""
    s = scale or current_scale()
    spec = decoder if isinstance(decoder, RunSpec) else RunSpec(decoder)
    kwargs.setdefault("likelihood", s.likelihood)
    kwargs.setdefault("beta", spec.beta)
    kwargs.setdefault("architecture", spec.architecture)
    options = variant_options(spec.variant, s.width)
    if options:
        kwargs.setdefault("decoder_kwargs", options)
    return VAE(spec.decoder, channels=dataset.num_channels, image_size=dataset.image_size, width=s.width, **kwargs)


def _is_complete(path: Path, steps: int) -> bool:
    """Whether a checkpoint exists and holds a finished (or diverged) run of ``steps`` steps."""
    if not path.exists():
        return False
    payload = read_checkpoint(path)
    return int(payload["step"]) >= steps or bool(payload["history"].get("diverged"))


def _stopped_message(name: str, seeds: Sequence[int], targets: Sequence[Path], retrain: bool) -> str:
    """What a Stop left behind: the step each seed's file holds, and how to go on."""
    held = ", ".join(f"seed {seed}: {target} holds {describe_progress(read_checkpoint(target))}"
                     for seed, target in zip(seeds, targets) if target.exists())
    then = ("the finished runs they retrain are unchanged; retrain=True (--retrain) starts again" if retrain else
            "the same call resumes exactly")
    return f"{name} interrupted ({held}); {then}"


def train_population(spec: RunSpec, seeds: Sequence[int], *, scale: Scale | None = None, retrain: bool = False,
                     ship: bool = False, progress: str = "auto", device: str | torch.device | None = None,
                     max_population: int = MAX_POPULATION, checkpoint_dir: str | os.PathLike | None = None
                     ) -> list[tuple[VAE, History]]:
    """Train (or load) the runs of ``spec`` for ``seeds``: the missing ones as populations of at most ``max_population``.

    A finished checkpoint is loaded; an unfinished one (interrupted) is resumed, exactly
    (:func:`sbdlib.training.train_many`); ``retrain`` starts every run afresh, into
    :func:`retrain_path`, and moves it over the old checkpoint only when it has ended, so a
    stopped or killed retrain never loses a finished run. Checkpoints go to
    ``checkpoint_dir`` if given, else ``runs/`` unless ``ship`` (``make results``); shipped ones
    are compacted once finished (:func:`sbdlib.training.checkpoints.compact_checkpoint`).

    Returns:
        ``(vae, history)`` per seed, in order, each model in eval mode on ``device``.

    Raises:
        KeyboardInterrupt: After Ctrl-C (every checkpoint saved), naming the step each file
            holds, so one Stop ends a notebook cell that trains several configurations.
    """
    s = spec.scale_for(scale or current_scale())
    check_int(max_population, "max_population")
    device = resolve_device(device)
    paths = [checkpoint_path(spec, seed, s, shipped=ship, folder=checkpoint_dir) for seed in seeds]
    for path in paths:
        _refuse_shipped(path, ship)
    ds = scaled_dataset(spec, s)
    todo = [i for i, path in enumerate(paths) if retrain or not _is_complete(path, s.steps)]
    for start in range(0, len(todo), max_population):
        chunk = todo[start:start + max_population]
        vaes = []
        for i in chunk:
            torch.manual_seed(seeds[i])  # the seed fixes the initial weights too
            vaes.append(build_vae(spec, ds, s))
        targets = [retrain_path(paths[i]) if retrain else paths[i] for i in chunk]
        label = f"{run_name(spec, 0, scale=s).replace('_s0_', ' ')}: seeds {[seeds[i] for i in chunk]}"
        histories = train_many(vaes, ds, seeds=[seeds[i] for i in chunk], steps=s.steps, batch_size=s.batch_size,
                               lr=s.lr, objective=spec.objectives(vaes, s), device=device, checkpoints=targets,
                               resume=not retrain, overwrite=retrain, progress=progress, title=label,
                               checkpoint_every=max(1, s.steps // CHECKPOINTS_PER_RUN))
        if any(h.interrupted for h in histories):
            raise KeyboardInterrupt(_stopped_message(config_name(spec, s), [seeds[i] for i in chunk], targets,
                                                    retrain))
        for i, target in zip(chunk, targets):
            if target != paths[i] and is_finished(read_checkpoint(target)):
                os.replace(target, paths[i])  # the new run has ended: only now does it replace the old one
    for i in todo if ship else ():  # shipped runs just finished: drop what only further training needs
        if _is_complete(paths[i], s.steps):
            compact_checkpoint(paths[i])
    out = []
    for path in paths:
        vae, payload = load_checkpoint(path, device=device, require_finished=True)
        out.append((vae, History.from_dict(payload["history"])))
    return out


def train_or_load(decoder: str | RunSpec, seed: int = 0, *, dataset: str = DEFAULT_DATASET, scale: Scale | None = None,
                  retrain: bool = False, progress: str = "auto", device: str | torch.device | None = None
                  ) -> tuple[VAE, History]:
    """The shipped run if there is one (and ``retrain`` is off), else the reader's own in ``runs/``, trained if needed.

    A retrain replaces the reader's run only once it has ended; Ctrl-C raises KeyboardInterrupt
    (see :func:`train_population`), so a loop over decoders stops at the first Stop.

    Returns:
        ``(vae, history)``: the model in eval mode on ``device`` (default: CUDA when
        available, else CPU), whether it was loaded or trained.
    """
    spec = decoder if isinstance(decoder, RunSpec) else RunSpec(decoder, dataset)
    s = scale or current_scale()
    device = resolve_device(device) if device is not None else default_device()
    shipped = checkpoint_path(spec, seed, s, shipped=True)
    if shipped.exists() and not retrain:
        vae, payload = load_checkpoint(shipped, device=device, require_finished=True)
        return vae, History.from_dict(payload["history"])
    return train_population(spec, [seed], scale=s, retrain=retrain, progress=progress, device=device)[0]


def evaluate_run(vae: VAE, dataset: str | RunSpec = DEFAULT_DATASET, scale: Scale | None = None,
                 seed: int = EVAL_SEED) -> dict[str, float]:
    """NLL, KL, ELBO, latents used, MIG, FactorVAE score and affine R^2 of a trained VAE at ``scale``."""
    s = scale or current_scale()
    fv = dict(num_train=s.factor_vae_train, num_eval=s.factor_vae_eval, num_variance_estimate=s.factor_vae_variance)
    return evaluate(vae, scaled_dataset(dataset, s), eval_size=s.eval_size, seed=seed, factor_vae=fv)


def try_scale(steps: int | None = None, spec: RunSpec | None = None, *, course_steps: int = TRY_COURSE_STEPS) -> Scale:
    """The settings of a "try it" run.

    At the quick scale (tests): the quick scale's settings, ``steps`` steps (default
    ``TRY_STEPS``). At any other scale: the settings ``spec`` trains with at the course scale
    (its ``course_budget`` included), ``steps`` steps (default ``course_steps``): a minute or
    so of a laptop CPU, enough for the short run to agree in direction with the shipped runs
    for most seeds (notebooks 07-12 state how often).
    """
    if current_scale().name == "quick":
        return dataclasses.replace(current_scale("quick"), steps=check_int(TRY_STEPS if steps is None else steps, "steps"))
    course = current_scale("course")
    settings = spec.scale_for(course) if spec is not None else course
    return dataclasses.replace(settings, steps=check_int(course_steps if steps is None else steps, "steps"))


def try_runs(spec: RunSpec | str, seeds: Sequence[int] = (0,), *, steps: int | None = None,
             course_steps: int = TRY_COURSE_STEPS) -> list[tuple[VAE, dict[str, float]]]:
    """Short runs of ``spec``, trained together in memory and evaluated: the notebooks' "try it" cells.

    They train at :func:`try_scale` (quick settings in tests, the spec's course settings for
    ``course_steps`` steps otherwise), write nothing, and are evaluated on ``TRY_EVAL_SIZE``
    held-out images without the FactorVAE score. They show a direction, not the shipped runs' values.

    Returns:
        ``(vae, row)`` per seed; ``row`` has ``nll``, ``kl``, ``elbo``, ``latents_used``, ``mig``,
        ``affine_r2`` (NaN without x and y), ``steps``, ``seconds`` (the training's wall time),
        ``device`` and ``precision`` (as the training's History records them).
    """
    spec = spec if isinstance(spec, RunSpec) else RunSpec(spec)
    s = try_scale(steps, spec, course_steps=course_steps)
    ds = scaled_dataset(spec, s)
    vaes = []
    for seed in seeds:
        torch.manual_seed(seed)  # the seed fixes the initial weights, as in train_population
        vaes.append(build_vae(spec, ds, s))
    start = time.perf_counter()
    histories = train_many(vaes, ds, seeds=list(seeds), steps=s.steps, batch_size=s.batch_size, lr=s.lr,
                           objective=spec.objectives(vaes, s), progress="none")
    seconds = time.perf_counter() - start
    out = []
    for vae, history in zip(vaes, histories):
        row = evaluate(vae.eval(), ds, eval_size=TRY_EVAL_SIZE, seed=EVAL_SEED, factor_vae=None)
        out.append((vae, {**row, "steps": len(history), "seconds": seconds, "device": history.device,
                          "precision": history.precision}))
    return out
