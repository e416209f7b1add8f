"""Checker of notebook 07 (the beta sweep): which runs lie on the rate-distortion front."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from sbdlib.course.exercises._checking import NOT_ATTEMPTED, attempted, compare, passed
from sbdlib.metrics import pareto_front

__all__ = ["check_pareto_front"]


def _pareto_cases() -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(rate [N], distortion [N], description): random runs, ties on one axis and on both, one run."""
    rng = np.random.default_rng(7)
    rate = np.round(rng.uniform(2, 20, 40), 0)  # rounded: several runs share a rate
    distortion = np.round(200 / rate + rng.uniform(0, 6, 40), 0)
    rate = np.append(rate, [rate[0], 1.0, 1.0])  # a copy of run 0, and two runs tied on both axes at the lowest rate
    distortion = np.append(distortion, [distortion[0], 300.0, 300.0])
    return [(rate, distortion, "43 runs, ties on one axis and on both"),
            (np.array([3.0, 1.0, 2.0, 2.0, 5.0]), np.array([1.0, 5.0, 2.0, 2.0, 0.5]),
             "5 runs, two identical ones on the front"),
            (np.array([4.0]), np.array([9.0]), "a single run")]


def _pareto_mistakes() -> list[tuple[str, Callable[..., Any]]]:
    """The typical wrong fronts, as functions of ``(rate, distortion)``."""
    def non_strict(r: np.ndarray, d: np.ndarray) -> np.ndarray:
        no_worse = (r[:, None] <= r[None, :]) & (d[:, None] <= d[None, :])
        np.fill_diagonal(no_worse, False)
        return ~no_worse.any(0)

    return [
        ("non-strict dominance: two runs tied on both axes knock each other out; a run dominates another only "
         "if it is no worse on both axes AND strictly better on one", non_strict),
        ("the mask inverted: True must mark the runs ON the front (the ones nothing dominates)",
         lambda r, d: ~pareto_front(r, d)),
        ("the front of the rate axis only (the runs of lowest rate); compare both rate and distortion",
         lambda r, d: r == r.min()),
        ("the front of the distortion axis only (the runs of lowest distortion); compare both axes",
         lambda r, d: d == d.min()),
    ]


def check_pareto_front(fn: Callable[..., Any]) -> None:
    """Check ``fn(rate [N], distortion [N]) -> bool [N]``: True where no other run has rate <= and
    distortion <= with at least one of them strictly smaller."""
    for rate, distortion, case in _pareto_cases():
        got = attempted(fn, rate.copy(), distortion.copy())
        if got is NOT_ATTEMPTED:
            return
        got = np.asarray(got)
        if got.dtype != bool:
            raise AssertionError(f"your pareto_front returned {got.dtype} values; expected bools (a mask, [N])")
        compare("your pareto_front", got, pareto_front(rate, distortion), (rate, distortion), _pareto_mistakes(),
                case=case)
    passed("pareto_front", "matches sbdlib.metrics.pareto_front (ties on one axis, on both, a single run)")
