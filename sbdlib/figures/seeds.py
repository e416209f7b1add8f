"""Every seed of every model: the distributions of a metric, by group, and over a sweep."""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sbdlib.figures.style import COLORS, MAX_FIGURE_INCHES, SUPTITLE_TOP, _finish, color_of, label_of
from sbdlib.metrics import metric_columns
from sbdlib.models import row_model_key

STRIP_JITTER = 0.08  # horizontal jitter of per-seed points
JITTER_SEED = 0
PLOT_LABELS = {"beta": r"$\beta$ (KL weight)",
               "grid_r2": "affine $R^2$ of the two factors' grid",
               "hole_ratio": "reconstruction error, hole / outside",
               "hole_inside": "reconstruction error in the hole (MSE per pixel)",
               "presence_share": "presence's share of the top latent's variance",
               "runner_up_share": "presence's share of the runner-up latent's variance"}  # beyond the results columns
METRIC_LABELS = {**{c.name: c.label for c in metric_columns()}, **PLOT_LABELS}  # as registered at import
DISTRIBUTION_METRICS = ("mig", "factor_vae", "latents_used", "affine_r2")  # rotation-sensitive first, then not


def metric_label(metric: str) -> str:
    """Axis label of a results column (its metric's :class:`sbdlib.metrics.Column` label) or of a plotted quantity."""
    labels = {c.name: c.label for c in metric_columns()}
    return labels.get(metric) or PLOT_LABELS.get(metric, metric)


def _finite_by_model(rows: Iterable[Mapping[str, Any]], metric: str) -> dict[str, list[float]]:
    """``{model key: [finite values of metric]}`` from result rows (:func:`sbdlib.models.row_model_key`)."""
    values: dict[str, list[float]] = {}
    for row in rows:
        v = row.get(metric)
        if isinstance(v, (int, float)) and math.isfinite(v):
            values.setdefault(row_model_key(row), []).append(float(v))
    return values


def _strip(ax: Axes, values: dict[str, list[float]], decoders: Sequence[str], metric: str,
           paper: Mapping[str, float] | None, paper_label: str, highlight: dict[str, list[float]]) -> None:
    """One panel: per decoder a box, every seed as a dot, the median starred, references and highlights."""
    rng = np.random.default_rng(JITTER_SEED)
    labelled: set[str] = set()

    def once(label: str) -> str | None:  # each legend entry once per panel
        if label in labelled:
            return None
        labelled.add(label)
        return label

    for x, d in enumerate(decoders):
        v = np.asarray(values.get(d, []))
        color = color_of(d)
        if len(v):
            ax.boxplot(v, positions=[x], widths=0.45, showfliers=False, medianprops=dict(color=color),
                       boxprops=dict(color=color), whiskerprops=dict(color=color), capprops=dict(color=color))
            ax.scatter(x + rng.uniform(-STRIP_JITTER, STRIP_JITTER, len(v)), v, color=color, alpha=0.7, s=22,
                       zorder=3, label=once("one seed"))
            ax.scatter([x], [np.median(v)], marker="*", s=220, color=color, edgecolor="black", zorder=4,
                       label=once("median"))
        if d in highlight:
            ax.scatter([x + 0.3] * len(highlight[d]), highlight[d], marker="D", s=70, facecolor="white",
                       edgecolor=color, linewidth=2, zorder=6, label=once("your run"))
        if paper and d in paper:
            ax.hlines(paper[d], x - 0.3, x + 0.3, color="black", linewidth=2.5, zorder=5, label=once(paper_label))
    ax.set_xticks(range(len(decoders)), [f"{label_of(d)}\n({len(values.get(d, []))} seeds)".replace(", ", ",\n")
                                         for d in decoders])
    ax.set_xlim(-0.6, len(decoders) - 0.4)
    ax.set_xlabel("decoder")
    ax.set_ylabel(metric_label(metric))
    ax.set_title(f"{metric_label(metric)} per seed", fontsize=10)


def _model_order(values: Iterable[Mapping[str, list[float]]], decoders: Sequence[str] | None, what: Any
                 ) -> Sequence[str]:
    """The model keys to draw: ``decoders`` if given, else deconv, sbd, coordconv, then the rest sorted."""
    seen = {d for v in values for d in v}
    if not seen:
        raise ValueError(f"no finite values of {what} in the rows")
    if decoders is not None:
        return decoders
    return [d for d in COLORS if d in seen] + sorted(d for d in seen if d not in COLORS)


def _panel_grid(count: int, panel: float, height: float, **kwargs: Any) -> tuple[Figure, np.ndarray]:
    """A figure of ``count`` panels ``panel`` inches wide, wrapped into rows at :data:`MAX_FIGURE_INCHES`."""
    ncols = max(1, min(count, int(MAX_FIGURE_INCHES // panel)))
    nrows = math.ceil(count / ncols)
    return plt.subplots(nrows, ncols, figsize=(panel * ncols, height * nrows), squeeze=False, **kwargs)


def plot_seed_distributions(rows: Iterable[Mapping[str, Any]], metrics: Sequence[str] = DISTRIBUTION_METRICS, *,
                            paper: Mapping[str, Mapping[str, float]] | None = None, paper_label: str = "paper",
                            highlight: Iterable[Mapping[str, Any]] = (), decoders: Sequence[str] | None = None,
                            suptitle: str | None = None, save: str | None = None) -> Figure:
    """Every seed of every model, one panel per metric: the distributions the paper's claims are about.

    Rows are grouped by :func:`sbdlib.models.row_model_key`: by decoder, with each ablation variant a group of its own.

    Args:
        rows: Result rows (:func:`sbdlib.experiments.results.read_results`); non-finite values are skipped.
        metrics: Columns, one panel each (default: MIG, FactorVAE score, latents used, affine R^2).
        paper: Optional ``{metric: {model key: value}}`` reference values, drawn as black bars.
        paper_label: Legend text of the reference values.
        highlight: Extra rows (e.g. the pair a reader just trained), drawn as open diamonds.
        decoders: Order of the model keys (default: deconv, sbd, coordconv, then variants and others, sorted).
        suptitle: Figure title (the scale and seed count belong here).
        save: File stem to write into ``figures/``, or None.

    Returns:
        The figure.
    """
    rows, highlight = list(rows), list(highlight)
    per_metric = {m: _finite_by_model(rows, m) for m in metrics}
    decoders = _model_order(per_metric.values(), decoders, list(metrics))
    fig, axes = _panel_grid(len(metrics), max(3.2, 1.3 * len(decoders) + 1.6), 3.8)
    for ax, m in zip(axes.flat, metrics):
        _strip(ax, per_metric[m], decoders, m, (paper or {}).get(m), paper_label, _finite_by_model(highlight, m))
    for ax in list(axes.flat)[len(metrics):]:
        ax.remove()
    axes[0, 0].legend(fontsize=7, loc="best")
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return _finish(fig, save)


def plot_seeds_by_group(rows: Iterable[Mapping[str, Any]], metric: str | Sequence[str], group: str = "dataset", *,
                        decoders: Sequence[str] | None = None, suptitle: str | None = None,
                        save: str | None = None) -> Figure:
    """One or more metrics, one panel per value of a column (e.g. each dataset), every seed of every model in each.

    :func:`plot_seed_distributions` turned around: for experiments that vary the data (notebook
    11's held-out regions) or the training budget (notebook 10) rather than the model. Groups
    keep their first-seen order; several metrics give one row of panels each, with a y axis
    shared along the row.

    Args:
        rows: Result rows (extra columns such as a notebook's own measures are fine).
        metric: The column to draw, or several (one row of panels each).
        group: The column whose values get a panel each.
        decoders: Order of the model keys (default: as in :func:`plot_seed_distributions`).
        suptitle: Figure title (the scale and seed count belong here).
        save: File stem to write into ``figures/``, or None.
    """
    rows = list(rows)
    metrics = [metric] if isinstance(metric, str) else list(metric)
    groups = list(dict.fromkeys(str(r[group]) for r in rows))
    per_group = {(m, g): _finite_by_model([r for r in rows if str(r[group]) == g], m) for m in metrics for g in groups}
    decoders = _model_order(per_group.values(), decoders, metrics)
    panel = max(2.6, 1.1 * len(decoders) + 1.2)
    if len(metrics) == 1:  # one metric: the groups' panels wrap into rows
        fig, axes = _panel_grid(len(groups), panel, 3.6, sharey=True)
    else:                  # several: a row of panels per metric
        fig, axes = plt.subplots(len(metrics), len(groups), figsize=(panel * len(groups), 3.6 * len(metrics)),
                                 squeeze=False, sharey="row")
    cells = [(m, g) for m in metrics for g in groups]
    for k, (ax, (m, g)) in enumerate(zip(axes.flat, cells)):
        _strip(ax, per_group[(m, g)], decoders, m, None, "", {})
        ax.set_title(g if len(metrics) == 1 else f"{metric_label(m)}: {g}", fontsize=9)
        if k % axes.shape[1]:
            ax.set_ylabel("")  # panels share y along a row: one label per row
    for ax in list(axes.flat)[len(cells):]:
        ax.remove()
    axes[0, 0].legend(fontsize=7, loc="best")
    names = ", ".join(metric_label(m) for m in metrics)
    fig.suptitle(suptitle or f"{names} per seed, by {group}", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, SUPTITLE_TOP))
    return _finish(fig, save)


def _sweep_panel(ax: Axes, rows: Sequence[Mapping[str, Any]], x: str, y: str, sweep: str, log_x: bool) -> None:
    """One panel of a sweep: every run a dot, the per-value medians joined in sweep order, per model."""
    groups: dict[str, dict[float, list[tuple[float, float]]]] = {}
    for row in rows:
        vx, vy = row.get(x), row.get(y)
        if all(isinstance(v, (int, float)) and math.isfinite(v) for v in (vx, vy)):
            groups.setdefault(row_model_key(row), {}).setdefault(float(row[sweep]), []).append((float(vx), float(vy)))
    if not groups:
        raise ValueError(f"no rows with finite {x!r} and {y!r}")
    for key in [k for k in COLORS if k in groups] + sorted(k for k in groups if k not in COLORS):
        color, by_value = color_of(key), dict(sorted(groups[key].items()))
        points = np.asarray([p for runs in by_value.values() for p in runs])
        ax.scatter(points[:, 0], points[:, 1], color=color, alpha=0.45, s=18)
        medians = np.asarray([np.median(np.asarray(runs), axis=0) for runs in by_value.values()])
        ax.plot(medians[:, 0], medians[:, 1], "-o", color=color, markeredgecolor="black", markersize=6,
                label=f"{label_of(key)} (median of each {sweep})")
        for value, (mx, my) in zip(by_value, medians):
            ax.annotate(f"{value:g}", (mx, my), textcoords="offset points", xytext=(4, 4), fontsize=7, color=color)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(metric_label(x) + (" (log scale)" if log_x else ""))
    ax.set_ylabel(metric_label(y))
    ax.set_title(f"{metric_label(y)} against {metric_label(x)}", fontsize=10)
    ax.legend(fontsize=7, loc="best")


def plot_sweep(rows: Iterable[Mapping[str, Any]], pairs: Sequence[tuple[str, str]] = (("kl", "nll"), ("nll", "mig")),
               *, sweep: str = "beta", log_x: Sequence[str] = ("beta",), suptitle: str | None = None,
               save: str | None = None) -> Figure:
    """A hyperparameter sweep (Fig. 3): one panel per ``(x, y)`` pair of results columns.

    Every run is a dot in its model's colour; the medians over seeds at each value of
    ``sweep`` are joined in order and labelled with the value. The default panels are the
    rate-distortion plane (NLL against KL) and MIG against NLL.

    Args:
        rows: Result rows (:func:`sbdlib.experiments.results.read_results`); non-finite values are skipped.
        pairs: ``(x column, y column)`` per panel.
        sweep: The column that was swept (default ``"beta"``).
        log_x: Columns drawn on a logarithmic x axis where they are a panel's x (beta is swept log-spaced).
        suptitle: Figure title (the scale and seed count belong here).
        save: File stem to write into ``figures/``, or None.

    Returns:
        The figure.
    """
    rows = list(rows)
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 4.2), squeeze=False)
    for ax, (x, y) in zip(axes[0], pairs):
        _sweep_panel(ax, rows, x, y, sweep, x in log_x)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return _finish(fig, save)
