"""Checkers of notebook 06 (the MIG, step by step): discretise, entropy, mutual information, the gap."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from sbdlib.course.exercises._checking import NOT_ATTEMPTED, attempted, compare, passed
from sbdlib.metrics import DEFAULT_NUM_BINS, discrete_entropy, discrete_mutual_info, histogram_discretize, mig_details

__all__ = ["check_discretize", "check_entropy", "check_mutual_info", "check_mig"]


def toy_codes(seed: int = 0, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Codes ``[n, 4]`` and labels ``[n, 2]`` (x, y with 8 values each) where every MIG mistake shows.

    Code 0 is x, code 1 a little of x and mostly y, code 2 is half x half y, code 3 noise. The
    dimensions have very different ranges (0-1, 0-10, 0-100, and around 1000) so that binning the
    whole array at once differs from binning each dimension; y has fewer values than x in the
    first half of the samples, so the two factors' entropies differ.
    """
    rng = np.random.default_rng(seed)
    factors = rng.integers(0, 8, size=(n, 2))
    factors[: n // 2, 1] = rng.integers(0, 3, size=n // 2)
    x, y = factors[:, 0] / 7, factors[:, 1] / 7
    codes = np.column_stack([
        x + rng.normal(0, 0.03, n),
        10 * (0.25 * x + y) + rng.normal(0, 0.3, n),
        100 * (0.5 * x + 0.5 * y) + rng.normal(0, 2, n),
        1000 + rng.normal(0, 1, n),
    ])
    return codes, factors


# -------------------------------------------------------------------------------- discretise


def _discretize_mistakes() -> list[tuple[str, Callable[..., np.ndarray]]]:
    """The typical wrong discretisations, as functions of ``(codes, num_bins)``."""
    def global_bins(codes: np.ndarray, num_bins: int) -> np.ndarray:
        edges = np.histogram_bin_edges(codes, bins=num_bins)[:-1]
        return np.digitize(codes, edges)

    def per_dim(codes: np.ndarray, num_bins: int, edges_of: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        return np.column_stack([np.digitize(c, edges_of(c)) for c in codes.T])

    return [
        ("bins over the whole array at once; each code dimension gets its own bins over its own min..max",
         global_bins),
        ("bins numbered from 0; the library (like disentanglement_lib) numbers them 1..num_bins",
         lambda c, b: per_dim(c, b, lambda col: np.histogram_bin_edges(col, bins=b)[:-1]) - 1),
        ("digitising against all num_bins + 1 edges: the maximum then gets a bin of its own (num_bins + 1); "
         "use the left edges only, edges[:-1]", lambda c, b: per_dim(c, b, lambda col: np.histogram_bin_edges(col, b))),
        ("equal-frequency (quantile) bins; MIG uses equal-width bins",
         lambda c, b: per_dim(c, b, lambda col: np.quantile(col, np.linspace(0, 1, b + 1))[:-1])),
    ]


def check_discretize(fn: Callable[..., Any]) -> None:
    """Check ``fn(codes [N, D], num_bins=20) -> bins [N, D]``: per dimension, equal-width bins over its own
    range, numbered 1..num_bins (the maximum in the last bin)."""
    codes, _ = toy_codes(0, 500)
    cases = [(codes, DEFAULT_NUM_BINS, "4 dimensions of very different ranges, 20 bins"),
             (codes[:50, :2], 5, "50 samples, 5 bins")]
    for c, bins, case in cases:
        got = attempted(fn, c.copy(), bins)
        if got is NOT_ATTEMPTED:
            return
        compare("your discretize", got, histogram_discretize(c, bins), (c, bins), _discretize_mistakes(), case=case)
    passed("discretize", "matches sbdlib.metrics.histogram_discretize (20 and 5 bins)")


# ----------------------------------------------------------------------------------- entropy


def _entropy_mistakes() -> list[tuple[str, Callable[..., np.ndarray]]]:
    """The typical wrong entropies, as functions of ``(factors,)``."""
    def probabilities(column: np.ndarray) -> np.ndarray:
        return np.unique(column, return_counts=True)[1] / len(column)

    def per_factor(factors: np.ndarray, h: Callable[[np.ndarray], float]) -> np.ndarray:
        return np.array([h(probabilities(col)) for col in factors.T])

    return [
        ("an entropy in bits (log2); MIG works in nats (natural log)",
         lambda f: per_factor(f, lambda p: -(p * np.log2(p)).sum())),
        ("the sum p log p without the minus sign", lambda f: per_factor(f, lambda p: (p * np.log(p)).sum())),
        ("log(number of values), the entropy of a uniform factor; use the observed frequencies",
         lambda f: per_factor(f, lambda p: np.log(len(p)))),
        ("counts instead of probabilities inside the sum (divide the counts by N)",
         lambda f: np.array([-(c * np.log(c)).sum() for c in
                             (np.unique(col, return_counts=True)[1].astype(float) for col in f.T)])),
    ]


def check_entropy(fn: Callable[..., Any]) -> None:
    """Check ``fn(factors [N, K]) -> [K]``: each discrete factor's entropy in nats."""
    _, factors = toy_codes(1, 1000)
    cases = [(factors, "x (8 values, uniform) and y (not uniform)"),
             (np.column_stack([np.repeat([3, 7, 9], [10, 20, 70]), np.zeros(100, int)]), "3 values, and a constant")]
    for f, case in cases:
        got = attempted(fn, f.copy())
        if got is NOT_ATTEMPTED:
            return
        compare("your entropy", got, discrete_entropy(f), (f,), _entropy_mistakes(), case=case)
    passed("entropy", "matches sbdlib.metrics.discrete_entropy (uniform, skewed and constant factors)")


# ------------------------------------------------------------------------ mutual information


def _mutual_info_mistakes() -> list[tuple[str, Callable[..., np.ndarray]]]:
    """The typical wrong mutual-information matrices, as functions of ``(binned, factors)``."""
    return [
        ("the matrix transposed: rows must be code dimensions [D, K]", lambda b, f: discrete_mutual_info(b, f).T),
        ("a mutual information in bits (log2); MIG works in nats", lambda b, f: discrete_mutual_info(b, f) / np.log(2)),
        ("the mutual information already divided by the factor's entropy (that comes in the gap, later)",
         lambda b, f: discrete_mutual_info(b, f) / discrete_entropy(f)),
        ("H(z) + H(v) - H(z, v) with H(z, v) missing: that is H(z) + H(v)",
         lambda b, f: discrete_entropy(b)[:, None] + discrete_entropy(f)[None, :]),
    ]


def check_mutual_info(fn: Callable[..., Any]) -> None:
    """Check ``fn(binned_codes [N, D], factors [N, K]) -> [D, K]``: the mutual information in nats between
    every discrete code dimension and every factor."""
    codes, factors = toy_codes(2, 1500)
    binned = histogram_discretize(codes)
    cases = [(binned, factors, "4 binned toy codes, factors x and y"), (binned[:, :3], factors[:, :1], "3 codes, x only")]
    for b, f, case in cases:
        got = attempted(fn, b.copy(), f.copy())
        if got is NOT_ATTEMPTED:
            return
        compare("your mutual_info", got, discrete_mutual_info(b, f), (b, f), _mutual_info_mistakes(), case=case)
    passed("mutual_info", "matches sbdlib.metrics.discrete_mutual_info on binned toy codes")


# ------------------------------------------------------------------------------------- MIG


def _gap_score(codes: np.ndarray, factors: np.ndarray, *, binned: np.ndarray | None = None,
               normalise: bool = True, second: str = "second") -> float:
    """MIG variants: ``binned`` codes given, with or without the entropy, with another "second" MI."""
    binned = histogram_discretize(codes) if binned is None else binned
    mi = discrete_mutual_info(binned, factors)  # [D, K]
    ordered = -np.sort(-mi, axis=0)
    other = ordered[1] if second == "second" else ordered[-1]
    gaps = ordered[0] - other
    return float((gaps / discrete_entropy(factors) if normalise else gaps).mean())


def check_mig(fn: Callable[..., Any]) -> None:
    """Check ``fn(codes [N, D], factors [N, K]) -> float``: the MIG with 20 equal-width bins per code
    dimension, as :func:`sbdlib.metrics.mig` computes it."""
    def global_bins(codes: np.ndarray) -> np.ndarray:
        return np.digitize(codes, np.histogram_bin_edges(codes, bins=DEFAULT_NUM_BINS)[:-1])

    mistakes = [
        ("the gaps not divided by the factor's entropy H(v_k)", lambda c, f: _gap_score(c, f, normalise=False)),
        ("the gap taken between the top latent and the WORST one; take the second best",
         lambda c, f: _gap_score(c, f, second="worst")),
        ("bins over the whole array at once instead of per code dimension",
         lambda c, f: _gap_score(c, f, binned=global_bins(c))),
        ("the largest gap over the factors instead of their mean",
         lambda c, f: float(np.nanmax(mig_details(c, f).gaps))),
    ]
    cases = [toy_codes(3) + ("4 toy codes, factors x and y",), toy_codes(4, 600) + ("600 samples",)]
    codes, factors = toy_codes(5, 800)
    cases.append((codes[:, [2, 0, 3]], factors, "3 codes, reordered"))
    for codes, factors, case in cases:
        got = attempted(fn, codes.copy(), factors.copy())
        if got is NOT_ATTEMPTED:
            return
        compare("your mig", got, mig_details(codes, factors).score, (codes, factors), mistakes, case=case)
    passed("mig", f"matches sbdlib.metrics.mig on {len(cases)} toy codes")
