"""The checkers of notebooks 07-12: each accepts the library's function and a learner's correct one (the folded
solution's code), says "not attempted" for a skeleton, and names each typical mistake (written as a learner would)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from sbdlib import data, metrics, models
from sbdlib.course import exercises
from sbdlib.training import objectives
from sbdlib.experiments import reproduction


def skeleton(*args, **kwargs):
    """An exercise cell not yet written."""
    raise NotImplementedError


# ---------------------------------------------------------------------------- learner's code (the solutions)


def pareto_front(rate, distortion):
    rate, distortion = np.asarray(rate, float), np.asarray(distortion, float)
    on_front = np.ones(len(rate), dtype=bool)
    for i in range(len(rate)):
        no_worse = (rate <= rate[i]) & (distortion <= distortion[i])
        better = (rate < rate[i]) | (distortion < distortion[i])
        on_front[i] = not (no_worse & better).any()
    return on_front


def centre_of_mass(images):
    mass = images.sum(1)
    h, w = mass.shape[1:]
    x = torch.arange(w, dtype=mass.dtype) + 0.5
    y = torch.arange(h, dtype=mass.dtype) + 0.5
    total = mass.sum((1, 2))
    return torch.stack([(mass * x).sum((1, 2)) / total, (mass * y[:, None]).sum((1, 2)) / total], dim=1)


def shuffle_pixels(maps, generator):
    c, h, w = maps.shape
    perm = torch.randperm(h * w, generator=generator)
    return maps.reshape(c, h * w)[:, perm].reshape(c, h, w)


def spearman(xs, ys):
    def ranks(v):
        v = np.asarray(v, float)
        return np.array([(v < x).sum() + ((v == x).sum() - 1) / 2 for x in v])

    return float(np.corrcoef(ranks(xs), ranks(ys))[0, 1])


def presence_share(mu, present):
    mu = np.asarray(mu, float)
    p = present.mean()
    between = p * (mu[present].mean(0) - mu.mean(0)) ** 2 + (1 - p) * (mu[~present].mean(0) - mu.mean(0)) ** 2
    return between / mu.var(0)


def presence_share_torch(mu, present):
    """The same with torch's variance (N - 1 in the denominator): accepted within the tolerance."""
    mu, present = torch.as_tensor(mu), torch.as_tensor(present)
    p = present.double().mean()
    between = p * (mu[present].mean(0) - mu.mean(0)) ** 2 + (1 - p) * (mu[~present].mean(0) - mu.mean(0)) ** 2
    return between / mu.var(0)


def permute_dims(z, generator):
    b, d = z.shape
    return torch.stack([z[torch.randperm(b, generator=generator), j] for j in range(d)], dim=1)


def tc_estimate(logits):
    return (logits[:, 0] - logits[:, 1]).mean().item()


def tc_estimate_log_ratio(logits):
    log_p = torch.log_softmax(logits, dim=1)
    return float((log_p[:, 0] - log_p[:, 1]).mean())


# ----------------------------------------------------------------------------------------- the mistakes


def front_non_strict(rate, distortion):
    rate, distortion = np.asarray(rate, float), np.asarray(distortion, float)
    return np.array([not np.delete((rate <= r) & (distortion <= d), i).any()
                     for i, (r, d) in enumerate(zip(rate, distortion))])


def front_inverted(rate, distortion):
    return ~pareto_front(rate, distortion)


def front_rate_only(rate, distortion):
    rate = np.asarray(rate, float)
    return rate == rate.min()


def front_distortion_only(rate, distortion):
    distortion = np.asarray(distortion, float)
    return distortion == distortion.min()


def com_swapped(images):
    return centre_of_mass(images).flip(1)


def com_integers(images):
    return centre_of_mass(images) - 0.5


def com_not_divided(images):
    mass = images.sum(1)
    h, w = mass.shape[1:]
    x, y = torch.arange(w) + 0.5, torch.arange(h) + 0.5
    return torch.stack([(mass * x).sum((1, 2)), (mass * y[:, None]).sum((1, 2))], dim=1)


def com_one_channel(images):
    return centre_of_mass(images[:, :1])


def com_frame_units(images):
    h, w = images.shape[2:]
    return centre_of_mass(images) / torch.tensor([w, h])


def shuffle_each_channel(maps, generator):
    c, h, w = maps.shape
    return torch.stack([m.reshape(-1)[torch.randperm(h * w, generator=generator)].reshape(h, w) for m in maps])


def shuffle_rows(maps, generator):
    return maps[:, torch.randperm(maps.shape[1], generator=generator)]


def shuffle_nothing(maps, generator):
    return maps.clone()


def shuffle_global_rng(maps, generator):
    c, h, w = maps.shape
    return maps.reshape(c, h * w)[:, torch.randperm(h * w)].reshape(c, h, w)


def spearman_pearson(xs, ys):
    return float(np.corrcoef(xs, ys)[0, 1])


def spearman_ordinal(xs, ys):
    def ranks(v):
        return np.argsort(np.argsort(v, kind="stable"), kind="stable").astype(float)

    return float(np.corrcoef(ranks(xs), ranks(ys))[0, 1])


def spearman_shortcut(xs, ys):
    def ranks(v):
        v = np.asarray(v, float)
        return np.array([(v < x).sum() + ((v == x).sum() - 1) / 2 for x in v])

    n = len(xs)
    return float(1 - 6 * ((ranks(xs) - ranks(ys)) ** 2).sum() / (n * (n ** 2 - 1)))


def spearman_absolute(xs, ys):
    return abs(spearman(xs, ys))


def share_unweighted(mu, present):
    m = mu.mean(0)
    return (0.5 * (mu[present].mean(0) - m) ** 2 + 0.5 * (mu[~present].mean(0) - m) ** 2) / mu.var(0)


def share_correlation(mu, present):
    return np.array([np.corrcoef(mu[:, j], present.astype(float))[0, 1] for j in range(mu.shape[1])])


def share_difference(mu, present):
    return mu[present].mean(0) - mu[~present].mean(0)


def share_variance(mu, present):
    return mu.var(0)


def permute_rows(z, generator):
    return z[torch.randperm(len(z), generator=generator)]


def permute_within_rows(z, generator):
    return torch.stack([row[torch.randperm(len(row), generator=generator)] for row in z])


def permute_nothing(z, generator):
    return z.clone()


def permute_some(z, generator):
    out = z.clone()
    out[:, 0] = z[torch.randperm(len(z), generator=generator), 0]
    return out


def permute_global_rng(z, generator):
    b, d = z.shape
    return torch.stack([z[torch.randperm(b), j] for j in range(d)], dim=1)


def tc_swapped(logits):
    return (logits[:, 1] - logits[:, 0]).mean()


def tc_probabilities(logits):
    p = logits.softmax(1)
    return (p[:, 0] - p[:, 1]).mean()


def tc_sum(logits):
    return (logits[:, 0] - logits[:, 1]).sum()


def tc_first_logit(logits):
    return logits[:, 0].mean()


CHECKS = {  # checker: (library function, learner's correct functions, [(wrong function, words of the message)])
    "check_pareto_front": (metrics.pareto_front, [pareto_front], [
        (front_non_strict, "non-strict dominance"), (front_inverted, "mask inverted"),
        (front_rate_only, "rate axis only"), (front_distortion_only, "distortion axis only")]),
    "check_centre_of_mass": (data.centre_of_mass, [centre_of_mass], [
        (com_swapped, "x and y swapped"), (com_integers, "centres at integers"),
        (com_not_divided, "not divided by the total mass"), (com_one_channel, "one channel only"),
        (com_frame_units, "frame units")]),
    "check_shuffle_pixels": (models.shuffle_pixels, [shuffle_pixels], [
        (shuffle_each_channel, "each channel permuted on its own"), (shuffle_rows, "whole rows moved"),
        (shuffle_nothing, "nothing moved"), (shuffle_global_rng, "generator ignored")]),
    "check_spearman": (reproduction.spearman, [spearman], [
        (spearman_pearson, "Pearson's correlation of the raw values"), (spearman_ordinal, "ties ranked by their order"),
        (spearman_shortcut, "shortcut"), (spearman_absolute, "absolute value")]),
    "check_presence_share": (metrics.presence_share, [presence_share, presence_share_torch], [
        (share_unweighted, "not weighted by the group sizes"), (share_correlation, "not squared"),
        (share_difference, "raw difference"), (share_variance, "largest variance")]),
    "check_permute_dims": (objectives.permute_dims, [permute_dims], [
        (permute_rows, "one permutation for every column"), (permute_within_rows, "within each row"),
        (permute_nothing, "no permutation"), (permute_some, "only some columns"),
        (permute_global_rng, "generator ignored")]),
    "check_tc_estimate": (objectives.tc_estimate, [tc_estimate, tc_estimate_log_ratio], [
        (tc_swapped, "columns swapped"), (tc_probabilities, "softmax probabilities"), (tc_sum, "sum over the batch"),
        (tc_first_logit, "logit 0 alone")]),
}
ACCEPTED, SKIPPED = "correct:", "not attempted"
VERDICTS = ([(name, fn, ACCEPTED) for name, (library, solutions, _) in CHECKS.items() for fn in (library, *solutions)]
            + [(name, skeleton, SKIPPED) for name in CHECKS]
            + [(name, wrong, words) for name, (_, _, wrongs) in CHECKS.items() for wrong, words in wrongs])


def test_every_checker_is_exported():
    """The package re-exports every checker of notebooks 07-12."""
    assert set(CHECKS) <= set(exercises.__all__)


@pytest.mark.parametrize("name, fn, expected", VERDICTS, ids=[f"{n}-{f.__module__.split('.')[-1]}.{f.__name__}"
                                                             for n, f, _ in VERDICTS])
def test_checker_verdict(name, fn, expected, capsys):
    """The library's function and the learner's correct ones get one "correct" line, a skeleton one "not
    attempted" line, and each typical mistake an AssertionError whose message names it."""
    if expected in (ACCEPTED, SKIPPED):
        getattr(exercises, name)(fn)
        out = capsys.readouterr().out.strip().splitlines()
        assert len(out) == 1 and out[0].startswith(expected), out
        return
    with pytest.raises(AssertionError, match=re.escape(expected)):
        getattr(exercises, name)(fn)


def test_pareto_front_keeps_ties_and_drops_the_dominated():
    """metrics.pareto_front: identical runs both stay, a run worse on one axis and tied on the other goes."""
    front = metrics.pareto_front([1.0, 1.0, 2.0, 1.0, 3.0], [5.0, 5.0, 1.0, 6.0, 1.0])
    assert front.tolist() == [True, True, True, False, False]
    with pytest.raises(ValueError, match="same length"):
        metrics.pareto_front([1.0, 2.0], [1.0])


def test_shuffle_pixels_takes_a_generator_or_a_seed():
    """models.shuffle_pixels: a seed and a generator of that seed give the same permutation."""
    maps = torch.arange(2 * 4 * 5, dtype=torch.float32).reshape(2, 4, 5)
    from sbdlib.checks import seeded_generator
    assert torch.equal(models.shuffle_pixels(maps, 3), models.shuffle_pixels(maps, seeded_generator(3)))


def test_checkers_leave_the_global_rng_alone():
    """The checkers' random cases come from their own generators."""
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    for name, (library, _, _) in CHECKS.items():
        getattr(exercises, name)(library)
    assert torch.equal(torch.rand(3), expected)
