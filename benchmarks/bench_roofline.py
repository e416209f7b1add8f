"""How fast can the paper's SBD VAE train on this CPU? Arithmetic against the measured peak.

Counts the floating-point operations of one training step (forward + backward) with
``torch.utils.flop_counter``, for the plain fp32 loop of ``bench_train.py`` and for
sbdlib's model (whose Winograd, broadcast and shift-and-add layers do fewer, and count
their transforms too), measures this machine's fp32 and bf16 matrix-multiply rates and the
plain loop's speed, and prints what two speed targets for the paper-sized SBD VAE on a
CPU (>= 200 images/s, and >= 5x the plain loop) would demand as a fraction of the fp32
peak. Only matrix products and convolutions are counted, so the demand is a lower bound:
a step also runs memory-bound work (Winograd transforms, ReLUs, loss, Adam). A target
whose GEMM work alone needs over ~70 % of the peak is out of reach of library code; over
100 %, of any fp32 code doing these FLOPs.

    python benchmarks/bench_roofline.py [--batch 16] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench_train import PlainVAE, plain_rate
from sbdlib.data import Circles
from sbdlib.models import VAE

TARGET_RATE = 200.0  # images/s: an absolute target for the paper-sized SBD VAE at batch 16
TARGET_RATIO = 5.0  # x the plain fp32 loop: a relative target for the same model
GEMM_SIDE = {torch.float32: 2048, torch.bfloat16: 512}


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gemm_gflops(dtype: torch.dtype, repeats: int) -> float:
    """Median GFLOP/s of a square matrix product in ``dtype``."""
    n = GEMM_SIDE[dtype]
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    return 2 * n**3 / _median_seconds(lambda: a @ b, repeats) / 1e9


def step_flops(loss_fn: Callable[[], torch.Tensor]) -> tuple[int, dict[str, int]]:
    """FLOPs of one forward + backward, in total and per aten op."""
    with FlopCounterMode(display=False) as counter:
        loss_fn().backward()
    per_op = {str(op).split(".")[-1]: int(n) for op, n in counter.get_flop_counts()["Global"].items()}
    return counter.get_total_flops(), per_op


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--plain-steps", type=int, default=10)
    args = parser.parse_args()
    torch.manual_seed(0)
    b = args.batch
    x, _ = Circles("xy").sample(b * args.plain_steps, seed=0)

    plain = PlainVAE("sbd")
    plain_total, _ = step_flops(lambda: plain(x[:b]))
    ours = VAE("sbd", likelihood="gaussian")
    ours_total, ours_ops = step_flops(lambda: ours(x[:b])["loss"])

    fp32 = gemm_gflops(torch.float32, args.repeats)
    bf16 = gemm_gflops(torch.bfloat16, max(1, args.repeats // 2))
    opt = torch.optim.Adam(plain.parameters(), lr=3e-4)
    plain_rate(plain, opt, x, b, 2)
    plain_ips = statistics.median(plain_rate(plain, opt, x, b, args.plain_steps) for _ in range(3))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}; the paper's SBD VAE, batch {b}")
    print(f"matrix product, fp32 ({GEMM_SIDE[torch.float32]}^2): {fp32:7.1f} GFLOP/s   "
          f"bf16 ({GEMM_SIDE[torch.bfloat16]}^2): {bf16:7.1f} GFLOP/s  (bf16 / fp32 = {bf16 / fp32:.2f})")
    print(f"plain fp32 loop: {plain_ips:.1f} images/s = {plain_total / b * plain_ips / 1e9:.1f} GFLOP/s "
          f"({plain_total / b * plain_ips / 1e9 / fp32:.0%} of the fp32 peak)")
    print("GFLOP per training image (forward + backward; matrix products and convolutions only, so the"
          " elementwise work of transforms, ReLUs, loss and Adam comes on top):")
    print(f"  plain loop (direct convolutions, tiled broadcast):    {plain_total / b / 1e9:.3f}")
    print(f"  sbdlib as executed (Winograd + transforms, broadcast): {ours_total / b / 1e9:.3f}   "
          f"[{', '.join(f'{k} {v / b / 1e9:.3f}' for k, v in sorted(ours_ops.items(), key=lambda kv: -kv[1]))}]")
    for name, rate in (("200 images/s", TARGET_RATE), (f"{TARGET_RATIO:.0f}x plain", TARGET_RATIO * plain_ips)):
        need = {"plain loop's": plain_total / b * rate, "sbdlib's": ours_total / b * rate}
        print(f"target {name} ({rate:.0f} images/s) needs, at least: "
              + ", ".join(f"{k} FLOPs {v / 1e9:.0f} GFLOP/s = {v / 1e9 / fp32:.0%} of the fp32 peak"
                          for k, v in need.items()))


if __name__ == "__main__":
    main()
