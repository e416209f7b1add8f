"""The registry of what the course trains: :class:`RunSpec` (one configuration) and :data:`EXPERIMENTS`.

A *run* is one trained model: a :class:`RunSpec` (dataset, decoder, variant, beta) and a
seed at a scale. An *experiment* is a list of specs, trained for seeds ``0..N-1``. The
course scale's budgets (what 2 CPU cores afford) and the paper's own settings live here too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

from sbdlib.models import DECODERS, VAE, VARIANTS, model_color, model_key, model_label, variant_options
from sbdlib.scales import Scale
from sbdlib.training.objectives import (FACTOR_VAE_BATCH_SIZE, FACTOR_VAE_DISC_LR, FACTOR_VAE_GAMMA, FACTOR_VAE_LR,
                                        FactorVAE)

DEFAULT_DATASET = "circles/xy"
DEFAULT_EXPERIMENT = "circles-xy"


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
        """The model in figures and summaries: the decoder, or ``decoder/variant`` (:func:`sbdlib.models.model_key`)."""
        return model_key(self.decoder, self.variant)

    @property
    def label(self) -> str:
        """The model's display name in figures (:func:`sbdlib.models.model_label`)."""
        return model_label(self.decoder, self.variant)

    @property
    def color(self) -> str:
        """The model's colour in figures (:func:`sbdlib.models.model_color`)."""
        return model_color(self.decoder, self.variant)

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
