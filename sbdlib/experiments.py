"""The course's experiments: named runs, trained as populations, evaluated into one results format.

A *run* is one trained model: a :class:`RunSpec` (dataset, decoder, variant, beta) and a
seed at a scale, named e.g. ``circles-xy_sbd_s0_course``. An *experiment* is a list of
specs (:data:`EXPERIMENTS`), trained for seeds ``0..N-1`` -- one population per spec
(:func:`sbdlib.training.train_many`) -- and evaluated into one results table
(:mod:`sbdlib.results`).

Where things live:

* ``data/`` holds the **shipped** artefacts (course-scale checkpoints and result tables).
  Notebooks only read it; ``make results`` (``python -m sbdlib.experiments ... --ship``) is
  the one command that regenerates it.
* ``runs/`` (git-ignored) holds what a reader trains: a notebook that retrains writes there,
  so ``git status`` stays clean after any notebook at any scale.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import torch

from sbdlib.checkpoints import compact_checkpoint, describe_progress, is_finished, load_checkpoint, read_checkpoint
from sbdlib.checks import check_int, check_seed
from sbdlib.data import get_dataset
from sbdlib.devices import default_device, resolve_device
from sbdlib.metrics import evaluate, metric_columns
from sbdlib.models import DECODERS, VAE, VARIANTS, variant_options
from sbdlib.objectives import (FACTOR_VAE_BATCH_SIZE, FACTOR_VAE_DISC_LR, FACTOR_VAE_GAMMA, FACTOR_VAE_LR,
                               FactorVAE)
from sbdlib.results import read_results, write_results
from sbdlib.scales import Scale, scale as current_scale
from sbdlib.storage import Storage, open_storage
from sbdlib.training import History, train_many

REPO_DIR = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_DIR / "data"                 # shipped, read-only to notebooks
CHECKPOINT_DIR = DATA_DIR / "checkpoints"
RESULTS_DIR = DATA_DIR / "results"
RUNS_DIR = REPO_DIR / "runs"                 # git-ignored: runs a reader trains
DEFAULT_DATASET = "circles/xy"
DEFAULT_EXPERIMENT = "circles-xy"
EVAL_SEED = 1234                             # the held-out set and the metrics' own generator
MAX_POPULATION = 25                          # members trained at once (bounds GPU memory)
CHECKPOINTS_PER_RUN = 10                     # checkpoints written during a run (an exact resume point each)
TRY_STEPS = 60                               # a "try it" run of notebooks 07-12: the quick scale, longer
TRY_EVAL_SIZE = 500                          # its held-out images
# An estimate, not a measurement: a prototype population trainer reached about 32,000 images/s
# on one H100 (a 50-model population); sbdlib's own GPU throughput is not measured here.
PROTOTYPE_GPU_IMAGES_PER_SECOND = 32_000


@dataclass(frozen=True)
class RunSpec:
    """What is trained, apart from the seed and the scale.

    Attributes:
        decoder: A name of :data:`sbdlib.models.DECODERS` (``"sbd"``, ``"deconv"``, ``"coordconv"``).
        dataset: A :func:`sbdlib.data.get_dataset` name.
        variant: ``""`` for the paper's default architecture, else a name of :data:`sbdlib.models.VARIANTS`
            whose decoder is ``decoder``.
        beta: KL weight (1: the plain VAE).
        dataset_options: Extra dataset arguments as sorted ``(key, value)`` pairs (e.g. holes).
        image_size: Image side for this spec, overriding the scale's (``None``: the scale's);
            small objects need more pixels than the course's 32 (notebook 08).
        course_budget: ``(Scale field, value)`` pairs applied at the course scale only
            (:meth:`scale_for`).
        paper_settings: ``(Scale field, value)`` pairs applied at the paper scale only: the
            paper's own settings where they differ from circles' (sprites: 1.5e6 steps; FactorVAE:
            1e6 steps at lr 1e-4 and batch 32, App. A).
        gamma: FactorVAE's total-correlation weight; ``0`` trains the (beta-)VAE ELBO.
        architecture: ``"table1"`` (the paper's default) or ``"table2"`` (its FactorVAE runs).
        budget: ``""`` for the experiment's usual course budget, else a label naming a second one
            (``"long"``: :data:`LONG_SPRITES_BUDGET`); it is part of the run's name, so two budgets of
            one model never share a checkpoint.
    """

    decoder: str
    dataset: str = DEFAULT_DATASET
    variant: str = ""
    beta: float = 1.0
    dataset_options: tuple = field(default=())
    image_size: int | None = None
    course_budget: tuple = field(default=())
    paper_settings: tuple = field(default=())
    gamma: float = 0.0
    architecture: str = "table1"
    budget: str = ""

    def __post_init__(self) -> None:
        if self.decoder not in DECODERS:
            raise ValueError(f"unknown decoder {self.decoder!r}; expected one of {tuple(DECODERS)}")
        if self.variant and (self.variant not in VARIANTS or VARIANTS[self.variant].decoder != self.decoder):
            variant_options(self.variant, 1)  # the unknown-variant error
            raise ValueError(f"variant {self.variant!r} ablates the {VARIANTS[self.variant].decoder} decoder, "
                             f"not {self.decoder!r}")

    @property
    def dataset_label(self) -> str:
        """The results table's ``dataset``: the name and its options, e.g. ``circles/xy hole=center``."""
        return self.dataset + "".join(f" {k}={v}" for k, v in self.dataset_options)

    def size(self, scale: Scale) -> int:
        """The image side this spec trains at: its own ``image_size``, else the scale's."""
        return self.image_size or scale.image_size

    def scale_for(self, scale: Scale) -> Scale:
        """The settings this spec trains with: the scale's, with ``course_budget`` (course) or ``paper_settings`` (paper).

        ``course_budget`` holds ``(Scale field, value)`` pairs that shrink an expensive spec to
        what a 2-core CPU affords (e.g. 64 px images at width 16 for 1,000 steps); every other
        scale, the paper's above all, trains it with its own settings. The results rows record
        the width and steps each run really had.
        """
        changes = {"course": self.course_budget, "paper": self.paper_settings}.get(scale.name, ())
        return dataclasses.replace(scale, **dict(changes)) if changes else scale

    @property
    def model_key(self) -> str:
        """The model in figures and summaries: the decoder, or ``decoder/variant`` (:func:`sbdlib.plots.model_key`)."""
        return f"{self.decoder}/{self.variant}" if self.variant else self.decoder

    @property
    def model_name(self) -> str:
        """The model in run names: the decoder, and its variant's label (``sbd-depth-4``, ``sbd-shuffled-coords``)."""
        return f"{self.decoder}-{VARIANTS[self.variant].label}" if self.variant else self.decoder

    @property
    def objective(self) -> str:
        """The results table's ``objective``: ``"factorvae"`` (gamma > 0), ``"vae"`` at beta 1, else ``"beta-vae"``."""
        if self.gamma:
            return "factorvae"
        return "vae" if self.beta == 1.0 else "beta-vae"

    def objectives(self, vaes: Sequence[VAE], scale: Scale) -> list | None:
        """The training objectives of ``vaes`` (``None``: the ELBO), one FactorVAE each when ``gamma`` > 0.

        The discriminator's learning rate keeps the paper's ratio to the VAE's (2e-5 to 1e-4):
        at the paper scale it is the paper's 2e-5, at the course's lr 1e-3 it is 2e-4.
        """
        if not self.gamma:
            return None
        disc_lr = scale.lr * FACTOR_VAE_DISC_LR / FACTOR_VAE_LR
        return [FactorVAE(vae.latent_dim, gamma=self.gamma, disc_lr=disc_lr) for vae in vaes]


SMALL_OBJECT_IMAGE_SIZE = 64  # 0.075 x 64 = 4.8 px: the tiny circle is several pixels wide (2.4 px at 32)
# What 2 CPU cores afford for the experiments of notebooks 08, 10, 11 and 12 (over 100 runs):
# at the course's width 32 one SBD step took 380 ms at 64 px and 198 ms on colored sprites at
# 32 px; at width 16 it takes 49 ms (sprites, 32 px). Applied at the course scale only.
LEAN_COURSE_BUDGET = (("steps", 1000), ("width", 16))
# Colored sprites' second course budget (notebook 10): ten times the lean one's steps at the same
# width, so the same seeds show what longer training changes. A DeConv member-step took about
# 35 ms and an SBD one about 90 ms on one thread, so 5 seeds of each fit a few hours of 2 cores.
LONG_SPRITES_BUDGET = (("steps", 10_000), ("width", 16))
SPRITES_PAPER_STEPS = 1_500_000  # Table 4: colored sprites
FACTOR_VAE_PAPER_SETTINGS = (("steps", 1_000_000), ("lr", FACTOR_VAE_LR), ("batch_size", FACTOR_VAE_BATCH_SIZE))
# (decoder, variant kind, values) beside the defaults (SBD 3 layers, DeConv 5, no MLP, no upscale);
# DeConv depth 6 needs 64 px images and 3 upscales a 4-layer SBD, so both are left out for now.
SPRITE_ABLATIONS = (("sbd", "sbd-depth", (2, 4, 5)), ("deconv", "deconv-depth", (3, 4)), ("sbd", "sbd-mlp", (1, 2, 3)),
                    ("sbd", "sbd-upscale", (1, 2)))
BETAS = (0.4, 0.77, 1.5, 2.8, 5.4)  # the paper's log-spaced range (Fig. 3: 0.4 .. 5.4), beta 1 is circles-xy
HOLE_SETS = ("xy", "xh", "rg")       # App. H: the circle sets with a held-out quarter
HOLES = ("center", "corner")
BLANK_FRACTION = 0.5                 # App. H: half of the images have no object


def _sprites(decoder: str, **kwargs: Any) -> RunSpec:
    """A colored-sprites spec: the lean course budget, the paper's 1.5e6 steps at the paper scale."""
    kwargs.setdefault("paper_settings", (("steps", SPRITES_PAPER_STEPS),))
    kwargs.setdefault("course_budget", LEAN_COURSE_BUDGET)
    return RunSpec(decoder, "sprites", **kwargs)


EXPERIMENTS: dict[str, list[RunSpec]] = {
    # Notebooks 03-06: the X-Y circles, both decoders.
    "circles-xy": [RunSpec("deconv"), RunSpec("sbd")],
    # Fig. 3: the beta-VAE sweep, both decoders.
    "beta-sweep": [RunSpec(d, beta=b) for d in ("deconv", "sbd") for b in BETAS],
    # App. E and App. B: the CoordConv VAE and the SBD with its coordinate maps shuffled once.
    "coordinates": [RunSpec("coordconv"), RunSpec("sbd", variant="shuffled-coords")],
    # App. D: X-Y-H circles of diameter 0.1 and 0.075, at 64 px so a tiny circle is 4.8 px across.
    "small-objects": [RunSpec(d, f"circles/xyh_{size}", image_size=SMALL_OBJECT_IMAGE_SIZE,
                              course_budget=LEAN_COURSE_BUDGET)
                      for size in ("small", "tiny") for d in ("deconv", "sbd")],
    # Tables 5 and 6's default rows: colored sprites, both decoders.
    "sprites": [_sprites(d) for d in ("deconv", "sbd")],
    # The same, trained ten times longer at the course scale (LONG_SPRITES_BUDGET).
    "sprites-long": [_sprites(d, course_budget=LONG_SPRITES_BUDGET, budget="long") for d in ("deconv", "sbd")],
    # Tables 5, 6, 7, 10: SBD depth, DeConv depth, pre-broadcast MLP, stride-2 upscales.
    "sprites-ablations": [_sprites(d, variant=f"{kind}-{n}") for d, kind, ns in SPRITE_ABLATIONS for n in ns],
    # The ablations whose trend the lean budget could not resolve (SBD depth, upscales), at the long one.
    "sprites-ablations-long": [_sprites(d, variant=f"{kind}-{n}", course_budget=LONG_SPRITES_BUDGET, budget="long")
                               for d, kind, ns in SPRITE_ABLATIONS if kind in ("sbd-depth", "sbd-upscale")
                               for n in ns],
    # App. H: X-Y, X-H, R-G circles with a held-out quarter (centre, corner), and the half-blank X-Y set.
    "generalisation": [RunSpec(d, f"circles/{name}", dataset_options=(("hole", hole),), course_budget=LEAN_COURSE_BUDGET)
                       for name in HOLE_SETS for hole in HOLES for d in ("deconv", "sbd")]
                      + [RunSpec(d, "circles/xy", dataset_options=(("blank_fraction", BLANK_FRACTION),),
                                 course_budget=LEAN_COURSE_BUDGET) for d in ("deconv", "sbd")],
    # A control of notebook 09: at 32 px the course's DeConv starts from 1 x 1 (5 deconvolutions, first layer
    # 10 -> width); this one starts from the paper's 2 x 2 (4 deconvolutions, first layer 10 -> 4 x width).
    "deconv-start": [RunSpec("deconv", variant="deconv-depth-4")],
    # Table 2: FactorVAE (gamma 35) on colored sprites with its own architectures, both decoders.
    "factorvae": [_sprites(d, gamma=FACTOR_VAE_GAMMA, architecture="table2", paper_settings=FACTOR_VAE_PAPER_SETTINGS)
                  for d in ("deconv", "sbd")],
}
# Second course budgets of another experiment: the same models, trained longer at the course scale
# only. At the paper scale both budgets are the paper's settings, so only the first is run there.
SECOND_BUDGET_OF = {"sprites-long": "sprites", "sprites-ablations-long": "sprites-ablations"}
# Controls of the course scale's own choices: at the paper scale they are what another experiment
# already trains (at 64 px the paper's DeConv starts from 2 x 2), so only that one is run there.
COURSE_CONTROL_OF = {"deconv-start": "circles-xy"}
COURSE_ONLY = {**SECOND_BUDGET_OF, **COURSE_CONTROL_OF}  # experiment -> what to run at the paper scale instead


def check_budget_scale(experiment: str, scale: Scale) -> None:
    """One clear error for a course-only experiment asked for at the paper scale (it names what to run)."""
    if experiment in COURSE_ONLY and scale.name == "paper":
        what = ("a second course-scale budget of" if experiment in SECOND_BUDGET_OF else
                "a control of the course scale's 32 px DeConv; at 64 px the paper's DeConv is it, in")
        raise ValueError(f"{experiment!r} is {what} {COURSE_ONLY[experiment]!r}; at the paper scale run "
                         f"{COURSE_ONLY[experiment]!r}")


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


def _is_complete(path: Path, steps: int) -> bool:
    """Whether a checkpoint exists and holds a finished (or diverged) run of ``steps`` steps."""
    if not path.exists():
        return False
    payload = read_checkpoint(path)
    return int(payload["step"]) >= steps or bool(payload["history"].get("diverged"))


RETRAIN_SUFFIX = ".tmp-retrain"  # a retrain trains into <checkpoint>.tmp-retrain, moved over the old file when it ends


def retrain_path(path: Path) -> Path:
    """Where a retrain of ``path`` trains until it ends (the finished run at ``path`` stays until then)."""
    return path.with_name(path.name + RETRAIN_SUFFIX)


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
    are compacted once finished (:func:`sbdlib.checkpoints.compact_checkpoint`).

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


def try_scale(steps: int = TRY_STEPS) -> Scale:
    """The settings of a "try it" run: the quick scale's, trained for ``steps`` steps."""
    return dataclasses.replace(current_scale("quick"), steps=check_int(steps, "steps"))


def try_runs(spec: RunSpec | str, seeds: Sequence[int] = (0,), *, steps: int = TRY_STEPS
             ) -> list[tuple[VAE, dict[str, float]]]:
    """Short runs of ``spec``, trained together in memory and evaluated: the notebooks' "try it" cells.

    Whatever the notebook's scale, they train at :func:`try_scale` (seconds on a laptop CPU),
    write nothing, and are evaluated on ``TRY_EVAL_SIZE`` held-out images without the
    FactorVAE score. They show a direction, not the shipped runs' values.

    Returns:
        ``(vae, row)`` per seed; ``row`` has ``nll``, ``kl``, ``elbo``, ``latents_used``, ``mig``,
        ``affine_r2`` (NaN without x and y) and ``steps``.
    """
    spec = spec if isinstance(spec, RunSpec) else RunSpec(spec)
    s = try_scale(steps)
    ds = scaled_dataset(spec, s)
    vaes = []
    for seed in seeds:
        torch.manual_seed(seed)  # the seed fixes the initial weights, as in train_population
        vaes.append(build_vae(spec, ds, s))
    histories = train_many(vaes, ds, seeds=list(seeds), steps=s.steps, batch_size=s.batch_size, lr=s.lr,
                           objective=spec.objectives(vaes, s), progress="none")
    out = []
    for vae, history in zip(vaes, histories):
        row = evaluate(vae.eval(), ds, eval_size=TRY_EVAL_SIZE, seed=EVAL_SEED, factor_vae=None)
        out.append((vae, {**row, "steps": len(history)}))
    return out


def result_row(spec: RunSpec, seed: int, scale: Scale, vae: VAE, history: History, metrics: dict,
               eval_seconds: float) -> dict[str, Any]:
    """One row of the results format for a trained and evaluated run."""
    return dict(dataset=spec.dataset_label,
                decoder=spec.decoder, variant=spec.variant, objective=spec.objective, beta=spec.beta, seed=seed,
                scale=scale.name, image_size=vae.image_size, width=vae.config["width"], likelihood=vae.likelihood,
                steps=len(history), batch_size=scale.batch_size, lr=scale.lr,
                **{c.name: metrics[c.name] for c in metric_columns()}, diverged=int(bool(history.diverged)),
                train_seconds=history.seconds, eval_seconds=eval_seconds, device=history.device or "cpu",
                precision=history.precision or "fp32")


def check_row(row: dict[str, Any], payload: dict[str, Any], path: Path | str) -> None:
    """One clear error when a checkpoint's settings disagree with its results row."""
    config, history = payload["config"], payload["history"]
    expected = {"seed": payload.get("seed"), "decoder": config["decoder"], "beta": config["beta"],
                "batch_size": payload.get("batch_size"), "lr": payload.get("lr"), "steps": len(history["step"]),
                "image_size": config["image_size"], "width": config["width"]}
    bad = {k: (row[k], v) for k, v in expected.items() if v is not None and row[k] != v
           and not (isinstance(v, float) and math.isclose(row[k], v, rel_tol=1e-6))}
    if bad:
        raise ValueError(f"{path} disagrees with its results row in {sorted(bad)} as (row, checkpoint) {bad}; the table "
                         f"and the checkpoints come from different runs: regenerate both with `make results`")


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
    and each Ray task of :mod:`sbdlib.distributed` calls it for one spec, so both give the
    same rows. Checkpoints go to ``storage`` (a folder or URL, :mod:`sbdlib.storage`) if given,
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


def experiment_specs(experiment: str, decoders: Sequence[str] | None = None) -> list[RunSpec]:
    """The specs of a named experiment, optionally only those with ``decoders`` (one clear error for unknown names)."""
    if experiment not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {experiment!r}; expected one of {sorted(EXPERIMENTS)}")
    specs = EXPERIMENTS[experiment]
    if decoders is None:
        return list(specs)
    known = sorted({spec.decoder for spec in specs})
    unknown = [d for d in decoders if d not in known]
    if unknown:
        raise ValueError(f"experiment {experiment!r} has no decoder {unknown}; its decoders are {known}")
    return [spec for spec in specs if spec.decoder in decoders]


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
    :func:`sbdlib.distributed.run_experiment_on_ray`, runs the same specs side by side);
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


def row_spec(row: dict[str, Any]) -> RunSpec:
    """The registered spec (:data:`EXPERIMENTS`) a results row was trained from, found by lookup.

    A spec matches when its dataset label, decoder, variant, objective, beta, image size and
    width at the row's scale are the row's; several matches (one model at two budgets) are
    told apart by the steps the row trained (a run that diverged trained fewer: the spec
    whose planned steps cover them and whose checkpoint exists).
    """
    s = current_scale(row["scale"])
    same = [spec for spec in dict.fromkeys(spec for specs in EXPERIMENTS.values() for spec in specs)
            if (spec.dataset_label, spec.decoder, spec.variant, spec.objective, spec.size(s), spec.scale_for(s).width)
            == (row["dataset"], row["decoder"], row["variant"] or "", row["objective"], row["image_size"], row["width"])
            and math.isclose(spec.beta, row["beta"], rel_tol=1e-9)]
    for candidates in ([p for p in same if p.scale_for(s).steps == row["steps"]],
                       [p for p in same if p.scale_for(s).steps >= row["steps"]
                        and checkpoint_path(p, int(row["seed"]), s, shipped=True).exists()]):
        if len(candidates) == 1:
            return candidates[0]
    raise ValueError(f"no single registered spec matches the results row {row['dataset']} {model_key_of(row)} "
                     f"beta {row['beta']} seed {row['seed']} ({len(same)} candidates); was it trained from a spec "
                     f"of sbdlib.experiments.EXPERIMENTS?")


def model_key_of(row: dict[str, Any]) -> str:
    """``decoder`` or ``decoder/variant`` of a results row (for messages)."""
    return f"{row['decoder']}/{row['variant']}" if row.get("variant") else str(row["decoder"])


def row_checkpoint(row: dict[str, Any], *, shipped: bool = True) -> Path:
    """The checkpoint behind a results row: its registered spec (:func:`row_spec`) at the row's scale."""
    return checkpoint_path(row_spec(row), int(row["seed"]), current_scale(row["scale"]), shipped=shipped)


def load_run(row: dict[str, Any], scale: Scale | None = None, device: str | torch.device | None = None) -> VAE:
    """The shipped model behind a results row, checked against the row (:func:`check_row`)."""
    path = row_checkpoint(row)
    vae, payload = load_checkpoint(path, device=device if device is not None else default_device(),
                                   require_finished=True)
    check_row(row, payload, path)
    return vae


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


if __name__ == "__main__":  # `python -m sbdlib.experiments ...`: the command line lives in sbdlib.cli
    from sbdlib.cli import main

    main()
