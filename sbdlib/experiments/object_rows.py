"""The objects table read back: its groups of runs, their medians and ranges, and the README's row.

A group is one ``(decoder, variant, steps)`` of :data:`sbdlib.experiments.object_runs.OBJECT_COLUMNS`: the
course recipe of each per-slot decoder, the controlled variants of
:data:`sbdlib.experiments.object_runs.OBJECT_VARIANTS`, and the longer budget. :func:`group_table` is notebook 13's
table of them; :func:`readme_row` the Reproduction table's row on object-centric models, every
number taken from the rows.

``python -m sbdlib.experiments.object_rows [--scale course]`` prints both for the shipped table.
"""

from __future__ import annotations

import statistics
from typing import Any, Mapping, Sequence

from sbdlib.experiments.results import median_range, summarize
from sbdlib.models import DECODERS

GROUP = ("decoder", "variant", "steps")
OBJECT_METRICS = {"ari": ("foreground ARI", 3), "ownership": ("object ownership", 3), "mse": ("squared error", 1)}
README_ROW = 24
CLAIM = ("(beyond the paper) as the per-slot decoder of an object-centric model (MONet, IODINE, Slot Attention), "
         "the SBD segments scenes better than a DeConv decoder")
PAPER_CELL = ("not in the paper; the object-centric papers report ARIs near 0.9 or above after hundreds of "
              "thousands of steps")
NOTEBOOK_LINK = "[13](notebooks/13_objects.ipynb)"


def groups(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, int], list[Mapping[str, Any]]]:
    """Rows by ``(decoder, variant, steps)``: DeConv, then the SBD's recipe, its variants, its longer budgets.

    Each group's rows are in seed order.
    """
    out: dict[tuple[str, str, int], list[Mapping[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: (r["seed"])):
        out.setdefault((row["decoder"], row["variant"], int(row["steps"])), []).append(row)
    order = list(DECODERS)
    return dict(sorted(out.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][2], kv[0][1])))


def base_steps(rows: Sequence[Mapping[str, Any]]) -> int:
    """The recipe's budget: the fewest steps any run of the table trained."""
    return min(int(r["steps"]) for r in rows)


def group_label(decoder: str, variant: str, steps: int, base: int) -> str:
    """``"Spatial Broadcast, learned-init"``, ``"Spatial Broadcast, 6,000 steps"``: a group's name in tables and figures."""
    parts = [DECODERS[decoder].label, *([variant] if variant else []), *([f"{steps:,} steps"] if steps != base else [])]
    return ", ".join(parts)


def group_summary(group_rows: Sequence[Mapping[str, Any]], metric: str) -> dict[str, Any]:
    """Median, range, count and values of one metric over a group's seeds (:func:`sbdlib.experiments.results.summarize`)."""
    return next(iter(summarize(group_rows, metric, by=()).values()))


def cell(group_rows: Sequence[Mapping[str, Any]], metric: str) -> str:
    """``"0.744 (0.182-0.766)"``: a metric's median (range) over a group's seeds, at its digits."""
    return median_range(group_summary(group_rows, metric), OBJECT_METRICS[metric][1])


def median_seed(group_rows: Sequence[Mapping[str, Any]], metric: str = "ari") -> int:
    """The seed at the upper median of a metric: the runs sorted by it (ties by seed), the one at position n // 2.

    With an odd count it is the median run; with an even count, the higher of the two middle ones.
    """
    ranked = sorted(group_rows, key=lambda r: (float(r[metric]), int(r["seed"])))
    return int(ranked[len(ranked) // 2]["seed"])


def group_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A Markdown table: one line per group, its seeds and the median (range) of ARI, ownership, squared error."""
    base = base_steps(rows)
    header = ["runs", "seeds", *(name for name, _ in OBJECT_METRICS.values()), "diverged"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (decoder, variant, steps), members in groups(rows).items():
        seeds = [int(r["seed"]) for r in members]
        span = f"{len(seeds)} ({min(seeds)}-{max(seeds)})" if len(seeds) > 1 else f"1 ({seeds[0]})"
        diverged = sum(int(r["diverged"]) for r in members)
        lines.append("| " + " | ".join([group_label(decoder, variant, steps, base), span,
                                        *(cell(members, m) for m in OBJECT_METRICS), str(diverged)]) + " |")
    return "\n".join(lines)


def _find(rows: Sequence[Mapping[str, Any]], decoder: str, variant: str = "", steps: int | None = None
          ) -> list[Mapping[str, Any]]:
    """A group's rows (``steps`` default: the recipe's budget); an error naming what is missing."""
    steps = base_steps(rows) if steps is None else steps
    found = groups(rows).get((decoder, variant, steps), [])
    if not found:
        raise ValueError(f"the objects table has no {decoder} runs with variant {variant!r} at {steps:,} steps; "
                         f"train them with `python -m sbdlib.experiments.object_runs`")
    return found


def _median(group_rows: Sequence[Mapping[str, Any]], metric: str) -> float:
    return statistics.median(float(r[metric]) for r in group_rows)


def scale_text(rows: Sequence[Mapping[str, Any]]) -> str:
    """``"32 x 32, 1-2 discs, 3 slots, batch 16, 2,000 steps, fp32 CPU"``: the recipe's scale, from its rows."""
    r = _find(rows, "sbd")[0]
    device = "CPU" if r["device"] == "cpu" else r["device"].upper()
    return (f"{r['image_size']} x {r['image_size']}, 1-{r['max_objects']} discs, {r['num_slots']} slots, "
            f"batch {r['batch_size']}, {base_steps(rows):,} steps, {r['precision']} {device}")


def ours_cell(rows: Sequence[Mapping[str, Any]], one_slot_ari: float | None = None) -> str:
    """The README row's "ours": both decoders' and every variant's medians (ranges) with the scale and seeds."""
    sbd, deconv, base = _find(rows, "sbd"), _find(rows, "deconv"), base_steps(rows)
    text = (f"a Slot Attention autoencoder (images in [-1, 1], linear slot RGB, gradient clipping), "
            f"{scale_text(rows)}: foreground ARI {cell(sbd, 'ari')} SBD vs {cell(deconv, 'ari')} DeConv; "
            f"object ownership (share of a disc's pixels won by one slot) {cell(sbd, 'ownership')} vs "
            f"{cell(deconv, 'ownership')}; squared error per image {cell(sbd, 'mse')} vs {cell(deconv, 'mse')}; "
            f"{len(sbd)} + {len(deconv)} seeds")
    for decoder, name in (("sbd", "SBD variants"), ("deconv", "DeConv control")):
        others = [(key, members) for key, members in groups(rows).items()
                  if key[0] == decoder and (key[1] or key[2] != base)]
        parts = [f"{group_label(d, v, s, base).removeprefix(DECODERS[d].label + ', ')}"
                 f"{' (the same runs continued)' if s != base else ''} "
                 f"ARI {cell(m, 'ari')}, ownership {cell(m, 'ownership')} ({len(m)} seeds)"
                 for (d, v, s), m in others]
        if parts:
            text += f"; {name}: " + "; ".join(parts)
    if one_slot_ari is not None:
        text += f"; every pixel in one slot scores ARI {one_slot_ari:.3f}"
    return f"{text} ({NOTEBOOK_LINK})"


def verdict_cell(rows: Sequence[Mapping[str, Any]], one_slot_ari: float | None = None) -> str:
    """The README row's verdict, from the medians and ranges of both decoders and the SBD's variants.

    ``one_slot_ari``: the score of every pixel in one slot, against which a median ARI is read.
    """
    sbd, deconv, base = _find(rows, "sbd"), _find(rows, "deconv"), base_steps(rows)
    s, d = _median(sbd, "ari"), _median(deconv, "ari")
    if s > d:
        separated = min(float(r["ari"]) for r in sbd) > max(float(r["ari"]) for r in deconv)
        text = "yes" + (", without overlap" if separated else " in the median; the ranges overlap")
    else:
        separated = max(float(r["ari"]) for r in sbd) < min(float(r["ari"]) for r in deconv)
        text = (f"no at this budget: the DeConv slots segment better (median ARI {d:.3f} vs {s:.3f}"
                f"{', without overlap' if separated else '; the ranges overlap'})")
        if one_slot_ari is not None and s < one_slot_ari:
            text += f"; the SBD's median is below every pixel in one slot ({one_slot_ari:.3f})"
        if _median(sbd, "ownership") < _median(deconv, "ownership"):
            text += "; SBD slots share discs instead of owning them"
        if _median(sbd, "mse") < _median(deconv, "mse"):
            text += ", although the SBD reconstructs better"
    variants = [(group_label(*key, base), members) for key, members in groups(rows).items()
                if key[0] == "sbd" and (key[1] or key[2] != base)]
    if variants:
        lifted = [label for label, members in variants if _median(members, "ari") > d]
        text += ("; " + ", ".join(lifted) + " reach" + ("es" if len(lifted) == 1 else "")
                 + " the DeConv's median ARI" if lifted else
                 f"; none of the {len(variants)} SBD variants reaches the DeConv's median ARI")
    return text


def readme_row(rows: Sequence[Mapping[str, Any]], one_slot_ari: float | None = None) -> str:
    """The Reproduction table's row on object-centric models, as one Markdown line."""
    return f"| {README_ROW} | {CLAIM} | {PAPER_CELL} | {ours_cell(rows, one_slot_ari)} | {verdict_cell(rows, one_slot_ari)} |"


def one_slot_reference(scale_name: str) -> float:
    """The mean foreground ARI of putting every pixel in one slot, on the scale's held-out scenes."""
    import torch

    from sbdlib.experiments.object_runs import EVAL_SEED, OBJECT_SETTINGS, scenes_for
    from sbdlib.metrics import foreground_ari

    settings = OBJECT_SETTINGS[scale_name]
    _, labels, _ = scenes_for(settings).eval_set(settings.eval_size, seed=EVAL_SEED)
    return float(foreground_ari(labels, torch.zeros_like(labels)).nanmean())


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m sbdlib.experiments.object_rows [--scale course]``: the groups' table and the README row of the shipped runs."""
    import argparse
    import sys

    from sbdlib.experiments.object_runs import object_results_path, read_object_results

    parser = argparse.ArgumentParser(prog="python -m sbdlib.experiments.object_rows", description=main.__doc__.split(":")[1].strip())
    parser.add_argument("--scale", default="course", choices=("quick", "course", "paper"))
    args = parser.parse_args(argv)
    path = object_results_path(args.scale)
    if not path.exists():
        sys.exit(f"error: no shipped objects table {path}; train it with `python -m sbdlib.experiments.object_runs --ship`")
    rows = read_object_results(path)
    try:
        print(group_table(rows), readme_row(rows, one_slot_reference(args.scale)), sep="\n\n")
    except ValueError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
