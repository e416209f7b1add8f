"""Tests of sbdlib.models: the broadcast, Table 1's sizes, shapes and the losses."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from sbdlib.models import (VAE, BroadcastConv, CoordConvDecoder, DeconvDecoder, Discriminator, Encoder,
                           SameConv2d, SpatialBroadcastDecoder, count_parameters, same_padding,
                           shuffle_pixels, spatial_broadcast)


def test_spatial_broadcast_semantics():
    z = torch.tensor([[1.0, -2.0, 3.0]])
    out = spatial_broadcast(z, height=4, width=5)
    assert out.shape == (1, 5, 4, 5)
    for c in range(3):  # latents tiled over every pixel
        assert torch.all(out[0, c] == z[0, c])
    x_map, y_map = out[0, 3], out[0, 4]
    assert torch.allclose(x_map[0], torch.linspace(-1, 1, 5))  # x varies along the width
    assert torch.all(x_map == x_map[0:1])                    # ... and not along the height
    assert torch.allclose(y_map[:, 0], torch.linspace(-1, 1, 4))
    assert torch.all(y_map == y_map[:, 0:1])


def test_spatial_broadcast_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\[B, k\]"):
        spatial_broadcast(torch.zeros(2, 3, 4), 4, 4)
    with pytest.raises(ValueError, match="height must be an integer >= 1, got 0"):
        spatial_broadcast(torch.zeros(2, 3), 0, 4)


def test_sizes_are_checked_by_name():
    with pytest.raises(ValueError, match="latent_dim must be an integer >= 1, got 0"):
        Encoder(latent_dim=0)
    with pytest.raises(ValueError, match="width must be an integer >= 1, got 2.5"):
        SpatialBroadcastDecoder(width=2.5)
    with pytest.raises(ValueError, match="num_layers must be an integer >= 1, got -1"):
        Discriminator(num_layers=-1)


def test_table1_parameter_counts():
    assert count_parameters(Encoder()) == 467_476
    assert count_parameters(DeconvDecoder()) == 268_291
    assert count_parameters(SpatialBroadcastDecoder()) == 81_027


@pytest.mark.parametrize("kernel", [3, 4, 5])
def test_same_padding_keeps_size_and_matches_tensorflow(kernel):
    conv = SameConv2d(2, 3, kernel)
    assert conv(torch.randn(1, 2, 9, 9)).shape == (1, 3, 9, 9)
    before, after, _, _ = same_padding(kernel)
    assert before + after == kernel - 1 and after - before in (0, 1)  # TF puts the extra pixel after


@pytest.mark.parametrize("kernel,size", [(4, 64), (3, 16), (5, 13)])
def test_broadcast_conv_equals_conv_of_broadcast(kernel, size):
    torch.manual_seed(0)
    layer = BroadcastConv(6, 8, kernel, size, size).double()
    torch.nn.init.normal_(layer.weight)
    torch.nn.init.normal_(layer.bias)
    z = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    fast = layer(z)
    plain = F.conv2d(F.pad(spatial_broadcast(z, size, size), same_padding(kernel)), layer.weight, layer.bias)
    assert torch.allclose(fast, plain, rtol=0, atol=1e-5)  # coords were made in float32
    g = torch.randn_like(plain)
    gz_fast, gw_fast = torch.autograd.grad((fast * g).sum(), (z, layer.weight))
    gz, gw = torch.autograd.grad((plain * g).sum(), (z, layer.weight))
    assert torch.allclose(gz_fast, gz, atol=1e-4) and torch.allclose(gw_fast, gw, atol=1e-4)


def test_shuffled_coordinates_keep_pairs_and_are_fixed():
    maps = torch.stack(torch.meshgrid(torch.arange(4.0), torch.arange(4.0) * 10, indexing="ij"))
    a, b = shuffle_pixels(maps), shuffle_pixels(maps)
    assert torch.equal(a, b)
    pairs = {tuple(p) for p in maps.reshape(2, -1).T.tolist()}
    assert {tuple(p) for p in a.reshape(2, -1).T.tolist()} == pairs
    assert not torch.equal(a, maps)


@pytest.mark.parametrize("decoder", ["sbd", "deconv", "coordconv"])
def test_vae_shapes(decoder):
    vae = VAE(decoder, width=8)
    x = torch.rand(3, 3, 64, 64)
    mean, logvar = vae.encode(x)
    assert mean.shape == logvar.shape == (3, 10)
    assert vae.decode(mean).shape == (3, 3, 64, 64)
    r = vae.reconstruct(x)
    assert r.shape == x.shape and r.min() >= 0 and r.max() <= 1


@pytest.mark.parametrize("kwargs", [dict(num_layers=5), dict(num_layers=2), dict(kernel_size=3),
                                    dict(mlp_layers=2), dict(upscales=2), dict(shuffle_coords=True)])
def test_sbd_ablation_options(kwargs):
    dec = SpatialBroadcastDecoder(width=8, **kwargs)
    assert dec(torch.randn(2, 10)).shape == (2, 3, 64, 64)


@pytest.mark.parametrize("depth", [3, 4, 5, 6])
def test_deconv_depths(depth):
    dec = DeconvDecoder(channels=(8,) * (depth - 1), mlp_layers=2)
    assert dec(torch.randn(2, 10)).shape == (2, 3, 64, 64)


def test_coordconv_and_table2_and_discriminator():
    assert CoordConvDecoder(channels=(8,) * 4)(torch.randn(2, 10)).shape == (2, 3, 64, 64)
    vae = VAE("deconv", architecture="table2")
    assert [m.out_channels for m in vae.encoder.convs if hasattr(m, "out_channels")] == [32, 32, 64, 64]
    assert Discriminator(10)(torch.randn(4, 10)).shape == (4, 2)
    assert len([m for m in Discriminator(10).modules() if isinstance(m, torch.nn.Linear)]) == 6


def test_loss_value_checked_by_hand():
    vae = VAE("sbd", width=4, channels=1, likelihood="gaussian")
    x = torch.zeros(1, 1, 64, 64)
    out = torch.full((1, 1, 64, 64), 0.5)
    # Gaussian, variance 0.3: each pixel costs 0.25 / 0.6 + 0.5 log(2 pi 0.3).
    expected = 4096 * (0.25 / 0.6 + 0.5 * math.log(2 * math.pi * 0.3))
    assert vae.nll(out, x).item() == pytest.approx(expected, rel=1e-6)
    bern = VAE("sbd", width=4, channels=1, likelihood="bernoulli")
    assert bern.nll(torch.zeros(1, 1, 64, 64), x).item() == pytest.approx(4096 * math.log(2), rel=1e-6)
    # KL of N(mean, exp(logvar)) to N(0, 1): with mean 1, logvar 0 it is 0.5 per latent.
    vae.encoder.forward = lambda x: (torch.ones(1, 10), torch.zeros(1, 10))
    t = vae.loss_terms(x)
    assert t["kl"].item() == pytest.approx(5.0)
    assert torch.allclose(t["elbo"], t["nll"] + t["kl"])


def test_bad_input_errors():
    vae = VAE("sbd", width=4)
    with pytest.raises(ValueError, match=r"\[B, 3, 64, 64\]"):
        vae.encode(torch.zeros(2, 1, 64, 64))
    with pytest.raises(ValueError, match=r"\[B, 10\]"):
        vae.decode(torch.zeros(2, 7))
    with pytest.raises(ValueError, match="unknown decoder"):
        VAE("transformer")
    with pytest.raises(ValueError, match="unknown likelihood"):
        VAE("sbd", likelihood="poisson")
    with pytest.raises(ValueError, match="upscales"):
        SpatialBroadcastDecoder(upscales=3)


def test_truncated_normal_init():
    w = Encoder().convs[2].weight
    std = 1 / math.sqrt(w[0].numel())
    assert w.abs().max() <= 2 * std + 1e-7
    assert Encoder().convs[2].bias.abs().max() == 0


@pytest.mark.parametrize("options", [{}, {"shuffle_coords": True}, {"mlp_layers": 1, "mlp_width": 8},
                                     {"num_layers": 4, "kernel_size": 3}])
def test_sbd_reference_is_algorithm_1_and_fast_equals_it(options):
    """impl="reference" runs Algorithm 1 as written; impl="fast" gives the same outputs and gradients."""
    torch.manual_seed(0)
    fast = SpatialBroadcastDecoder(latent_dim=5, out_channels=3, width=48, image_size=32, impl="fast", **options)
    ref = copy.deepcopy(fast).set_impl("reference")
    assert fast.impl == "fast" and ref.impl == "reference"
    z = torch.randn(6, 5)
    out_fast, out_ref = fast(z), ref(z)
    assert torch.allclose(out_fast, out_ref, atol=1e-4, rtol=1e-4)
    out_fast.square().sum().backward()
    out_ref.square().sum().backward()
    for (name, a), b in zip(fast.named_parameters(), ref.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-3, rtol=1e-3), name
    # and the reference's first layer is literally a conv of spatial_broadcast(z)
    tiled = spatial_broadcast(ref.mlp(z), 32, 32, coords=ref.broadcast.coords)
    first = F.conv2d(F.pad(tiled, same_padding(ref.broadcast.kernel_size)), ref.broadcast.weight, ref.broadcast.bias)
    assert torch.allclose(first, ref.broadcast.conv(tiled)) and torch.allclose(first, ref.broadcast(ref.mlp(z)), atol=1e-4)
    with pytest.raises(ValueError, match="impl must be one of"):
        fast.set_impl("turbo")


def test_sbd_auto_takes_the_fast_path_in_fp32_and_algorithm_1_under_cpu_autocast(monkeypatch):
    """impl="auto" (the default) picks per call: the fast path in fp32 (AVX2 CPUs, CUDA), Algorithm 1 under
    CPU autocast (CPUs with native bf16). Both paths are forced here, whichever this machine takes."""
    torch.manual_seed(0)
    sbd = SpatialBroadcastDecoder(latent_dim=4, out_channels=3, width=8, image_size=16)
    assert sbd.impl == "auto"
    paths = []
    monkeypatch.setattr(type(sbd.broadcast), "conv", lambda self, h: paths.append("algorithm 1") or
                        F.conv2d(F.pad(h, same_padding(self.kernel_size)), self.weight, self.bias))
    z = torch.randn(3, 4)
    fp32 = sbd(z)
    assert paths == []  # the fast path: BroadcastConv straight from z
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = sbd(z)
    assert paths == ["algorithm 1"] and bf16.dtype == torch.bfloat16
    assert torch.allclose(bf16.float(), fp32, atol=0.1)
    assert copy.deepcopy(sbd).set_impl("reference")(z).allclose(fp32, atol=1e-5)


def test_coordinate_channels_are_defined_once():
    """The channel order of spatial_broadcast (latents, then x along the width, then y) is what the SBD's
    first layer and the CoordConv decoder read."""
    from sbdlib.models import COORD_CHANNELS, coordinate_maps

    maps = coordinate_maps(3, 5)
    assert maps.shape == (COORD_CHANNELS, 3, 5)
    assert torch.equal(maps[0, 0], torch.linspace(-1, 1, 5)) and torch.equal(maps[1, :, 0], torch.linspace(-1, 1, 3))
    z = torch.randn(2, 4)
    assert torch.equal(spatial_broadcast(z, 3, 5)[:, 4:], maps.expand(2, -1, -1, -1))
    assert SpatialBroadcastDecoder(latent_dim=4, image_size=8, width=4).broadcast.weight.shape[1] == 4 + COORD_CHANNELS


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"image_size": 100000}, "image_size must be an integer between 8 and 256, got 100000"),
    ({"image_size": 4}, "image_size must be an integer between 8 and 256"),
    ({"image_size": 40}, "not divisible by 2"),
    ({"width": 0}, "width must be an integer >= 1, got 0"),
    ({"width": 1, "architecture": "table2"}, "width must be an integer >= 2"),
    ({"latent_dim": 0}, "latent_dim must be an integer >= 1"),
    ({"beta": float("inf")}, "beta must be a finite number >= 0"),
    ({"beta": float("nan")}, "beta must be a finite number >= 0"),
    ({"beta": -1.0}, "beta must be a finite number >= 0"),
    ({"beta": "1"}, "beta must be a finite number >= 0"),
])
def test_vae_rejects_bad_arguments_in_one_line(kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        VAE("sbd", **kwargs)
    assert "\n" not in str(err.value)
