"""Sweeps on Ray (sbdlib.experiments.distributed) and checkpoint storage (sbdlib.experiments.storage).

A local Ray of 2 CPUs runs quick-scale sweeps; their tables must equal the local loop's
(training is deterministic at one thread, and both paths call experiments.run_spec), a task
killed mid-run must resume from its checkpoint, and every bad input must fail before any task.
Ray is part of the test install (`make setup`: pip install -e ".[dev,distributed]").
"""

import dataclasses
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from sbdlib import experiments
from sbdlib.experiments import cli
from sbdlib.experiments import distributed
from sbdlib.experiments import paths
from sbdlib.training.checkpoints import read_checkpoint
from sbdlib.experiments.results import read_results
from sbdlib.scales import scale
from sbdlib.experiments.storage import Storage, open_storage

QUICK = scale("quick")
TIMING = ("train_seconds", "eval_seconds")


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray for the module: 2 CPUs, no dashboard, a small object store.

    The precision is pinned to fp32 (``SBDLIB_CPU_BF16=none``, which the Ray workers inherit):
    on a CPU with native bf16 each process measures whether bf16 pays, and a near-tie could
    make a worker and this process choose differently, which is not what these tests compare.
    """
    import ray

    before = os.environ.get("SBDLIB_CPU_BF16")
    os.environ["SBDLIB_CPU_BF16"] = "none"
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20, log_to_driver=False)
    yield ray
    ray.shutdown()
    if before is None:
        os.environ.pop("SBDLIB_CPU_BF16", None)
    else:
        os.environ["SBDLIB_CPU_BF16"] = before


@pytest.fixture
def one_thread():
    """The local runs train at one thread, as each 1-CPU Ray task does, so the float sums agree bit for bit."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def without_timing(rows):
    """A table's rows without the columns that measure time."""
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def worker_pids(task_name: str) -> list[int]:
    """PIDs of the Ray workers running a task of this name (Ray titles them ``ray::<name>``; Linux /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                title = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if title.strip() == f"ray::{task_name}":
                pids.append(int(entry))
    return pids


def test_ray_sweep_equals_the_local_run_and_a_rerun_skips_finished_work(ray_session, one_thread, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "local")
    local = experiments.run_experiment("circles-xy", [0, 1], scale=QUICK, progress="none",
                                       storage=tmp_path / "local-checkpoints")
    local_table = read_results(experiments.results_path("circles-xy", QUICK, shipped=False))

    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "ray")
    store = tmp_path / "ray-checkpoints"  # a URL: each task downloads, trains locally and uploads
    ray_rows = distributed.run_experiment_on_ray("circles-xy", [0, 1], scale=QUICK, storage=f"file://{store}",
                                                 progress="none")
    ray_table = read_results(experiments.results_path("circles-xy", QUICK, shipped=False))
    assert [(r["decoder"], r["seed"]) for r in ray_table] == [("deconv", 0), ("deconv", 1), ("sbd", 0), ("sbd", 1)]
    assert without_timing(ray_table) == without_timing(local_table)
    assert [r["mig"] for r in ray_rows] == [r["mig"] for r in local]
    names = sorted(p.name for p in store.iterdir())
    assert names == sorted(experiments.checkpoint_name(spec, seed, QUICK)
                           for spec in experiments.EXPERIMENTS["circles-xy"] for seed in (0, 1))

    # a rerun finds every run finished: nothing is trained or uploaded again, the table is the same
    stamps = {p.name: p.stat().st_mtime_ns for p in store.iterdir()}
    distributed.run_experiment_on_ray("circles-xy", [0, 1], scale=QUICK, storage=f"file://{store}", progress="none")
    assert {p.name: p.stat().st_mtime_ns for p in store.iterdir()} == stamps
    assert without_timing(read_results(experiments.results_path("circles-xy", QUICK, shipped=False))) == \
        without_timing(local_table)


def test_a_killed_task_is_retried_and_resumes_from_its_checkpoint(ray_session, one_thread, tmp_path, monkeypatch,
                                                                 capsys):
    longer = dataclasses.replace(QUICK, steps=200)  # checkpoints every 20 steps: time to kill it mid-run
    spec = experiments.RunSpec("sbd")
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    store = tmp_path / "checkpoints"
    checkpoint = store / experiments.checkpoint_name(spec, 0, longer)
    outcome = {}

    def sweep():
        outcome["rows"] = distributed.run_experiment_on_ray("circles-xy", [0], scale=longer, specs=[spec],
                                                            storage=store, progress="none")

    driver = threading.Thread(target=sweep)
    driver.start()
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = worker_pids(f"sbdlib {experiments.config_name(spec, longer)}")
    killed_at = read_checkpoint(checkpoint)["step"]
    assert len(pids) == 1 and 0 < killed_at < longer.steps, (pids, killed_at)
    os.kill(pids[0], signal.SIGKILL)
    driver.join(timeout=180)
    assert not driver.is_alive() and "rows" in outcome

    resumed = capsys.readouterr().out
    line = next(line for line in resumed.splitlines() if "circles-xy_sbd_quick: seeds [0]" in line)
    step = int(line.split("resumed from steps [")[1].rstrip("]"))
    assert killed_at <= step < longer.steps, line
    final = read_checkpoint(checkpoint)
    assert final["step"] == longer.steps and final["history"]["step"] == list(range(1, longer.steps + 1))

    # the resumed run equals one that was never interrupted
    straight = experiments.run_spec(spec, [0], scale=longer, storage=tmp_path / "straight", progress="none")
    assert without_timing(outcome["rows"]) == without_timing(straight.rows)
    assert straight.start_steps == (0,)


def test_storage_url_is_synced_and_a_second_run_only_evaluates(one_thread, tmp_path):
    remote = tmp_path / "remote"
    spec = experiments.RunSpec("deconv")
    first = experiments.run_spec(spec, [0], scale=QUICK, storage=f"file://{remote}", progress="none")
    assert first.start_steps == (0,)
    assert read_checkpoint(remote / experiments.checkpoint_name(spec, 0, QUICK))["step"] == QUICK.steps
    assert not list(remote.glob("*.tmp"))  # uploads are moved into place
    again = experiments.run_spec(spec, [0], scale=QUICK, storage=f"file://{remote}", progress="none")
    assert again.start_steps == (QUICK.steps,) and without_timing(again.rows) == without_timing(first.rows)


def test_storage_uploads_while_training_not_only_at_the_end(tmp_path):
    store = Storage(f"file://{tmp_path / 'remote'}", sync_seconds=0.05)
    store.check_writable()
    with store.local_folder(["a.pt"]) as folder:
        (folder / "a.pt").write_bytes(b"first")
        deadline = time.monotonic() + 10
        while not (tmp_path / "remote" / "a.pt").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (tmp_path / "remote" / "a.pt").read_bytes() == b"first"
        (folder / "a.pt").write_bytes(b"second")
    assert (tmp_path / "remote" / "a.pt").read_bytes() == b"second"
    assert not folder.exists()
    with store.local_folder(["a.pt", "b.pt"]) as folder:  # what storage holds is there before training starts
        assert (folder / "a.pt").read_bytes() == b"second" and not (folder / "b.pt").exists()


def test_task_resources_one_gpu_each_or_cpus_and_impossible_asks_fail_first():
    gpu_nodes = [{"CPU": 8, "GPU": 2}, {"CPU": 8, "GPU": 2}]
    cpu_nodes = [{"CPU": 2}]
    assert distributed.task_resources(1, None, gpu_nodes) == distributed.TaskResources(1, 1, "cuda")
    assert distributed.task_resources(2, None, cpu_nodes) == distributed.TaskResources(2, 0, "cpu")
    assert distributed.task_resources(1, "cpu", gpu_nodes) == distributed.TaskResources(1, 0, "cpu")
    options = distributed.task_resources(1, None, gpu_nodes).options(retries=3)
    assert options["num_gpus"] == 1 and options["max_retries"] == 3 and OSError in options["retry_exceptions"]
    with pytest.raises(distributed.SetupError, match="largest node of the Ray cluster has 2; lower --cpus-per-task"):
        distributed.task_resources(4, None, cpu_nodes)
    with pytest.raises(distributed.SetupError, match="has none"):
        distributed.task_resources(1, "cuda", cpu_nodes)
    with pytest.raises(distributed.SetupError, match="positive integer"):
        distributed.task_resources(0, None, cpu_nodes)


def run_main(capsys, *argv):
    """``python -m sbdlib.experiments ARGV`` in-process: its exit message (one line), or None if it ran."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(list(argv))
    message = exit_info.value.code if isinstance(exit_info.value.code, str) else capsys.readouterr().err
    return message.strip()


def test_no_ray_installed_names_the_extra(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    message = run_main(capsys, "circles-xy", "--scale", "quick", "--ray", "--storage", str(tmp_path / "s"))
    assert message == "error: --ray needs Ray, which is not installed: pip install -e '.[distributed]'"
    with pytest.raises(distributed.SetupError, match=r"\.\[distributed\]"):
        distributed.run_experiment_on_ray("circles-xy", [0], scale=QUICK)


def test_unreachable_address_fails_in_seconds_before_any_task(capsys, tmp_path):
    t0 = time.monotonic()
    message = run_main(capsys, "circles-xy", "--scale", "quick", "--ray", "127.0.0.1:1",
                       "--storage", str(tmp_path / "s"))
    assert message.startswith("error: cannot reach a Ray cluster at 127.0.0.1:1") and "ray start --head" in message
    assert time.monotonic() - t0 < 30 and not list((tmp_path / "s").iterdir())
    assert "cannot read Ray address" in run_main(capsys, "circles-xy", "--scale", "quick", "--ray", "host:port")


def test_unwritable_storage_and_unknown_names_fail_before_any_training(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    message = run_main(capsys, "circles-xy", "--scale", "quick", "--storage", str(blocker / "checkpoints"))
    assert message.startswith(f"error: storage {blocker / 'checkpoints'} cannot be written") and "\n" not in message
    message = run_main(capsys, "circles-xy", "--scale", "quick", "--storage", "nosuchprotocol://bucket/sweep")
    assert message.startswith("error: cannot open --storage nosuchprotocol://bucket/sweep")
    assert "invalid choice: 'circles-zz'" in run_main(capsys, "circles-zz", "--scale", "quick")
    message = run_main(capsys, "circles-xy", "--scale", "quick", "--decoders", "sdb")
    assert message == "error: experiment 'circles-xy' has no decoder ['sdb']; its decoders are ['deconv', 'sbd']"
    with pytest.raises(ValueError, match="unknown experiment 'circles-zz'"):
        distributed.run_experiment_on_ray("circles-zz", [0], scale=QUICK)
    with pytest.raises(ValueError, match="unknown variant 'wider'"):  # a spec is checked when it is made
        experiments.RunSpec("sbd", variant="wider")
    with pytest.raises(ValueError, match="--ship .* --storage"):
        experiments.run_experiment("circles-xy", [0], scale=QUICK, ship=True, storage=tmp_path / "s")
    assert not (tmp_path / "runs").exists()  # nothing was trained or written


def test_storage_paths_are_absolute_and_urls_kept():
    assert open_storage("runs/sweep").location == str(Path("runs/sweep").resolve())
    assert open_storage("s3://bucket/sweep").location == "s3://bucket/sweep"
    assert not open_storage("s3://bucket/sweep").is_local and open_storage("/tmp/x").is_local
    with pytest.raises(ValueError, match="--storage is empty"):
        open_storage(" ")
