"""Tests of sbdlib.training.train_many (populations) and sbdlib.devices."""

import copy

import pytest
import torch

from sbdlib import devices
from sbdlib.training.checkpoints import load_checkpoint, read_checkpoint
from sbdlib.data import Circles
from sbdlib.models import VAE, SameConv2d
from sbdlib.training.objectives import FactorVAE
from sbdlib.training import population_fit, train, train_many

DATA = Circles("xy", image_size=32)
STEPS = 20
TOLERANCE = 1e-3  # relative difference per parameter tensor, population vs independent run


def members(decoder, seeds, width=4, **kw):
    """One VAE per seed, each initialised from its seed."""
    out = []
    for s in seeds:
        torch.manual_seed(s)
        out.append(VAE(decoder, width=width, image_size=32, **kw))
    return out


def rel_diff(a, b):
    return float((a - b).detach().norm() / b.detach().norm().clamp_min(1e-12))


@pytest.mark.parametrize("engine", ["sequential", "stacked"])
@pytest.mark.parametrize("decoder", ["sbd", "deconv"])
def test_member_i_is_the_independent_run(decoder, engine):
    seeds = [0, 1, 2]
    population = members(decoder, seeds)
    alone = copy.deepcopy(population)
    if engine == "stacked":
        # The stacked engine convolves directly (vmap runs plain ops), so the reference run does too:
        # shift-and-add and direct differ by rounding only, but a 4-channel model amplifies rounding
        # chaotically (measured: 1.6e-2 apart after 20 steps, 1e-6 after 5).
        for m in (m for vae in alone for m in vae.modules() if isinstance(m, SameConv2d)):
            m.impl = "direct"
    histories = train_many(population, DATA, seeds=seeds, steps=STEPS, batch_size=8, lr=1e-3, progress="none",
                           population=engine, amp=False)
    for vae, solo, seed, h in zip(population, alone, seeds, histories):
        h_solo = train(solo, DATA, seed=seed, steps=STEPS, batch_size=8, lr=1e-3, progress="none", amp=False)
        assert len(h) == len(h_solo) == STEPS
        for (name, p), q in zip(vae.named_parameters(), solo.parameters()):
            assert rel_diff(p.detach(), q.detach()) < TOLERANCE, (name, seed)
        if engine == "sequential":  # same code path member by member: bit-identical
            assert h["loss"] == h_solo["loss"]
    # different seeds really are different runs
    assert rel_diff(population[0].encoder.head[0].weight, population[1].encoder.head[0].weight) > 0.1


class PoisonOneSeed:
    """Circles, except that the stream of one seed turns to NaN after ``good`` batches."""

    def __init__(self, seed, good):
        self.seed, self.good = seed, good

    def stream(self, batch_size, seed=0):
        it = DATA.stream(batch_size, seed=seed)
        poisoned = seed // 1_000_003 == self.seed
        for k in range(10**9):
            x = next(it)
            yield torch.full_like(x, float("nan")) if poisoned and k >= self.good else x


@pytest.mark.parametrize("engine", ["sequential", "stacked"])
def test_one_member_diverges_the_others_go_on(tmp_path, engine):
    population = members("sbd", [0, 1, 2])
    paths = [tmp_path / f"m{i}.pt" for i in range(3)]
    with pytest.warns(RuntimeWarning, match="seed 1: loss became nan at step 5"):
        hs = train_many(population, PoisonOneSeed(1, 5), seeds=[0, 1, 2], steps=12, batch_size=4, progress="none",
                        population=engine, checkpoints=paths, amp=False)
    assert hs[1].diverged and len(hs[1]) == 5
    assert not hs[0].diverged and not hs[2].diverged and len(hs[0]) == len(hs[2]) == 12
    for vae in population:
        assert all(torch.isfinite(p).all() for p in vae.parameters())
    loaded, payload = load_checkpoint(paths[1])
    assert payload["step"] == 5 and payload["history"]["diverged"]
    for a, b in zip(loaded.parameters(), population[1].parameters()):
        assert torch.equal(a, b.detach().cpu())  # the checkpoint holds the restored weights


class InterruptAfter:
    """Raises KeyboardInterrupt (the stop button) from the stream of the last member after ``after`` batches."""

    def __init__(self, seed, after):
        self.seed, self.after = seed, after

    def stream(self, batch_size, seed=0):
        it = DATA.stream(batch_size, seed=seed)
        for k in range(10**9):
            if seed // 1_000_003 == self.seed and k == self.after:
                raise KeyboardInterrupt
            yield next(it)


@pytest.mark.parametrize("engine", ["sequential", "stacked"])
def test_interrupt_keeps_every_member_and_saves(tmp_path, engine):
    population = members("deconv", [0, 1])
    before = [copy.deepcopy(v) for v in population]
    paths = [tmp_path / "a.pt", tmp_path / "b.pt"]
    hs = train_many(population, InterruptAfter(1, 4), seeds=[0, 1], steps=50, batch_size=4, progress="none",
                    population=engine, checkpoints=paths, amp=False)
    # Stopped in step 5: sequentially, member 0 had applied it (and keeps it, recorded), member 1 had not.
    held = [5, 4] if engine == "sequential" else [4, 4]
    assert all(h.interrupted for h in hs) and [len(h) for h in hs] == held
    for vae, old, path, step in zip(population, before, paths, held):
        assert any(not torch.equal(a, b) for a, b in zip(vae.parameters(), old.parameters()))
        assert read_checkpoint(path)["step"] == step
    # resumed to the end, the runs are no longer interrupted, in memory and on disk
    hs = train_many(members("deconv", [0, 1]), DATA, seeds=[0, 1], steps=6, batch_size=4, progress="none",
                    population=engine, checkpoints=paths, resume=True, amp=False)
    assert not any(h.interrupted for h in hs) and [len(h) for h in hs] == [6, 6]
    assert not any(read_checkpoint(path)["history"]["interrupted"] for path in paths)


def test_resume_is_exact(tmp_path):
    """Stopped at step 6 and resumed to 10 equals 10 steps in one go, bit for bit."""
    straight = members("sbd", [3])
    train_many(straight, DATA, seeds=[3], steps=10, batch_size=4, progress="none", amp=False)
    path = tmp_path / "r.pt"
    train_many(members("sbd", [3]), DATA, seeds=[3], steps=6, batch_size=4, progress="none", checkpoints=[path], amp=False)
    resumed = members("sbd", [3])
    train_many(resumed, DATA, seeds=[3], steps=10, batch_size=4, progress="none", checkpoints=[path], resume=True, amp=False)
    for a, b in zip(straight[0].parameters(), resumed[0].parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("engine", ["sequential", "stacked"])
def test_resume_population(tmp_path, engine):
    paths = [tmp_path / "a.pt", tmp_path / "b.pt"]
    first = train_many(members("sbd", [0, 1]), DATA, seeds=[0, 1], steps=6, batch_size=4, checkpoints=paths,
                       progress="none", population=engine, amp=False)
    resumed = members("sbd", [0, 1])
    hs = train_many(resumed, DATA, seeds=[0, 1], steps=10, batch_size=4, checkpoints=paths, resume=True,
                    progress="none", population=engine, amp=False)
    for h, h1, path in zip(hs, first, paths):
        assert h.step == list(range(1, 11)) and h["loss"][:6] == h1["loss"]
        assert read_checkpoint(path)["step"] == 10
        assert len(read_checkpoint(path)["optimizer"]["state"]) == len(list(resumed[0].parameters()))


def test_factor_vae_population_has_one_discriminator_each():
    population = members("sbd", [0, 1])
    torch.manual_seed(0)
    objectives = [FactorVAE(v.latent_dim) for v in population]
    solo_vae, solo_obj = copy.deepcopy(population[1]), copy.deepcopy(objectives[1])
    hs = train_many(population, DATA, seeds=[0, 1], steps=4, batch_size=8, objective=objectives, progress="none", amp=False)
    assert {"tc", "disc_loss", "disc_accuracy"} <= set(hs[0].metrics)
    h_solo = train(solo_vae, DATA, seed=1, steps=4, batch_size=8, objective=solo_obj, progress="none", amp=False)
    assert hs[1]["loss"] == h_solo["loss"]
    for a, b in zip(objectives[1].discriminator.parameters(), solo_obj.discriminator.parameters()):
        assert torch.equal(a, b)
    assert not torch.equal(objectives[0].discriminator.net[0].weight, objectives[1].discriminator.net[0].weight)
    with pytest.raises(ValueError, match="give one per VAE"):
        train_many(members("sbd", [0, 1]), DATA, seeds=[0, 1], steps=1, batch_size=8, objective=objectives[0], amp=False)
    with pytest.raises(ValueError, match="cannot run stacked"):
        train_many(members("sbd", [0, 1]), DATA, seeds=[0, 1], steps=1, batch_size=8,
                   objective=[FactorVAE(10), FactorVAE(10)], population="stacked", amp=False)


def test_bad_populations_are_refused_before_training(tmp_path):
    two = members("sbd", [0, 1])
    cases = [
        (dict(vaes=[], seeds=[]), "non-empty"),
        (dict(vaes=two, seeds=[0]), "one seed per VAE"),
        (dict(vaes=[two[0], two[0]], seeds=[0, 1]), "appears twice"),
        (dict(vaes=[two[0], members("deconv", [1])[0]], seeds=[0, 1]), "one architecture"),
        (dict(vaes=two, seeds=[0, 1], checkpoints=[tmp_path / "a.pt"]), "one checkpoint path per VAE"),
        (dict(vaes=two, seeds=[0, 1], checkpoints=[tmp_path / "a.pt"] * 2), "share a checkpoint"),
        (dict(vaes=two, seeds=[0, 1], device="cuda:7"), "does not exist"),
        (dict(vaes=two, seeds=[0, 1], population="gpu"), "population engine"),
        (dict(vaes=two, seeds=[0, 1], resume=True), "resume=True needs"),
    ]
    for kwargs, message in cases:
        vaes, seeds = kwargs.pop("vaes"), kwargs.pop("seeds")
        with pytest.raises(ValueError, match=message):
            train_many(vaes, DATA, seeds=seeds, steps=1, batch_size=4, progress="none", **kwargs, amp=False)
    assert not list(tmp_path.iterdir())  # nothing was written


def test_population_fit_says_what_fits():
    assert population_fit(per_member_bytes=100, free_bytes=1000) == 8  # 80 % of free memory
    assert population_fit(per_member_bytes=2000, free_bytes=1000) == 0


def test_cpu_flags_reads_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor : 0\nflags : fpu avx2 avx512_bf16\n")
    assert devices.cpu_flags(info) == {"fpu", "avx2", "avx512_bf16"}
    assert devices.cpu_flags(tmp_path / "missing") == set()


def test_bad_device_names():
    with pytest.raises(ValueError, match="not a device name"):
        devices.resolve_device("gpu please")
    assert devices.resolve_device("cpu").type == "cpu"


def test_importing_sbdlib_changes_no_process_setting():
    import subprocess
    import sys

    code = ("import torch; before = (torch.get_num_threads(), torch.get_default_dtype(), torch.initial_seed()); "
            "import sbdlib, sbdlib.training, sbdlib.experiments, sbdlib.figures, sbdlib.figures.widgets; "
            "after = (torch.get_num_threads(), torch.get_default_dtype(), torch.initial_seed()); "
            "assert before == after, (before, after)")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.cuda
def test_cuda_population_matches_and_stays_on_device():
    seeds = [0, 1]
    population = members("sbd", seeds)
    alone = copy.deepcopy(population)
    train_many(population, DATA, seeds=seeds, steps=STEPS, batch_size=8, lr=1e-3, progress="none", device="cuda",
               amp=False)
    for vae, solo, seed in zip(population, alone, seeds):
        train(solo, DATA, seed=seed, steps=STEPS, batch_size=8, lr=1e-3, progress="none", device="cuda", amp=False)
        assert devices.module_device(vae).type == "cuda"
        for p, q in zip(vae.parameters(), solo.parameters()):
            assert rel_diff(p.detach(), q.detach()) < TOLERANCE
