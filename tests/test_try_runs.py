"""experiments.try_runs: the notebooks' short "try it" runs train in memory, write nothing, and are evaluated."""

from __future__ import annotations

import math

import pytest

from sbdlib import paths
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
