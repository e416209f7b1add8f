"""A decoder module of one's own: ``VAE(decoder=module)`` trains, checkpoints, reloads and evaluates."""

import math

import pytest
import torch
from torch import nn

from sbdlib.training.checkpoints import load_checkpoint, read_checkpoint
from sbdlib.data import Circles
from sbdlib.metrics import evaluate
from sbdlib.models import VAE, build_decoder, describe_decoder, spatial_broadcast
from sbdlib.training import train, train_many

DATA = Circles("xy", image_size=16)


class TinySBD(nn.Module):
    """A ten-line Spatial Broadcast decoder: broadcast, two 'same' convolutions."""

    def __init__(self, latent_dim=10, out_channels=3, width=8, image_size=16):
        super().__init__()
        self.image_size = image_size  # constructor arguments kept as attributes: a checkpoint rebuilds it
        self.width = width
        self.conv = nn.Conv2d(latent_dim + 2, width, 3, padding="same")
        self.out = nn.Conv2d(width, out_channels, 3, padding="same")

    def forward(self, z):
        h = spatial_broadcast(z, self.image_size, self.image_size)
        return self.out(torch.relu(self.conv(h)))


class NoRecord(nn.Module):
    """A decoder that does not keep its required constructor argument."""

    def __init__(self, image_size):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(10, 3 * image_size**2), nn.Unflatten(1, (3, image_size, image_size)))

    def forward(self, z):
        return self.net(z)


def custom(width=8):
    torch.manual_seed(0)
    return VAE(decoder=TinySBD(out_channels=DATA.num_channels, width=width), channels=DATA.num_channels,
               image_size=16, width=4)


def test_custom_decoder_trains_checkpoints_reloads_and_evaluates(tmp_path):
    vae = custom()
    assert vae.decoder_name == "TinySBD"
    assert vae.config["decoder"] == {"module": __name__, "qualname": "TinySBD",
                                     "kwargs": {"image_size": 16, "width": 8}}
    path = tmp_path / "custom.pt"
    h = train(vae, DATA, steps=20, batch_size=8, lr=3e-3, progress="none", checkpoint=path)
    assert len(h) == 20 and all(math.isfinite(v) for v in h["loss"])
    loaded, payload = load_checkpoint(path)
    assert isinstance(loaded.decoder, TinySBD) and loaded.config == vae.config and payload["step"] == 20
    for (k, a), b in zip(vae.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a.cpu(), b), k
    row = evaluate(loaded, DATA, eval_size=64)
    assert row == evaluate(vae.cpu(), DATA, eval_size=64)
    assert math.isfinite(row["elbo"]) and math.isfinite(row["mig"])


def test_custom_decoder_population_resumes(tmp_path):
    vaes = [custom(), custom()]
    paths = [tmp_path / "a.pt", tmp_path / "b.pt"]
    train_many(vaes, DATA, seeds=[0, 1], steps=3, batch_size=4, progress="none", checkpoints=paths)
    resumed = [custom(), custom()]
    hs = train_many(resumed, DATA, seeds=[0, 1], steps=5, batch_size=4, progress="none", checkpoints=paths,
                    resume=True)
    assert [h.step[-1] for h in hs] == [5, 5]


def test_description_round_trip_and_wrong_shapes():
    module = TinySBD(width=5)
    rebuilt = build_decoder(describe_decoder(module))
    assert isinstance(rebuilt, TinySBD) and rebuilt.conv.out_channels == 5
    with pytest.raises(ValueError, match=r"must map latents \[B, 10\] to images \[B, 3, 32, 32\]"):
        VAE(decoder=TinySBD(image_size=16), image_size=32)
    with pytest.raises(ValueError, match="decoder_kwargs configure a named decoder"):
        VAE(decoder=TinySBD(), image_size=16, decoder_kwargs={"num_layers": 4})


def test_unrebuildable_decoders_get_one_clear_line(tmp_path):
    class Local(TinySBD):
        pass

    for module, reason in ((Local(), "defined inside a function"),
                           (NoRecord(16), "constructor arguments were not recorded")):
        vae = VAE(decoder=module, image_size=16, width=4)
        path = tmp_path / f"{type(module).__name__}.pt"
        train(vae, DATA, steps=1, batch_size=2, progress="none", checkpoint=path)
        with pytest.raises(ValueError, match=reason) as err:
            load_checkpoint(path)
        assert "load_checkpoint(path, vae=VAE(decoder=YourDecoder(...), ...))" in str(err.value)
        loaded, _ = load_checkpoint(path, vae=VAE(decoder=type(module)(*([16] if reason.startswith("c") else [])),
                                                  image_size=16, width=4))  # the documented way out
        assert torch.equal(loaded.decoder.state_dict()[next(iter(module.state_dict()))],
                           module.state_dict()[next(iter(module.state_dict()))].cpu())
    payload = read_checkpoint(path)
    notebook = dict(payload["config"], decoder=dict(payload["config"]["decoder"], module="__main__"))
    with pytest.raises(ValueError, match="notebook or script"):
        VAE(**notebook)
