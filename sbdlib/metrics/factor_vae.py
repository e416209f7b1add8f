"""The FactorVAE score (Kim & Mnih, 2018): how often a majority-vote classifier names the factor held
fixed from the latent of least variance.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sbdlib.checks import check_int, seeded_generator
from sbdlib.metrics.information import GroundTruthDataset, RepresentationFn, _to_numpy
from sbdlib.metrics.posterior import MAX_CHUNK

# FactorVAE metric, disentanglement_lib's settings (unsupervised_study_v1).
DEFAULT_FACTOR_VAE_BATCH = 64
DEFAULT_FACTOR_VAE_TRAIN = 10_000
DEFAULT_FACTOR_VAE_EVAL = 5_000
DEFAULT_FACTOR_VAE_VARIANCE = 10_000
DEFAULT_PRUNE_THRESHOLD = 0.05


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


def _active_dims_count(means: np.ndarray, threshold: float = DEFAULT_PRUNE_THRESHOLD) -> int:
    """Dimensions of codes [N, D] whose std (ddof=1) is at least ``threshold``: the ones the score keeps."""
    if means.shape[0] < 2:
        return 0
    return int((means.std(axis=0, ddof=1) >= threshold).sum())
