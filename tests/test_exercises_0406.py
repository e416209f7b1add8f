"""The checkers of notebooks 04-06: each accepts the library's function and a learner's correct one, says
"not attempted" for a skeleton, and names each typical mistake (written here as a learner would write it)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from sbdlib import metrics, figures
from sbdlib.course import exercises


def skeleton(*args, **kwargs):
    """An exercise cell not yet written."""
    raise NotImplementedError


# ---------------------------------------------------------------------------- learner's code


def traversal(vae, z, dim, values):
    codes = z.repeat(len(values), 1)
    codes[:, dim] = values
    with torch.no_grad():
        return vae.decode_image(codes)


def latent_order(vae, images):
    with torch.no_grad():
        _, logvar = vae.encode(images)
    mean_variance = logvar.exp().mean(0)
    return torch.argsort(mean_variance, stable=True), mean_variance


def latents_used(logvar, threshold=0.5):
    return int((torch.exp(0.5 * logvar).mean(0) < threshold).sum())


def affine_r2(factors, codes):
    design = np.column_stack([codes, np.ones(len(codes))])
    coef, *_ = np.linalg.lstsq(design, factors, rcond=None)
    return float(1 - ((factors - design @ coef) ** 2).sum() / ((factors - factors.mean(0)) ** 2).sum())


def choose_latents(logvar):
    return torch.argsort(logvar.exp().mean(0), stable=True)[:2].tolist()


def grid_affine_r2(vae, dataset, n=32, choose=None):
    images, factors, _ = dataset.grid("x", "y", n, n)
    with torch.no_grad():
        mean, logvar = vae.encode(images)
    latents = (choose or choose_latents)(logvar)
    return affine_r2(factors.numpy(), mean[:, latents].numpy()), latents


def discretize(codes, num_bins=20):
    bins = np.empty(codes.shape, dtype=np.int64)
    for d in range(codes.shape[1]):
        bins[:, d] = np.digitize(codes[:, d], np.histogram_bin_edges(codes[:, d], bins=num_bins)[:-1])
    return bins


def entropy(factors):
    out = []
    for column in factors.T:
        p = np.unique(column, return_counts=True)[1] / len(column)
        out.append(-(p * np.log(p)).sum())
    return np.array(out)


def mutual_info(binned_codes, factors):
    mi = np.zeros((binned_codes.shape[1], factors.shape[1]))
    for j in range(binned_codes.shape[1]):
        for k in range(factors.shape[1]):
            z = np.unique(binned_codes[:, j], return_inverse=True)[1]
            v = np.unique(factors[:, k], return_inverse=True)[1]
            joint = np.zeros((z.max() + 1, v.max() + 1))
            np.add.at(joint, (z, v), 1)
            p = joint / joint.sum()
            outer = p.sum(1, keepdims=True) @ p.sum(0, keepdims=True)
            mi[j, k] = (p[p > 0] * np.log(p[p > 0] / outer[p > 0])).sum()
    return mi


def mig(codes, factors):
    mi = mutual_info(discretize(codes), factors)
    top_two = -np.sort(-mi, axis=0)[:2]
    return float(((top_two[0] - top_two[1]) / entropy(factors)).mean())


# ----------------------------------------------------------------------------- the mistakes


def traversal_all_latents(vae, z, dim, values):
    with torch.no_grad():
        return vae.decode_image(values[:, None].repeat(1, len(z)))


def traversal_added(vae, z, dim, values):
    codes = z.repeat(len(values), 1)
    codes[:, dim] = codes[:, dim] + values
    with torch.no_grad():
        return vae.decode_image(codes)


def traversal_logits(vae, z, dim, values):
    codes = z.repeat(len(values), 1)
    codes[:, dim] = values
    with torch.no_grad():
        return vae.decode(codes)


def traversal_off_by_one(vae, z, dim, values):
    return traversal(vae, z, (dim + 1) % len(z), values)


def traversal_in_place(vae, z, dim, values):
    out = []
    for v in values:
        z[dim] = v
        out.append(vae.decode_image(z[None]).detach())
    return torch.cat(out)


def order_descending(vae, images):
    order, variance = latent_order(vae, images)
    return order.flip(0), variance


def order_log_variance(vae, images):
    with torch.no_grad():
        _, logvar = vae.encode(images)
    return torch.argsort(logvar.mean(0), stable=True), logvar.mean(0)


def order_std(vae, images):
    with torch.no_grad():
        _, logvar = vae.encode(images)
    std = (0.5 * logvar).exp().mean(0)
    return torch.argsort(std, stable=True), std


def used_variance(logvar, threshold=0.5):
    return int((logvar.exp().mean(0) < threshold).sum())


def used_per_sample(logvar, threshold=0.5):
    return int((torch.exp(0.5 * logvar) < threshold).sum())


def used_inverted(logvar, threshold=0.5):
    return int((torch.exp(0.5 * logvar).mean(0) > threshold).sum())


def used_any(logvar, threshold=0.5):
    return int((torch.exp(0.5 * logvar) < threshold).any(0).sum())


def used_fixed_threshold(logvar, threshold=0.5):
    return int((torch.exp(0.5 * logvar).mean(0) < 0.5).sum())


def r2_no_intercept(factors, codes):
    coef, *_ = np.linalg.lstsq(codes, factors, rcond=None)
    return float(1 - ((factors - codes @ coef) ** 2).sum() / ((factors - factors.mean(0)) ** 2).sum())


def r2_first_factor(factors, codes):
    return affine_r2(factors[:, :1], codes)


def r2_averaged(factors, codes):
    return float(np.mean([affine_r2(factors[:, [k]], codes) for k in range(2)]))


def r2_wrong_direction(factors, codes):
    return affine_r2(codes, factors)


def choose_highest(logvar):
    return torch.argsort(logvar.exp().mean(0), descending=True)[:2].tolist()


def choose_first_image(logvar):
    return torch.argsort(logvar[0], stable=True)[:2].tolist()


def grid_all_latents(vae, dataset, n=32):
    images, factors, _ = dataset.grid("x", "y", n, n)
    with torch.no_grad():
        mean, logvar = vae.encode(images)
    return affine_r2(factors.numpy(), mean.numpy()), choose_latents(logvar)


def grid_highest(vae, dataset, n=32):
    return grid_affine_r2(vae, dataset, n, choose=choose_highest)


def grid_logvar(vae, dataset, n=32):
    images, factors, _ = dataset.grid("x", "y", n, n)
    with torch.no_grad():
        _, logvar = vae.encode(images)
    latents = choose_latents(logvar)
    return affine_r2(factors.numpy(), logvar[:, latents].numpy()), latents


def discretize_global(codes, num_bins=20):
    return np.digitize(codes, np.histogram_bin_edges(codes, bins=num_bins)[:-1])


def discretize_from_zero(codes, num_bins=20):
    return discretize(codes, num_bins) - 1


def discretize_all_edges(codes, num_bins=20):
    return np.column_stack([np.digitize(c, np.histogram_bin_edges(c, bins=num_bins)) for c in codes.T])


def entropy_bits(factors):
    return entropy(factors) / np.log(2)


def entropy_no_minus(factors):
    return -entropy(factors)


def mutual_info_transposed(binned_codes, factors):
    return mutual_info(binned_codes, factors).T


def mutual_info_bits(binned_codes, factors):
    return mutual_info(binned_codes, factors) / np.log(2)


def mig_unnormalised(codes, factors):
    mi = mutual_info(discretize(codes), factors)
    top_two = -np.sort(-mi, axis=0)[:2]
    return float((top_two[0] - top_two[1]).mean())


def mig_worst(codes, factors):
    mi = mutual_info(discretize(codes), factors)
    return float(((mi.max(0) - mi.min(0)) / entropy(factors)).mean())


def mig_global_bins(codes, factors):
    mi = mutual_info(discretize_global(codes), factors)
    top_two = -np.sort(-mi, axis=0)[:2]
    return float(((top_two[0] - top_two[1]) / entropy(factors)).mean())


CHECKS = {  # checker: (library function, learner's correct function, [(wrong function, words of the message)])
    "check_traversal": (figures.traverse, traversal, [
        (traversal_all_latents, "sweeping every latent"), (traversal_added, "adding the value"),
        (traversal_logits, "logits"), (traversal_off_by_one, "instead of latent dim"),
        (traversal_in_place, "changed the z it was given")]),
    "check_latent_order": (figures.latent_order, latent_order, [
        (order_descending, "from the highest variance"), (order_log_variance, "mean log-variance"),
        (order_std, "mean posterior std")]),
    "check_latents_used": (metrics.latents_used, latents_used, [
        (used_variance, "variance exp(logvar)"), (used_per_sample, "per image"), (used_inverted, "inverted"),
        (used_any, "ANY image"), (used_fixed_threshold, "ignoring the threshold")]),
    "check_affine_r2": (metrics.affine_r2, affine_r2, [
        (r2_no_intercept, "without an intercept"), (r2_first_factor, "first factor only"),
        (r2_averaged, "mean of the two factors"), (r2_wrong_direction, "wrong direction")]),
    "check_choose_latents": (metrics.choose_latents, choose_latents, [
        (choose_highest, "HIGHEST"), (choose_first_image, "first image")]),
    "check_grid_affine_r2": (metrics.grid_affine_r2, grid_affine_r2, [
        (grid_all_latents, "ALL latents"), (grid_highest, "HIGHEST"), (grid_logvar, "log-variances")]),
    "check_discretize": (metrics.histogram_discretize, discretize, [
        (discretize_global, "whole array"), (discretize_from_zero, "numbered from 0"),
        (discretize_all_edges, "num_bins + 1 edges")]),
    "check_entropy": (metrics.discrete_entropy, entropy, [
        (entropy_bits, "bits"), (entropy_no_minus, "without the minus sign")]),
    "check_mutual_info": (metrics.discrete_mutual_info, mutual_info, [
        (mutual_info_transposed, "transposed"), (mutual_info_bits, "bits")]),
    "check_mig": (metrics.mig, mig, [
        (mig_unnormalised, "not divided by the factor's entropy"), (mig_worst, "WORST"),
        (mig_global_bins, "whole array")]),
}
CASES = [(name, wrong, words) for name, (_, _, wrongs) in CHECKS.items() for wrong, words in wrongs]


def test_every_checker_is_exported():
    """The package re-exports every checker of notebooks 04-06."""
    assert set(CHECKS) <= {n for n in dir(exercises) if n.startswith("check_")}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_checker_accepts_library_and_solution(name, capsys):
    """The library's own function and a learner's correct one both get the one "correct" line."""
    library, solution, _ = CHECKS[name]
    for fn in (library, solution):
        getattr(exercises, name)(fn)
        out = capsys.readouterr().out.strip().splitlines()
        assert len(out) == 1 and out[0].startswith("correct:"), out


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_checker_says_not_attempted(name, capsys):
    """A skeleton that still raises NotImplementedError gets one "not attempted" line and no error."""
    getattr(exercises, name)(skeleton)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "not attempted" in out[0], out


@pytest.mark.parametrize("name, wrong, words", CASES, ids=[f"{n}-{w.__name__}" for n, w, _ in CASES])
def test_checker_names_the_mistake(name, wrong, words):
    """Each typical mistake raises an AssertionError whose message names it."""
    with pytest.raises(AssertionError, match=re.escape(words)):
        getattr(exercises, name)(wrong)


def test_checker_mistakes_are_distinct_on_latents_used():
    """The log-variances of check_latents_used give every mistake its own count (else it could not name it)."""
    from sbdlib.course.exercises.traversals import _latents_used_cases
    logvar, threshold, _ = _latents_used_cases()[0]
    counts = [f(logvar, threshold) for f in (latents_used, used_variance, used_per_sample, used_inverted, used_any)]
    assert len(set(counts)) == len(counts), counts


def test_checkers_leave_the_global_rng_alone():
    """Building the checkers' random VAEs does not move the caller's torch RNG."""
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    exercises.check_latent_order(figures.latent_order)
    assert torch.equal(torch.rand(3), expected)


def test_traverse_sets_one_latent():
    """figures.traverse: V images, only latent dim changes, probabilities in [0, 1]."""
    from sbdlib.course.exercises.traversals import checker_vae
    vae = checker_vae("sbd", 0)
    z = torch.zeros(10)
    images = figures.traverse(vae, z, 4, torch.tensor([-1.0, 0.0, 1.0]))
    assert images.shape == (3, 3, 32, 32) and 0 <= images.min() and images.max() <= 1
    assert torch.allclose(images[1], vae.decode_image(z[None])[0].detach(), atol=1e-6)
    with pytest.raises(ValueError, match="dim"):
        figures.traverse(vae, z, 10, torch.tensor([0.0]))
