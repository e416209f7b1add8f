"""experiments.try_runs: the notebooks' short "try it" runs train in memory, write nothing, and are evaluated."""

from __future__ import annotations

import math

import pytest

from sbdlib import paths
from sbdlib.experiments import RunSpec, try_runs, try_scale


def test_try_runs_trains_in_memory_and_evaluates(tmp_path, monkeypatch):
    """Two seeds of a short run: one row each with the results' measures, the steps asked for, nothing written."""
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    out = try_runs(RunSpec("sbd", beta=2.0), seeds=(0, 1), steps=2)
    assert len(out) == 2
    (vae0, row0), (_, row1) = out
    assert vae0.beta == 2.0 and not vae0.training
    for row in (row0, row1):
        assert row["steps"] == 2 and {"nll", "kl", "elbo", "latents_used", "mig", "affine_r2"} <= set(row)
        assert math.isfinite(row["elbo"]) and math.isnan(row["factor_vae"])
    assert row0["elbo"] != row1["elbo"]  # the seeds differ
    assert not (tmp_path / "runs").exists()


def test_try_scale_is_the_quick_scale_with_its_steps():
    """The settings are the quick scale's, with the steps asked for; bad steps get one clear line."""
    s = try_scale(7)
    assert s.name == "quick" and s.steps == 7
    with pytest.raises(ValueError, match="steps"):
        try_scale(0)
