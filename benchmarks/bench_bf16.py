"""``train`` with its default precision against a plain bf16 loop, interleaved in one process.

On shared cores the load changes from one process to the next, so ``bench_population.py``'s
rates (a fresh process per configuration) can differ by more than the effect measured. Here
one process alternates rounds: ``--steps`` steps of the plain bf16 channels-last loop
(``bench_train.PlainVAE``, pre-rendered data), then ``--steps`` steps of
``sbdlib.training.train`` with ``amp`` as given (default: the library's choice, bf16 on a CPU
with native bf16 where it measures faster), so both see the same load. Printed per round:
both rates and their ratio; at the end the median ratio and the load average before and after.
``train``'s time includes its per-call setup and its live data (a block of 512 images is
rendered at a time: choose ``--steps`` so that ``steps * batch`` is a multiple of 512 for a
fair share).

    python benchmarks/bench_bf16.py --size course --decoder sbd --steps 16 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_population import SIZES, load_average  # noqa: E402
from bench_train import AMP, PlainVAE, plain_rate  # noqa: E402

from sbdlib.data import Circles  # noqa: E402
from sbdlib.devices import cpu_has_native_bf16  # noqa: E402
from sbdlib.models import VAE  # noqa: E402
from sbdlib.training import train  # noqa: E402

WARMUP_STEPS = 3


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=sorted(SIZES), default="course")
    p.add_argument("--decoder", choices=["sbd", "deconv"], default="sbd")
    p.add_argument("--steps", type=int, default=16, help="steps per round and side (default 16)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--amp", choices=sorted(AMP), default="auto", help="sbdlib's amp: auto=None, on=True, off=False")
    args = p.parse_args(argv)
    if args.steps < 1 or args.rounds < 1:
        sys.exit("bench_bf16.py: --steps and --rounds must be >= 1")
    size = SIZES[args.size]
    img, width, batch = size["image_size"], size["width"], size["batch"]
    print(f"CPU ({torch.backends.cpu.get_cpu_capability()}, native bf16: {cpu_has_native_bf16()}), "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} cores; {args.size} {args.decoder} ({img} px, width "
          f"{width}, batch {batch}); {args.steps} steps per round and side; load average before: {load_average()}")
    ds = Circles("xy", image_size=img)
    data, _ = ds.sample(batch * args.steps, seed=0)
    torch.manual_seed(0)
    plain = PlainVAE(args.decoder, width, image_size=img).to(memory_format=torch.channels_last)
    data = data.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(plain.parameters(), lr=3e-4)
    plain_rate(plain, opt, data, batch, WARMUP_STEPS, torch.bfloat16)
    vae = VAE(args.decoder, width=width, image_size=img)
    kwargs = dict(batch_size=batch, progress="none", device="cpu", amp=AMP[args.amp])
    train(vae, ds, steps=WARMUP_STEPS, **kwargs)  # warm-up, and the precision measurement (once per process)
    ratios = []
    for r in range(args.rounds):
        base = plain_rate(plain, opt, data, batch, args.steps, torch.bfloat16)
        t0 = time.perf_counter()
        h = train(vae, ds, steps=args.steps, **kwargs)
        rate = args.steps * batch / (time.perf_counter() - t0)
        ratios.append(rate / base)
        print(f"round {r}: plain bf16 loop {base:,.1f} img/s, train ({h.precision}) {rate:,.1f} img/s, "
              f"train / plain bf16 {rate / base:.2f}x", flush=True)
    print(f"median train / plain bf16: {statistics.median(ratios):.2f}x over {args.rounds} rounds; "
          f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
