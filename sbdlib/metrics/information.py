"""What MIG and the FactorVAE score share: argument checks, the histogram discretisation, entropy and
mutual information of discrete codes (disentanglement_lib's ``utils``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch

from sbdlib.checks import check_int

# MIG: disentanglement_lib's histogram discretizer uses 20 bins.
DEFAULT_NUM_BINS = 20
ArrayLike = np.ndarray | torch.Tensor
RepresentationFn = Callable[[torch.Tensor], ArrayLike]


class GroundTruthDataset(Protocol):
    """What the FactorVAE metric and :func:`sbdlib.metrics.evaluate` need from a dataset."""

    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]

    def sample_labels(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Integer labels [n, K], uniform over the allowed grid points."""
        ...

    def labels_to_factors(self, labels: torch.Tensor) -> torch.Tensor:
        """Factor values [n, K] of integer labels [n, K]."""
        ...

    def render(self, factors: torch.Tensor) -> torch.Tensor:
        """Images [n, C, H, W] of factor values [n, K]."""
        ...

    def eval_set(self, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A fixed held-out set: (images [n, C, H, W], factors [n, K], labels [n, K])."""
        ...


def _to_numpy(x: Any, name: str) -> np.ndarray:
    """A numpy view/copy of a numpy array, torch tensor or nested sequence."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{name} must be a numpy array or torch tensor, got {type(x).__name__}") from err


def _check_codes(codes: Any) -> np.ndarray:
    """Codes as a finite floating array [N, D] (float dtype kept, others -> float64)."""
    arr = _to_numpy(codes, "codes")
    if arr.ndim != 2 or arr.shape[0] < 1:
        raise ValueError(f"codes must have shape [N, D] with N >= 1, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"codes must be numeric, got dtype {arr.dtype}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("codes must be finite (found NaN or inf)")
    return arr


def _check_factors(factors: Any, num_samples: int | None, name: str = "factors") -> np.ndarray:
    """Discrete labels as an int64 array [N, K] (N must equal ``num_samples`` unless None)."""
    arr = _to_numpy(factors, name)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1 or (
            num_samples is not None and arr.shape[0] != num_samples):
        expected = "N" if num_samples is None else f"{num_samples} (the number of codes)"
        raise ValueError(
            f"{name} must have shape [N, K] with N = {expected} and K >= 1, got {arr.shape}")
    if arr.dtype.kind in "biu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        return arr.astype(np.int64)
    raise ValueError(
        f"{name} must be discrete integer labels (integer dtype or integer-valued floats), "
        f"got dtype {arr.dtype}"
    )


def _dense_labels(column: np.ndarray) -> tuple[np.ndarray, int]:
    """Relabel one column of discrete values as 0..V-1; returns (labels [N], V)."""
    values, inverse = np.unique(column, return_inverse=True)
    return inverse.reshape(-1), len(values)


def _entropy_from_counts(counts: np.ndarray) -> float:
    """Entropy in nats of a vector of counts."""
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def _mi_from_contingency(table: np.ndarray) -> np.ndarray:
    """Mutual information in nats of contingency tables [..., A, B] -> [...]."""
    table = table.astype(np.float64)
    total = table.sum(axis=(-2, -1), keepdims=True)
    row = table.sum(axis=-1, keepdims=True)
    col = table.sum(axis=-2, keepdims=True)
    nonzero = table > 0
    safe = np.where(nonzero, table, 1.0)
    ratio = safe * total / np.where(nonzero, row * col, 1.0)
    terms = np.where(nonzero, (safe / total) * np.log(ratio), 0.0)
    return np.clip(terms.sum(axis=(-2, -1)), 0.0, None)


def histogram_discretize(codes: ArrayLike, num_bins: int = DEFAULT_NUM_BINS) -> np.ndarray:
    """Discretise every code dimension into equal-width bins, as disentanglement_lib does.

    For each dimension separately: ``np.digitize(c, np.histogram(c, num_bins)[1][:-1])``,
    i.e. ``num_bins`` equal-width bins over that dimension's own min..max, digitised
    against the left bin edges, so the maximum lands in the last bin. Floating codes keep
    their dtype (float32 codes get float32 edges, exactly like disentanglement_lib).

    Args:
        codes: Codes [N, D] (numpy or torch).
        num_bins: Number of bins per dimension, >= 1.

    Returns:
        Bin indices [N, D], int64 in 1..num_bins.
    """
    num_bins = check_int(num_bins, "num_bins")
    arr = _check_codes(codes)
    binned = np.empty(arr.shape, dtype=np.int64)
    for d in range(arr.shape[1]):
        left_edges = np.histogram_bin_edges(arr[:, d], bins=num_bins)[:-1]
        binned[:, d] = np.digitize(arr[:, d], left_edges)
    return binned


def discrete_entropy(factors: ArrayLike) -> np.ndarray:
    """Entropy in nats of each discrete factor (as ``mutual_info_score(y, y)`` would give).

    Args:
        factors: Discrete labels [N, K].

    Returns:
        Entropies [K], float64.
    """
    arr = _check_factors(factors, None)
    out = np.empty(arr.shape[1])
    for k in range(arr.shape[1]):
        labels, size = _dense_labels(arr[:, k])
        out[k] = _entropy_from_counts(np.bincount(labels, minlength=size))
    return out


def discrete_mutual_info(binned_codes: ArrayLike, factors: ArrayLike) -> np.ndarray:
    """Mutual information in nats between every discrete code dimension and every factor.

    Equal to ``sklearn.metrics.mutual_info_score(factors[:, k], binned_codes[:, d])`` for
    every pair (natural log), computed with one vectorised contingency table per factor.

    Args:
        binned_codes: Discrete codes [N, D] (e.g. from :func:`histogram_discretize`).
        factors: Discrete labels [N, K].

    Returns:
        Mutual information matrix [D, K], float64, >= 0.
    """
    codes = _check_factors(binned_codes, None, "binned_codes")
    facs = _check_factors(factors, codes.shape[0])
    num_dims = codes.shape[1]
    dense_codes = np.empty(codes.shape, dtype=np.int64)
    code_sizes = []
    for d in range(num_dims):
        dense_codes[:, d], size = _dense_labels(codes[:, d])
        code_sizes.append(size)
    num_code_values = max(code_sizes)
    # Row offset of dimension d inside one flat [D * A] axis.
    dim_offsets = np.arange(num_dims, dtype=np.int64) * num_code_values
    flat_code = dense_codes + dim_offsets  # [N, D]
    mi = np.empty((num_dims, facs.shape[1]))
    for k in range(facs.shape[1]):
        labels, size = _dense_labels(facs[:, k])
        joint = flat_code * size + labels[:, None]  # [N, D]
        table = np.bincount(joint.ravel(), minlength=num_dims * num_code_values * size)
        mi[:, k] = _mi_from_contingency(table.reshape(num_dims, num_code_values, size))
    return mi
