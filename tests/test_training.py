"""Tests of sbdlib.training, sbdlib.training.checkpoints and sbdlib.training.objectives."""

import math

import pytest
import torch

from sbdlib.training.checkpoints import load_checkpoint, read_checkpoint, save_checkpoint
from sbdlib.data import Circles
from sbdlib.devices import module_device
from sbdlib.models import VAE
from sbdlib.training.objectives import BetaVAE, FactorVAE, permute_dims
from sbdlib.training import History, train

DATA = Circles("xy")


def tiny(decoder="sbd", **kw):
    torch.manual_seed(0)
    return VAE(decoder, width=4, **kw)


def test_train_returns_history_and_learns():
    vae = tiny()
    h = train(vae, DATA, steps=30, batch_size=8, lr=3e-3, progress="none", amp=False)
    assert len(h) == 30 and h.step[-1] == 30
    assert set(h.metrics) >= {"nll", "kl", "elbo", "loss"}
    assert all(math.isfinite(v) for v in h["elbo"])
    assert sum(h["nll"][-5:]) < sum(h["nll"][:5])  # the reconstruction term goes down
    for a, b, c in zip(h["nll"], h["kl"], h["elbo"]):
        assert c == pytest.approx(a + b, rel=1e-5)


def test_same_seed_same_run():
    h1 = train(tiny(), DATA, steps=5, batch_size=4, seed=3, progress="none", amp=False)
    h2 = train(tiny(), DATA, steps=5, batch_size=4, seed=3, progress="none", amp=False)
    assert h1["loss"] == h2["loss"]


def test_checkpoint_round_trip(tmp_path):
    vae = tiny("deconv", likelihood="bernoulli")
    path = save_checkpoint(tmp_path / "m.pt", vae, step=7, history={"a": [1.0]})
    loaded, payload = load_checkpoint(path)
    assert loaded.config == vae.config and payload["step"] == 7
    for (k, a), (_, b) in zip(vae.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert not list(tmp_path.glob("*.tmp"))  # the temporary file was renamed away


def test_corrupted_checkpoint_gives_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", tiny())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable sbdlib checkpoint"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_foreign_and_pickled_files_are_refused(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an sbdlib checkpoint"):
        read_checkpoint(tmp_path / "other.pt")

    class Evil:
        def __reduce__(self):
            return (print, ("pickled code ran",))

    torch.save({"format": "sbdlib-checkpoint", "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="not a readable"):
        read_checkpoint(tmp_path / "evil.pt")


def test_mismatched_checkpoint_gives_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", tiny("sbd"))
    with pytest.raises(ValueError, match="different model"):
        load_checkpoint(path, tiny("deconv"))
    payload = read_checkpoint(path)
    payload["config"]["width"] = 8  # config says 8 channels, weights have 4
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="shape mismatch"):
        load_checkpoint(tmp_path / "bad.pt")


def test_resume_continues_from_checkpoint(tmp_path):
    path = tmp_path / "run.pt"
    h1 = train(tiny(), DATA, steps=6, batch_size=4, checkpoint=path, progress="none", amp=False)
    h2 = train(tiny(), DATA, steps=10, batch_size=4, checkpoint=path, resume=True, progress="none", amp=False)
    assert h2.step == list(range(1, 11)) and h2["loss"][:6] == h1["loss"]
    assert read_checkpoint(path)["step"] == 10


class InterruptingData:
    """A dataset whose stream raises KeyboardInterrupt (the stop button) after some batches."""

    def __init__(self, after, data=DATA):
        self.after, self.data = after, data
        self.num_channels, self.image_size = data.num_channels, data.image_size

    def stream(self, batch_size, seed=0):
        it = self.data.stream(batch_size, seed=seed)
        for _ in range(self.after):
            yield next(it)
        raise KeyboardInterrupt


def test_interrupt_keeps_model_and_history(tmp_path):
    vae = tiny()
    before = [p.detach().clone() for p in vae.parameters()]
    h = train(vae, InterruptingData(4), steps=100, batch_size=4, checkpoint=tmp_path / "c.pt", progress="none", amp=False)
    assert h.interrupted and len(h) == 4
    assert any(not torch.equal(a, b) for a, b in zip(before, vae.parameters()))  # trained weights kept
    assert read_checkpoint(tmp_path / "c.pt")["step"] == 4  # and saved


class PoisonedData:
    """Finite batches, then a NaN batch."""

    def __init__(self, good):
        self.good = good

    def stream(self, batch_size, seed=0):
        it = DATA.stream(batch_size, seed=seed)
        for _ in range(self.good):
            yield next(it)
        while True:
            yield torch.full((batch_size, 3, 64, 64), float("nan"))


def test_nan_stops_and_restores_last_good_weights():
    vae = tiny()
    h = None
    with pytest.warns(RuntimeWarning, match="restored"):
        h = train(vae, PoisonedData(3), steps=50, batch_size=4, progress="none", amp=False)
    assert h.diverged and len(h) == 3
    assert all(torch.isfinite(p).all() for p in vae.parameters())
    x = next(DATA.stream(4)).to(module_device(vae))
    assert torch.isfinite(vae(x)["loss"])


def test_history_round_trip():
    h = History()
    h.append(1, {"nll": 1.0, "kl": 2.0})
    assert History.from_dict(h.as_dict()).metrics == h.metrics


def test_beta_weights_the_kl():
    vae1, vae4 = tiny(), tiny(beta=4.0)  # same weights, beta lives on the VAE
    x = next(DATA.stream(4))
    a = BetaVAE()(vae1, x, generator=torch.Generator().manual_seed(0))
    b = BetaVAE()(vae4, x, generator=torch.Generator().manual_seed(0))
    assert b["loss"].item() == pytest.approx((b["nll"] + 4 * b["kl"]).item(), rel=1e-6)
    assert a["elbo"].item() == pytest.approx(b["elbo"].item(), rel=1e-6)
    assert a["loss"].item() == pytest.approx(a["elbo"].item(), rel=1e-6)


def test_factor_vae_trains_discriminator():
    vae = tiny()
    obj = FactorVAE(vae.latent_dim)
    h = train(vae, DATA, steps=4, batch_size=8, objective=obj, progress="none", amp=False)
    assert {"tc", "disc_loss", "disc_accuracy"} <= set(h.metrics)
    with pytest.raises(ValueError, match="even batch"):
        obj(vae, torch.rand(3, 3, 64, 64))


def test_permute_dims_permutes_each_column():
    z = torch.arange(40.0).reshape(10, 4)
    p = permute_dims(z, torch.Generator().manual_seed(0))
    for j in range(4):
        assert sorted(p[:, j].tolist()) == z[:, j].tolist()
    assert not torch.equal(p, z)


def test_bad_arguments():
    with pytest.raises(ValueError, match="steps"):
        train(tiny(), DATA, steps=-1)
    with pytest.raises(ValueError, match="resume"):
        train(tiny(), DATA, steps=1, resume=True)
    with pytest.raises(ValueError, match="progress"):
        train(tiny(), DATA, steps=1, progress="fancy")


def test_a_compacted_factorvae_checkpoint_loads_but_refuses_to_train_further(tmp_path):
    from sbdlib.training.checkpoints import COMPACTED, compact_checkpoint
    from sbdlib.training import train_many

    data = Circles("xy", image_size=16)
    path = tmp_path / "fvae.pt"
    torch.manual_seed(0)
    vae = VAE("sbd", width=4, image_size=16)
    train_many([vae], data, seeds=[0], steps=3, batch_size=4, objective=[FactorVAE(vae.latent_dim)],
               checkpoints=[path], progress="none", amp=False)
    full = path.stat().st_size
    assert compact_checkpoint(path) and not compact_checkpoint(path)  # once; nothing left to drop after
    assert path.stat().st_size < full / 10 and read_checkpoint(path)[COMPACTED]
    loaded, _ = load_checkpoint(path)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), vae.state_dict().values()))
    more = VAE("sbd", width=4, image_size=16)
    with pytest.raises(ValueError, match="cannot be trained further"):
        train_many([more], data, seeds=[0], steps=6, batch_size=4, objective=[FactorVAE(more.latent_dim)],
                   checkpoints=[path], resume=True, progress="none", amp=False)


# ----------------------------------------------------------------------------- bf16 on the CPU, forced
# Runs on every CPU: where bf16 is emulated (AVX2 only) the shapes are tiny, so these stay fast.

SMALL = Circles("xy", image_size=16)
BF16_TOLERANCE = 1e-2  # relative: bf16 keeps 8 mantissa bits, and the terms are summed in fp32


def test_bf16_forced_trains_and_says_so(tmp_path, capsys):
    torch.manual_seed(0)
    vae = VAE("sbd", width=4, image_size=16)
    h = train(vae, SMALL, steps=4, batch_size=4, amp=True, progress="text", log_every=2, checkpoint=tmp_path / "b.pt")
    assert h.precision == "bf16" and len(h) == 4
    assert all(math.isfinite(v) for v in h["loss"])
    for a, b, c in zip(h["nll"], h["kl"], h["elbo"]):
        assert c == pytest.approx(a + b, rel=BF16_TOLERANCE)
    assert read_checkpoint(tmp_path / "b.pt")["history"]["precision"] == "bf16"
    lines = capsys.readouterr().out.splitlines()
    assert "cpu, bf16" in lines[0] and "bf16" not in lines[1]  # the first report names the precision, once


def test_fp32_forced_says_so(capsys):
    h = train(tiny(), DATA, steps=2, batch_size=4, amp=False, progress="text", log_every=1)
    assert h.precision == "fp32" and "cpu, fp32" in capsys.readouterr().out.splitlines()[0]


@pytest.mark.parametrize("engine", ["sequential", "stacked"])
def test_bf16_population_member_is_its_own_run(engine):
    """In bf16 too, member i of a population is the run train(vaes[i], seed=i) gives (rounding apart)."""
    from sbdlib.models import SameConv2d
    from sbdlib.training import train_many

    def build(seed):
        torch.manual_seed(seed)
        vae = VAE("sbd", width=4, image_size=16)
        for m in vae.modules():  # the stacked engine convolves directly; the reference does too
            if isinstance(m, SameConv2d):
                m.impl = "direct"
        return vae

    population = [build(s) for s in (0, 1)]
    hs = train_many(population, SMALL, seeds=[0, 1], steps=3, batch_size=4, amp=True, population=engine,
                    progress="none")
    assert [h.precision for h in hs] == ["bf16", "bf16"]
    for seed, h in zip((0, 1), hs):
        solo = train(build(seed), SMALL, seed=seed, steps=3, batch_size=4, amp=True, progress="none")
        assert solo.precision == "bf16"
        assert h["loss"] == pytest.approx(solo["loss"], rel=BF16_TOLERANCE)
