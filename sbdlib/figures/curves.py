"""Training curves: a run's history, smoothed."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from sbdlib.figures.style import _finish, color_of, label_of

MAX_LEGEND_RUNS = 6  # training-curve panels name their runs up to this many
SMOOTHING_FRACTION = 0.02  # moving-average window of training curves, as a fraction of the run


# Training-curve panels: (title, y-axis label) per logged quantity.
HISTORY_LABELS = {"nll": ("NLL", "nats per image"), "kl": ("KL", "nats per image"),
                  "elbo": ("negative ELBO", "nats per image"), "loss": ("loss minimised", "nats per image"),
                  "tc": ("total correlation (discriminator estimate)", "nats"),
                  "disc_accuracy": ("discriminator accuracy", "fraction correct"),
                  "disc_loss": ("discriminator loss", "cross-entropy (nats)")}


def _smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing moving average (shorter at the start, so the curve keeps its length)."""
    v = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(v) < 2:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


def plot_history(histories: Mapping[str, Any], *, keys: Sequence[str] = ("nll", "kl", "elbo"),
                 window: int | None = None, save: str | None = None) -> Figure:
    """Training curves (smoothed) of each model, one panel per metric.

    Args:
        histories: ``{key: History}`` (``history.step`` and ``history[metric]``); keys are
            decoder names or other labels.
        keys: Metrics to draw, one panel each.
        window: Moving-average window in steps (default: 2% of the longest run).
        save: File stem to write into ``figures/``, or None.

    Returns:
        The figure.
    """
    if not histories:
        raise ValueError("histories must name at least one run")
    longest = max(len(h.step) for h in histories.values())
    window = window or max(1, int(SMOOTHING_FRACTION * longest))
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.3), squeeze=False)
    for ax, metric in zip(axes[0], keys):
        positive = True
        for key, history in histories.items():
            if metric not in getattr(history, "metrics", {}):
                continue
            values = history[metric]
            positive &= min(values, default=1.0) > 0
            color = color_of(key)
            ax.plot(history.step, values, color=color, alpha=0.15, linewidth=0.8)
            ax.plot(history.step, _smooth(values, window), color=color, linewidth=1.6, label=label_of(key))
        if positive and metric in ("nll", "elbo"):
            ax.set_yscale("log")
        title, unit = HISTORY_LABELS.get(metric, (metric, "value"))
        ax.set_title(title)
        ax.set_xlabel("training step")
        ax.set_ylabel(unit)
        if len(histories) <= MAX_LEGEND_RUNS:
            ax.legend(fontsize=8)
    fig.suptitle(f"Training curves (moving average over {window} steps)")
    fig.tight_layout()
    return _finish(fig, save)
