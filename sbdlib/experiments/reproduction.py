"""The colored-sprites rows of the README's Reproduction table, computed from the shipped results.

Rows 12 to 18 compare the paper's sprites tables (5, 6, 7, 10) with ours at each course
budget the course ships (:data:`BUDGETS`: the lean 1,000-step runs and the ten-times-longer
ones), and say whether each claim holds. Nothing in them is typed by hand: ``python -m
sbdlib.experiments.reproduction`` renders them from ``data/results`` into the README (replacing the
table's lines numbered 12 to 18), notebook 10 shows the same rows, and a test checks that
the README is up to date.

Verdict rules (stated once here, applied to medians over seeds):

* a difference between two models ("higher", "fewer") holds when the medians differ in the
  paper's direction; the text says whether the ranges overlap;
* a trend over an ablated setting (depth) holds when Spearman's rank correlation between
  the setting and the medians is at least :data:`TREND_RHO` in the paper's direction
  ("partly" when some of its measures do and some do not); the paper's own medians pass
  this rule;
* the upscales claim compares two upscales with none, as the paper's Table 10 moves (its
  one-upscale median is level with none).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from sbdlib.experiments import REPO_DIR, RESULTS_DIR
from sbdlib.experiments.results import digits_of, median_range, read_results, summarize

README = REPO_DIR / "README.md"
NOTEBOOK_LINK = "[10](notebooks/10_sprites_ablations.ipynb)"
TREND_RHO = 0.8  # |Spearman rho| of medians against the ablated setting that counts as a trend

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Budget:
    """One course budget of the sprites experiments: its label and its two results tables."""

    name: str
    experiments: tuple[str, str]  # (default models, ablations)


BUDGETS = (Budget("lean", ("sprites", "sprites-ablations")),
           Budget("long", ("sprites-long", "sprites-ablations-long")))


def load_budget(budget: Budget, scale_name: str = "course", folder: Path = RESULTS_DIR) -> Rows:
    """Every shipped row of a budget (default models and ablations); missing tables give no rows."""
    rows: Rows = []
    for experiment in budget.experiments:
        path = folder / f"{experiment}_{scale_name}.csv"
        if path.exists():
            rows.extend(read_results(path))
    return rows


def _medians(rows: Rows, metric: str) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(decoder, variant): summary}`` of a metric (variant ``""``: the default architecture)."""
    return summarize(rows, metric, by=("decoder", "variant"))


def _fmt(value: float, metric: str) -> str:
    """A median as the summaries print it (one decimal for nats and latent counts, three for scores)."""
    text = f"{value:.{digits_of(metric)}f}"
    return text[:-2] if text.endswith(".0") else text


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman's rank correlation of two equally long sequences (average ranks for ties)."""
    def ranks(v: Sequence[float]) -> list[float]:
        order = sorted(range(len(v)), key=lambda i: v[i])
        out = [0.0] * len(v)
        i = 0
        while i < len(v):
            j = i
            while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2
            i = j + 1
        return out

    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    var = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    return cov / var if var else 0.0


def _seeds(rows: Rows, model: tuple[str, str]) -> int:
    """Seeds of one model in the rows."""
    return sum(1 for r in rows if (r["decoder"], r["variant"] or "") == model)


def _pair(rows: Rows, metric: str, higher_is_paper: bool) -> tuple[str, bool, bool]:
    """SBD against DeConv on one metric: text, whether the medians go the paper's way, whether the ranges overlap."""
    s = _medians(rows, metric)
    sbd, deconv = s[("sbd", "")], s[("deconv", "")]
    holds = (sbd["median"] > deconv["median"]) == higher_is_paper and sbd["median"] != deconv["median"]
    overlap = sbd["min"] <= deconv["max"] and deconv["min"] <= sbd["max"]
    return f"{median_range(sbd, digits_of(metric))} vs {median_range(deconv, digits_of(metric))}", holds, overlap


def _setting_text(rows: Rows) -> str:
    """The scale of the rows' default models: image size, width, steps and seeds per decoder."""
    default = [r for r in rows if not r["variant"]]
    h, w, n = default[0]["image_size"], default[0]["width"], default[0]["steps"]
    seeds = " + ".join(str(_seeds(rows, (d, ""))) for d in ("sbd", "deconv"))
    return f"{h} x {h}, width {w}, {n:,} steps, {seeds} seeds"


def claim_mig(rows: Rows) -> tuple[str, str]:
    """Row 12: the SBD has the higher MIG."""
    text, holds, overlap = _pair(rows, "mig", True)
    s = _medians(rows, "mig")
    ratio = s[("sbd", "")]["median"] / s[("deconv", "")]["median"] if s[("deconv", "")]["median"] else math.inf
    verdict = (f"yes in the median ({ratio:.1f}x); " + ("the ranges overlap" if overlap else "without overlap")
               if holds else "no")
    return f"{text} ({_setting_text(rows)})", verdict


def claim_scores(rows: Rows) -> tuple[str, str]:
    """Row 13: the higher FactorVAE score, fewer latents used, the better (lower) negative ELBO."""
    parts, held = [], []
    for metric, higher, name in (("factor_vae", True, "FactorVAE score"), ("latents_used", False, "fewer latents"),
                                 ("elbo", False, "better ELBO")):
        s = _medians(rows, metric)
        parts.append(f"{_fmt(s[('sbd', '')]['median'], metric)} vs {_fmt(s[('deconv', '')]['median'], metric)}")
        if _pair(rows, metric, higher)[1]:
            held.append(name)
    r2 = _medians(rows, "affine_r2")
    parts.append(f"affine R^2 {_fmt(r2[('sbd', '')]['median'], 'affine_r2')} vs "
                 f"{_fmt(r2[('deconv', '')]['median'], 'affine_r2')}")
    verdict = "yes" if len(held) == 3 else (f"partly: {', '.join(held)}" if held else "no")
    return "; ".join(parts), verdict


def _trend(rows: Rows, models: Sequence[tuple[int, tuple[str, str]]], measures: Sequence[tuple[str, int]]
           ) -> tuple[str, str]:
    """Medians of each measure over an ablated setting, and whether each moves the paper's way (sign +1/-1)."""
    present = [(x, m) for x, m in models if _seeds(rows, m)]
    if len(present) < 3:
        return "not trained", "not tested"
    parts, holds = [], []
    for metric, sign in measures:
        s = _medians(rows, metric)
        values = [s[m]["median"] for _, m in present]
        rho = spearman([x for x, _ in present], values)
        holds.append(sign * rho >= TREND_RHO)
        label = {"latents_used": "latents", "mig": "MIG", "elbo": "-ELBO"}.get(metric, metric)
        parts.append(f"{label} {', '.join(_fmt(v, metric) for v in values)} (rho {rho:+.2f})")
    seeds = sorted({_seeds(rows, m) for _, m in present if m[1]})
    settings = ", ".join(str(x) for x, _ in present)
    verdict = "yes" if all(holds) else ("partly" if any(holds) else "no")
    return f"{settings}: " + "; ".join(parts) + f"; {'/'.join(map(str, seeds))} seeds per variant", verdict


SBD_DEPTHS = ((2, ("sbd", "sbd-depth-2")), (3, ("sbd", "")), (4, ("sbd", "sbd-depth-4")), (5, ("sbd", "sbd-depth-5")))
DECONV_DEPTHS = ((3, ("deconv", "deconv-depth-3")), (4, ("deconv", "deconv-depth-4")), (5, ("deconv", "")))
UPSCALES = ((0, ("sbd", "")), (1, ("sbd", "sbd-upscale-1")), (2, ("sbd", "sbd-upscale-2")))


def claim_sbd_depth(rows: Rows) -> tuple[str, str]:
    """Row 14: a deeper SBD uses fewer latents and has a higher MIG."""
    return _trend(rows, SBD_DEPTHS, (("latents_used", -1), ("mig", +1)))


def claim_deconv_depth(rows: Rows) -> tuple[str, str]:
    """Row 15: a deeper DeConv decoder uses fewer latents."""
    return _trend(rows, DECONV_DEPTHS, (("latents_used", -1),))


def claim_mlp(rows: Rows) -> tuple[str, str]:
    """Row 16: three MLP layers before the broadcast worsen the ELBO."""
    model = ("sbd", "sbd-mlp-3")
    if not _seeds(rows, model):
        return "not trained", "not tested"
    s = _medians(rows, "elbo")
    worst = max(s[model]["values"])
    text = (f"{_fmt(s[('sbd', '')]['median'], 'elbo')} -> {_fmt(s[model]['median'], 'elbo')} nats "
            f"(worst seed {_fmt(worst, 'elbo')}); {_seeds(rows, model)} seeds")
    return text, "yes" if s[model]["median"] > s[("sbd", "")]["median"] else "no"


def claim_upscales(rows: Rows) -> tuple[str, str]:
    """Row 17: two stride-2 upscales in the SBD lower its MIG (against none)."""
    present = [(x, m) for x, m in UPSCALES if _seeds(rows, m)]
    if len(present) < len(UPSCALES):
        return "not trained", "not tested"
    s = _medians(rows, "mig")
    values = [s[m]["median"] for _, m in present]
    seeds = _seeds(rows, UPSCALES[-1][1])
    text = f"0, 1, 2 upscales: MIG {', '.join(_fmt(v, 'mig') for v in values)}; {seeds} seeds per variant"
    return text, "yes" if values[-1] < values[0] else "no"


def claim_families(rows: Rows) -> tuple[str, str]:
    """Row 18: every SBD variant's median MIG is above every DeConv variant's."""
    if not any(r["variant"] for r in rows):
        return "not trained", "not tested"  # the default models alone are row 12
    s = _medians(rows, "mig")
    sbd = {m: v["median"] for m, v in s.items() if m[0] == "sbd" and v["n"]}
    deconv = {m: v["median"] for m, v in s.items() if m[0] == "deconv" and v["n"]}
    ceiling = max(deconv.values())
    below = sorted(m[1] or "default" for m, v in sbd.items() if v <= ceiling)
    text = (f"medians {_fmt(min(sbd.values()), 'mig')}-{_fmt(max(sbd.values()), 'mig')} ({len(sbd)} SBD models) vs "
            f"{_fmt(min(deconv.values()), 'mig')}-{_fmt(ceiling, 'mig')} ({len(deconv)} DeConv models)")
    return text, "yes" if not below else f"all but {', '.join(below)}"


@dataclass(frozen=True)
class Claim:
    """One row of the table: the paper's claim and number, and how ours is computed."""

    number: int
    claim: str
    paper: str
    compute: Callable[[Rows], tuple[str, str]]


CLAIMS = (
    Claim(12, "on colored sprites, the SBD has the higher MIG (Tables 5, 6)", "0.147 vs 0.056", claim_mig),
    Claim(13, "... the higher FactorVAE score, fewer latents, the better ELBO (Tables 5, 6)",
          "0.208 vs 0.184; 7.22 vs 7.95; 329 vs 340", claim_scores),
    Claim(14, "a deeper SBD uses fewer latents and has a higher MIG (Table 5)",
          "2 to 5 layers: 8.33 to 5.70 latents, MIG 0.076 to 0.173", claim_sbd_depth),
    Claim(15, "a deeper DeConv decoder uses fewer latents (Table 6)", "3, 4, 5 layers: 9.20, 8.90, 7.95",
          claim_deconv_depth),
    Claim(16, "3 MLP layers before the broadcast worsen the ELBO (Table 7)", "329 -> 392", claim_mlp),
    Claim(17, "two stride-2 upscales in the SBD lower its MIG (Table 10)", "0, 1, 2 upscales: 0.147, 0.149, 0.122",
          claim_upscales),
    Claim(18, "every SBD variant has a higher MIG than every DeConv variant (Tables 5, 6)",
          "0.076-0.173 vs 0.025-0.056", claim_families),
)


def claim_rows(by_budget: Mapping[str, Rows]) -> list[dict[str, Any]]:
    """Per claim and budget, ``{"number", "claim", "paper", "budget", "ours", "verdict"}`` (budgets without rows left out)."""
    out = []
    for claim in CLAIMS:
        for name, rows in by_budget.items():
            if rows:
                ours, verdict = claim.compute(rows)
                out.append(dict(number=claim.number, claim=claim.claim, paper=claim.paper, budget=name, ours=ours,
                                verdict=verdict))
    return out


def render_rows(by_budget: Mapping[str, Rows]) -> str:
    """The README's rows 12-18: one line per claim, each budget's numbers and verdict side by side."""
    lines = []
    for claim in CLAIMS:
        per = [(name, *claim.compute(rows)) for name, rows in by_budget.items() if rows]
        ours = "; ".join(f"**{name}**: {text}" for name, text, _ in per) + f" ({NOTEBOOK_LINK})"
        verdict = "; ".join(f"{name}: {v}" for name, _, v in per)
        lines.append(f"| {claim.number} | {claim.claim} | {claim.paper} | {ours} | {verdict} |")
    return "\n".join(lines)


def shipped_budgets(folder: Path = RESULTS_DIR) -> dict[str, Rows]:
    """``{budget name: rows}`` of every budget in :data:`BUDGETS`, from the shipped course-scale tables."""
    return {b.name: load_budget(b, folder=folder) for b in BUDGETS}


def readme_with_rows(text: str, block: str) -> str:
    """The README text with its table lines ``| 12 |`` to ``| 18 |`` replaced by ``block``."""
    numbers = [c.number for c in CLAIMS]
    first, last = (re.escape(f"| {n} |") for n in (numbers[0], numbers[-1]))
    pattern = re.compile(rf"^{first}.*?^{last}[^\n]*$", re.S | re.M)
    if not pattern.search(text):
        raise ValueError(f"README needs the Reproduction table's rows {numbers[0]} to {numbers[-1]}, one per line")
    return pattern.sub(lambda _: block, text, count=1)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m sbdlib.experiments.reproduction [--check]``: write (or check) the README's generated sprites rows."""
    parser = argparse.ArgumentParser(prog="python -m sbdlib.experiments.reproduction", description=main.__doc__.split(": ", 1)[1])
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is not up to date")
    args = parser.parse_args(argv)
    text = README.read_text()
    try:
        new = readme_with_rows(text, render_rows(shipped_budgets()))
    except ValueError as exc:
        sys.exit(f"error: {exc}")
    if args.check:
        sys.exit(0 if new == text else "README's sprites rows are out of date: run `python -m sbdlib.experiments.reproduction`")
    README.write_text(new)
    print(f"wrote rows 12-18 of {README}")


if __name__ == "__main__":
    main()
