"""The "Try it" cells of notebooks 07-12: what each trains, and how often its short runs agree with the shipped ones.

Each Try it trains two settings for a few hundred steps (:func:`sbdlib.experiments.runs.try_runs`: the
specs' course settings, ``TryIt.steps`` steps) and compares one measure between them. Whether
a short run points the same way as the shipped runs depends on its seed; this module trains
both settings of every Try it for several seeds and ships the rows, so each notebook can say
for how many seeds its comparison agreed::

    SBDLIB_SCALE=course python -m sbdlib.experiments.tries --seeds 0-4 --ship

or one process per setting (``--setting first --to part.csv``), shipped together with
``--merge part1.csv part2.csv ...``.

Rows: ``notebook``, ``setting`` (``first`` or ``second``), ``model``, ``seed``, the training
settings, the measures of :func:`sbdlib.experiments.runs.try_runs` (and ``hole_inside``: the error per
pixel inside a held-out hole, notebook 11), and where it was measured (``seconds`` of the
training of all seeds together, ``device``, ``precision``, ``load``: the machine's 1-minute
load average before training, ``cores``).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import os
from pathlib import Path
from typing import Any, Sequence

from sbdlib.experiments import EXPERIMENTS, RESULTS_DIR, RunSpec, parse_seeds, scaled_dataset, try_runs, try_scale
from sbdlib.experiments.specs import LEAN_COURSE_BUDGET
from sbdlib.metrics import hole_reconstruction_error
from sbdlib.training.checkpoints import write_atomically

TRIES_FOLDER = "try-its"  # beside the results tables, not among them
MEASURES = ("nll", "kl", "elbo", "latents_used", "mig", "affine_r2", "hole_inside")
SETTING_COLUMNS = ("image_size", "width", "batch_size", "lr", "steps")
COLUMNS = ("notebook", "setting", "model", "seed") + SETTING_COLUMNS + MEASURES + ("seconds", "device", "precision",
                                                                                 "load", "cores")


@dataclasses.dataclass(frozen=True)
class TryIt:
    """One notebook's Try it: two specs trained ``steps`` steps each at the course settings, one measure compared."""

    notebook: str
    first: RunSpec
    second: RunSpec
    measure: str
    steps: int
    names: tuple[str, str]  # the two settings in words


def _factorvae_sbd(gamma: float) -> RunSpec:
    """Notebook 12's SBD spec (FactorVAE architecture, sprites, lean budget) with the penalty ``gamma``."""
    spec = next(s for s in EXPERIMENTS["factorvae"] if s.decoder == "sbd")
    return dataclasses.replace(spec, gamma=gamma)


def _holed(decoder: str) -> RunSpec:
    """Notebook 11's X-Y set with its centre hole, one decoder."""
    return next(s for s in EXPERIMENTS["generalisation"]
                if s.decoder == decoder and s.dataset == "circles/xy" and dict(s.dataset_options).get("hole") == "center")


def _tiny(decoder: str) -> RunSpec:
    """Notebook 08's tiny circles at 32 x 32 (the shipped runs are 64 x 64): the lean course budget."""
    return RunSpec(decoder, "circles/xyh_tiny", course_budget=LEAN_COURSE_BUDGET)


TRIES: dict[str, TryIt] = {
    "07": TryIt("07", RunSpec("sbd", beta=1.0), RunSpec("sbd", beta=10.0), "kl", 400, ("SBD, beta 1", "SBD, beta 10")),
    "08": TryIt("08", _tiny("deconv"), _tiny("sbd"), "nll", 600, ("DeConv", "SBD")),
    "09": TryIt("09", RunSpec("sbd"), RunSpec("sbd", variant="shuffled-coords"), "elbo", 400,
                ("SBD", "SBD, shuffled coordinates")),
    "10": TryIt("10", RunSpec("sbd", "sprites", course_budget=LEAN_COURSE_BUDGET),
                RunSpec("sbd", "sprites", variant="sbd-depth-5", course_budget=LEAN_COURSE_BUDGET), "elbo", 300,
                ("SBD", "SBD, depth 5")),
    "11": TryIt("11", _holed("deconv"), _holed("sbd"), "hole_inside", 500, ("DeConv", "SBD")),
    "12": TryIt("12", _factorvae_sbd(0.0), _factorvae_sbd(35.0), "nll", 300, ("SBD, gamma 0", "SBD, gamma 35")),
}


def tries_path(scale_name: str = "course") -> Path:
    """Where the shipped table of the Try its' seeds lives."""
    return RESULTS_DIR / TRIES_FOLDER / f"try-its_{scale_name}.csv"


def measure_try(spec: RunSpec, seeds: Sequence[int], steps: int) -> list[dict[str, Any]]:
    """Rows of ``spec``'s short runs, one per seed: the settings, every measure, and where it ran."""
    load = os.getloadavg()[0]
    s = try_scale(steps, spec)
    out = []
    for vae, row in try_runs(spec, seeds, steps=steps):
        hole = math.nan
        if dict(spec.dataset_options).get("hole"):
            ds = scaled_dataset(spec, s)
            hole = hole_reconstruction_error(vae, ds, *ds.factor_names[:2])["inside"]
        out.append({**{c: getattr(s, c) for c in SETTING_COLUMNS}, "image_size": spec.size(s),
                    **{m: row.get(m, math.nan) for m in MEASURES}, "hole_inside": hole, "seconds": row["seconds"],
                    "device": row["device"], "precision": row["precision"], "load": round(load, 2),
                    "cores": os.cpu_count()})
    return out


def read_tries(path: Path | None = None) -> list[dict[str, Any]]:
    """The shipped rows, numbers parsed."""
    with open(path or tries_path(), newline="") as f:
        rows = list(csv.DictReader(f))
    text = {"notebook", "setting", "model", "device", "precision"}
    return [{k: (v if k in text else float(v) if v != "" else math.nan) for k, v in r.items()} for r in rows]


def agreement(rows: Sequence[dict[str, Any]], notebook: str, shipped_first_lower: bool,
              measure: str | None = None) -> tuple[int, int]:
    """``(seeds whose first setting's measure is lower exactly when the shipped runs' is, seeds)`` of one Try it."""
    measure = measure or TRIES[notebook].measure
    by_seed: dict[float, dict[str, float]] = {}
    for r in rows:
        if r["notebook"] == notebook:
            by_seed.setdefault(r["seed"], {})[r["setting"]] = r[measure]
    pairs = [v for v in by_seed.values() if {"first", "second"} <= set(v)]
    return sum((v["first"] < v["second"]) == shipped_first_lower for v in pairs), len(pairs)


def agreement_text(notebook: str, shipped_first_lower: bool, path: Path | None = None) -> str:
    """One sentence: for how many of the shipped table's seeds this Try it's short runs pointed the shipped runs' way."""
    t = TRIES[notebook]
    path = path or tries_path()
    mine = [r for r in read_tries(path) if r["notebook"] == notebook] if path.exists() else []
    if not mine:
        return (f"How often these settings agree with the shipped runs is not measured yet "
                f"(`python -m sbdlib.experiments.tries {notebook} --seeds 0-4 --ship` measures it).")
    agree, n = agreement(mine, notebook, shipped_first_lower)
    seeds = sorted({int(r["seed"]) for r in mine})
    return (f"Measured with this cell's course settings ({t.names[0]} against {t.names[1]}, {int(mine[0]['steps'])} steps "
            f"of {int(mine[0]['batch_size'])}, width {int(mine[0]['width'])}, {mine[0]['device']}, {mine[0]['precision']}), "
            f"seeds {seeds[0]}-{seeds[-1]}: the short runs' {t.measure} pointed the shipped runs' way for {agree} of {n} seeds.")


def main(argv: Sequence[str] | None = None) -> None:
    """Train every Try it's two settings for the seeds asked and print (or ship) the rows."""
    parser = argparse.ArgumentParser(prog="python -m sbdlib.experiments.tries", description=__doc__.split("\n", 1)[0])
    parser.add_argument("notebooks", nargs="*", default=list(TRIES), help=f"which Try its (default all: {' '.join(TRIES)})")
    parser.add_argument("--seeds", default="0-4", help="seeds, e.g. 0-4")
    parser.add_argument("--ship", action="store_true", help=f"write {tries_path()} (rows of other notebooks kept)")
    parser.add_argument("--setting", choices=("first", "second"), help="only one of the two settings")
    parser.add_argument("--to", type=Path, help="write the rows to this CSV instead (to merge several processes' "
                                                 "rows later with --merge)")
    parser.add_argument("--merge", type=Path, nargs="+", help="ship the rows of these CSVs (written by --to)")
    args = parser.parse_args(argv)
    if args.merge:
        _ship([r for path in args.merge for r in read_tries(path)])
        return
    unknown = [n for n in args.notebooks if n not in TRIES]
    if unknown:
        parser.error(f"unknown notebook(s) {unknown}; expected some of {list(TRIES)}")
    seeds = parse_seeds(args.seeds)
    rows: list[dict[str, Any]] = []
    for name in args.notebooks:
        t = TRIES[name]
        for setting, spec in (("first", t.first), ("second", t.second)):
            if args.setting and setting != args.setting:
                continue
            for seed, r in zip(seeds, measure_try(spec, seeds, t.steps)):
                rows.append({"notebook": name, "setting": setting, "model": spec.label, "seed": seed, **r})
                print(", ".join(f"{k}={rows[-1][k]}" for k in ("notebook", "setting", "seed", t.measure, "seconds")),
                      flush=True)
            if args.to:
                _write(args.to, rows)
            elif args.ship:
                _ship(rows)


def _write(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write rows to a CSV of the table's columns (atomically)."""
    def write(f: Any) -> None:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: (int(r[k]) if k in ("seed", "steps", "width", "batch_size", "image_size", "cores")
                            else r[k]) for k in COLUMNS})

    write_atomically(path, write, mode="w")


def _ship(rows: list[dict[str, Any]]) -> None:
    """Write the rows to the shipped table, keeping the rows already there of other (notebook, setting) pairs."""
    path = tries_path()
    done = {(r["notebook"], r["setting"]) for r in rows}
    kept = [r for r in read_tries(path) if (r["notebook"], r["setting"]) not in done] if path.exists() else []
    _write(path, sorted(kept + list(rows), key=lambda r: (r["notebook"], r["setting"], r["seed"])))


if __name__ == "__main__":
    main()
