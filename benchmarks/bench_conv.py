"""Time :func:`sbdlib.convolutions.same_conv2d`: direct (oneDNN) vs Winograd.

The decoder's dominant layer: a stride-1 4x4 "same" convolution on 64x64 maps. For each
shape, forward and forward+backward (gradients w.r.t. input, weight and bias) of both
implementations run interleaved (direct, winograd, direct, ...) so that load from other
processes hits both alike; the medians and the ratio direct / winograd are printed.

Run: ``python benchmarks/bench_conv.py [--threads N]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch

from sbdlib.convolutions import reuse_freed_memory, same_conv2d

# (batch, channels) on SIZE x SIZE maps, kernel KERNEL.
SHAPES = ((16, 64), (32, 32), (32, 64))
SIZE = 64
KERNEL = 4
REPEATS = 5
IMPLS = ("direct", "winograd")
SEED = 0


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_shape(batch: int, channels: int, repeats: int = REPEATS) -> dict[tuple[str, str], float]:
    """Median milliseconds per (mode, impl) with mode in {"fwd", "fwd+bwd"}."""
    gen = torch.Generator().manual_seed(SEED)
    x = torch.randn(batch, channels, SIZE, SIZE, generator=gen, requires_grad=True)
    w = (torch.randn(channels, channels, KERNEL, KERNEL, generator=gen) / (KERNEL * channels**0.5)).requires_grad_()
    b = torch.zeros(channels, requires_grad=True)
    grad = torch.randn(batch, channels, SIZE, SIZE, generator=gen)

    def forward(impl: str) -> Callable[[], object]:
        def run() -> object:
            with torch.no_grad():
                return same_conv2d(x, w, b, impl=impl)

        return run

    def forward_backward(impl: str) -> Callable[[], object]:
        return lambda: torch.autograd.grad(same_conv2d(x, w, b, impl=impl), (x, w, b), grad)

    times: dict[tuple[str, str], list[float]] = {}
    for mode, make in (("fwd", forward), ("fwd+bwd", forward_backward)):
        fns = {impl: make(impl) for impl in IMPLS}
        for fn in fns.values():  # warm-up
            fn()
        for _ in range(repeats):
            for impl, fn in fns.items():
                times.setdefault((mode, impl), []).append(_seconds(fn))
    return {key: 1e3 * statistics.median(ts) for key, ts in times.items()}


def main() -> None:
    """Print a table of medians and speed-ups."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--reuse-memory", action="store_true", help="call reuse_freed_memory() first")
    args = parser.parse_args()
    if args.reuse_memory:
        reuse_freed_memory()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, K={KERNEL}, {SIZE}x{SIZE} maps,"
        f" reuse_freed_memory={args.reuse_memory}"
    )
    print(f"{'B':>3} {'C':>3} {'mode':>8} {'direct ms':>10} {'winograd ms':>12} {'speed-up':>9}")
    for batch, channels in SHAPES:
        res = bench_shape(batch, channels, args.repeats)
        for mode in ("fwd", "fwd+bwd"):
            direct, wino = res[(mode, "direct")], res[(mode, "winograd")]
            print(f"{batch:>3} {channels:>3} {mode:>8} {direct:>10.1f} {wino:>12.1f} {direct / wino:>8.2f}x")


if __name__ == "__main__":
    main()
