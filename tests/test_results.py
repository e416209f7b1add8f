"""Tests of the results format (sbdlib.experiments.results) and the experiments runner (sbdlib.experiments)."""

import math

import pytest

from sbdlib import experiments
from sbdlib.experiments import paths
from sbdlib.experiments import runs
from sbdlib.training.checkpoints import read_checkpoint
from sbdlib.devices import module_device
from sbdlib.experiments.results import COLUMNS, median_range, read_results, summarize, write_results
from sbdlib.models import variant_options
from sbdlib.scales import scale

QUICK = scale("quick")


def row(**overrides):
    base = {c: None for c in COLUMNS}
    base.update(dataset="circles/xy", decoder="sbd", variant="", objective="vae", beta=1.0, seed=0, scale="quick",
                image_size=32, width=16, likelihood="bernoulli", steps=12, batch_size=8, lr=1e-3, nll=1.5, kl=0.5,
                elbo=2.0, latents_used=2, mig=0.25, factor_vae=1.0, affine_r2=0.99, num_active_dims=3, diverged=0,
                train_seconds=1.0, eval_seconds=0.5, device="cpu", precision="fp32")
    base.update(overrides)
    return base


def test_results_round_trip_with_types_and_empty_cells(tmp_path):
    rows = [row(), row(seed=1, affine_r2=math.nan, variant="shuffled-coords")]
    path = write_results(rows, tmp_path / "x.csv")
    back = read_results(path)
    assert back[0]["seed"] == 0 and isinstance(back[0]["latents_used"], int) and back[0]["mig"] == 0.25
    assert back[1]["affine_r2"] is None and back[1]["variant"] == "shuffled-coords" and back[0]["variant"] == ""
    assert list(back[0]) == list(COLUMNS)


def test_bad_results_files_name_the_file_and_the_fix(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("dataset,decoder,seed,colour\ncircles/xy,sbd,0,red\n")
    with pytest.raises(ValueError, match=r"bad.csv is not in the results format: missing columns .*'mig'.*unknown "
                                         r"columns \['colour'\].*make results"):
        read_results(bad)
    with pytest.raises(FileNotFoundError, match="make results"):
        read_results(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="unknown columns"):
        write_results([{**row(), "colour": "red"}], tmp_path / "y.csv")
    with pytest.raises(ValueError, match="objective must be one of"):
        write_results([row(objective="gan")], tmp_path / "y.csv")
    write_results([row()], bad)
    bad.write_text(bad.read_text().replace(",2,0.25,", ",two,0.25,"))
    with pytest.raises(ValueError, match="line 2: column 'latents_used' must be an integer"):
        read_results(bad)


def test_summaries_give_median_and_range():
    rows = [row(decoder="sbd", mig=m) for m in (0.1, 0.5, 0.3)] + [row(decoder="deconv", mig=0.05),
                                                                    row(decoder="deconv", mig=None)]
    s = summarize(rows, "mig")
    assert s[("sbd",)]["median"] == 0.3 and s[("sbd",)]["min"] == 0.1 and s[("sbd",)]["n"] == 3
    assert s[("deconv",)]["n"] == 1
    assert median_range(s[("sbd",)]) == "0.300 (0.100-0.500)"


def test_seeds_parse():
    assert experiments.parse_seeds("0-9") == list(range(10))
    assert experiments.parse_seeds(["0", "1", "5-6"]) == [0, 1, 5, 6]
    assert experiments.parse_seeds("0-2,7") == [0, 1, 2, 7]
    with pytest.raises(ValueError, match="cannot read seeds"):
        experiments.parse_seeds("3-1")
    with pytest.raises(ValueError, match="repeat"):
        experiments.parse_seeds("0-3 2")


def test_variants_and_run_names():
    assert variant_options("", 32) == {}
    assert variant_options("sbd-depth-4", 32) == {"num_layers": 4}
    assert variant_options("deconv-depth-3", 32) == {"channels": (32, 32)}
    with pytest.raises(ValueError, match="unknown variant"):
        variant_options("sbd-wider", 32)
    spec = experiments.RunSpec("sbd", variant="shuffled-coords", beta=2.0)
    assert experiments.run_name(spec, 3, scale=QUICK) == "circles-xy_sbd-shuffled-coords_beta2_s3_quick"
    assert experiments.run_name("sbd", 0, scale=QUICK) == "circles-xy_sbd_s0_quick"
    tiny = experiments.RunSpec("sbd", "circles/xyh_tiny", image_size=64)
    assert experiments.run_name(tiny, 1, scale=QUICK) == "circles-xyh_tiny-64px_sbd_s1_quick"
    assert experiments.scaled_dataset(tiny, QUICK).image_size == 64
    assert experiments.build_vae(tiny, experiments.scaled_dataset(tiny, QUICK), QUICK).image_size == 64
    # at a scale whose images are already 64 px the name carries no size
    assert experiments.run_name(tiny, 1, scale=scale("paper")) == "circles-xyh_tiny_sbd_s1_paper"
    budget = experiments.RunSpec("sbd", "circles/xyh_tiny", image_size=64, course_budget=(("steps", 7), ("width", 8)))
    course = budget.scale_for(scale("course"))
    assert (course.steps, course.width, course.name, course.batch_size) == (7, 8, "course", scale("course").batch_size)
    assert budget.scale_for(scale("paper")) == scale("paper") and budget.scale_for(QUICK) == QUICK


def test_experiment_trains_populations_into_runs_and_never_into_data(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    rows = experiments.run_experiment("circles-xy", [0, 1], scale=QUICK, progress="none")
    assert [(r["decoder"], r["seed"]) for r in rows] == [("deconv", 0), ("deconv", 1), ("sbd", 0), ("sbd", 1)]
    assert all(r["steps"] == QUICK.steps and r["affine_r2"] is not None for r in rows)
    table = tmp_path / "runs" / "results" / "circles-xy_quick.csv"
    assert read_results(table)[3]["seed"] == 1
    ckpt = tmp_path / "runs" / "checkpoints" / "circles-xy_sbd_s1_quick.pt"
    assert read_checkpoint(ckpt)["seed"] == 1
    # a second call loads what is there instead of training again
    before = ckpt.stat().st_mtime_ns
    experiments.run_experiment("circles-xy", [1], scale=QUICK, progress="none")
    assert ckpt.stat().st_mtime_ns == before
    # train_or_load finds the reader's run in runs/ (no quick-scale run is shipped) and returns it on the device
    vae, history = experiments.train_or_load("sbd", 1, scale=QUICK, device="cpu")
    assert len(history) == QUICK.steps and not vae.training and module_device(vae).type == "cpu"
    assert ckpt.stat().st_mtime_ns == before


def test_writing_into_data_needs_ship(tmp_path):
    with pytest.raises(ValueError, match="shipped artefact.*make results"):
        paths._refuse_shipped(experiments.RESULTS_DIR / "circles-xy_quick.csv", ship=False)
    paths._refuse_shipped(experiments.RESULTS_DIR / "circles-xy_quick.csv", ship=True)
    paths._refuse_shipped(tmp_path / "elsewhere.csv", ship=False)


def test_row_and_checkpoint_must_agree(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    experiments.run_experiment("circles-xy", [0], scale=QUICK, progress="none",
                               specs=[experiments.RunSpec("sbd")])
    payload = read_checkpoint(tmp_path / "runs" / "checkpoints" / "circles-xy_sbd_s0_quick.pt")
    good = read_results(tmp_path / "runs" / "results" / "circles-xy_quick.csv")[0]
    experiments.check_row(good, payload, "ckpt.pt")
    with pytest.raises(ValueError, match=r"ckpt.pt disagrees with its results row in \['seed'\].*make results"):
        experiments.check_row({**good, "seed": 5}, payload, "ckpt.pt")


def test_shipped_course_results_are_complete_and_in_the_format():
    """The shipped X-Y table: >= 10 seeds per decoder (the headline of notebook 06)."""
    rows = read_results(experiments.results_path("circles-xy", scale("course")))
    for decoder in ("deconv", "sbd"):
        assert len([r for r in rows if r["decoder"] == decoder]) >= 10, decoder


@pytest.mark.parametrize("table", sorted(p.name for p in experiments.RESULTS_DIR.glob("*.csv")))
def test_every_shipped_table_has_seeds_in_order_and_matching_checkpoints(table):
    """Every shipped configuration holds seeds 0..N-1, each with its checkpoint, and the two agree."""
    rows = read_results(experiments.RESULTS_DIR / table)
    groups: dict[tuple, list[int]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["decoder"], r["variant"], r["objective"], r["beta"]), []).append(r["seed"])
        path = experiments.row_checkpoint(r)
        experiments.check_row(r, read_checkpoint(path), path)
    for group, seeds in groups.items():
        assert sorted(seeds) == list(range(len(seeds))), (group, seeds)


def test_markdown_summary_has_medians_and_ranges():
    from sbdlib.experiments.results import markdown_summary

    rows = [row(decoder="sbd", mig=m, latents_used=2) for m in (0.1, 0.5, 0.3)] + [row(decoder="deconv", mig=0.05)]
    table = markdown_summary(rows, ("mig", "latents_used"))
    lines = table.splitlines()
    assert lines[0] == "| decoder | seeds | mig | latents_used |"
    assert "| sbd | 3 | 0.300 (0.100-0.500) | 2.0 (2.0-2.0) |" in lines


def test_gpu_hours_estimate_counts_the_training_images():
    paper = scale("paper")
    images = 2 * paper.seeds * paper.steps * paper.batch_size  # circles-xy: two specs
    assert experiments.gpu_hours_estimate("circles-xy", paper, images_per_second=1000) == pytest.approx(
        images / 1000 / 3600)
    assert experiments.gpu_hours_estimate("beta-sweep", paper) == pytest.approx(
        5 * experiments.gpu_hours_estimate("circles-xy", paper))
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        experiments.gpu_hours_estimate("nope")


def test_row_checkpoint_finds_the_registered_spec_of_a_row():
    """Every registered spec's row maps back to its own checkpoint (two budgets of one model included)."""
    course = scale("course")
    for specs in experiments.EXPERIMENTS.values():
        for spec in specs:
            s = spec.scale_for(course)
            row = dict(dataset=spec.dataset_label, decoder=spec.decoder, variant=spec.variant, objective=spec.objective,
                       beta=spec.beta, seed=2, scale="course", image_size=spec.size(course), width=s.width,
                       steps=s.steps)
            assert experiments.row_spec(row) == spec
            assert experiments.row_checkpoint(row).name == experiments.checkpoint_name(spec, 2, course)
    unknown = dict(dataset="circles/xy", decoder="sbd", variant="", objective="vae", beta=9.0, seed=0, scale="course",
                   image_size=32, width=32, steps=course.steps)
    with pytest.raises(ValueError, match="no single registered spec matches"):
        experiments.row_checkpoint(unknown)


def test_an_interrupted_sweep_stops_and_writes_no_rows_for_half_trained_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    real = experiments.scaled_dataset

    def interrupting(spec, scale=None):  # Ctrl-C after a few batches of the first configuration
        ds = real(spec, scale)
        stream = ds.stream

        def stop_after_three(batch_size, seed=0, device=None, skip=0):
            for k, batch in enumerate(stream(batch_size, seed=seed, device=device, skip=skip)):
                if k == 3:
                    raise KeyboardInterrupt
                yield batch
        ds.stream = stop_after_three
        return ds

    monkeypatch.setattr(runs, "scaled_dataset", interrupting)  # what train_population calls
    with pytest.raises(KeyboardInterrupt, match="circles-xy_deconv_quick interrupted.*resumes exactly"):
        experiments.run_experiment("circles-xy", [0], scale=QUICK, progress="none")
    assert not (tmp_path / "runs" / "results" / "circles-xy_quick.csv").exists()
    assert read_checkpoint(tmp_path / "runs" / "checkpoints" / "circles-xy_deconv_s0_quick.pt")["step"] == 3
    assert not (tmp_path / "runs" / "checkpoints" / "circles-xy_sbd_s0_quick.pt").exists()


@pytest.mark.parametrize("experiment", sorted(experiments.EXPERIMENTS))
def test_every_experiment_builds_at_every_scale(experiment):
    """Each spec of each experiment makes its dataset and model at quick, course and paper scale."""
    specs = experiments.EXPERIMENTS[experiment]
    names = [experiments.config_name(spec, QUICK) for spec in specs]
    assert len(set(names)) == len(names)  # no two configurations share checkpoint names
    for name in ("quick", "course", "paper"):
        experiments.check_specs(specs, scale(name))


def test_second_budgets_and_controls_are_course_only():
    """A second course budget or a course control at the paper scale says which experiment to run instead."""
    for name, first in experiments.COURSE_ONLY.items():
        assert first in experiments.EXPERIMENTS
        with pytest.raises(ValueError, match=f"run '{first}'"):
            experiments.plan_experiment(name, [0], scale=scale("paper"))
        experiments.check_budget_scale(name, scale("course"))


def test_readme_paper_scale_table_matches_the_estimates():
    """The README's paper-scale table lists every experiment with gpu_hours_estimate's figure."""
    import re

    readme = (experiments.REPO_DIR / "README.md").read_text()
    listed = dict(re.findall(r"^\| `([a-z-]+)` \| \d+ \| [^|]+ \| (?:at least )?([\d.]+)", readme, flags=re.M))
    assert set(listed) == set(experiments.EXPERIMENTS) - set(experiments.COURSE_ONLY)
    for name, hours in listed.items():
        assert float(hours) == pytest.approx(round(experiments.gpu_hours_estimate(name, scale("paper")), 1)), name


def test_a_metric_added_in_one_place_flows_to_rows_csv_labels_and_headers(tmp_path, monkeypatch):
    """One function and one registration: evaluate, result_row, the CSV, plots' labels and the paper's headers."""
    import numpy as np

    from sbdlib import metrics, figures
    from sbdlib.experiments import noise, paper

    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    shipped_rows = read_results(experiments.results_path("circles-xy", scale("course")))  # before the toy metric

    @metrics.register_metric("code_norm", metrics.Column("code_norm", "mean |code|", header="|z|"))
    def code_norm(ev):
        return {"code_norm": float(np.abs(ev.codes).mean())}

    try:
        rows = experiments.run_experiment("circles-xy", [0], scale=QUICK, progress="none",
                                          specs=[experiments.RunSpec("sbd")])
        assert rows[0]["code_norm"] > 0 and "code_norm" in COLUMNS_NOW()
        path = experiments.results_path("circles-xy", QUICK, shipped=False)
        header = path.read_text().splitlines()[0].split(",")
        assert header.index("code_norm") == header.index("num_active_dims") + 1
        assert read_results(path)[0]["code_norm"] == pytest.approx(rows[0]["code_norm"], abs=1e-6)
        # tables written before the metric existed still read, with the new column empty
        old = read_results(experiments.results_path("circles-xy", scale("course")))
        assert [r["code_norm"] for r in old] == [None] * len(old)
        assert [{k: v for k, v in r.items() if k != "code_norm"} for r in old] == shipped_rows
        spread = noise.read_spread(noise.spread_path("circles-xy", scale("course")))  # so does the noise table
        assert spread and all(r["code_norm"] is None for r in spread)
        assert figures.metric_label("code_norm") == "mean |code|" and paper.metric_header("code_norm") == "|z|"
    finally:
        metrics.unregister_metric("code_norm")
    assert "code_norm" not in COLUMNS_NOW()


def COLUMNS_NOW():
    """The results format's columns now (the module attribute is computed on each access)."""
    from sbdlib.experiments import results

    return results.COLUMNS
