"""The metrics :func:`evaluate` computes (:data:`METRICS`, :func:`register_metric`) and
:func:`evaluate`, one results row of a trained VAE.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from sbdlib.checks import check_int, seeded_generator
from sbdlib.devices import module_device
from sbdlib.metrics.affine_r2 import POSITIONAL_FACTORS, grid_affine_r2
from sbdlib.metrics.factor_vae import FACTOR_VAE_KWARGS, _active_dims_count, factor_vae_score
from sbdlib.metrics.information import GroundTruthDataset
from sbdlib.metrics.latents_used import latents_used
from sbdlib.metrics.mig import mig
from sbdlib.metrics.posterior import MAX_CHUNK


@dataclass(frozen=True)
class Column:
    """A results column that a metric fills: its name, type, and how figures and tables name it.

    ``required`` columns are in every results table (a table without them is not in the
    format); a metric added later gets optional columns, empty in older tables.
    """

    name: str
    label: str                 # axis label (sbdlib.figures.metric_label)
    header: str = ""           # header in the comparison with the paper (sbdlib.experiments.paper); default: label
    kind: type = float         # int or float
    required: bool = False


@dataclass(frozen=True)
class Metric:
    """A named metric: ``compute(evaluation) -> {column: value}`` for its :class:`Column` s."""

    name: str
    compute: Callable[["Evaluation"], dict[str, float | int]]
    columns: tuple[Column, ...]


METRICS: dict[str, Metric] = {}
"""Every metric :func:`evaluate` computes, in order; results columns, labels and headers come from here."""


def register_metric(name: str, *columns: Column) -> Callable:
    """Decorator: add ``fn(evaluation) -> {column: value}`` to :data:`METRICS` as metric ``name``.

    Example (one function, one registration; its column flows to results rows and CSVs)::

        @register_metric("code_norm", Column("code_norm", "mean |z|"))
        def code_norm(ev: Evaluation) -> dict[str, float]:
            return {"code_norm": float(np.abs(ev.codes).mean())}
    """
    if not columns:
        raise ValueError(f"metric {name!r} needs at least one Column")
    taken = {c.name for m in METRICS.values() if m.name != name for c in m.columns}
    clash = [c.name for c in columns if c.name in taken]
    if clash:
        raise ValueError(f"metric {name!r}: columns {clash} are already filled by another metric")

    def decorate(fn: Callable[["Evaluation"], dict]) -> Callable[["Evaluation"], dict]:
        METRICS[name] = Metric(name, fn, tuple(columns))
        return fn

    return decorate


def unregister_metric(name: str) -> None:
    """Remove metric ``name`` from :data:`METRICS` (e.g. a temporary one of a test)."""
    METRICS.pop(name)


def metric_columns() -> tuple[Column, ...]:
    """The columns of every registered metric, in registration order."""
    return tuple(c for m in METRICS.values() for c in m.columns)


@dataclass
class Evaluation:
    """What a metric reads: the model, the dataset and one pass over the held-out set.

    ``codes`` are the posterior means ``[N, D]`` (numpy, dtype kept), ``logvar`` the
    log-variances ``[N, D]``, ``sums`` the summed per-image ``nll``, ``kl``, ``elbo``;
    ``shared`` carries work one metric hands to a later one.
    """

    vae: Any
    dataset: GroundTruthDataset
    seed: int
    device: torch.device
    labels: Any
    num_images: int
    sums: dict[str, float]
    codes: np.ndarray
    logvar: torch.Tensor
    factor_vae: dict | None
    shared: dict[str, Any] = field(default_factory=dict)


@register_metric("elbo", Column("nll", "NLL (nats)", "NLL", required=True),
                 Column("kl", "KL (nats)", "KL", required=True),
                 Column("elbo", "negative ELBO (nats)", "−ELBO", required=True))
def elbo_metric(ev: Evaluation) -> dict[str, float]:
    """Means over the held-out set of the NLL, the KL and the negative ELBO (nats per image)."""
    return {key: value / ev.num_images for key, value in ev.sums.items()}


@register_metric("latents_used", Column("latents_used", "latents used", kind=int, required=True))
def latents_used_metric(ev: Evaluation) -> dict[str, int]:
    """Latents whose mean posterior std over the held-out set is below 0.5 (:func:`latents_used`)."""
    return {"latents_used": latents_used(ev.logvar)}


@register_metric("mig", Column("mig", "MIG", required=True))
def mig_metric(ev: Evaluation) -> dict[str, float]:
    """MIG of the posterior means against the integer labels (:func:`mig`)."""
    return {"mig": mig(ev.codes, ev.labels)}


@register_metric("factor_vae", Column("factor_vae", "FactorVAE score", required=True))
def factor_vae_metric(ev: Evaluation) -> dict[str, float]:
    """The FactorVAE eval accuracy (:func:`factor_vae_score`); NaN when ``factor_vae`` is None."""
    if ev.factor_vae is None:
        return {"factor_vae": math.nan}
    scores = factor_vae_score(lambda x: ev.vae.encode(x.to(ev.device))[0], ev.dataset,
                              **{"seed": ev.seed, **ev.factor_vae})
    ev.shared["num_active_dims"] = scores["num_active_dims"]
    return {"factor_vae": scores["eval_accuracy"]}


@register_metric("affine_r2", Column("affine_r2", "affine $R^2$ of the x-y grid", required=True))
def affine_r2_metric(ev: Evaluation) -> dict[str, float]:
    """:func:`grid_affine_r2` on a 32 x 32 grid of x and y; NaN for datasets without both."""
    positional = all(f in getattr(ev.dataset, "factor_names", ()) for f in POSITIONAL_FACTORS)
    return {"affine_r2": grid_affine_r2(ev.vae, ev.dataset, *POSITIONAL_FACTORS)[0] if positional else math.nan}


@register_metric("num_active_dims", Column("num_active_dims", "active dimensions (std >= 0.05)", kind=int,
                                           required=True))
def active_dims_metric(ev: Evaluation) -> dict[str, int]:
    """Code dimensions the FactorVAE metric keeps (std at least 0.05): from its run, else from the codes."""
    if "num_active_dims" in ev.shared:
        return {"num_active_dims": ev.shared["num_active_dims"]}
    return {"num_active_dims": _active_dims_count(ev.codes.astype(np.float64))}


def evaluate(vae: torch.nn.Module, dataset: GroundTruthDataset, *, eval_size: int, seed: int = 1234,
             factor_vae: dict | None = None, batch_size: int = MAX_CHUNK) -> dict:
    """One results row for a trained VAE: every metric of :data:`METRICS`, in order.

    Held-out set: ``dataset.eval_set(eval_size, seed)``, encoded once (the ELBO terms with
    ``vae.loss_terms`` and the evaluation's own noise generator, and the posterior); each
    registered metric then reads that :class:`Evaluation`. The built-in ones: ``nll``,
    ``kl``, ``elbo`` (nats per image; ``elbo`` is the positive loss NLL + KL, as in the
    paper's tables), ``latents_used`` (mean posterior std below 0.5), ``mig`` (posterior
    means against the integer labels), ``factor_vae`` (the FactorVAE eval accuracy with
    ``factor_vae`` as keyword arguments of :func:`factor_vae_score`, ``seed`` defaulting to
    this ``seed``; NaN when ``factor_vae`` is None), ``affine_r2`` (x-y grid; NaN without
    both positional factors) and ``num_active_dims`` (from the FactorVAE run, or, when it
    is skipped, from the std of the held-out posterior means with the same 0.05 threshold).
    The VAE is put in eval mode and its training mode is restored afterwards.

    Args:
        vae: Has ``encode(x) -> (mean [B, D], logvar [B, D])`` and ``loss_terms(x, generator=...)`` giving
            per-image tensors [B] ``"nll"``, ``"kl"``, ``"elbo"`` and the posterior
            ``"mean"``, ``"logvar"`` [B, D].
        dataset: Ground-truth dataset with ``eval_set`` (and the FactorVAE interface).
        eval_size: Held-out images, >= 1.
        seed: Seed of the held-out set (and default seed of the FactorVAE metric).
        factor_vae: Keyword arguments of :func:`factor_vae_score`, or None to skip it.
        batch_size: Images per forward pass.

    Returns:
        ``{column: value}`` for every column of :func:`metric_columns`.
    """
    check_int(eval_size, "eval_size")
    check_int(batch_size, "batch_size")
    if factor_vae is not None and (
            not isinstance(factor_vae, dict) or not set(factor_vae) <= FACTOR_VAE_KWARGS):
        raise ValueError(f"factor_vae must be None or a dict with keys among "
                         f"{sorted(FACTOR_VAE_KWARGS)}, got {factor_vae!r}")
    images, _, labels = dataset.eval_set(eval_size, seed)
    device = module_device(vae)
    noise = seeded_generator(seed, device)  # the evaluation's own: never the global RNG
    was_training = vae.training
    vae.eval()
    try:
        with torch.no_grad():
            sums = {"nll": 0.0, "kl": 0.0, "elbo": 0.0}
            means, logvars = [], []
            for start in range(0, images.shape[0], batch_size):
                x = images[start:start + batch_size].to(device)
                terms = vae.loss_terms(x, generator=noise)  # one encoder pass: the terms and the posterior
                means.append(terms["mean"].detach().cpu())
                logvars.append(terms["logvar"].detach().cpu())
                for key in sums:
                    sums[key] += float(terms[key].detach().double().sum().item())
            ev = Evaluation(vae=vae, dataset=dataset, seed=seed, device=device, labels=labels,
                            num_images=images.shape[0], sums=sums,
                            codes=torch.cat(means).numpy(),  # dtype kept: MIG bins like disentanglement_lib
                            logvar=torch.cat(logvars), factor_vae=factor_vae)
            row: dict[str, float | int] = {}
            for metric in list(METRICS.values()):
                values = metric.compute(ev)
                expected = [c.name for c in metric.columns]
                if set(values) != set(expected):
                    raise ValueError(f"metric {metric.name!r} returned {sorted(values)}, expected {expected}")
                row.update((name, values[name]) for name in expected)
    finally:
        vae.train(was_training)
    return row
