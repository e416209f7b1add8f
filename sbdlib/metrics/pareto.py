"""The Pareto front of a sweep: the runs no other run beats in both of two scores (notebook 07)."""

from __future__ import annotations

import numpy as np

from sbdlib.metrics.information import ArrayLike


def pareto_front(rate: ArrayLike, distortion: ArrayLike) -> np.ndarray:
    """Which runs lie on the rate-distortion front: ``[N]`` bools, True where no other run is at least
    as good on both axes and strictly better on one (lower rate, lower distortion).

    Runs that tie on both axes do not dominate each other: both stay on the front.

    Args:
        rate: ``[N]`` rates (e.g. the KL, nats).
        distortion: ``[N]`` distortions (e.g. the NLL, nats).
    """
    r = np.asarray(rate, dtype=np.float64).reshape(-1)
    d = np.asarray(distortion, dtype=np.float64).reshape(-1)
    if r.shape != d.shape:
        raise ValueError(f"rate and distortion must have the same length, got {len(r)} and {len(d)}")
    # no_worse[j, i]: run j is at least as good as run i on both axes; better[j, i]: strictly on one.
    no_worse = (r[:, None] <= r[None, :]) & (d[:, None] <= d[None, :])
    better = (r[:, None] < r[None, :]) | (d[:, None] < d[None, :])
    return ~(no_worse & better).any(0)
