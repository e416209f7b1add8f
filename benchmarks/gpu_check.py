"""The GPU check: what sbdlib does on a CUDA GPU, in one command of under 10 minutes.

Run on a machine with a CUDA GPU, in a clone of the course with the project installed
(``pip install -e .[dev]``); it installs nothing and changes no tracked file:

1. the CUDA tests (``pytest -m cuda``);
2. ``bench_population.py`` on the GPU at the paper's size (64 x 64, width 64, batch 16):
   the plain PyTorch loop (fp32, and bf16 channels-last where the GPU has native bf16),
   ``train``, and ``train_many`` with S = 8 and 50 members on both engines, for the SBD and
   the DeConv VAE: aggregate images/s, ratio to the plain fp32 loop, peak memory;
3. notebook 03 executed at course scale on the GPU (to a temporary file, never in place),
   then ``git status --porcelain``, which must be empty;
4. a markdown summary of all three, printed and written to ``--out``.

    bash benchmarks/gpu_check.sh [--members 8 50] [--steps 100] [--skip-tests] [--skip-notebook]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]  # this checkout's sbdlib and benchmarks
import bench_population  # noqa: E402

NOTEBOOK = ROOT / "notebooks" / "03_training.ipynb"
DEFAULT_OUT = ROOT / "runs" / "gpu_check.md"  # runs/ is git-ignored
TIMEOUTS = {"tests": 150, "notebook": 360, "configuration": 45}  # seconds per step (per benchmark process)
PAPER_MEMBERS = (8, 50)


@dataclass
class Check:
    """One step's outcome: its name, whether it passed, a short detail and its seconds."""

    name: str
    passed: bool
    detail: str
    seconds: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (bad values end in argparse's one-line error, exit 2)."""
    p = argparse.ArgumentParser(prog="gpu_check", description=__doc__.splitlines()[0])
    p.add_argument("--members", nargs="+", type=bench_population.positive, default=list(PAPER_MEMBERS),
                   help="population sizes S (default: 8 50)")
    p.add_argument("--decoders", nargs="+", default=["sbd", "deconv"], choices=["sbd", "deconv"])
    p.add_argument("--steps", type=bench_population.positive, default=100, help="timed steps per configuration")
    p.add_argument("--warmup", type=bench_population.positive, default=10, help="untimed steps before (default: 10)")
    p.add_argument("--device", default="cuda", help="a CUDA device: cuda or cuda:N (default: cuda)")
    p.add_argument("--skip-tests", action="store_true", help="do not run the CUDA tests")
    p.add_argument("--skip-notebook", action="store_true", help="do not execute notebook 03")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where the summary goes (default: {DEFAULT_OUT})")
    args = p.parse_args(argv)
    if not re.fullmatch(r"cuda(:\d+)?", args.device):
        p.error(f"--device must be a CUDA device (cuda or cuda:N), got {args.device!r}")
    return args


def cuda_problem(device: str = "cuda") -> str | None:
    """Why this machine cannot run the check (one line), or None when it can."""
    if not torch.cuda.is_available():
        built = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "built without CUDA"
        return (f"gpu_check needs a CUDA GPU; torch.cuda.is_available() is False here (torch {torch.__version__}, "
                f"{built}). Run it on a machine with an NVIDIA GPU and its driver.")
    index = torch.device(device).index or 0
    if index >= torch.cuda.device_count():
        return f"gpu_check: {device} does not exist; this machine has {torch.cuda.device_count()} CUDA device(s)"
    return None


def _env() -> dict[str, str]:
    """The environment of the steps' processes: this checkout's sbdlib first."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def _run(command: list[str], timeout: float, **env: str) -> tuple[int | None, str, float]:
    """Exit status (None on timeout), combined output and seconds of one command run in the clone.

    The command runs in its own process group, so a timeout also ends what it started (a kernel).
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env={**_env(), **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=os.setsid)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out, time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, out, time.perf_counter() - t0


def last_line(text: str) -> str:
    """The last non-empty line of a command's output (pytest's summary, an error)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run_cuda_tests() -> Check:
    """``pytest -m cuda`` over tests/."""
    code, out, seconds = _run([sys.executable, "-m", "pytest", "tests", "-m", "cuda", "-q", "-p", "no:cacheprovider",
                               "--ignore=tests/browser"], TIMEOUTS["tests"])
    summary = re.sub(r"=+", "", last_line(out)).strip()
    if code is None:
        return Check("CUDA tests (pytest -m cuda)", False, f"timed out after {TIMEOUTS['tests']} s", seconds)
    return Check("CUDA tests (pytest -m cuda)", code == 0 and "passed" in summary, summary, seconds)


def _notebook_env(device: str) -> dict[str, str]:
    """Course scale; a chosen ``cuda:N`` is the only GPU the notebook sees (its default device)."""
    index = torch.device(device).index
    return dict(SBDLIB_SCALE="course", **({} if index is None else {"CUDA_VISIBLE_DEVICES": str(index)}))


def run_notebook(device: str) -> Check:
    """Notebook 03 at course scale, executed to a temporary file; then ``git status --porcelain``."""
    before = _run(["git", "status", "--porcelain"], 60)[1].strip()
    with tempfile.TemporaryDirectory() as tmp:
        code, out, seconds = _run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                                   str(NOTEBOOK), "--output-dir", tmp,
                                   f"--ExecutePreprocessor.timeout={TIMEOUTS['notebook']}"],
                                  TIMEOUTS["notebook"] + 30, **_notebook_env(device))
    after = _run(["git", "status", "--porcelain"], 60)[1].strip()
    name = "notebook 03, course scale, then git status"
    if code is None:
        return Check(name, False, f"timed out after {TIMEOUTS['notebook']} s", seconds)
    if code:
        return Check(name, False, f"failed: {last_line(out)[:160]}", seconds)
    if after:
        dirty = ", ".join(after.splitlines()[:5])
        return Check(name, False, f"git status not clean: {dirty}" + (" (it was before too)" if before else ""),
                     seconds)
    return Check(name, True, "executed; git status --porcelain empty", seconds)


def checks_table(checks: list[Check]) -> str:
    """The steps as a markdown table."""
    lines = ["| check | result | detail | seconds |", "|---|---|---|---|"]
    lines += [f"| {c.name} | {'pass' if c.passed else 'FAIL'} | {c.detail.replace('|', '/')} | {c.seconds:.0f} |"
              for c in checks]
    return "\n".join(lines)


def summary(device_line: str, checks: list[Check], rows: list[dict], steps: int, warmup: int) -> str:
    """The whole report in markdown: the device, the checks and the speed table."""
    parts = [f"### GPU check: {device_line}", "", checks_table(checks)]
    if rows:
        parts += ["", f"Speed at the paper's size ({bench_population.SIZES['paper']}), {steps} timed steps after "
                      f"{warmup} warm-up, each configuration in a fresh process; peak MiB is CUDA's max allocated:",
                  "", bench_population.markdown_table(rows)]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problem = cuda_problem(args.device)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    os.environ["PYTHONPATH"] = _env()["PYTHONPATH"]  # the benchmark's worker processes import this checkout too
    device = torch.device(args.device)
    line = bench_population.device_line(device)
    print(f"GPU check: {line}", flush=True)
    checks: list[Check] = []
    if not args.skip_tests:
        checks.append(run_cuda_tests())
        print(f"{checks[-1].name}: {checks[-1].detail} ({checks[-1].seconds:.0f} s)", flush=True)
    t0 = time.perf_counter()
    print("\n" + "\n".join(bench_population.markdown_table([]).splitlines()[:2]), flush=True)
    plain_bf16 = bench_population.native_bf16(device)
    rows = bench_population.measure(device, ["paper"], args.decoders, args.members, args.steps, args.warmup,
                                    plain_bf16=plain_bf16, echo=lambda text: print(text, flush=True),
                                    timeout=TIMEOUTS["configuration"])
    failed = [f"{r['decoder']} {r['label']}" for r in rows if "error" in r]
    checks.append(Check("bench_population, paper size", not failed,
                        f"{len(rows) - len(failed)} of {len(rows)} configurations measured"
                        + (f"; failed: {', '.join(failed)}" if failed else ""), time.perf_counter() - t0))
    if not args.skip_notebook:
        checks.append(run_notebook(args.device))
        print(f"{checks[-1].name}: {checks[-1].detail} ({checks[-1].seconds:.0f} s)", flush=True)
    text = summary(line, checks, rows, args.steps, args.warmup)
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"(written to {args.out})")
    return 0 if all(c.passed for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
