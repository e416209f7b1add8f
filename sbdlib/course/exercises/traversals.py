"""Checkers of notebook 04 (latent traversals): a traversal, the latents' order, "latents used"."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from sbdlib.course.exercises._checking import NOT_ATTEMPTED, attempted, compare, generator, passed
from sbdlib.figures import latent_order, traverse
from sbdlib.metrics import LATENT_USED_STD, latents_used
from sbdlib.models import VAE

__all__ = ["check_traversal", "check_latent_order", "check_latents_used"]

CHECK_IMAGE_SIZE = 32  # the checkers' small random VAEs: 32 x 32 images, width 8, 10 latents
CHECK_WIDTH = 8
CHECK_LATENTS = 10
LOGVAR_SPREAD = (-4.0, 1.0)  # the checkers' VAEs get mean log-variances spread over this range


def checker_vae(decoder: str = "sbd", seed: int = 0) -> VAE:
    """A small random VAE in eval mode whose latents have clearly different posterior variances.

    Built under a forked RNG, so the caller's global random state is left alone.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = VAE(decoder, CHECK_LATENTS, width=CHECK_WIDTH, image_size=CHECK_IMAGE_SIZE).eval()
    head = vae.encoder.head[-1]  # the last linear layer: [2 * D] outputs, mean then log-variance
    with torch.no_grad():
        head.bias[CHECK_LATENTS:] = torch.linspace(*LOGVAR_SPREAD, CHECK_LATENTS).flip(0)[
            torch.randperm(CHECK_LATENTS, generator=generator(seed))]
        head.weight[CHECK_LATENTS:] *= 3.0  # the log-variances vary from image to image too
    return vae


def checker_images(n: int, seed: int = 0) -> torch.Tensor:
    """``n`` random images ``[n, 3, H, W]`` in [0, 1] for the checkers' VAEs."""
    return torch.rand(n, 3, CHECK_IMAGE_SIZE, CHECK_IMAGE_SIZE, generator=generator(seed))


# ------------------------------------------------------------------------------ traversal


def _sweep_all(vae: Any, z: torch.Tensor, dim: int, values: torch.Tensor) -> torch.Tensor:
    """Mistake: every latent set to the value, not only ``dim``."""
    codes = torch.as_tensor(values, dtype=torch.float32)[:, None].repeat(1, z.shape[0])
    with torch.no_grad():
        return vae.decode_image(codes)


def _added(vae: Any, z: torch.Tensor, dim: int, values: torch.Tensor) -> torch.Tensor:
    """Mistake: the value added to ``z[dim]`` instead of replacing it."""
    codes = z.repeat(len(values), 1)
    codes[:, dim] += values
    with torch.no_grad():
        return vae.decode_image(codes)


def _logits(vae: Any, z: torch.Tensor, dim: int, values: torch.Tensor) -> torch.Tensor:
    """Mistake: the decoder's raw output (Bernoulli logits), not the image."""
    codes = z.repeat(len(values), 1)
    codes[:, dim] = values
    with torch.no_grad():
        return vae.decode(codes)


def _other_dim(other: int) -> Callable[..., torch.Tensor]:
    """Mistake: latent ``other`` swept instead of the one asked for."""
    def wrong(vae: Any, z: torch.Tensor, dim: int, values: torch.Tensor) -> torch.Tensor:
        return traverse(vae, z, other, values)
    return wrong


def check_traversal(fn: Callable[..., Any]) -> None:
    """Check ``fn(vae, z [D], dim, values [V]) -> images [V, C, H, W]``: ``z`` with latent ``dim``
    set to each value in turn (the others unchanged), decoded to images in [0, 1]."""
    cases = [("sbd", 0, 3, torch.linspace(-2, 2, 5)), ("deconv", 1, 7, torch.tensor([-1.5, 0.0, 0.5, 2.5])),
             ("sbd", 2, 0, torch.tensor([1.0]))]
    for decoder, seed, dim, values in cases:
        vae = checker_vae(decoder, seed)
        z = torch.randn(CHECK_LATENTS, generator=generator(seed)) * 0.5 + 0.3
        given = z.clone()
        got = attempted(fn, vae, given, dim, values.clone())
        if got is NOT_ATTEMPTED:
            return
        mistakes = [("sweeping every latent at once (set only z[dim], keep the others)", _sweep_all),
                    ("adding the value to z[dim] instead of setting z[dim] to it", _added),
                    ("returning the decoder's logits, not the image (apply vae.decode_image, or a sigmoid)", _logits)]
        mistakes += [(f"sweeping latent {d} instead of latent dim={dim}", _other_dim(d))
                     for d in range(CHECK_LATENTS) if d != dim]
        compare("your traversal", got, traverse(vae, z, dim, values), (vae, z, dim, values), mistakes,
                case=f"{decoder} VAE, dim={dim}, {len(values)} values")
        if not torch.equal(given, z):
            raise AssertionError("your traversal changed the z it was given: work on a copy (z.repeat(...) or "
                                 "z.clone()), or the next traversal starts from a modified code.")
    passed("traversal", f"matches sbdlib.figures.traverse on {len(cases)} cases (both decoders, 1 to 5 values)")


# ---------------------------------------------------------------------------- latent order


def _order_of(score: np.ndarray) -> np.ndarray:
    """Latents sorted by ``score``, lowest first (stable)."""
    return np.argsort(score, kind="stable")


def _order_mistakes(vae: Any, images: torch.Tensor) -> list[tuple[str, Callable[..., Any]]]:
    """The typical wrong orders of :func:`check_latent_order`, as functions of ``(vae, images)``."""
    with torch.no_grad():
        mean, logvar = vae.encode(images)
    variance = logvar.double().exp().mean(0).numpy()
    return [
        ("sorting from the highest variance to the lowest (the most informative latent has the LOWEST "
         "mean posterior variance)", lambda *_: np.argsort(-variance, kind="stable")),
        ("ranking by how much the posterior means vary across images, not by the mean posterior variance",
         lambda *_: _order_of(-mean.double().var(0).numpy())),
        ("ranking by the first image's posterior variance instead of the mean over all images",
         lambda *_: _order_of(logvar[0].double().numpy())),
    ]


def _variance_mistakes(vae: Any, images: torch.Tensor) -> list[tuple[str, Callable[..., Any]]]:
    """The typical wrong mean variances of :func:`check_latent_order`."""
    with torch.no_grad():
        _, logvar = vae.encode(images)
    logvar = logvar.double()
    return [
        ("returning the mean log-variance, not the mean variance (apply exp before averaging)",
         lambda *_: logvar.mean(0)),
        ("averaging the log-variances before exp (a geometric mean); average exp(logvar) instead",
         lambda *_: logvar.mean(0).exp()),
        ("returning the mean posterior std, not the variance", lambda *_: (0.5 * logvar).exp().mean(0)),
        ("returning the variances in sorted order; mean_variance[d] must be latent d's",
         lambda *_: logvar.exp().mean(0).sort().values),
    ]


def check_latent_order(fn: Callable[..., Any]) -> None:
    """Check ``fn(vae, images [N, C, H, W]) -> (order [D], mean_variance [D])``: latents from the most
    informative (lowest mean posterior variance) to the least, and each latent's mean variance."""
    for decoder, seed, n in (("sbd", 0, 40), ("deconv", 3, 25)):
        vae, images = checker_vae(decoder, seed), checker_images(n, seed)
        got = attempted(fn, vae, images)
        if got is NOT_ATTEMPTED:
            return
        if not isinstance(got, tuple) or len(got) != 2:
            raise AssertionError(f"your latent_order returned {type(got).__name__}; expected a pair "
                                 "(order [D], mean_variance [D])")
        order, variance = latent_order(vae, images)
        case = f"{decoder} VAE, {n} images"
        compare("your latent_order's order", np.asarray(got[0]), order, (vae, images), _order_mistakes(vae, images),
                case=case)
        compare("your latent_order's mean_variance", got[1], variance, (vae, images), _variance_mistakes(vae, images),
                case=case)
    passed("latent_order", "matches sbdlib.figures.latent_order (order and mean variances) on 2 random VAEs")


# ---------------------------------------------------------------------------- latents used


def _latents_used_cases() -> list[tuple[torch.Tensor, float, str]]:
    """Log-variances ``[100, 10]`` built so that every typical mistake gives its own count.

    Latents 0-1: std 0.05 (used); 2: std 0.6 (variance 0.36: used only if one thresholds the
    variance); 3-4: std 0.1 for half the images and 1.0 for the other half (mean std 0.55:
    unused; used per image half the time; geometric mean 0.32); 5-7: std 0.3 for one image in
    100, else 1.0 (unused; used by "any image"); 8-9: std 1.0 (unused, the prior).
    """
    n = 100
    std = torch.ones(n, 10, dtype=torch.float64)
    std[:, :2] = 0.05
    std[:, 2] = 0.6
    std[: n // 2, 3:5] = 0.1
    std[0, 5:8] = 0.3
    logvar = (2 * std.log()).float()
    rng = generator(1)
    shuffled = logvar[torch.randperm(n, generator=rng)][:, torch.randperm(10, generator=rng)]
    return [(logvar, LATENT_USED_STD, "threshold 0.5"), (shuffled, LATENT_USED_STD, "threshold 0.5, rows and latents "
            "shuffled"), (logvar, 0.7, "threshold 0.7"), (logvar, 0.02, "threshold 0.02 (none used)")]


def check_latents_used(fn: Callable[..., Any]) -> None:
    """Check ``fn(logvar [N, D], threshold=0.5) -> int``: the number of latents whose mean posterior std
    over the N images is below ``threshold``."""
    def std(lv: torch.Tensor) -> torch.Tensor:
        return (0.5 * lv.double()).exp()

    mistakes = [
        ("thresholding the variance exp(logvar), not the std exp(logvar / 2)",
         lambda lv, t: int((lv.double().exp().mean(0) < t).sum())),
        ("counting latents per image (over all N x D entries) instead of on the mean std over images",
         lambda lv, t: int((std(lv) < t).sum())),
        ("counting a latent as used if ANY image has a narrow posterior; average the std over images first",
         lambda lv, t: int((std(lv) < t).any(0).sum())),
        ("averaging the per-image counts instead of counting on the mean std",
         lambda lv, t: int(torch.round((std(lv) < t).sum(1).double().mean()))),
        ("averaging the log-variances before exp (a geometric mean of the std); average exp(logvar / 2)",
         lambda lv, t: int(((0.5 * lv.double().mean(0)).exp() < t).sum())),
        ("the comparison inverted: a used latent has a mean std BELOW the threshold",
         lambda lv, t: int((std(lv).mean(0) > t).sum())),
        ("ignoring the threshold argument (always 0.5)", lambda lv, t: int((std(lv).mean(0) < LATENT_USED_STD).sum())),
    ]
    cases = _latents_used_cases()
    for logvar, threshold, case in cases:
        got = attempted(fn, logvar.clone(), threshold)
        if got is NOT_ATTEMPTED:
            return
        try:
            count = int(got)
        except (TypeError, ValueError, RuntimeError):
            raise AssertionError(f"your latents_used returned {type(got).__name__}; expected one int") from None
        compare("your latents_used", count, latents_used(logvar, threshold), (logvar, threshold), mistakes, case=case)
    passed("latents_used", f"matches sbdlib.metrics.latents_used on {len(cases)} cases (thresholds 0.02, 0.5, 0.7)")
