"""The Mutual Information Gap (Chen et al., 2018): for each factor, the gap in mutual information
between its two most informative latents, over the factor's entropy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sbdlib.metrics.information import (DEFAULT_NUM_BINS, ArrayLike, _check_codes, _check_factors, discrete_entropy,
                                        discrete_mutual_info, histogram_discretize)


@dataclass(frozen=True)
class MIGDetails:
    """Everything MIG is computed from.

    Attributes:
        score: The MIG, mean of ``gaps`` over the factors that vary.
        mutual_info: Mutual information in nats [D, K] between binned code dims and factors.
        entropy: Factor entropies in nats [K].
        gaps: Normalised gap (top MI - second MI) / entropy per factor [K]; NaN for
            constant factors.
        top_dims: Code dimension with the largest MI per factor [K].
        varying: Which factors have more than one value [K] (only these enter ``score``).
    """

    score: float
    mutual_info: np.ndarray
    entropy: np.ndarray
    gaps: np.ndarray
    top_dims: np.ndarray
    varying: np.ndarray


def mig_details(codes: ArrayLike, factors: ArrayLike,
                num_bins: int = DEFAULT_NUM_BINS) -> MIGDetails:
    """The Mutual Information Gap with its intermediate quantities (see :func:`mig`).

    Args:
        codes: Continuous codes [N, D] (numpy or torch), typically posterior means; D >= 2.
        factors: Discrete ground-truth labels [N, K] (integers).
        num_bins: Equal-width histogram bins per code dimension.

    Returns:
        A :class:`MIGDetails`.
    """
    arr = _check_codes(codes)
    if arr.shape[1] < 2:
        raise ValueError(f"MIG needs at least 2 code dimensions, got codes of shape {arr.shape}")
    facs = _check_factors(factors, arr.shape[0])
    mutual_info = discrete_mutual_info(histogram_discretize(arr, num_bins), facs)
    entropy = discrete_entropy(facs)
    varying = entropy > 0
    if not varying.any():
        raise ValueError(
            "MIG needs at least one factor with more than one value; all factors are constant")
    top_two = -np.sort(-mutual_info, axis=0)[:2]  # [2, K], largest first
    gaps = np.full(entropy.shape, np.nan)
    gaps[varying] = (top_two[0, varying] - top_two[1, varying]) / entropy[varying]
    return MIGDetails(
        score=float(gaps[varying].mean()),
        mutual_info=mutual_info,
        entropy=entropy,
        gaps=gaps,
        top_dims=np.argmax(mutual_info, axis=0),
        varying=varying,
    )


def mig(codes: ArrayLike, factors: ArrayLike, num_bins: int = DEFAULT_NUM_BINS) -> float:
    """Mutual Information Gap (Chen et al., 2018), computed as disentanglement_lib does.

    Each code dimension is discretised with ``num_bins`` equal-width bins over its own
    range (:func:`histogram_discretize`); the discrete mutual information in nats between
    every code dimension and every factor is computed (:func:`discrete_mutual_info`); for
    each factor, the gap between its two largest MIs is divided by the factor's entropy;
    the score is the mean over factors.

    Difference from disentanglement_lib: a constant factor (entropy 0) would make it
    divide by zero (NaN score). Here constant factors are skipped: the mean runs over the
    factors that take more than one value.

    Args:
        codes: Continuous codes [N, D] (numpy or torch), typically posterior means; D >= 2.
        factors: Discrete ground-truth labels [N, K] (integers, or integer-valued floats).
        num_bins: Equal-width histogram bins per code dimension.

    Returns:
        MIG in [0, 1].

    Raises:
        ValueError: On bad shapes or dtypes, non-finite codes, D < 2, or when every factor
            is constant.
    """
    return mig_details(codes, factors, num_bins).score
