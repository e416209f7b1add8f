"""Time :func:`sbdlib.models.convolutions.same_conv2d`: direct (oneDNN) vs Winograd vs shift-and-add.

Two tables. First the decoder's dominant layer, a stride-1 4x4 "same" convolution with
as many input as output channels: direct vs Winograd. Then the output layer (few output
channels, an image): direct vs shift-and-add. For each shape, forward and
forward+backward (gradients w.r.t. input, weight and bias) of both implementations run
interleaved (direct, other, direct, ...) so that load from other processes hits both
alike; the medians and the ratio direct / other are printed.

Run: ``python benchmarks/bench_conv.py [--threads N]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch

from sbdlib.devices import reuse_freed_memory
from sbdlib.models.convolutions import same_conv2d

# (batch, C_in, C_out, map side), kernel KERNEL: hidden layers (paper, course at 64 px) ...
HIDDEN_SHAPES = ((16, 64, 64, 64), (32, 32, 32, 64), (32, 64, 64, 64))
# ... and output layers (paper: 64 -> 3 at 64 x 64, batch 16; course: 32 -> 3 at 32 x 32, batch 32).
OUTPUT_SHAPES = ((16, 64, 3, 64), (32, 32, 3, 32), (16, 64, 1, 64))
KERNEL = 4
REPEATS = 5
SEED = 0


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_shape(batch: int, c_in: int, c_out: int, size: int, impls: tuple[str, str],
                repeats: int = REPEATS) -> dict[tuple[str, str], float]:
    """Median milliseconds per (mode, impl) with mode in {"fwd", "fwd+bwd"}."""
    gen = torch.Generator().manual_seed(SEED)
    x = torch.randn(batch, c_in, size, size, generator=gen, requires_grad=True)
    w = (torch.randn(c_out, c_in, KERNEL, KERNEL, generator=gen) / (KERNEL * c_in**0.5)).requires_grad_()
    b = torch.zeros(c_out, requires_grad=True)
    grad = torch.randn(batch, c_out, size, size, generator=gen)

    def forward(impl: str) -> Callable[[], object]:
        def run() -> object:
            with torch.no_grad():
                return same_conv2d(x, w, b, impl=impl)

        return run

    def forward_backward(impl: str) -> Callable[[], object]:
        return lambda: torch.autograd.grad(same_conv2d(x, w, b, impl=impl), (x, w, b), grad)

    times: dict[tuple[str, str], list[float]] = {}
    for mode, make in (("fwd", forward), ("fwd+bwd", forward_backward)):
        fns = {impl: make(impl) for impl in impls}
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
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, K={KERNEL},"
        f" reuse_freed_memory={args.reuse_memory}"
    )
    for other, shapes in (("winograd", HIDDEN_SHAPES), ("shift", OUTPUT_SHAPES)):
        print(f"{'B':>3} {'C_in':>4} {'C_out':>5} {'map':>5} {'mode':>8} {'direct ms':>10} {other + ' ms':>12} "
              f"{'speed-up':>9}")
        for batch, c_in, c_out, size in shapes:
            res = bench_shape(batch, c_in, c_out, size, ("direct", other), args.repeats)
            for mode in ("fwd", "fwd+bwd"):
                direct, fast = res[(mode, "direct")], res[(mode, other)]
                print(f"{batch:>3} {c_in:>4} {c_out:>5} {size:>5} {mode:>8} {direct:>10.1f} {fast:>12.1f} "
                      f"{direct / fast:>8.2f}x")


if __name__ == "__main__":
    main()
