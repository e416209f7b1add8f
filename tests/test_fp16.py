"""fp16 with a loss scale per member: one member's overflow never skips another member's step."""

import math
import types

import pytest
import torch

from sbdlib.training import loop
from sbdlib.data import Circles
from sbdlib.devices import Precision
from sbdlib.models import VAE
from sbdlib.training import MemberScaler, train_many
from sbdlib.training.engines import _stacked_adam_

DATA = Circles("xy", image_size=16)
LR = 1e-2


def stacked(values):
    """A one-tensor 'population' ``{"w": [S, 3]}`` with its Adam, as the stacked engine holds it."""
    w = torch.tensor(values, requires_grad=True)
    return {"w": w}, torch.optim.Adam([w], lr=LR)


def test_member_scaler_unscales_and_backs_off_per_member():
    scaler = MemberScaler(2, torch.device("cpu"))
    g = torch.tensor([[2.0, 4.0], [math.inf, 1.0]]) * MemberScaler.INIT_SCALE
    found = scaler.unscale_([g])
    assert found.tolist() == [False, True] and g[0].tolist() == [2.0, 4.0]
    scaler.update(found)
    assert scaler.scales.tolist() == [MemberScaler.INIT_SCALE, MemberScaler.INIT_SCALE / 2]
    scaler.clean_steps[0] = MemberScaler.GROWTH_INTERVAL - 1
    scaler.update(torch.tensor([False, False]))
    assert scaler.scales.tolist() == [MemberScaler.INIT_SCALE * 2, MemberScaler.INIT_SCALE / 2]


def test_an_overflow_in_member_1_skips_only_member_1():
    params, adam = stacked([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    engine = types.SimpleNamespace(params=params, optimizer=adam, scaler=MemberScaler(2, torch.device("cpu")))
    w = params["w"]
    w.grad = torch.tensor([[1.0, -1.0, 1.0], [math.inf, 1.0, 1.0]]) * MemberScaler.INIT_SCALE
    engine.scaler.step(engine.optimizer)
    engine.scaler.update()
    assert torch.allclose(w[0], torch.tensor([1 - LR, 1 + LR, 1 - LR]))  # Adam's first step: lr per element
    assert w[1].tolist() == [1.0, 1.0, 1.0]  # skipped
    assert adam.state[w]["step"].tolist() == [1.0, 0.0]  # its own step count did not advance
    assert engine.scaler.scales.tolist() == [MemberScaler.INIT_SCALE, MemberScaler.INIT_SCALE / 2]
    # the next clean step is member 1's first Adam step (bias-corrected as one): again lr per element
    w.grad = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]) * engine.scaler.scales[:, None]
    engine.scaler.step(engine.optimizer)
    engine.scaler.update()
    assert torch.allclose(w[1], torch.tensor([1 - LR] * 3)) and adam.state[w]["step"].tolist() == [2.0, 1.0]


def test_stacked_adam_is_torch_adam_per_member():
    torch.manual_seed(0)
    start = torch.randn(3, 5)
    params, adam = stacked(start.tolist())
    alone = [torch.nn.Parameter(start[i].clone()) for i in range(3)]
    adams = [torch.optim.Adam([p], lr=LR) for p in alone]
    for _ in range(4):
        grads = torch.randn(3, 5)
        params["w"].grad = grads.clone()
        _stacked_adam_(list(params.values()), adam, torch.zeros(3, dtype=torch.bool))
        for i, (p, opt) in enumerate(zip(alone, adams)):
            p.grad = grads[i].clone()
            opt.step()
    for i, p in enumerate(alone):
        assert torch.allclose(params["w"][i], p, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("engine", ["sequential", "stacked"])
def test_a_tiny_fp16_run_on_the_cpu(engine, monkeypatch):
    """fp16 autocast (as a pre-Ampere GPU would get it), forced on the CPU: finite, recorded, scales calibrated."""
    monkeypatch.setattr(loop, "choose_precision", lambda *args, **kwargs: Precision(torch.float16, False))
    vaes = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        vaes.append(VAE("sbd", width=4, image_size=16))
    hs = train_many(vaes, DATA, seeds=[0, 1], steps=4, batch_size=4, population=engine, progress="none")
    assert [h.precision for h in hs] == ["fp16", "fp16"] and all(len(h) == 4 for h in hs)
    assert all(math.isfinite(v) for h in hs for v in h["loss"])
    assert all(torch.isfinite(p).all() for vae in vaes for p in vae.parameters())


def test_a_stacked_fp16_population_resumes(tmp_path, monkeypatch):
    """Stopped and resumed, each member's Adam continues with its own step count."""
    monkeypatch.setattr(loop, "choose_precision", lambda *args, **kwargs: Precision(torch.float16, False))
    paths = [tmp_path / "a.pt", tmp_path / "b.pt"]

    def population():
        out = []
        for seed in (0, 1):
            torch.manual_seed(seed)
            out.append(VAE("sbd", width=4, image_size=16))
        return out

    train_many(population(), DATA, seeds=[0, 1], steps=2, batch_size=4, population="stacked", progress="none",
               checkpoints=paths)
    hs = train_many(population(), DATA, seeds=[0, 1], steps=4, batch_size=4, population="stacked", progress="none",
                    checkpoints=paths, resume=True)
    assert [len(h) for h in hs] == [4, 4] and all(math.isfinite(v) for h in hs for v in h["loss"])
