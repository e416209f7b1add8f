"""Checkers of notebook 02 (the Spatial Broadcast decoder): coordinate maps, the broadcast, a whole decoder."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from sbdlib.course.exercises._checking import NOT_ATTEMPTED, attempted, compare, generator, name_of, passed
from sbdlib.models import KERNEL_SIZE, LATENT_DIM, coordinate_maps, count_parameters, same_padding, spatial_broadcast

__all__ = ["check_coordinate_maps", "check_spatial_broadcast", "check_sbd_decoder"]

TABLE1_SBD_PARAMETERS = 81_027  # the paper's Table 1: SBD decoder, 10 latents, 3 channels, width 64


# --------------------------------------------------------------------------- coordinate maps


def _pixel_centre_maps(h: int, w: int) -> torch.Tensor:
    """Coordinates of the pixel centres, (j + 0.5) / W * 2 - 1, instead of linspace's endpoints."""
    x = (torch.arange(w) + 0.5) / w * 2 - 1
    y = (torch.arange(h) + 0.5) / h * 2 - 1
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    return torch.stack([xx, yy])


_MAP_MISTAKES = [
    ("coordinates in [0, 1] instead of [-1, 1]", lambda h, w: (coordinate_maps(h, w) + 1) / 2),
    ("x and y swapped: channel 0 is x (varying along the width), channel 1 is y",
     lambda h, w: coordinate_maps(h, w).flip(0)),
    ("pixel-centre coordinates: Algorithm 1 uses linspace(-1, 1, n), which includes both ends", _pixel_centre_maps),
]


def check_coordinate_maps(fn: Callable) -> None:
    """Check ``fn(height, width) -> [2, H, W]`` against :func:`sbdlib.models.coordinate_maps`."""
    name = name_of(fn)
    cases = [(3, 4), (5, 5), (8, 3), (64, 64), (1, 6)]
    for h, w in cases:
        got = attempted(fn, h, w)
        if got is NOT_ATTEMPTED:
            return
        compare(name, got, coordinate_maps(h, w), (h, w), _MAP_MISTAKES, case=f"height {h}, width {w}")
    passed(name, f"{len(cases)} sizes (square, wide, tall, one row) match sbdlib.models.coordinate_maps")


# --------------------------------------------------------------------------- spatial_broadcast


_BROADCAST_MISTAKES = [
    ("coordinates in [0, 1] instead of [-1, 1]",
     lambda z, h, w: spatial_broadcast(z, h, w, coords=(coordinate_maps(h, w) + 1) / 2)),
    ("x and y swapped: channel k is x (varying along the width), channel k + 1 is y",
     lambda z, h, w: spatial_broadcast(z, h, w, coords=coordinate_maps(h, w).flip(0))),
    ("the coordinate channels missing: append the x and y maps after the latents",
     lambda z, h, w: spatial_broadcast(z, h, w)[:, :-2]),
    ("the coordinates placed before the latents: the channel order is latents, then x, then y",
     lambda z, h, w: spatial_broadcast(z, h, w).roll(2, dims=1)),
    ("the latents not tiled: every pixel must hold the whole of z (z[:, :, None, None].expand(...))",
     lambda z, h, w: torch.cat([torch.zeros(z.shape[0], z.shape[1], h, w), coordinate_maps(h, w).expand(z.shape[0], 2, h, w)], 1)),
]


def check_spatial_broadcast(fn: Callable) -> None:
    """Check ``fn(z [B, k], height, width) -> [B, k + 2, H, W]`` against :func:`sbdlib.models.spatial_broadcast`."""
    name = name_of(fn)
    g = generator(3)
    cases = [(2, 3, 3, 4), (4, 10, 8, 8), (1, 1, 5, 7), (3, 2, 6, 2)]
    for b, k, h, w in cases:
        z = torch.randn(b, k, generator=g)
        got = attempted(fn, z.clone(), h, w)
        if got is NOT_ATTEMPTED:
            return
        if isinstance(got, torch.Tensor) and got.shape[:2] == (b, k) and got.dim() == 4 and got.shape[2:] == (h, w):
            if not torch.equal(got[:, :k].amax((2, 3)), got[:, :k].amin((2, 3))):
                raise AssertionError(f"{name}: the latent channels vary over the image; each must be one value "
                                     "tiled over every pixel (the coordinate channels missing, too?)")
        compare(name, got, spatial_broadcast(z, h, w), (z, h, w), _BROADCAST_MISTAKES,
                case=f"B={b}, k={k}, height {h}, width {w}")
    passed(name, f"{len(cases)} cases (one latent, non-square, width 2) match sbdlib.models.spatial_broadcast")


# --------------------------------------------------------------------------- a whole decoder


def _conv_layers(module: nn.Module) -> list[nn.Module]:
    """The module's convolution layers in order: every sub-module owning a 4-D ``weight``."""
    return [m for m in module.modules() if isinstance(getattr(m, "weight", None), torch.Tensor) and m.weight.dim() == 4]


def _reference(layers: list[nn.Module], z: torch.Tensor, size: int, *, coords: torch.Tensor | None = None,
               final_relu: bool = False, hidden_relu: bool = True) -> torch.Tensor:
    """Table 1's SBD with the given layers' weights: broadcast, "same" stride-1 convs, ReLU between."""
    h = spatial_broadcast(z, size, size, coords=coords)
    for i, layer in enumerate(layers):
        kernel = layer.weight.shape[-1]
        h = F.conv2d(F.pad(h, same_padding(kernel)), layer.weight, layer.bias)
        if (i < len(layers) - 1 and hidden_relu) or final_relu:
            h = F.relu(h)
    return h


def _decoder_mistakes(layers: list[nn.Module], size: int) -> list[tuple[str, Callable]]:
    """Known wrong decoders with the learner's weights."""
    maps = coordinate_maps(size, size)
    return [
        ("x and y swapped in the broadcast (channel k is x, k + 1 is y)",
         lambda z: _reference(layers, z, size, coords=maps.flip(0))),
        ("coordinates in [0, 1] instead of [-1, 1] in the broadcast",
         lambda z: _reference(layers, z, size, coords=(maps + 1) / 2)),
        ("a ReLU after the last convolution: the output is logits, which must be free to go negative",
         lambda z: _reference(layers, z, size, final_relu=True)),
        ("no ReLU between the convolutions", lambda z: _reference(layers, z, size, hidden_relu=False)),
    ]


def check_sbd_decoder(decoder_class: Callable[..., nn.Module]) -> None:
    """Check a Spatial Broadcast decoder class, built as ``decoder_class(latent_dim, out_channels, width=...,
    image_size=...)``: latents ``[B, k]`` -> logits ``[B, C, H, W]``.

    It must have Table 1's size at the defaults (81,027 parameters for 10 latents and 3 channels) and compute
    the library's function (:class:`sbdlib.models.SpatialBroadcastDecoder`) with its own weights.
    The modules are built from a fixed seed; the caller's global random state is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        _check_sbd_decoder(decoder_class)


def _check_sbd_decoder(decoder_class: Callable[..., nn.Module]) -> None:
    """:func:`check_sbd_decoder`, under a fixed seed."""
    name = name_of(decoder_class)
    small = attempted(decoder_class, 4, 2, width=8, image_size=16)
    if small is NOT_ATTEMPTED:
        return
    z = torch.randn(3, 4, generator=generator(4))
    with torch.no_grad():
        out = attempted(small, z)
    if out is NOT_ATTEMPTED:
        return
    layers = _conv_layers(small)
    strided = [m for m in layers if getattr(m, "stride", (1, 1)) != (1, 1)]
    if strided:
        raise AssertionError(f"{name} has a strided convolution (stride {strided[0].stride}): the Spatial Broadcast "
                             "decoder never changes the resolution, every convolution is stride 1")
    if layers and layers[0].weight.shape[1] == 4:
        in_channels = layers[0].weight.shape[1]
        raise AssertionError(f"{name}'s first convolution reads {in_channels} channels, the latents only: "
                             "the coordinate channels are missing (the broadcast has k + 2 channels)")
    if not isinstance(out, torch.Tensor) or out.shape != (3, 2, 16, 16):
        shape = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise AssertionError(f"{name}(latent_dim=4, out_channels=2, width=8, image_size=16) maps z [3, 4] to "
                             f"{shape}, expected [3, 2, 16, 16]: the size changes, so check the padding "
                             "('same': padding='same' in nn.Conv2d) and the strides (all 1)")
    if len(layers) != 3:
        raise AssertionError(f"{name} has {len(layers)} convolution layers; Table 1 has 3 "
                             "(two hidden of `width` channels with ReLU, then one to the image channels)")
    widths = [int(m.weight.shape[0]) for m in layers[:-1]]
    if widths != [8, 8] or layers[0].weight.shape[1] != 6 or layers[0].weight.shape[-1] != KERNEL_SIZE:
        raise AssertionError(f"{name}(latent_dim=4, out_channels=2, width=8, image_size=16) has convolutions of weight "
                             f"shapes {[list(m.weight.shape) for m in layers]}; expected [[8, 6, 4, 4], [8, 8, 4, 4], "
                             "[2, 8, 4, 4]] (k + 2 input channels, `width` hidden channels, 4 x 4 kernels)")
    with torch.no_grad():
        expected = _reference(layers, z, 16)
        compare(name, out, expected, (z,), _decoder_mistakes(layers, 16), atol=1e-4,
                case="latent_dim=4, out_channels=2, width=8, image_size=16; compared with the library's "
                     "computation using your weights")
    full = decoder_class(LATENT_DIM, 3)
    count = count_parameters(full)
    if count != TABLE1_SBD_PARAMETERS:
        raise AssertionError(f"{name}({LATENT_DIM}, 3) has {count:,} parameters; Table 1's SBD has "
                             f"{TABLE1_SBD_PARAMETERS:,} (check the default width 64, the kernel 4 and the biases)")
    with torch.no_grad():
        shape = tuple(full(torch.zeros(2, LATENT_DIM)).shape)
    passed(name, f"{count:,} parameters at the defaults (Table 1: {TABLE1_SBD_PARAMETERS:,}), output {shape} "
                 "for z [2, 10], and the library's function of your weights on a small instance")
