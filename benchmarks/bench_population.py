"""Populations: a plain fp32 loop, ``train`` and ``train_many`` side by side, in one run.

For each model size (``course``: 32 x 32, width 32, batch 32; ``paper``: 64 x 64, width 64,
batch 16) and decoder, every configuration runs in a fresh process (so peak memory is its
own and no process-wide setting carries over) and trains for ``--steps`` timed steps after
``--warmup`` untimed ones:

* ``plain``: a hand-written fp32 PyTorch loop of the same network, one model, pre-rendered data;
* ``train``: sbdlib's single-model loop (live data);
* ``train_many`` with S members, both engines: ``sequential`` (members in turn) and
  ``stacked`` (one vmapped computation).

Printed per configuration: images/s per member and in aggregate, the ratio of the aggregate
to S sequential ``train`` calls (``train`` x S), peak memory (CUDA: max allocated; CPU: the
process's peak resident set) and the device. Defaults: S in 1, 2, 4, 8 on a CPU and
1, 8, 25, 50 on a GPU.

    python benchmarks/bench_population.py [--sizes course paper] [--decoders sbd deconv] [--members 1 8]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import PlainVAE, plain_rate  # noqa: E402  (the benchmarks' shared plain loop)

from sbdlib.data import Circles  # noqa: E402
from sbdlib.devices import default_device  # noqa: E402
from sbdlib.models import VAE  # noqa: E402
from sbdlib.training import train_many  # noqa: E402

SIZES = {"course": dict(image_size=32, width=32, batch=32), "paper": dict(image_size=64, width=64, batch=16)}
CPU_MEMBERS = (1, 2, 4, 8)
GPU_MEMBERS = (1, 8, 25, 50)


def peak_memory_mib(device: torch.device) -> float:
    """Peak memory of this process so far: CUDA max allocated, else the peak resident set (VmHWM)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(cfg: dict) -> dict:
    """One configuration in this (fresh) process: its images/s and peak memory."""
    device = torch.device(cfg["device"])
    size = SIZES[cfg["size"]]
    ds = Circles("xy", image_size=size["image_size"])
    batch, steps, warmup = size["batch"], cfg["steps"], cfg["warmup"]
    if cfg["who"] == "plain":
        torch.manual_seed(0)
        data, _ = ds.sample(batch * (steps + warmup), seed=0)
        model = PlainVAE(cfg["decoder"], size["width"], image_size=size["image_size"]).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=3e-4)
        plain_rate(model, opt, data.to(device), batch, warmup)
        rate = plain_rate(model, opt, data.to(device), batch, steps)
        return dict(per_member=rate, aggregate=rate, memory=peak_memory_mib(device))
    members = cfg["members"]
    vaes = []
    for s in range(members):
        torch.manual_seed(s)
        vaes.append(VAE(cfg["decoder"], width=size["width"], image_size=size["image_size"]))
    engine = "sequential" if cfg["who"] == "train" else cfg["who"].split(":")[1]
    kwargs = dict(seeds=list(range(members)), batch_size=batch, progress="none", device=device, population=engine)
    train_many(vaes, ds, steps=warmup, **kwargs)  # warm-up (allocations, kernels)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    train_many(vaes, ds, steps=steps, **kwargs)  # fresh populations start at step 0 again: same work
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    return dict(per_member=steps * batch / seconds, aggregate=members * steps * batch / seconds,
                memory=peak_memory_mib(device))


def run(cfg: dict) -> dict:
    """Run one configuration in a fresh process."""
    out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(cfg)], capture_output=True, text=True)
    if out.returncode:
        return dict(error=(out.stderr.strip().splitlines() or ["failed"])[-1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["course", "paper"], choices=sorted(SIZES))
    parser.add_argument("--decoders", nargs="+", default=["sbd", "deconv"], choices=["sbd", "deconv"])
    parser.add_argument("--members", nargs="+", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 20 on a CPU, 100 on a GPU)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default=None)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    device = torch.device(args.device) if args.device else default_device()
    gpu = device.type == "cuda"
    members = args.members or (GPU_MEMBERS if gpu else CPU_MEMBERS)
    steps = args.steps or (100 if gpu else 20)
    name = torch.cuda.get_device_name(device) if gpu else f"CPU ({torch.backends.cpu.get_cpu_capability()})"
    print(f"device {device} = {name}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{steps} timed steps after {args.warmup} warm-up, each configuration in a fresh process")
    for size in args.sizes:
        for decoder in args.decoders:
            base = dict(size=size, decoder=decoder, device=str(device), steps=steps, warmup=args.warmup)
            print(f"\n== {decoder} VAE, {size} size ({SIZES[size]})")
            print(f"{'configuration':<28}{'img/s per member':>18}{'aggregate img/s':>17}{'vs train x S':>14}"
                  f"{'peak MiB':>10}")
            plain = run({**base, "who": "plain"})
            single = run({**base, "who": "train", "members": 1})
            for label, res in (("plain fp32 loop", plain), ("train (1 model)", single)):
                print(f"{label:<28}" + (f"{res['per_member']:>18.1f}{res['aggregate']:>17.1f}{'':>14}"
                                        f"{res['memory']:>10.0f}" if "error" not in res else f"  {res['error']}"))
            if "error" not in plain and "error" not in single:
                print(f"{'train / plain':<28}{single['aggregate'] / plain['aggregate']:>18.2f}x")
            for s in members:
                for engine in ("sequential", "stacked"):
                    res = run({**base, "who": f"many:{engine}", "members": s})
                    label = f"train_many S={s} {engine}"
                    if "error" in res:
                        print(f"{label:<28}  {res['error'][:120]}")
                        continue
                    vs = res["aggregate"] / single["aggregate"] if "error" not in single else float("nan")
                    print(f"{label:<28}{res['per_member']:>18.1f}{res['aggregate']:>17.1f}{vs:>13.2f}x"
                          f"{res['memory']:>10.0f}")


if __name__ == "__main__":
    main()
