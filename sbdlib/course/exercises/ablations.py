"""Checker of notebook 10 (the ablations): Spearman's rank correlation, the trend statistic."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from sbdlib.course.exercises._checking import NOT_ATTEMPTED, attempted, compare, passed
from sbdlib.experiments.reproduction import spearman

__all__ = ["check_spearman"]


def _pearson(a: Sequence[float], b: Sequence[float]) -> float:
    """Pearson's correlation of two sequences (0 for a constant one)."""
    a, b = np.asarray(a, float) - np.mean(a), np.asarray(b, float) - np.mean(b)
    denominator = np.sqrt((a ** 2).sum() * (b ** 2).sum())
    return float((a * b).sum() / denominator) if denominator else 0.0


def _ordinal_ranks(v: Sequence[float]) -> np.ndarray:
    """Ranks 0..n-1 in order of value, ties broken by position."""
    ranks = np.empty(len(v))
    ranks[np.argsort(np.asarray(v, float), kind="stable")] = np.arange(len(v))
    return ranks


def _average_ranks(v: Sequence[float]) -> np.ndarray:
    """Ranks with ties given the mean of the ranks they span."""
    v = np.asarray(v, float)
    ordinal = _ordinal_ranks(v)
    return np.array([ordinal[v == x].mean() for x in v])


def _spearman_mistakes() -> list[tuple[str, Callable[..., float]]]:
    """The typical wrong rank correlations, as functions of ``(xs, ys)``."""
    def shortcut(xs: Sequence[float], ys: Sequence[float]) -> float:
        n = len(xs)
        d = _average_ranks(xs) - _average_ranks(ys)
        return float(1 - 6 * (d ** 2).sum() / (n * (n ** 2 - 1)))

    return [
        ("Pearson's correlation of the raw values; Spearman's is Pearson's correlation of the RANKS",
         lambda x, y: _pearson(x, y)),
        ("ties ranked by their order; tied values share the average of the ranks they span",
         lambda x, y: _pearson(_ordinal_ranks(x), _ordinal_ranks(y))),
        ("the shortcut 1 - 6 sum d^2 / (n (n^2 - 1)), exact only without ties; with ties take Pearson's "
         "correlation of the average ranks", shortcut),
        ("the absolute value: a falling trend has a negative rho", lambda x, y: abs(spearman(x, y))),
    ]


def _spearman_cases() -> list[tuple[list[float], list[float], str]]:
    """(xs, ys, description): a monotone curve, ties on both sides, a falling trend with ties, no ties."""
    rng = np.random.default_rng(10)
    x = np.arange(1, 9, dtype=float)
    return [([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [1.0, 1.5, 2.0, 30.0, 31.0, 200.0], "a monotone curve, no ties"),
            ([2.0, 2.0, 3.0, 4.0, 4.0, 4.0, 5.0, 6.0], [0.3, 0.1, 0.1, 0.5, 0.2, 0.9, 0.9, 0.7],
             "ties in both sequences"),
            (x.tolist(), (10 - x + rng.normal(0, 1.5, 8)).round(0).tolist(), "a falling trend, rounded (ties)"),
            ([2.0, 3.0, 4.0, 5.0], [5.0, 4.0, 3.0, 3.0], "4 depths, a falling measure with a tie")]


def check_spearman(fn: Callable[..., Any]) -> None:
    """Check ``fn(xs, ys) -> float``: Spearman's rank correlation, average ranks for ties."""
    cases = _spearman_cases()
    for xs, ys, case in cases:
        got = attempted(fn, list(xs), list(ys))
        if got is NOT_ATTEMPTED:
            return
        compare("your spearman", float(got), spearman(xs, ys), (xs, ys), _spearman_mistakes(), case=case)
    passed("spearman", f"matches sbdlib.experiments.reproduction.spearman on {len(cases)} cases (ties, falling trends)")
