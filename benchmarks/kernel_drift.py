"""Measure how far the shipped tables' numbers move when PyTorch switches CPU kernels.

Re-evaluates the first row of every shipped results table (data/results/*.csv, as
tests/test_shipped_runs.py does) once per kernel set, each in a fresh process whose
environment picks the kernels (``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``), and once
more under the default kernels with another evaluation seed: the smallest real change a
tolerance must still catch. Prints, per metric, the largest deviation from the shipped
value over the tables: relative for NLL, KL and ELBO, absolute for the others.

Run: ``python benchmarks/kernel_drift.py`` (minutes per kernel set; ``--tables a.csv b.csv``
for fewer). The tolerances of tests/test_shipped_runs.py come from its output.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

# (label, environment) pairs; "" is the machine's own choice.
KERNEL_SETS: tuple[tuple[str, dict[str, str]], ...] = (
    ("default", {}),
    ("ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41",
     {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"}),
    ("ATEN_CPU_CAPABILITY=default", {"ATEN_CPU_CAPABILITY": "default"}),
    ("ONEDNN_MAX_CPU_ISA=SSE41", {"ONEDNN_MAX_CPU_ISA": "SSE41"}),
    ("ONEDNN_MAX_CPU_ISA=AVX2", {"ONEDNN_MAX_CPU_ISA": "AVX2"}),
    ("ATEN_CPU_CAPABILITY=avx2", {"ATEN_CPU_CAPABILITY": "avx2"}),
    ("default kernels, 2 threads", {"OMP_NUM_THREADS": "2"}),  # the others run on OMP_NUM_THREADS as set
)
RELATIVE = ("nll", "kl", "elbo")  # nats per image: compared relative to their size
OTHER_SEED_OFFSET = 1  # the regression probe: the evaluation seed one past the shipped one


def evaluate_first_rows(tables: list[str], seed_offset: int) -> dict[str, dict[str, float | None]]:
    """The metrics of the first row of each table, re-evaluated here (unrounded)."""
    from sbdlib import experiments
    from sbdlib.experiments.results import read_results
    from sbdlib.scales import scale

    out = {}
    for table in tables:
        row = read_results(experiments.RESULTS_DIR / table)[0]
        vae = experiments.load_run(row, device="cpu")
        metrics = experiments.evaluate_run(vae, experiments.row_spec(row), scale(row["scale"]),
                                           seed=experiments.EVAL_SEED + seed_offset)
        out[table] = {k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v))
                      for k, v in metrics.items()}
    return out


def shipped_first_rows(tables: list[str]) -> dict[str, dict[str, float | None]]:
    """The stored metrics of the first row of each table."""
    from sbdlib import experiments
    from sbdlib.metrics import metric_columns
    from sbdlib.experiments.results import read_results

    rows = {t: read_results(experiments.RESULTS_DIR / t)[0] for t in tables}
    return {t: {c.name: row[c.name] for c in metric_columns()} for t, row in rows.items()}


def deviation(metric: str, shipped: float | None, again: float | None) -> float:
    """|again - shipped|, relative to |shipped| for the ELBO terms; 0 when both are missing."""
    if shipped is None or again is None:
        return 0.0 if shipped is None and again is None else math.inf
    gap = abs(again - shipped)
    return gap / abs(shipped) if metric in RELATIVE else gap


def measure(label: str, env: dict[str, str], tables: list[str], seed_offset: int = 0,
            cache: Path | None = None) -> dict:
    """Run the evaluation in a fresh process under ``env`` (kernels are chosen at import).

    With ``cache``, the result is kept there as JSON and reused by a later call for the same tables.
    """
    saved = cache / (re.sub(r"[^A-Za-z0-9]+", "_", label) + ".json") if cache else None
    if saved and saved.exists():
        values = json.loads(saved.read_text())
        if set(tables) <= set(values):
            return values
    cmd = [sys.executable, __file__, "--worker", "--seed-offset", str(seed_offset), "--tables", *tables]
    child_env = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")}
    done = subprocess.run(cmd, env={**child_env, **env}, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"{label}: the evaluation failed:\n{done.stderr[-2000:]}")
    print(f"measured: {label}", file=sys.stderr, flush=True)
    values = json.loads(done.stdout.strip().splitlines()[-1])
    if saved:
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(values))
    return values


def main() -> None:
    """Measure every kernel set and print the per-metric drift as a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", help="table file names under data/results (default: all)")
    parser.add_argument("--cache", type=Path, help="keep each kernel set's numbers here and reuse them")
    parser.add_argument("--sets", nargs="+", type=int, help="kernel sets to measure, by position in KERNEL_SETS "
                        "(default: all); the other-seed probe is always run")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed-offset", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from sbdlib import experiments

    tables = args.tables or sorted(p.name for p in experiments.RESULTS_DIR.glob("*.csv"))
    if args.worker:
        print(json.dumps(evaluate_first_rows(tables, args.seed_offset)))
        return
    shipped = shipped_first_rows(tables)
    chosen = [KERNEL_SETS[i] for i in args.sets] if args.sets else KERNEL_SETS
    runs = [(label, measure(label, env, tables, cache=args.cache)) for label, env in chosen]
    runs.append((f"default kernels, evaluation seed +{OTHER_SEED_OFFSET} (must fail)",
                 measure("other seed", {}, tables, OTHER_SEED_OFFSET, cache=args.cache)))
    metrics = list(next(iter(shipped.values())))
    import torch

    from sbdlib.experiments.noise import machine

    print(f"machine: {machine()}; torch {torch.__version__}; "
          f"{len(tables)} tables, first row each, at the rows' own scale")
    print("| kernels | " + " | ".join(f"{m} ({'rel' if m in RELATIVE else 'abs'})" for m in metrics) + " |")
    print("|---|" + "---|" * len(metrics))
    for label, values in runs:
        worst = {m: max(deviation(m, shipped[t][m], values[t][m]) for t in tables) for m in metrics}
        print(f"| {label} | " + " | ".join(f"{worst[m]:.1e}" for m in metrics) + " |")
    print("\nper table, largest deviation over the kernel sets (seed +1 excluded):")
    for t in tables:
        worst = {m: max(deviation(m, shipped[t][m], v[t][m]) for _, v in runs[:-1]) for m in metrics}
        print(f"  {t}: " + ", ".join(f"{m} {worst[m]:.1e}" for m in metrics))


if __name__ == "__main__":
    main()
