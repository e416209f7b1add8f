"""The CPU-safe parts of benchmarks/gpu_check.py and benchmarks/bench_population.py: arguments, tables, refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_population  # noqa: E402
import gpu_check  # noqa: E402

SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def fake_rows() -> list[dict]:
    rows = [dict(size="paper", decoder="sbd", label="plain fp32 loop", members=1, precision="fp32",
                 per_member=1000.0, aggregate=1000.0, memory=300.0),
            dict(size="paper", decoder="sbd", label="plain bf16 loop", members=1, precision="bf16",
                 per_member=1400.0, aggregate=1400.0, memory=240.0, vs_plain=1.4),
            dict(size="paper", decoder="sbd", label="train (1 model)", members=1, precision="bf16",
                 per_member=1500.0, aggregate=1500.0, memory=250.0, vs_plain=1.5, vs_bf16=1500 / 1400),
            dict(size="paper", decoder="sbd", label="train_many S=50 stacked", members=50, precision="bf16",
                 per_member=700.0, aggregate=35000.0, memory=9000.0, vs_plain=35.0, vs_train=35000 / 1500),
            dict(size="paper", decoder="sbd", label="train_many S=50 sequential", members=50,
                 error="torch.OutOfMemoryError: CUDA out of memory")]
    return rows


def test_arguments_have_defaults_and_bad_ones_end_in_one_line(capsys):
    args = gpu_check.parse_args([])
    assert args.members == [8, 50] and args.decoders == ["sbd", "deconv"] and args.steps == 100
    assert args.device == "cuda" and not args.skip_tests and not args.skip_notebook
    assert gpu_check.parse_args(["--members", "2", "--device", "cuda:1", "--skip-notebook"]).members == [2]
    for bad, message in ((["--members", "0"], "expected an integer >= 1"), (["--steps", "x"], "got 'x'"),
                         (["--device", "cpu"], "must be a CUDA device"), (["--device", "cuda:x"], "CUDA device"),
                         (["--decoders", "mlp"], "invalid choice")):
        with pytest.raises(SystemExit) as info:
            gpu_check.parse_args(bad)
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and message in err.splitlines()[-1], bad


def test_summary_table_from_fake_results():
    checks = [gpu_check.Check("CUDA tests (pytest -m cuda)", True, "3 passed in 9.1s", 12.3),
              gpu_check.Check("notebook 03, course scale, then git status", False, "git status not clean: M x|y", 80)]
    text = gpu_check.summary("device cuda = H100", checks, fake_rows(), steps=100, warmup=10)
    lines = text.splitlines()
    assert lines[0] == "### GPU check: device cuda = H100"
    assert "| CUDA tests (pytest -m cuda) | pass | 3 passed in 9.1s | 12 |" in lines
    assert "| notebook 03, course scale, then git status | FAIL | git status not clean: M x/y | 80 |" in lines
    assert "| paper | sbd | plain fp32 loop | fp32 | 1,000.0 | 1,000.0 |  |  |  | 300 |" in lines
    assert "| paper | sbd | plain bf16 loop | bf16 | 1,400.0 | 1,400.0 | 1.40x |  |  | 240 |" in lines
    assert "| paper | sbd | train (1 model) | bf16 | 1,500.0 | 1,500.0 | 1.50x | 1.07x |  | 250 |" in lines
    assert "| paper | sbd | train_many S=50 stacked | bf16 | 700.0 | 35,000.0 | 35.00x |  | 23.33x | 9,000 |" in lines
    assert any(line.startswith("| paper | sbd | train_many S=50 sequential | failed: torch.OutOfMemoryError")
               for line in lines)
    header = bench_population.markdown_table([]).splitlines()
    assert all(line.count("|") == header[0].count("|") for line in lines if line.startswith("| paper"))
    assert gpu_check.summary("d", [], [], 1, 1).count("|") == 2 * 4 + 4 * 0 + 2  # the checks' header only


def test_measure_computes_ratios_against_the_plain_loop_and_train(monkeypatch):
    rates = {"plain:fp32": 100.0, "plain:bf16": 300.0, "train": 150.0, "many:sequential": 150.0,
             "many:stacked": 600.0}
    monkeypatch.setattr(bench_population, "run", lambda cfg, timeout: (
        dict(error="boom") if cfg["who"] == "many:sequential" and cfg["members"] == 4 else
        dict(precision="fp32", per_member=rates[cfg["who"]] / cfg["members"], aggregate=rates[cfg["who"]],
             memory=1.0)))
    printed = []
    rows = bench_population.measure(torch.device("cpu"), ["course"], ["sbd"], [2, 4], 5, 1, plain_bf16=True,
                                    echo=printed.append)
    by = {r["label"]: r for r in rows}
    assert [r["label"] for r in rows] == [label for label, _, _ in bench_population.configurations([2, 4], True)]
    assert "vs_plain" not in by["plain fp32 loop"] and by["plain bf16 loop"]["vs_plain"] == 3.0
    assert by["train (1 model)"]["vs_plain"] == 1.5 and "vs_train" not in by["train (1 model)"]
    assert by["train (1 model)"]["vs_bf16"] == 0.5 and "vs_bf16" not in by["plain bf16 loop"]
    assert by["train_many S=2 stacked"]["vs_plain"] == 6.0 and by["train_many S=2 stacked"]["vs_train"] == 4.0
    assert by["train_many S=2 stacked"]["vs_bf16"] == 2.0
    assert "vs_plain" not in by["train_many S=4 sequential"] and len(printed) == len(rows)
    assert [label for label, _, _ in bench_population.configurations([8], False)] == [
        "plain fp32 loop", "train (1 model)", "train_many S=8 sequential", "train_many S=8 stacked"]


@pytest.mark.parametrize("who, amp, cpu_bf16, precision", [
    ("plain:fp32", "auto", "auto", "fp32"), ("plain:bf16", "auto", "auto", "bf16"), ("train", "auto", "none", "fp32"),
    ("train", "auto", "native", "bf16"), ("many:stacked", "off", "native", "fp32"), ("train", "on", "none", "bf16")])
def test_worker_measures_one_configuration(monkeypatch, who, amp, cpu_bf16, precision):
    monkeypatch.setenv("SBDLIB_CPU_BF16", cpu_bf16)  # the CPU taken as one with native bf16, or without
    members = 2 if who.startswith("many") else 1
    cfg = dict(size="course", decoder="deconv", device="cpu", steps=1, warmup=1, who=who, members=members, amp=amp)
    row = bench_population.worker(cfg)
    assert row["precision"] == precision and row["aggregate"] > 0 and row["memory"] > 0
    assert row["aggregate"] == pytest.approx(row["per_member"] * members)


def test_refuses_to_run_without_cuda_in_one_line():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHON": sys.executable}
    out = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "needs a CUDA GPU" in out.stderr


def test_script_says_when_the_project_is_not_installed(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    out = subprocess.run(["bash", str(SCRIPT)], env={**os.environ, "PYTHON": str(fake)}, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "cannot import torch and sbdlib" in out.stderr


def test_a_configuration_that_outlasts_its_time_is_an_error_row(monkeypatch):
    def slow(*args, **kwargs):
        raise subprocess.TimeoutExpired(args[0], kwargs["timeout"])
    monkeypatch.setattr(bench_population.subprocess, "run", slow)
    assert bench_population.run(dict(who="plain:fp32"), timeout=45) == dict(error="timed out after 45 s")


def test_a_step_that_outlasts_its_time_is_ended_with_what_it_started():
    code, out, seconds = gpu_check._run(["bash", "-c", "echo started; sleep 60 & wait"], timeout=2)
    assert code is None and out.strip() == "started" and seconds < 30
    code, out, _ = gpu_check._run(["bash", "-c", "echo fine; exit 3"], timeout=30)
    assert (code, out.strip()) == (3, "fine")
