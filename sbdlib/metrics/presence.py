"""How well one latent tells whether an object is present (notebook 10)."""

from __future__ import annotations

from typing import Any

import numpy as np

from sbdlib.checks import check_int
from sbdlib.metrics.information import ArrayLike, _check_codes
from sbdlib.metrics.posterior import posterior


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
