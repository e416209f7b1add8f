"""Tests of sbdlib.models.convolutions: every implementation matches the direct "same" convolution."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sbdlib.models.convolutions import (
    TILE_SIZE,
    _winograd_matrices_f64,
    choose_impl,
    same_conv2d,
    same_padding_1d,
    winograd_applies,
)

# Max abs error relative to the largest reference value (float32 / float64).
TOL = {torch.float32: 1e-4, torch.float64: 1e-10}
# Float32 Winograd measured <= 1.1e-5 on these cases; a regression guard well below TOL.
FLOAT32_GUARD = 3e-5
SEED = 0


def _relative_error(a: torch.Tensor, ref: torch.Tensor) -> float:
    return ((a - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()


def _forward_and_grads(x, w, b, grad, impl):
    x, w, b = (t.detach().clone().requires_grad_() for t in (x, w, b))
    y = same_conv2d(x, w, b, impl=impl)
    return (y, *torch.autograd.grad(y, (x, w, b), grad))


def _operands(batch, c_in, c_out, height, width, k, dtype):
    gen = torch.Generator().manual_seed(SEED)
    x = torch.randn(batch, c_in, height, width, generator=gen, dtype=dtype)
    w = torch.randn(c_out, c_in, k, k, generator=gen, dtype=dtype) / (k * c_in**0.5)
    b = torch.randn(c_out, generator=gen, dtype=dtype)
    grad = torch.randn(batch, c_out, height, width, generator=gen, dtype=dtype)
    return x, w, b, grad


SMALL_SHAPES = [(1, 1, 1, 13, 13), (2, 3, 5, 13, 11), (4, 16, 8, 13, 13), (2, 8, 8, 64, 64)]
FAST_IMPLS = ("winograd", "shift")
SMALL_SHAPES_K4 = [(4, *shape) for shape in SMALL_SHAPES]
# Shapes of the SBD's output layer (few output channels), where "auto" picks shift-and-add.
OUTPUT_LAYER_SHAPES = [(4, 4, 16, 3, 64, 64), (4, 4, 64, 1, 64, 64), (4, 32, 32, 3, 32, 32), (3, 2, 8, 3, 9, 7),
                       (5, 2, 8, 2, 11, 13)]


def _check_against_float64_direct(impl, k, batch, c_in, c_out, height, width):
    x, w, b, grad = _operands(batch, c_in, c_out, height, width, k, torch.float32)
    ref = _forward_and_grads(x.double(), w.double(), b.double(), grad.double(), "direct")
    got_all = _forward_and_grads(x, w, b, grad, impl)
    for name, got, exact in zip(("y", "dx", "dw", "db"), got_all, ref):
        assert got.shape == exact.shape and got.dtype == torch.float32
        err = _relative_error(got.double(), exact)
        assert err < TOL[torch.float32], (impl, name, err)
        assert err < FLOAT32_GUARD, (impl, name, err)


@pytest.mark.parametrize(
    "k, batch, c_in, c_out, height, width",
    [(k, *shape) for k in (3, 4, 5) for shape in SMALL_SHAPES]
    + [(4, 16, 64, 64, 64, 64), (3, 4, 64, 32, 64, 64), (5, 4, 32, 64, 64, 64)],
)
def test_winograd_matches_direct(k, batch, c_in, c_out, height, width):
    """Forward and all three gradients against a float64 direct reference."""
    _check_against_float64_direct("winograd", k, batch, c_in, c_out, height, width)


@pytest.mark.parametrize("k, batch, c_in, c_out, height, width", OUTPUT_LAYER_SHAPES + SMALL_SHAPES_K4)
def test_shift_add_matches_direct(k, batch, c_in, c_out, height, width):
    """Shift-and-add: forward and all three gradients against a float64 direct reference."""
    _check_against_float64_direct("shift", k, batch, c_in, c_out, height, width)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6])
def test_float64_and_all_kernel_sizes(k):
    x, w, b, grad = _operands(2, 3, 4, 9, 7, k, torch.float64)
    ref = _forward_and_grads(x, w, b, grad, "direct")
    for impl in (*FAST_IMPLS, "auto"):
        for name, got, exact in zip(("y", "dx", "dw", "db"), _forward_and_grads(x, w, b, grad, impl), ref):
            assert _relative_error(got, exact) < TOL[torch.float64], (impl, name)


@pytest.mark.parametrize("impl", FAST_IMPLS)
@pytest.mark.parametrize("height, width", [(1, 1), (2, 5), (4, 4), (5, 3)])
def test_tiny_maps(height, width, impl):
    x, w, b, grad = _operands(2, 3, 2, height, width, 4, torch.float64)
    ref = _forward_and_grads(x, w, b, grad, "direct")
    for got, exact in zip(_forward_and_grads(x, w, b, grad, impl), ref):
        assert _relative_error(got, exact) < TOL[torch.float64]


@pytest.mark.parametrize("impl", FAST_IMPLS)
def test_no_bias_and_partial_grads(impl):
    x, w, _, grad = _operands(2, 4, 3, 13, 13, 4, torch.float64)
    w.requires_grad_()
    y = same_conv2d(x, w, None, impl=impl)
    (gw,) = torch.autograd.grad(y, (w,), grad)
    wr = w.detach().clone().requires_grad_()
    (gw_ref,) = torch.autograd.grad(same_conv2d(x, wr, None, impl="direct"), (wr,), grad)
    assert _relative_error(y, same_conv2d(x, w, None, impl="direct")) < TOL[torch.float64]
    assert _relative_error(gw, gw_ref) < TOL[torch.float64]


@pytest.mark.parametrize("impl", FAST_IMPLS)
def test_gradcheck_float64(impl):
    x, w, b, _ = _operands(1, 2, 2, 6, 5, 4, torch.float64)
    args = tuple(t.requires_grad_() for t in (x, w, b))
    assert torch.autograd.gradcheck(lambda *a: same_conv2d(*a, impl=impl), args)


@pytest.mark.parametrize("m, k", [(m, k) for k, m in TILE_SIZE.items()])
def test_transform_matrices_compute_correlation(m, k):
    at, g, bt = _winograd_matrices_f64(m, k)
    rng = np.random.default_rng(SEED)
    d, f = rng.standard_normal(m + k - 1), rng.standard_normal(k)
    expected = np.array([d[i : i + k] @ f for i in range(m)])
    np.testing.assert_allclose(at @ ((g @ f) * (bt @ d)), expected, atol=1e-12)


def test_padding_and_dispatch():
    assert same_padding_1d(4) == (1, 2) and same_padding_1d(3) == (1, 1) and same_padding_1d(1) == (0, 0)
    big = torch.zeros(2, 64, 64, 64)
    w = torch.zeros(64, 64, 4, 4)
    assert winograd_applies(big, w)
    assert choose_impl(big, w) == "winograd"
    assert choose_impl(torch.zeros(2, 3, 64, 64), torch.zeros(3, 3, 4, 4)) == "shift"
    assert choose_impl(torch.zeros(2, 32, 32, 32), torch.zeros(32, 32, 4, 4)) == "direct"
    assert not winograd_applies(big.half(), w.half())
    with pytest.raises(ValueError):
        same_conv2d(big, w, impl="fft")
    with pytest.raises(ValueError):
        same_conv2d(big[:, :3], w)


def test_float32_matches_float32_direct():
    """The comparison the brief asks for: winograd vs direct, both in float32."""
    x, w, b, grad = _operands(8, 32, 32, 64, 64, 4, torch.float32)
    direct = _forward_and_grads(x, w, b, grad, "direct")
    for got, base in zip(_forward_and_grads(x, w, b, grad, "winograd"), direct):
        assert _relative_error(got, base) < TOL[torch.float32]
