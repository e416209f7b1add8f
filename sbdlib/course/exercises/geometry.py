"""Checkers of notebook 05 (latent geometry): the affine R^2, the two latents to plot, a grid's R^2."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from sbdlib.course.exercises._checking import NOT_ATTEMPTED, attempted, compare, generator, passed
from sbdlib.course.exercises.traversals import CHECK_IMAGE_SIZE, checker_vae
from sbdlib.data import get_dataset
from sbdlib.metrics import affine_r2, choose_latents, grid_affine_r2, grid_posterior, posterior

__all__ = ["check_affine_r2", "check_choose_latents", "check_grid_affine_r2"]

CHECK_GRID = 6  # the grid of check_grid_affine_r2: 6 x 6 positions


# ------------------------------------------------------------------------------- affine R^2


def _r2(target: np.ndarray, design: np.ndarray) -> np.ndarray:
    """Per column of ``target``: (residual sum of squares, total sum of squares) of its least-squares fit."""
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    return ((target - design @ coef) ** 2).sum(0), ((target - target.mean(0)) ** 2).sum(0)


def _with_intercept(codes: np.ndarray) -> np.ndarray:
    """The design matrix ``[codes, 1]``."""
    return np.column_stack([codes, np.ones(len(codes))])


def _affine_mistakes() -> list[tuple[str, Callable[..., float]]]:
    """The typical wrong affine R^2s, as functions of ``(factors, codes)``."""
    def no_intercept(f: np.ndarray, c: np.ndarray) -> float:
        res, tot = _r2(f, c)
        return 1 - res.sum() / tot.sum()

    def one_factor(f: np.ndarray, c: np.ndarray) -> float:
        res, tot = _r2(f[:, :1], _with_intercept(c))
        return 1 - res.sum() / tot.sum()

    def averaged(f: np.ndarray, c: np.ndarray) -> float:
        res, tot = _r2(f, _with_intercept(c))
        return float((1 - res / tot).mean())

    def wrong_direction(f: np.ndarray, c: np.ndarray) -> float:
        res, tot = _r2(c, _with_intercept(f))
        return 1 - res.sum() / tot.sum()

    def uncentred(f: np.ndarray, c: np.ndarray) -> float:
        res, _ = _r2(f, _with_intercept(c))
        return 1 - res.sum() / (f ** 2).sum()

    return [
        ("a fit without an intercept (append a column of ones to the codes)", no_intercept),
        ("the R^2 of the first factor only; fit both factors", one_factor),
        ("the mean of the two factors' R^2s; the library pools them: 1 - (both residual sums) / (both total sums)",
         averaged),
        ("the fit in the wrong direction: fit the FACTORS from the codes (factors ~ codes @ A + b)",
         wrong_direction),
        ("a total sum of squares around 0, not around the factors' mean", uncentred),
    ]


def _affine_cases() -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(factors [N, 2], codes [N, 2], description): a warped code, a rotated affine one, noise."""
    rng = np.random.default_rng(5)
    xs, ys = np.meshgrid(np.linspace(0.2, 0.8, 9), np.linspace(0.3, 0.5, 9), indexing="ij")
    factors = np.column_stack([xs.ravel(), ys.ravel()])  # x spans 0.6, y only 0.2: pooling matters
    warped = np.column_stack([np.sin(3 * factors[:, 0]) + 2.0, factors[:, 1] ** 2 + 0.4 * factors[:, 0] ** 3 - 1.0])
    warped += rng.normal(0, 0.02, warped.shape)
    angle = 0.6
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rotated = 3.0 * (factors - 0.5) @ rotation + np.array([1.0, -2.0]) + rng.normal(0, 0.01, factors.shape)
    noise = rng.normal(0, 1, factors.shape)
    return [(factors, warped, "a warped code, 9 x 9 grid"), (factors, rotated, "a rotated, scaled, shifted grid"),
            (factors, noise, "codes unrelated to the factors")]


def check_affine_r2(fn: Callable[..., Any]) -> None:
    """Check ``fn(factors [N, 2], codes [N, 2]) -> float``: the R^2 of the best affine map from the codes
    to the factors, pooled over both factors."""
    cases = _affine_cases()
    for factors, codes, case in cases:
        got = attempted(fn, factors.copy(), codes.copy())
        if got is NOT_ATTEMPTED:
            return
        compare("your affine_r2", got, affine_r2(factors, codes), (factors, codes), _affine_mistakes(), case=case)
    passed("affine_r2", f"matches sbdlib.metrics.affine_r2 on {len(cases)} cases (warped, rotated, noise)")


# ------------------------------------------------------------------------- choose latents


def _choose_mistakes() -> list[tuple[str, Callable[..., list[int]]]]:
    """The typical wrong pairs of latents, as functions of ``(logvar,)``."""
    def by(score: torch.Tensor) -> list[int]:
        return np.argsort(score.numpy(), kind="stable")[:2].tolist()

    return [
        ("the two latents with the HIGHEST mean posterior variance; the informative ones have the lowest",
         lambda lv: by(-lv.double().exp().mean(0))),
        ("the latents ranked by the first image's variance; average over all images",
         lambda lv: by(lv[0].double())),
        ("the last two latents of the ascending order (argsort(...)[-2:]): those are the least informative",
         lambda lv: np.argsort(lv.double().exp().mean(0).numpy(), kind="stable")[-2:].tolist()),
    ]


def check_choose_latents(fn: Callable[..., Any]) -> None:
    """Check ``fn(logvar [N, D]) -> [d1, d2]``: the two latents with the lowest mean posterior variance,
    the lowest first."""
    rng = generator(7)
    cases = []
    for n, d in ((50, 10), (20, 6), (5, 2)):
        logvar = torch.randn(n, d, generator=rng) * 1.5 + torch.linspace(-5, 1, d)[torch.randperm(d, generator=rng)]
        cases.append((logvar, f"{n} images, {d} latents"))
    for logvar, case in cases:
        got = attempted(fn, logvar.clone())
        if got is NOT_ATTEMPTED:
            return
        try:
            pair = [int(d) for d in got]
        except (TypeError, ValueError):
            raise AssertionError(f"your choose_latents returned {type(got).__name__}; expected two ints") from None
        compare("your choose_latents", pair, choose_latents(logvar), (logvar,), _choose_mistakes(), case=case)
    passed("choose_latents", f"matches sbdlib.metrics.choose_latents on {len(cases)} cases")


# --------------------------------------------------------------------------- grid affine R^2


def _grid_mistakes(vae: Any, dataset: Any, n: int) -> list[tuple[str, Callable[..., float]]]:
    """The typical wrong grid R^2s for one VAE, as functions of no argument."""
    factors, _, mean, logvar = grid_posterior(vae, dataset, "x", "y", n)
    variance = logvar.double().exp().mean(0).numpy()
    highest = np.argsort(-variance, kind="stable")[:2].tolist()
    spread = np.argsort(-mean.double().var(0).numpy(), kind="stable")[:2].tolist()
    return [
        ("fitting from ALL latents; take only the two with the lowest mean posterior variance",
         lambda *_: affine_r2(factors.numpy(), mean.numpy())),
        ("using the two latents with the HIGHEST mean posterior variance",
         lambda *_: affine_r2(factors.numpy(), mean[:, highest].numpy())),
        ("choosing the two latents whose means vary most; the library takes the lowest mean posterior variance",
         lambda *_: affine_r2(factors.numpy(), mean[:, spread].numpy())),
        ("fitting the log-variances instead of the posterior means",
         lambda *_: affine_r2(factors.numpy(), logvar[:, choose_latents(logvar)].numpy())),
        ("latents 0 and 1 instead of the two most informative ones",
         lambda *_: affine_r2(factors.numpy(), mean[:, :2].numpy())),
    ]


def check_grid_affine_r2(fn: Callable[..., Any]) -> None:
    """Check ``fn(vae, dataset, n=...) -> (r2, [d1, d2])``: render the ``n x n`` grid of x and y, encode it,
    pick the two latents with the lowest mean posterior variance, and return their affine R^2 and indices."""
    dataset = get_dataset("circles/xy", image_size=CHECK_IMAGE_SIZE)
    for decoder, seed, n in (("sbd", 0, CHECK_GRID), ("deconv", 4, CHECK_GRID - 1)):
        vae = checker_vae(decoder, seed)
        got = attempted(fn, vae, dataset, n=n)
        if got is NOT_ATTEMPTED:
            return
        if not isinstance(got, tuple) or len(got) != 2:
            raise AssertionError(f"your grid_affine_r2 returned {type(got).__name__}; expected a pair (r2, [d1, d2])")
        r2, latents = grid_affine_r2(vae, dataset, n=n)
        case = f"{decoder} VAE, {n} x {n} grid"
        compare("your grid_affine_r2's latents", [int(d) for d in got[1]], latents, (), [
            ("the two latents with the HIGHEST mean posterior variance",
             lambda: np.argsort(-posterior(vae, dataset.grid("x", "y", n, n)[0])[1].double().exp().mean(0).numpy(),
                                kind="stable")[:2].tolist())], case=case)
        compare("your grid_affine_r2's R^2", got[0], r2, (), _grid_mistakes(vae, dataset, n), case=case)
    passed("grid_affine_r2", "matches sbdlib.metrics.grid_affine_r2 on 2 random VAEs (5 x 5 and 6 x 6 grids)")
