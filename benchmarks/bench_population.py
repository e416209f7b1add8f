"""Populations: a plain PyTorch loop, ``train`` and ``train_many`` side by side, in one run.

For each model size (``course``: 32 x 32, width 32, batch 32; ``paper``: 64 x 64, width 64,
batch 16) and decoder, every configuration runs in a fresh process (so peak memory is its
own and no process-wide setting carries over) and trains for ``--steps`` timed steps after
``--warmup`` untimed ones:

* ``plain fp32``: a hand-written fp32 PyTorch loop of the same network, one model, pre-rendered data;
* ``plain bf16``: the same loop under bf16 autocast with channels-last tensors, where the
  device computes bf16 natively (a CPU with AVX-512 BF16 or AMX, a GPU of compute capability
  >= 8.0); ``--plain-bf16 on`` forces it, ``off`` drops it;
* ``train``: sbdlib's single-model loop (live data);
* ``train_many`` with S members, both engines: ``sequential`` (members in turn) and
  ``stacked`` (one vmapped computation).

``--amp auto|on|off`` is passed to sbdlib as ``amp=None|True|False``: ``auto`` is the
library's per-device choice (on a CPU with native bf16, bf16 where it measures faster for
the model; fp32 on other CPUs; see ``sbdlib/devices.py``), ``on`` measures its reduced
precision (bf16 on a CPU). The load average of the machine is printed before and after:
on shared cores, compare the ratios (measured in the same run), not the rates. Printed per configuration: its precision, images/s
per member and in aggregate, the aggregate's ratio to the plain fp32 loop, to the plain
bf16 loop (where it was measured: on a CPU with native bf16, ``train`` with the default
``amp`` should reach 1.0x or more) and to S sequential ``train`` calls (``train`` x S), peak memory (CUDA: max allocated; CPU: the
process's peak resident set) and the device. Defaults: S in 1, 2, 4, 8 on a CPU and
1, 8, 25, 50 on a GPU. ``--json FILE`` also writes the rows.

    python benchmarks/bench_population.py [--sizes course paper] [--decoders sbd deconv] [--members 1 8]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import AMP, PlainVAE, plain_rate  # noqa: E402  (the benchmarks' shared plain loop)

from sbdlib.data import Circles  # noqa: E402
from sbdlib.devices import cpu_has_native_bf16, cuda_has_native_bf16, resolve_device  # noqa: E402
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


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively (where the plain bf16 loop is measured by default)."""
    if device.type == "cuda":
        return cuda_has_native_bf16(device)
    return device.type == "cpu" and cpu_has_native_bf16()


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def worker(cfg: dict) -> dict:
    """One configuration in this (fresh) process: its precision, images/s and peak memory."""
    device = torch.device(cfg["device"])
    size = SIZES[cfg["size"]]
    ds = Circles("xy", image_size=size["image_size"])
    batch, steps, warmup = size["batch"], cfg["steps"], cfg["warmup"]
    if cfg["who"].startswith("plain"):
        bf16 = cfg["who"] == "plain:bf16"
        torch.manual_seed(0)
        data, _ = ds.sample(batch * (steps + warmup), seed=0)
        data = data.to(device)
        model = PlainVAE(cfg["decoder"], size["width"], image_size=size["image_size"]).to(device)
        if bf16:
            model, data = model.to(memory_format=torch.channels_last), data.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.Adam(model.parameters(), lr=3e-4)
        autocast = torch.bfloat16 if bf16 else None
        plain_rate(model, opt, data, batch, warmup, autocast)
        rate = plain_rate(model, opt, data, batch, steps, autocast)
        return dict(precision="bf16" if bf16 else "fp32", per_member=rate, aggregate=rate,
                    memory=peak_memory_mib(device))
    members = cfg["members"]
    vaes = []
    for s in range(members):
        torch.manual_seed(s)
        vaes.append(VAE(cfg["decoder"], width=size["width"], image_size=size["image_size"]))
    engine = "sequential" if cfg["who"] == "train" else cfg["who"].split(":")[1]
    kwargs = dict(seeds=list(range(members)), batch_size=batch, progress="none", device=device, population=engine,
                  amp=AMP[cfg.get("amp", "auto")])
    train_many(vaes, ds, steps=warmup, **kwargs)  # warm-up (allocations, kernels)
    _synchronize(device)
    t0 = time.perf_counter()
    histories = train_many(vaes, ds, steps=steps, **kwargs)  # fresh populations start at step 0 again: same work
    _synchronize(device)
    seconds = time.perf_counter() - t0
    return dict(precision=histories[0].precision, per_member=steps * batch / seconds,
                aggregate=members * steps * batch / seconds, memory=peak_memory_mib(device))


def run(cfg: dict, timeout: float | None = None) -> dict:
    """Run one configuration in a fresh process (an ``error`` row if it fails or outlasts ``timeout`` s)."""
    try:
        out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(cfg)], capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(error=f"timed out after {timeout:.0f} s")
    if out.returncode:
        return dict(error=(out.stderr.strip().splitlines() or ["failed"])[-1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def configurations(members: list[int], plain_bf16: bool) -> list[tuple[str, str, int]]:
    """``(label, who, S)`` of every configuration of one size and decoder, in the order they run."""
    plain = [("plain fp32 loop", "plain:fp32", 1)] + ([("plain bf16 loop", "plain:bf16", 1)] if plain_bf16 else [])
    many = [(f"train_many S={s} {engine}", f"many:{engine}", s) for s in members for engine in ("sequential", "stacked")]
    return plain + [("train (1 model)", "train", 1)] + many


def measure(device: torch.device, sizes: list[str], decoders: list[str], members: list[int], steps: int,
            warmup: int, amp: str = "auto", plain_bf16: bool = False, echo=print,
            timeout: float | None = None) -> list[dict]:
    """Every configuration of every size and decoder, each in a fresh process; one row each.

    A row holds ``size, decoder, label, members`` and either ``precision, per_member, aggregate,
    memory, vs_plain, vs_bf16, vs_train`` (the aggregate's ratio to the plain fp32 loop, to the plain
    bf16 loop, and to ``train``'s rate, i.e. to S ``train`` calls in turn)
    or ``error`` (the failed process's last line, or its timeout); the ratios are missing where they do not apply. ``echo`` gets each row's table line as it is measured.
    """
    rows = []
    for size in sizes:
        for decoder in decoders:
            base = dict(size=size, decoder=decoder, device=str(device), steps=steps, warmup=warmup, amp=amp)
            first = len(rows)
            for label, who, s in configurations(members, plain_bf16):
                row = dict(size=size, decoder=decoder, label=label, members=s,
                           **run({**base, "who": who, "members": s}, timeout))
                done = {r["label"]: r["aggregate"] for r in rows[first:] if "error" not in r}
                if "error" not in row and who != "plain:fp32" and done.get("plain fp32 loop"):
                    row["vs_plain"] = row["aggregate"] / done["plain fp32 loop"]
                if "error" not in row and not who.startswith("plain") and done.get("plain bf16 loop"):
                    row["vs_bf16"] = row["aggregate"] / done["plain bf16 loop"]
                if "error" not in row and who.startswith("many") and done.get("train (1 model)"):
                    row["vs_train"] = row["aggregate"] / done["train (1 model)"]  # S train calls: train's rate
                rows.append(row)
                echo(table_line(row))
    return rows


COLUMNS = ("size", "decoder", "configuration", "precision", "img/s per member", "aggregate img/s", "vs plain fp32",
           "vs plain bf16", "vs train x S", "peak MiB")


def _cells(row: dict) -> list[str]:
    """The table cells of one row (empty where a ratio does not apply)."""
    def number(key: str, fmt: str) -> str:
        value = row.get(key)
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)
    if "error" in row:
        return [row["size"], row["decoder"], row["label"], "failed: " + row["error"][:100]] + [""] * (len(COLUMNS) - 4)
    return [row["size"], row["decoder"], row["label"], row.get("precision", ""), number("per_member", ",.1f"),
            number("aggregate", ",.1f"), number("vs_plain", ".2f") + "x" * ("vs_plain" in row),
            number("vs_bf16", ".2f") + "x" * ("vs_bf16" in row), number("vs_train", ".2f") + "x" * ("vs_train" in row), number("memory", ",.0f")]


def table_line(row: dict) -> str:
    """One row as a markdown table line."""
    return "| " + " | ".join(_cells(row)) + " |"


def markdown_table(rows: list[dict]) -> str:
    """The rows as a markdown table with its header."""
    head = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return "\n".join(head + [table_line(r) for r in rows])


def device_line(device: torch.device) -> str:
    """Which device this is, in one line (name, capability or CPU flags, torch version, threads)."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        name = f"{torch.cuda.get_device_name(device)} (compute capability {major}.{minor}, CUDA {torch.version.cuda})"
    else:
        name = f"CPU ({torch.backends.cpu.get_cpu_capability()}, native bf16: {cpu_has_native_bf16()})"
    return f"device {device} = {name}; torch {torch.__version__}, {torch.get_num_threads()} threads"


def load_average() -> str:
    """The machine's 1-, 5- and 15-minute load averages ("unknown" where the OS does not say)."""
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except (AttributeError, OSError):
        return "unknown"


def positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    """The command line (also used by ``gpu_check.py``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", default=["course", "paper"], choices=sorted(SIZES))
    p.add_argument("--decoders", nargs="+", default=["sbd", "deconv"], choices=["sbd", "deconv"])
    p.add_argument("--members", nargs="+", type=positive, default=None,
                   help=f"population sizes S (default: {CPU_MEMBERS} on a CPU, {GPU_MEMBERS} on a GPU)")
    p.add_argument("--steps", type=positive, default=None, help="timed steps (default: 20 on a CPU, 100 on a GPU)")
    p.add_argument("--warmup", type=positive, default=3, help="untimed steps before (default: 3)")
    p.add_argument("--amp", choices=sorted(AMP), default="auto", help="sbdlib's amp: auto=None, on=True, off=False")
    p.add_argument("--plain-bf16", choices=["auto", "on", "off"], default="auto",
                   help="measure the plain bf16 channels-last loop (auto: where the device has native bf16)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: the library's default)")
    p.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        sys.exit(f"bench_population.py: {exc}")
    gpu = device.type == "cuda"
    members = args.members or (GPU_MEMBERS if gpu else CPU_MEMBERS)
    steps = args.steps or (100 if gpu else 20)
    plain_bf16 = args.plain_bf16 == "on" or args.plain_bf16 == "auto" and native_bf16(device)
    print(f"{device_line(device)}; {steps} timed steps after {args.warmup} warm-up, each configuration in a fresh "
          f"process; sbdlib amp={AMP[args.amp]}; sizes {', '.join(f'{k} {v}' for k, v in SIZES.items())}\n")
    print("\n".join(markdown_table([]).splitlines()[:2]))
    print(f"load average before: {load_average()}")
    rows = measure(device, args.sizes, args.decoders, list(members), steps, args.warmup, args.amp, plain_bf16)
    print(f"\nload average after: {load_average()} (on {os.cpu_count()} cores)")
    if args.json:
        args.json.write_text(json.dumps(dict(device=device_line(device), rows=rows), indent=1))


if __name__ == "__main__":
    main()
