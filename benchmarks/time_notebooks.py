"""Time each notebook run top to bottom at course scale, the way a learner runs it.

Every notebook is executed (nbclient, a fresh kernel each) in a temporary copy of the
repository, with that copy first on ``PYTHONPATH``, so nothing of this checkout is written:
not ``data/``, not ``runs/``, not the notebooks. Prints a markdown table of wall-clock times
and the machine: CPU model, cores, and the 1-minute load average before and after each
notebook (the one after includes the notebook's own work). A time is one a learner can trust
only when the load before it was near zero; the table marks the others.

Run on idle cores: ``python benchmarks/time_notebooks.py`` (all thirteen: about an hour on a
2-core CPU), or name some: ``python benchmarks/time_notebooks.py 01_datasets 05_latent_geometry``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SKIPPED = shutil.ignore_patterns(".git", ".venv", "runs", "__pycache__", "build", "*.egg-info", ".ipynb_checkpoints")
IDLE_LOAD = 0.5  # a 1-minute load average above this before a notebook: the time was measured under load
TIMEOUT_SECONDS = 3600  # per cell


def minutes(seconds: float) -> str:
    """``"7 min 17 s"`` or ``"47 s"``."""
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60} s" if whole >= 60 else f"{whole} s"


def run_notebook(path: Path) -> float:
    """Execute ``path`` (a copy) in a fresh kernel, at the scale the environment sets; its wall-clock seconds."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=TIMEOUT_SECONDS, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main() -> None:
    """Copy the repository, execute the notebooks one by one there and print their times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebook names (default: every notebooks/*.ipynb)")
    parser.add_argument("--scale", default="course", help="SBDLIB_SCALE for the runs (default: course)")
    args = parser.parse_args()
    names = sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))
    chosen = [n.removesuffix(".ipynb").split("/")[-1] for n in args.notebooks] or names
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        sys.exit(f"error: no notebook {', '.join(unknown)}; expected some of: {', '.join(names)}")
    sys.path.insert(0, str(REPO))
    from sbdlib.experiments.noise import machine

    rows = []
    with tempfile.TemporaryDirectory(prefix="sbd-time-") as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(REPO, copy, ignore=SKIPPED)
        # The kernels inherit this environment: the copy's sbdlib, its data/ and runs/, the scale.
        os.environ.update(SBDLIB_SCALE=args.scale, PYTHONPATH=os.pathsep.join(
            [str(copy)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        os.environ.pop("SBDLIB_SHIP_FIGURES", None)
        for name in chosen:
            before = os.getloadavg()[0]
            seconds = run_notebook(copy / "notebooks" / f"{name}.ipynb")
            after = os.getloadavg()[0]
            rows.append((name, seconds, before, after))
            print(f"{name}: {minutes(seconds)}", file=sys.stderr, flush=True)
    threads = os.environ.get("OMP_NUM_THREADS", "all cores (OMP_NUM_THREADS unset)")
    print(f"Machine: {machine()}; torch threads: {threads}; scale `{args.scale}`; "
          f"each notebook top to bottom in a fresh kernel.\n")
    print("| notebook | wall-clock time | load average before | load average after | |")
    print("|---|---|---|---|---|")
    for name, seconds, before, after in rows:
        flag = "idle" if before <= IDLE_LOAD else "**measured under load**"
        print(f"| `{name}` | {minutes(seconds)} | {before:.2f} | {after:.2f} | {flag} |")


if __name__ == "__main__":
    main()
