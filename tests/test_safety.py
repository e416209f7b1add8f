"""No finished run is ever lost: overwrites refused, unfinished files recognised, retrains that are stopped or killed."""

import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

from sbdlib import experiments
from sbdlib.experiments import cli
from sbdlib.experiments import runs
from sbdlib.training.checkpoints import is_finished, load_checkpoint, read_checkpoint
from sbdlib.data import Circles
from sbdlib.models import VAE
from sbdlib.scales import scale as get_scale
from sbdlib.training import train, train_many
from test_training import InterruptingData

REPO = Path(__file__).resolve().parents[1]
DATA = Circles("xy", image_size=16)
TINY = dataclasses.replace(get_scale("quick"), steps=10, image_size=16, width=4, batch_size=4)
SPEC = experiments.RunSpec("sbd")


def tiny():
    torch.manual_seed(0)
    return VAE("sbd", width=4, image_size=16)


def StopAfter(after):
    """Circles whose stream raises KeyboardInterrupt (the Stop button) after ``after`` batches."""
    return InterruptingData(after, DATA)


def test_train_refuses_to_overwrite_a_run(tmp_path):
    path = tmp_path / "run.pt"
    train(tiny(), DATA, steps=3, batch_size=4, checkpoint=path, progress="none", amp=False)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"exists \(a finished run at step 3 of 3\).*resume=True.*overwrite=True"):
        train(tiny(), DATA, steps=3, batch_size=4, seed=1, checkpoint=path, progress="none", amp=False)
    assert path.read_bytes() == before
    train(tiny(), DATA, steps=2, batch_size=4, seed=1, checkpoint=path, overwrite=True, progress="none", amp=False)
    assert read_checkpoint(path)["seed"] == 1


def test_a_folder_or_unwritable_checkpoint_path_fails_before_training(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    vae = tiny()
    before = [p.detach().clone() for p in vae.parameters()]
    with pytest.raises(ValueError, match="is a folder"):
        train(vae, DATA, steps=3, batch_size=4, checkpoint=tmp_path / "folder", progress="none")
    with pytest.raises(ValueError, match="cannot write checkpoint"):
        train(vae, DATA, steps=3, batch_size=4, checkpoint=tmp_path / "file" / "run.pt", progress="none")
    assert all(torch.equal(a, b) for a, b in zip(before, vae.parameters()))  # no step was taken


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_or_unreadable_folder_fails_before_training(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="cannot write checkpoint"):
            train(tiny(), DATA, steps=3, batch_size=4, checkpoint=locked / "run.pt", progress="none")
        locked.chmod(0o000)
        with pytest.raises(ValueError, match="cannot"):
            train(tiny(), DATA, steps=3, batch_size=4, checkpoint=locked / "run.pt", progress="none")
    finally:
        locked.chmod(0o700)


def test_an_unfinished_checkpoint_says_so(tmp_path, capsys):
    path = tmp_path / "run.pt"
    h = train(tiny(), StopAfter(4), steps=100, batch_size=4, checkpoint=path, progress="none", amp=False)
    assert h.interrupted
    payload = read_checkpoint(path)
    assert payload["step"] == 4 and payload["target_steps"] == 100 and payload["finished"] is False
    assert "interrupted: step 4 of 100" in capsys.readouterr().out  # the step the file holds
    with pytest.warns(UserWarning, match="unfinished run \\(step 4 of 100\\)"):
        _, loaded = load_checkpoint(path)
    assert loaded["finished"] is False
    with pytest.raises(ValueError, match="unfinished run"):
        load_checkpoint(path, require_finished=True)
    h = train(tiny(), DATA, steps=6, batch_size=4, checkpoint=path, resume=True, progress="none", amp=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, loaded = load_checkpoint(path, require_finished=True)
    assert loaded["finished"] and loaded["step"] == 6 and loaded["target_steps"] == 6


def test_checkpoints_without_the_new_fields_still_load(tmp_path):
    """Files written before target_steps/finished existed: finished unless their history was interrupted."""
    path = tmp_path / "old.pt"
    train(tiny(), DATA, steps=2, batch_size=4, checkpoint=path, progress="none", amp=False)
    payload = read_checkpoint(path)
    del payload["finished"], payload["target_steps"]
    assert is_finished(payload)
    payload["history"]["interrupted"] = True
    assert not is_finished(payload)
    for name in sorted(p.name for p in experiments.CHECKPOINT_DIR.glob("circles-xy_*_s0_course.pt")):
        assert is_finished(read_checkpoint(experiments.CHECKPOINT_DIR / name)), name  # the shipped runs


def test_train_population_stops_the_cell(tmp_path, monkeypatch):
    """One Stop ends a loop over configurations: train_population re-raises, naming the step the file holds."""
    monkeypatch.setattr(runs, "scaled_dataset", lambda spec, s=None: StopAfter(3))
    trained = []
    with pytest.raises(KeyboardInterrupt, match=r"holds step 3 of 10\b.*resumes"):
        for decoder in ("sbd", "deconv"):
            experiments.train_population(experiments.RunSpec(decoder), [0], scale=TINY, progress="none",
                                         checkpoint_dir=tmp_path, device="cpu")
            trained.append(decoder)
    assert trained == []
    path = experiments.checkpoint_path(SPEC, 0, TINY, folder=tmp_path)
    assert read_checkpoint(path)["step"] == 3


CHILD = """
import sys, time
from pathlib import Path
from sbdlib import experiments
from sbdlib.experiments import cli
from sbdlib.experiments import runs
sys.path.insert(0, {tests!r})
from test_safety import SPEC, TINY

class Slow:
    def __init__(self, ds):
        self.ds = ds
    def stream(self, batch_size, seed=0):
        for x in self.ds.stream(batch_size, seed=seed):
            time.sleep(0.5)
            yield x
    def __getattr__(self, name):
        return getattr(self.ds, name)

real = runs.scaled_dataset  # what train_population calls
runs.scaled_dataset = lambda spec, s=None: Slow(real(spec, s))
try:
    experiments.train_population(SPEC, [0], scale=TINY, retrain=True, progress="none", checkpoint_dir=Path({folder!r}),
                                 device="cpu")
except KeyboardInterrupt as exc:
    print("STOPPED:", exc, flush=True)
    sys.exit(3)
"""


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_a_stopped_or_killed_retrain_keeps_the_finished_run(tmp_path, how):
    experiments.train_population(SPEC, [0], scale=TINY, progress="none", checkpoint_dir=tmp_path, device="cpu")
    path = experiments.checkpoint_path(SPEC, 0, TINY, folder=tmp_path)
    partial = experiments.retrain_path(path)
    assert read_checkpoint(path)["finished"] and not partial.exists()
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(tests=str(REPO / "tests"), folder=str(tmp_path))],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 300
    while not partial.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert partial.exists(), child.communicate()
    child.send_signal(how)
    out, err = child.communicate(timeout=300)
    _, payload = load_checkpoint(path, require_finished=True)  # the finished run, whole
    assert payload["step"] == TINY.steps and len(payload["history"]["step"]) == TINY.steps
    held = read_checkpoint(partial)
    assert not is_finished(held) and held["target_steps"] == TINY.steps and held["step"] < TINY.steps
    if how == signal.SIGINT:
        assert child.returncode == 3 and "Traceback" not in err, err
        step = int(re.search(r"holds step (\d+) of", out).group(1))
        assert step == held["step"] and "retrain" in out
    else:
        assert child.returncode == -signal.SIGKILL
    # a retrain that ends replaces the old run, and leaves no partial file behind
    experiments.train_population(SPEC, [0], scale=TINY, retrain=True, progress="none", checkpoint_dir=tmp_path,
                                 device="cpu")
    assert read_checkpoint(path)["finished"] and not partial.exists()


# ----------------------------------------------------------------------------- bad input, one line each


@pytest.mark.parametrize(("call", "match"), [
    (lambda: train(tiny(), "circles/xy", steps=1), r"dataset must have a stream.*get_dataset\('circles/xy'\)"),
    (lambda: train(tiny(), None, steps=1), "dataset must have a stream.*got NoneType"),
    (lambda: train_many([tiny()], "circles/xy", seeds=[0], steps=1), "dataset must have a stream"),
    (lambda: train(tiny(), DATA, steps=1, seed=2**70), "seed must be an integer between 0 and 4294967295"),
    (lambda: train(tiny(), DATA, steps=1, seed=-1), "seed must be an integer between 0 and"),
])
def test_bad_training_input_fails_in_one_line(call, match):
    with pytest.raises(ValueError, match=match) as err:
        call()
    assert "\n" not in str(err.value)


def cli_error(*argv):
    """The one line ``python -m sbdlib.experiments`` exits with (``error: ...``), run in-process."""
    with pytest.raises(SystemExit) as exit_:
        cli.main(["circles-xy", "--scale", "quick", "--seeds", "0", *argv])
    message = str(exit_.value.code)
    assert message.startswith("error: ") and "\n" not in message, message
    return message


@pytest.mark.parametrize(("argv", "match"), [
    (["--max-population", "0"], "--max-population must be an integer >= 1, got 0"),
    (["--threads", "0"], "--threads must be an integer >= 1, got 0"),
    (["--threads", "-2"], "--threads must be an integer >= 1, got -2"),
    (["--device", f"cuda:{torch.cuda.device_count()}"], "does not exist"),
    (["--device", "tpu"], "device 'tpu'"),
    (["--cpus-per-task", "0"], "--cpus-per-task must be an integer >= 1"),
    (["--retries", "-1"], "--retries must be an integer >= 0"),
])
def test_cli_bad_arguments_give_one_line(argv, match):
    assert re.search(match, cli_error(*argv))


def test_cli_bad_seeds_give_one_line_and_no_traceback():
    assert "each seed must be an integer between 0 and 4294967295" in cli_error("--seeds", "99999999999999999999")
    done = subprocess.run([sys.executable, "-m", "sbdlib.experiments", "circles-xy", "--scale", "quick",
                           "--threads", "-2"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == ["error: --threads must be an integer >= 1, got -2"]
