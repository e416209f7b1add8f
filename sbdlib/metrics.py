"""Disentanglement metrics and the one-row evaluation of a trained VAE.

The paper (Watters et al., 2019) reports, per trained model, ELBO / NLL / KL in nats per
image, the number of "latents used", MIG (Chen et al., 2018) and the FactorVAE score
(Kim & Mnih, 2018). MIG and the FactorVAE score follow the algorithms of
google-research/disentanglement_lib, re-implemented here with numpy and torch only
(no scikit-learn); the few places where we deliberately differ are listed in the
docstrings of :func:`mig` and :func:`factor_vae_details`.

:func:`evaluate` computes every metric of the registry :data:`METRICS`: a metric is one
function ``fn(evaluation) -> {column: value}`` registered with :func:`register_metric`, and
the results format, the figures' labels and the paper table's headers take its columns
from there.

Shapes: ``N`` samples, ``D`` code (latent) dimensions, ``K`` ground-truth factors.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import numpy as np
import torch

from sbdlib.checks import check_int, seeded_generator
from sbdlib.devices import module_device

# MIG: disentanglement_lib's histogram discretizer uses 20 bins.
DEFAULT_NUM_BINS = 20
# FactorVAE metric, disentanglement_lib's settings (unsupervised_study_v1).
DEFAULT_FACTOR_VAE_BATCH = 64
DEFAULT_FACTOR_VAE_TRAIN = 10_000
DEFAULT_FACTOR_VAE_EVAL = 5_000
DEFAULT_FACTOR_VAE_VARIANCE = 10_000
DEFAULT_PRUNE_THRESHOLD = 0.05
# Watters et al.: a latent is "used" when its mean posterior std is below 0.5.
LATENT_USED_STD = 0.5
# Largest number of images passed to a representation function (or rendered) at once.
MAX_CHUNK = 256
# Affine R^2 of the latent geometry: an AFFINE_GRID x AFFINE_GRID grid of the two factors.
AFFINE_GRID = 32
POSITIONAL_FACTORS = ("x", "y")  # datasets with both get an affine_r2 in their results rows

ArrayLike = np.ndarray | torch.Tensor
RepresentationFn = Callable[[torch.Tensor], ArrayLike]


class GroundTruthDataset(Protocol):
    """What the FactorVAE metric and :func:`evaluate` need from a dataset."""

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


# --------------------------------------------------------------------------- helpers


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


# --------------------------------------------------------------------------------- MIG


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


# ---------------------------------------------------------------------- FactorVAE score


@dataclass(frozen=True)
class FactorVAEDetails:
    """Everything the FactorVAE score is computed from.

    Attributes:
        train_accuracy: Majority-vote classifier accuracy on its training votes.
        eval_accuracy: Its accuracy on fresh evaluation votes (the reported score).
        num_active_dims: Dimensions kept by pruning.
        global_variances: Per-dimension variance of the representation [D].
        active_dims: Which dimensions were kept [D].
        train_votes: Vote counts [K, D]: row = fixed factor, column = argmin dimension.
        eval_votes: Same for the evaluation votes [K, D].
        classifier: Factor predicted for each dimension [D].
    """

    train_accuracy: float
    eval_accuracy: float
    num_active_dims: int
    global_variances: np.ndarray
    active_dims: np.ndarray
    train_votes: np.ndarray
    eval_votes: np.ndarray
    classifier: np.ndarray

    def as_dict(self) -> dict:
        """The three scores as disentanglement_lib reports them."""
        return {
            "train_accuracy": self.train_accuracy,
            "eval_accuracy": self.eval_accuracy,
            "num_active_dims": self.num_active_dims,
        }


def _represent_labels(representation_fn: RepresentationFn, dataset: GroundTruthDataset,
                      labels: torch.Tensor) -> np.ndarray:
    """Representations [N, D] (float64) of the images of integer labels [N, K].

    Rendered and represented MAX_CHUNK images at a time, under ``torch.no_grad()``.
    """
    outputs = []
    with torch.no_grad():
        for start in range(0, labels.shape[0], MAX_CHUNK):
            images = dataset.render(dataset.labels_to_factors(labels[start:start + MAX_CHUNK]))
            out = _to_numpy(representation_fn(images), "representation")
            if out.ndim != 2 or out.shape[0] != images.shape[0]:
                raise ValueError(
                    f"representation_fn must return [N, D] for N images, got shape {out.shape}")
            outputs.append(out.astype(np.float64))
    return np.concatenate(outputs, axis=0)


def _vote_batch(representation_fn: RepresentationFn, dataset: GroundTruthDataset, num_votes: int,
                batch_size: int, generator: torch.Generator, global_variances: np.ndarray,
                active_dims: np.ndarray) -> np.ndarray:
    """Vote counts [K, D] of ``num_votes`` fixed-factor batches (active dims indexed correctly)."""
    num_factors = len(dataset.factor_sizes)
    active_index = np.flatnonzero(active_dims)
    votes = np.zeros((num_factors, len(global_variances)), dtype=np.int64)
    votes_per_chunk = max(1, MAX_CHUNK // batch_size)
    done = 0
    while done < num_votes:
        n = min(votes_per_chunk, num_votes - done)
        fixed = torch.randint(num_factors, (n,), generator=generator)
        labels = dataset.sample_labels(n * batch_size, generator)
        labels = labels.reshape(n, batch_size, num_factors).clone()
        rows = torch.arange(n)[:, None]  # [n, 1]
        fixed_values = labels[rows[:, 0], 0, fixed][:, None]  # [n, 1]: the first image's value
        labels[rows, torch.arange(batch_size)[None, :], fixed[:, None]] = fixed_values
        flat_labels = labels.reshape(n * batch_size, num_factors)
        reps = _represent_labels(representation_fn, dataset, flat_labels)
        local_variances = reps.reshape(n, batch_size, -1).var(axis=1, ddof=1)  # [n, D]
        ratios = local_variances[:, active_dims] / global_variances[active_dims]
        np.add.at(votes, (fixed.numpy(), active_index[np.argmin(ratios, axis=1)]), 1)
        done += n
    return votes


def _vote_accuracy(votes: np.ndarray, classifier: np.ndarray) -> float:
    """Fraction of votes [K, D] whose dimension's predicted factor is the true one."""
    return float(votes[classifier, np.arange(votes.shape[1])].sum() / votes.sum())


def factor_vae_details(representation_fn: RepresentationFn, dataset: GroundTruthDataset, *,
                       seed: int = 0, batch_size: int = DEFAULT_FACTOR_VAE_BATCH,
                       num_train: int = DEFAULT_FACTOR_VAE_TRAIN,
                       num_eval: int = DEFAULT_FACTOR_VAE_EVAL,
                       num_variance_estimate: int = DEFAULT_FACTOR_VAE_VARIANCE,
                       prune_threshold: float = DEFAULT_PRUNE_THRESHOLD) -> FactorVAEDetails:
    """The FactorVAE disentanglement score (Kim & Mnih, 2018) with its votes.

    Protocol of disentanglement_lib: (1) global per-dimension variances (ddof=1) of the
    representation of ``num_variance_estimate`` random images; dimensions whose std is
    below ``prune_threshold`` are pruned. (2) A vote: pick a factor k uniformly, sample
    ``batch_size`` label vectors, give all of them the same random value of factor k,
    render and represent them; the vote is (argmin over active dims of local variance /
    global variance, k). (3) The majority-vote classifier maps each dimension to the
    factor it received most votes from (ties: lowest factor index). Train accuracy is on
    ``num_train`` votes, eval accuracy on ``num_eval`` fresh votes.

    Differences from disentanglement_lib: its argmin is taken over the active dims but
    used as an index into all dims, so with pruned dims its votes land on the wrong
    columns (the accuracies are unchanged, being invariant to relabelling dims, but its
    vote table and classifier are wrong); here votes are recorded against the true
    dimension. Its ``num_active_dims`` is the total number of dims; here it is the number
    of active dims. Votes are drawn in groups sharing one render call, so the random
    stream differs from disentanglement_lib's (the distribution is the same). With no
    active dimension the accuracies are 0 (as in disentanglement_lib).

    Args:
        representation_fn: Maps images [N, C, H, W] to codes [N, D] (e.g. posterior means);
            called under ``torch.no_grad()`` on at most ``MAX_CHUNK`` images at a time.
        dataset: Provides ``factor_sizes``, ``sample_labels``, ``labels_to_factors``, ``render``.
        seed: Seed of the ``torch.Generator`` behind every random draw.
        batch_size: Images per vote (>= 2).
        num_train: Votes to fit the classifier.
        num_eval: Votes to evaluate it.
        num_variance_estimate: Images for the global variances (>= 2).
        prune_threshold: Minimum global std of an active dimension.

    Returns:
        A :class:`FactorVAEDetails`.
    """
    check_int(batch_size, "batch_size", minimum=2)
    check_int(num_train, "num_train")
    check_int(num_eval, "num_eval")
    check_int(num_variance_estimate, "num_variance_estimate", minimum=2)
    if not isinstance(prune_threshold, (int, float)) or not prune_threshold >= 0:
        raise ValueError(f"prune_threshold must be a number >= 0, got {prune_threshold!r}")
    if len(dataset.factor_sizes) < 1:
        raise ValueError("dataset must have at least one factor (factor_sizes is empty)")
    generator = seeded_generator(seed)
    labels = dataset.sample_labels(num_variance_estimate, generator)
    global_variances = _represent_labels(representation_fn, dataset, labels).var(axis=0, ddof=1)
    active_dims = np.sqrt(global_variances) >= prune_threshold
    num_dims, num_factors = len(global_variances), len(dataset.factor_sizes)
    if not active_dims.any():
        empty = np.zeros((num_factors, num_dims), dtype=np.int64)
        return FactorVAEDetails(0.0, 0.0, 0, global_variances, active_dims, empty, empty.copy(),
                                np.zeros(num_dims, dtype=np.int64))
    vote_args = (batch_size, generator, global_variances, active_dims)
    train_votes = _vote_batch(representation_fn, dataset, num_train, *vote_args)
    classifier = np.argmax(train_votes, axis=0)
    eval_votes = _vote_batch(representation_fn, dataset, num_eval, *vote_args)
    return FactorVAEDetails(
        train_accuracy=_vote_accuracy(train_votes, classifier),
        eval_accuracy=_vote_accuracy(eval_votes, classifier),
        num_active_dims=int(active_dims.sum()),
        global_variances=global_variances,
        active_dims=active_dims,
        train_votes=train_votes,
        eval_votes=eval_votes,
        classifier=classifier,
    )


# The keyword arguments of factor_vae_details (and factor_vae_score, evaluate(..., factor_vae=...)).
FACTOR_VAE_KWARGS = frozenset(
    name for name, p in inspect.signature(factor_vae_details).parameters.items() if p.kind is p.KEYWORD_ONLY)


def factor_vae_score(representation_fn: RepresentationFn, dataset: GroundTruthDataset, **kwargs: Any) -> dict:
    """The FactorVAE disentanglement score: :func:`factor_vae_details` without the votes.

    Args:
        representation_fn: Maps images [N, C, H, W] to codes [N, D].
        dataset: Ground-truth dataset (``factor_sizes``, ``sample_labels``,
            ``labels_to_factors``, ``render``).
        **kwargs: The keyword arguments of :func:`factor_vae_details` (``seed``,
            ``batch_size``, ``num_train``, ``num_eval``, ``num_variance_estimate``,
            ``prune_threshold``), with the same defaults.

    Returns:
        ``{"train_accuracy": float, "eval_accuracy": float, "num_active_dims": int}``.
    """
    return factor_vae_details(representation_fn, dataset, **kwargs).as_dict()


# -------------------------------------------------------------------------- latents used


def mean_posterior_std(logvar: ArrayLike) -> torch.Tensor:
    """Posterior std ``exp(logvar / 2)`` averaged over a dataset, per latent dimension.

    Args:
        logvar: Posterior log-variances [N, D] (numpy or torch).

    Returns:
        Mean posterior std [D] (float tensor on the input's device).
    """
    t = torch.as_tensor(logvar)
    if t.ndim != 2 or t.shape[0] < 1 or not torch.is_floating_point(t):
        raise ValueError(f"logvar must be a floating array of shape [N, D] with N >= 1, got "
                         f"shape {tuple(t.shape)} and dtype {t.dtype}")
    return torch.exp(0.5 * t.detach()).mean(dim=0)


def latents_used(logvar: ArrayLike, threshold: float = LATENT_USED_STD) -> int:
    """Number of latents in use: mean posterior std below ``threshold`` (the paper: 0.5).

    An unused latent collapses to the prior (std 1); a used one has a narrow posterior.

    Args:
        logvar: Posterior log-variances [N, D] over a dataset (not stds).
        threshold: Std below which a latent counts as used.

    Returns:
        Count of used latents, in 0..D.
    """
    return int((mean_posterior_std(logvar) < threshold).sum().item())


def _active_dims_count(means: np.ndarray, threshold: float = DEFAULT_PRUNE_THRESHOLD) -> int:
    """Dimensions of codes [N, D] whose std (ddof=1) is at least ``threshold``."""
    if means.shape[0] < 2:
        return 0
    return int((means.std(axis=0, ddof=1) >= threshold).sum())


# ------------------------------------------------------------------------ latent geometry


@torch.no_grad()
def posterior(vae: Any, images: torch.Tensor, chunk: int = MAX_CHUNK) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and log-variances of ``images`` ``[N, C, H, W]``, on the CPU.

    Args:
        vae: Anything with ``encode(x) -> (mean [B, D], logvar [B, D])``.
        images: ``[N, C, H, W]`` images in [0, 1].
        chunk: Images per encoder pass.

    Returns:
        ``(mean [N, D], logvar [N, D])`` float32 CPU tensors.
    """
    if images.dim() != 4 or images.shape[0] < 1:
        raise ValueError(f"images must have shape [N, C, H, W] with N >= 1, got {tuple(images.shape)}")
    device = module_device(vae)
    means, logvars = [], []
    for start in range(0, images.shape[0], chunk):
        mean, logvar = vae.encode(images[start:start + chunk].to(device))
        means.append(mean.detach().float().cpu())
        logvars.append(logvar.detach().float().cpu())
    return torch.cat(means), torch.cat(logvars)


def affine_r2(factors: ArrayLike, codes: ArrayLike) -> float:
    """How affine a 2-D embedding is: R^2 of the best affine map from codes to factors.

    Fits ``factors ~ codes @ A + b`` by least squares and returns the fraction of the
    factors' variance it explains (1 = the embedding is an exact affine image of the grid).
    Unlike MIG and the FactorVAE score it does not change when the latents are rotated:
    a rotated but perfect pair of latents still scores 1.

    Args:
        factors: ``[N, 2]`` ground-truth factor values.
        codes: ``[N, 2]`` posterior means in the chosen latents.

    Returns:
        R^2 in (-inf, 1], pooled over both factors.
    """
    factors, codes = np.asarray(factors, np.float64), np.asarray(codes, np.float64)
    if factors.ndim != 2 or codes.ndim != 2 or len(factors) != len(codes) or len(codes) < 3:
        raise ValueError(f"affine_r2 needs factors [N, 2] and codes [N, 2] with N >= 3, got shapes "
                         f"{factors.shape} and {codes.shape}")
    design = np.column_stack([codes, np.ones(len(codes))])
    coef, *_ = np.linalg.lstsq(design, factors, rcond=None)
    residual = ((factors - design @ coef) ** 2).sum()
    total = ((factors - factors.mean(0)) ** 2).sum()
    return float(1.0 - residual / total) if total > 0 else float("nan")


def choose_latents(logvar: torch.Tensor, latents: Sequence[int] | None = None) -> list[int]:
    """The given two latents (validated), or the two with the lowest mean posterior variance."""
    if latents is None:
        latents = np.argsort(logvar.double().exp().mean(0).numpy(), kind="stable")[:2].tolist()
    latents = [int(d) for d in latents]
    dims = logvar.shape[1]
    if len(latents) != 2 or latents[0] == latents[1] or not all(0 <= d < dims for d in latents):
        raise ValueError(f"latents must be two different indices in [0, {dims}), got {latents}")
    return latents


def grid_posterior(vae: Any, dataset: Any, factor_a: str, factor_b: str, n: int
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """An ``n x n`` grid over two factors, encoded: (factors ``[n*n, K]``, held-out mask ``[n*n]``,
    posterior means ``[n*n, D]``, log-variances ``[n*n, D]``)."""
    images, factors, held_out = dataset.grid(factor_a, factor_b, n, n)
    mean, logvar = posterior(vae, images)
    return factors, held_out, mean, logvar


def grid_affine_r2(vae: Any, dataset: Any, factor_a: str = "x", factor_b: str = "y", *, n: int = AFFINE_GRID,
                   latents: Sequence[int] | None = None) -> tuple[float, list[int]]:
    """:func:`affine_r2` of a model's embedding of the ``n x n`` factor grid (held-out points included).

    The measure behind the paper's Fig. 4, in one number: render the grid, encode it, take
    the two latents with the lowest mean posterior variance over the grid and fit the
    true ``(factor_a, factor_b)`` from them affinely.

    Args:
        vae: Has ``encode``.
        dataset: A :class:`sbdlib.data.FactorDataset`.
        factor_a: First factor.
        factor_b: Second factor.
        n: Grid values per factor (default 32, a 32 x 32 grid of positions).
        latents: Two latents (default: the two lowest-variance ones over the grid).

    Returns:
        ``(r2, [d1, d2])``.
    """
    factors, _, mean, logvar = grid_posterior(vae, dataset, factor_a, factor_b, n)
    latents = choose_latents(logvar, latents)
    ia, ib = dataset.factor_index(factor_a), dataset.factor_index(factor_b)
    return affine_r2(factors[:, [ia, ib]].numpy(), mean[:, latents].numpy()), latents


# ------------------------------------------------------------------------- held-out hole


def hole_reconstruction_error(vae: Any, dataset: Any, factor_a: str, factor_b: str, *, n: int = AFFINE_GRID
                              ) -> dict[str, float]:
    """Mean squared reconstruction error per pixel of the ``n x n`` grid, inside the held-out hole and outside it.

    App. H's generalisation test in one pair of numbers: the hole's images were never seen in
    training, so a decoder that composes its factors reconstructs them about as well as the
    rest (``ratio`` near 1), and one that memorised the training region does worse inside.
    Reconstructions decode the posterior mean (:meth:`sbdlib.models.VAE.reconstruct`).

    Args:
        vae: Has ``encode`` and ``decode_image``.
        dataset: A :class:`sbdlib.data.FactorDataset` with a hole over ``(factor_a, factor_b)``.
        factor_a: First factor of the hole.
        factor_b: Second factor of the hole.
        n: Grid values per factor.

    Returns:
        ``{"inside", "outside", "ratio"}``: mean errors over the grid points in and out of
        the hole, and inside / outside.
    """
    if getattr(dataset, "hole", None) is None:
        raise ValueError(f"{getattr(dataset, 'name', 'the dataset')} has no held-out hole; build it with "
                         f"hole='center' or hole='corner' (e.g. get_dataset('circles/xy', hole='center'))")
    images, _, held_out = dataset.grid(factor_a, factor_b, n, n)
    mean, _ = posterior(vae, images)
    device = module_device(vae)
    with torch.no_grad():
        recon = torch.cat([vae.decode_image(mean[i:i + MAX_CHUNK].to(device)).float().cpu()
                           for i in range(0, len(mean), MAX_CHUNK)])
    error = ((recon - images) ** 2).flatten(1).mean(1).double()
    inside, outside = float(error[held_out].mean()), float(error[~held_out].mean())
    return {"inside": inside, "outside": outside, "ratio": inside / outside if outside > 0 else math.nan}


# ---------------------------------------------------------------------------- presence


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


def _check_binary(labels: ArrayLike, num_samples: int) -> np.ndarray:
    """Binary labels as an array [N] of zeros and ones (N must equal ``num_samples``)."""
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != num_samples or not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be [N] zeros and ones with N = {num_samples}, got shape {labels.shape}")
    return labels


def best_threshold_accuracy(codes: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """Per latent, the accuracy of the best single threshold on it at telling two classes apart.

    Args:
        codes: ``[N, D]`` posterior means.
        labels: ``[N]`` binary labels (0 / 1).

    Returns:
        ``[D]`` accuracies in [0.5, 1] (either side of the threshold may be class 1).
    """
    codes = _check_codes(codes)
    labels = _check_binary(labels, len(codes))
    order = np.argsort(codes, axis=0, kind="stable")
    ones = labels[order].astype(np.int64)              # [N, D]: labels sorted by each latent
    ones_below = np.vstack([np.zeros((1, codes.shape[1]), np.int64), np.cumsum(ones, axis=0)])  # [N+1, D]
    below = np.arange(len(codes) + 1)[:, None]
    # Predict 1 above the threshold: correct = zeros below + ones above.
    correct = (below - ones_below) + (ones.sum(0) - ones_below)
    accuracy = correct.max(0) / len(codes)
    return np.maximum(accuracy, 1.0 - correct.min(0) / len(codes))


def presence_share(codes: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """Per latent, the share of its variance that a binary label explains (the correlation ratio eta^2).

    ``(p1 (m1 - m)^2 + p0 (m0 - m)^2) / var``: 1 when the latent takes one value for each class
    and varies with nothing else, 0 when its class means agree; 0 for a constant latent.

    Args:
        codes: ``[N, D]`` posterior means.
        labels: ``[N]`` binary labels (0 / 1).

    Returns:
        ``[D]`` shares in [0, 1].
    """
    codes = _check_codes(codes).astype(np.float64)
    labels = _check_binary(labels, len(codes))
    total = codes.var(0)
    between = np.zeros(codes.shape[1])
    for value in (0, 1):
        members = labels == value
        if members.any():
            between += members.mean() * (codes[members].mean(0) - codes.mean(0)) ** 2
    return np.divide(between, total, out=np.zeros_like(total), where=total > 0)


def presence_latent(vae: Any, dataset: Any, *, eval_size: int, seed: int = 1234) -> dict[str, Any]:
    """On a set with blank images, the latent that codes presence, and how exclusively (App. H).

    Telling a black image from a drawn one is easy for any encoder: a blank image lands far
    from the drawn ones in several latents, so "some latent separates them" proves little.
    The paper's claim is that the SBD gives presence *one latent of its own*: a latent that
    takes one value for blank images, another for drawn ones, and codes nothing else. On
    ``dataset.eval_set(eval_size, seed)``, :func:`presence_share` measures that per latent
    (near 1 for such a latent; a position latent, which also varies among drawn images, scores
    less); the top latent's share and the runner-up's say whether one latent holds presence.

    Returns:
        ``{"latent": top latent, "share": its share, "second_share": the runner-up's,
        "accuracy": the top latent's best single-threshold accuracy, "shares": [D]}``.
    """
    if "present" not in getattr(dataset, "factor_names", ()):
        raise ValueError(f"{getattr(dataset, 'name', 'the dataset')} has no 'present' factor; build it with "
                         f"blank_fraction > 0 (e.g. get_dataset('circles/xy', blank_fraction=0.5))")
    images, _, labels = dataset.eval_set(check_int(eval_size, "eval_size"), seed)
    mean, _ = posterior(vae, images)
    present = labels[:, dataset.factor_index("present")].numpy()
    shares = presence_share(mean.numpy(), present)
    order = np.argsort(-shares, kind="stable")
    best = int(order[0])
    accuracy = best_threshold_accuracy(mean[:, [best]].numpy(), present)[0]
    return {"latent": best, "share": float(shares[best]), "second_share": float(shares[order[1]]),
            "accuracy": float(accuracy), "shares": shares}


# ------------------------------------------------------------------------ segmentation


def _pairs(counts: torch.Tensor) -> torch.Tensor:
    """Pairs among ``counts`` items: ``n (n - 1) / 2``, elementwise."""
    return counts * (counts - 1) / 2


def foreground_ari(true_labels: ArrayLike, pred_labels: ArrayLike) -> torch.Tensor:
    """Foreground adjusted Rand index per image: how well predicted segments match the objects.

    The ARI (Hubert & Arabie, 1985) counts the pairs of pixels on which two labellings agree
    (same segment in both, or different in both), corrected for chance: 1 for the same
    partition whatever the label names, about 0 for a random one. *Foreground*: pixels whose
    true label is 0 (the background) are left out, as in MONet, IODINE and Slot Attention.
    Where both labellings put all foreground pixels in one segment the ARI is 1; an image
    without foreground pixels gets NaN.

    Args:
        true_labels: ``[N, P]`` integer ground-truth labels per pixel, 0 the background.
        pred_labels: ``[N, P]`` integer predicted labels (e.g. the argmax slot of each pixel).

    Returns:
        ``[N]`` float64 ARIs, one per image.
    """
    true = torch.as_tensor(true_labels)
    pred = torch.as_tensor(pred_labels).to(true.device)
    if true.dim() != 2 or true.shape != pred.shape:
        raise ValueError(f"true_labels and pred_labels must both be [N, P], got {tuple(true.shape)} and "
                         f"{tuple(pred.shape)}")
    if true.is_floating_point() or pred.is_floating_point() or (true.numel() and min(true.min(), pred.min()) < 0):
        raise ValueError("labels must be integers >= 0 (0 in true_labels is the background)")
    true, pred = true.long(), pred.long()
    n = true.shape[0]
    num_true, num_pred = int(true.max()) + 1 if true.numel() else 1, int(pred.max()) + 1 if pred.numel() else 1
    # The contingency table of each image, [N, true segments, predicted segments], foreground pixels only.
    table = torch.zeros(n, num_true * num_pred, dtype=torch.float64, device=true.device)
    table.scatter_add_(1, true * num_pred + pred, (true > 0).double())
    table = table.reshape(n, num_true, num_pred)
    rows, cols = table.sum(2), table.sum(1)
    agree, true_pairs, pred_pairs = _pairs(table).sum((1, 2)), _pairs(rows).sum(1), _pairs(cols).sum(1)
    total_pairs = _pairs(rows.sum(1))
    expected = true_pairs * pred_pairs / total_pairs.clamp_min(1)
    best = (true_pairs + pred_pairs) / 2
    ari = (agree - expected) / torch.where(best == expected, torch.ones_like(best), best - expected)
    ari = torch.where(best == expected, torch.ones_like(ari), ari)  # one segment in both: identical partitions
    return torch.where(rows.sum(1) > 0, ari, torch.full_like(ari, math.nan)).cpu()


def object_ownership(true_labels: ArrayLike, pred_labels: ArrayLike) -> torch.Tensor:
    """Per image, how whole each object stays: the share of its pixels won by the slot that wins most of them.

    Averaged over the image's objects (true labels > 0): 1 where every object lies in one slot,
    1/K where an object's pixels are spread evenly over K slots. It does not see two objects
    merged into one slot (the foreground ARI does): read the two together.

    Args:
        true_labels: ``[N, P]`` integer ground-truth labels per pixel, 0 the background.
        pred_labels: ``[N, P]`` integer predicted labels (e.g. the argmax slot of each pixel).

    Returns:
        ``[N]`` float64 shares; NaN for an image without objects.
    """
    true = torch.as_tensor(true_labels).long()
    pred = torch.as_tensor(pred_labels).long().to(true.device)
    if true.dim() != 2 or true.shape != pred.shape:
        raise ValueError(f"true_labels and pred_labels must both be [N, P], got {tuple(true.shape)} and "
                         f"{tuple(pred.shape)}")
    n = true.shape[0]
    num_true, num_pred = int(true.max()) + 1 if true.numel() else 1, int(pred.max()) + 1 if pred.numel() else 1
    table = torch.zeros(n, num_true * num_pred, dtype=torch.float64, device=true.device)
    table.scatter_add_(1, true * num_pred + pred, torch.ones_like(true, dtype=torch.float64))
    table = table.reshape(n, num_true, num_pred)[:, 1:]  # [N, objects, slots]: the background left out
    size = table.sum(2)
    share = table.max(2).values / size.clamp_min(1)
    present = size > 0
    return torch.where(present.any(1), (share * present).sum(1) / present.sum(1).clamp_min(1),
                       torch.full((n,), math.nan, dtype=torch.float64, device=true.device)).cpu()


# ------------------------------------------------------- the registry: what evaluate computes


@dataclass(frozen=True)
class Column:
    """A results column that a metric fills: its name, type, and how figures and tables name it.

    ``required`` columns are in every results table (a table without them is not in the
    format); a metric added later gets optional columns, empty in older tables.
    """

    name: str
    label: str                 # axis label (sbdlib.plots.metric_label)
    header: str = ""           # header in the comparison with the paper (sbdlib.paper); default: label
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


# ------------------------------------------------------------------------------ evaluate


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
