"""experiments.try_runs: the notebooks' short "try it" runs train in memory, write nothing, and are evaluated."""

from __future__ import annotations

import math

import pytest

from sbdlib.experiments import paths
from sbdlib.experiments import EXPERIMENTS, TRY_COURSE_STEPS, TRY_STEPS, RunSpec, try_runs, try_scale


def test_try_runs_trains_in_memory_and_evaluates(tmp_path, monkeypatch):
    """Two seeds of a short run: one row each with the results' measures, the steps asked for, nothing written."""
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setenv("SBDLIB_SCALE", "quick")
    out = try_runs(RunSpec("sbd", beta=2.0), seeds=(0, 1), steps=2)
    assert len(out) == 2
    (vae0, row0), (_, row1) = out
    assert vae0.beta == 2.0 and not vae0.training
    for row in (row0, row1):
        assert row["steps"] == 2 and {"nll", "kl", "elbo", "latents_used", "mig", "affine_r2"} <= set(row)
        assert math.isfinite(row["elbo"]) and math.isnan(row["factor_vae"])
        assert row["precision"] in ("fp32", "bf16", "fp16") and row["device"] and row["seconds"] > 0
    assert row0["elbo"] != row1["elbo"]  # the seeds differ
    assert not (tmp_path / "runs").exists()


def test_try_scale_is_the_quick_scale_with_its_steps(monkeypatch):
    """In tests (quick scale) the settings are the quick scale's, with the steps asked for; bad steps get one clear line."""
    monkeypatch.setenv("SBDLIB_SCALE", "quick")
    s = try_scale(7)
    assert s.name == "quick" and s.steps == 7
    assert try_scale().steps == TRY_STEPS
    with pytest.raises(ValueError, match="steps"):
        try_scale(0)


def test_try_scale_at_course_scale_is_the_specs_course_settings(monkeypatch):
    """At the course scale a Try it trains with its spec's course settings (budget's width included), fewer steps."""
    monkeypatch.setenv("SBDLIB_SCALE", "course")
    lean = next(s for s in EXPERIMENTS["sprites"] if s.decoder == "sbd")
    s = try_scale(spec=lean, course_steps=300)
    assert s.name == "course" and s.steps == 300 and s.width == lean.scale_for(s).width != try_scale().width
    assert try_scale().steps == TRY_COURSE_STEPS and try_scale(9, lean).steps == 9


def test_tries_count_the_seeds_that_agree(tmp_path):
    """sbdlib.experiments.tries: a seed agrees when its first setting is lower exactly when the shipped runs' is."""
    from sbdlib.experiments.tries import COLUMNS, agreement, agreement_text, read_tries

    def row(setting, seed, kl):
        return {c: "" for c in COLUMNS} | {"notebook": "07", "setting": setting, "seed": seed, "kl": kl, "steps": 400,
                                           "batch_size": 32, "width": 32, "device": "cpu", "precision": "fp32"}

    rows = [row("first", 0, 9.0), row("second", 0, 6.0), row("first", 1, 5.0), row("second", 1, 6.0)]
    assert agreement(rows, "07", shipped_first_lower=False) == (1, 2)
    assert agreement(rows, "07", shipped_first_lower=True) == (1, 2)
    path = tmp_path / "tries.csv"
    assert "not measured yet" in agreement_text("07", False, path)
    import csv
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    assert read_tries(path)[0]["kl"] == 9.0
    text = agreement_text("07", False, path)
    assert "1 of 2 seeds" in text and "400 steps" in text and "fp32" in text


def test_tries_settings_and_bad_names(monkeypatch, capsys):
    """Each Try it trains its specs' course settings; an unknown notebook gets one line, no traceback."""
    from sbdlib.experiments.tries import TRIES, main
    monkeypatch.setenv("SBDLIB_SCALE", "course")
    for t in TRIES.values():
        for spec in (t.first, t.second):
            s = try_scale(spec=spec, course_steps=t.steps)
            assert s.steps == t.steps and s.width == spec.scale_for(s).width
    with pytest.raises(SystemExit):
        main(["99"])
    assert "unknown notebook" in capsys.readouterr().err


def test_shipped_tries_table_matches_the_try_its():
    """The shipped table holds seeds 0-4 of both settings of every Try it, at the steps each cell trains."""
    from sbdlib.experiments.tries import TRIES, read_tries, tries_path
    rows = read_tries(tries_path())
    for name, t in TRIES.items():
        for setting in ("first", "second"):
            mine = [r for r in rows if r["notebook"] == name and r["setting"] == setting]
            assert sorted(int(r["seed"]) for r in mine) == list(range(5)), (name, setting)
            assert all(int(r["steps"]) == t.steps for r in mine), (name, setting)
