"""Checker of notebook 11 (generalisation): the share of each latent's variance that presence explains."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from sbdlib.course.exercises._checking import NOT_ATTEMPTED, attempted, compare, passed
from sbdlib.metrics import presence_share

__all__ = ["check_presence_share"]

SHARE_RTOL = 2e-3  # a variance with N - 1 in the denominator (torch's default) is off by 1/N = 5e-4: accepted


def _group_means(mu: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean latent of the drawn images and of the blank ones, ``[k]`` each."""
    return mu[present].mean(0), mu[~present].mean(0)


def _share_mistakes() -> list[tuple[str, Callable[..., Any]]]:
    """The typical wrong shares, as functions of ``(mu, present)``."""
    def unweighted(mu: np.ndarray, present: np.ndarray) -> np.ndarray:
        m1, m0 = _group_means(mu, present)
        return 0.5 * ((m1 - mu.mean(0)) ** 2 + (m0 - mu.mean(0)) ** 2) / mu.var(0)

    def correlation(mu: np.ndarray, present: np.ndarray) -> np.ndarray:
        p = present.astype(float) - present.mean()
        c = mu - mu.mean(0)
        return (p @ c) / np.sqrt((p ** 2).sum() * (c ** 2).sum(0))

    def between(mu: np.ndarray, present: np.ndarray) -> np.ndarray:
        return presence_share(mu, present) * mu.var(0)

    return [
        ("the group means not weighted by the group sizes: weight each group's squared deviation by its share "
         "of the images", unweighted),
        ("the correlation with presence, not squared: the share of variance is r^2", correlation),
        ("the raw difference of the group means; divide the between-group variance by the latent's total variance",
         lambda mu, pr: np.subtract(*_group_means(mu, pr))),
        ("the between-group variance not divided by the latent's total variance", between),
        ("each latent's total variance: ranking latents by variance picks the latent of largest variance, "
         "not the one presence explains", lambda mu, pr: mu.var(0)),
    ]


def _share_cases() -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(mu [N, k], present [N] bool, description): a presence latent, a position latent, noise; unbalanced groups."""
    rng = np.random.default_rng(11)
    n = 2000
    present = rng.random(n) < 0.3
    position = np.where(present, rng.uniform(-2, 2, n), 0.0)
    mu = np.column_stack([np.where(present, -1.5, 2.0) + rng.normal(0, 0.1, n),  # presence, falling
                          position + rng.normal(0, 0.05, n),                       # position among drawn images
                          rng.normal(0, 3, n),                                     # noise of large variance
                          0.7 * present + position + rng.normal(0, 0.2, n)])      # a mixture
    half = rng.random(n) < 0.5
    return [(mu, present, "30% of images drawn, 4 latents"), (mu[:, [3, 0]], half, "labels unrelated, 2 latents")]


def check_presence_share(fn: Callable[..., Any]) -> None:
    """Check ``fn(mu [N, k], present [N] bool) -> [k]``: per latent, the between-group variance (drawn or
    blank images) over the latent's total variance."""
    for mu, present, case in _share_cases():
        got = attempted(fn, mu.copy(), present.copy())
        if got is NOT_ATTEMPTED:
            return
        compare("your presence_share", got, presence_share(mu, present), (mu, present), _share_mistakes(),
                case=case, rtol=SHARE_RTOL)
    passed("presence_share", "matches sbdlib.metrics.presence_share (unbalanced groups, unrelated labels)")
