"""The VAEs of Watters et al. (2019): encoder, DeConv decoder, Spatial Broadcast decoder.

Defaults reproduce Table 1 of the paper exactly (64 x 64 images, 10 latents, 64 channels,
4 x 4 kernels): encoder 467,476 parameters, DeConv decoder 268,291, SBD 81,027 (C = 3).

Everything a reader needs is in this file:

* :func:`spatial_broadcast` -- Algorithm 1: tile z over the image, append x and y maps.
* :class:`Encoder` -- Conv(4, s2) x 4 -> FC 256 -> FC 2 x latents.
* :class:`DeconvDecoder` -- FC -> reshape 2 x 2 -> DeConv(4, s2) x 5.
* :class:`SpatialBroadcastDecoder` -- broadcast -> Conv(4, s1, "same") x 3, no upsampling.
* :class:`CoordConvDecoder` -- the DeConv decoder with coordinate maps before every layer.
* :class:`Discriminator` -- FactorVAE's total-correlation discriminator.
* :class:`VAE` -- an encoder, one of the decoders (or your own decoder module) and a likelihood.

:meth:`SpatialBroadcastDecoder.forward` runs Algorithm 1 as written, or, where it measured
faster, an exact fast path in one labelled branch: the first convolution computed without
tiling (:class:`BroadcastConv`; the tiled latents are constant over space, so their part of
the convolution is a per-pixel linear map of z, and the coordinate part does not depend on
the batch) and the other convolutions by :mod:`sbdlib.convolutions`.
"""

from __future__ import annotations

import importlib
import inspect
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sbdlib import convolutions
from sbdlib.checks import check_image_size, check_int, seeded_generator
from sbdlib.devices import saved_tensor_bytes
from sbdlib.scales import PAPER_IMAGE_SIZE, PAPER_LIKELIHOOD, PAPER_WIDTH

LATENT_DIM = 10
IMAGE_SIZE = PAPER_IMAGE_SIZE
WIDTH = PAPER_WIDTH
KERNEL_SIZE = 4
HIDDEN = 256
GAUSSIAN_VARIANCE = 0.3  # the paper's advice: fixed decoder variance
LIKELIHOODS = ("gaussian", "bernoulli")
COORD_SHUFFLE_SEED = 0
COORD_CHANNELS = 2  # the x and y maps (coordinate_maps); spatial_broadcast appends them after the latents
SBD_IMPLS = ("auto", "fast", "reference")  # SpatialBroadcastDecoder(impl=...): same function, two computations


# --------------------------------------------------------------------------- the broadcast


def coordinate_maps(height: int, width: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """The x and y maps of Algorithm 1: ``[2, H, W]``, each in [-1, 1].

    Channel 0 is x = linspace(-1, 1, width) varying along the width; channel 1 is
    y = linspace(-1, 1, height) varying along the height.
    """
    x = torch.linspace(-1.0, 1.0, width, device=device, dtype=dtype)
    y = torch.linspace(-1.0, 1.0, height, device=device, dtype=dtype)
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    return torch.stack([xx, yy])


def spatial_broadcast(z: torch.Tensor, height: int, width: int, coords: torch.Tensor | None = None) -> torch.Tensor:
    """Algorithm 1 of the paper: tile ``z`` over every pixel and append coordinates.

    Args:
        z: Latents ``[B, k]``.
        height: Output height H.
        width: Output width W.
        coords: The coordinate maps ``[2, H, W]`` (default :func:`coordinate_maps`; the
            App. B ablation passes shuffled ones).

    Returns:
        ``[B, k + 2, H, W]``: channels ``0..k-1`` the tiled latents, channel ``k`` the
        x map (varying along the width) and channel ``k + 1`` the y map, both in [-1, 1].
    """
    if z.dim() != 2:
        raise ValueError(f"spatial_broadcast expects z of shape [B, k], got {tuple(z.shape)}")
    check_int(height, "height")
    check_int(width, "width")
    b, k = z.shape
    tiled = z[:, :, None, None].expand(b, k, height, width)
    if coords is None:
        coords = coordinate_maps(height, width, device=z.device, dtype=z.dtype)
    coords = coords.to(device=z.device, dtype=z.dtype)
    return torch.cat([tiled, coords.expand(b, COORD_CHANNELS, height, width)], dim=1)


def shuffle_pixels(maps: torch.Tensor, seed: int | torch.Generator = COORD_SHUFFLE_SEED) -> torch.Tensor:
    """Permute the pixels of ``[C, H, W]`` maps once, keeping each pixel's channels together.

    The App. B ablation: each (x, y) pair survives, but its place in the image is random.
    ``seed`` is an integer seed, or a ``torch.Generator`` the permutation is drawn from.
    """
    c, h, w = maps.shape
    generator = seed if isinstance(seed, torch.Generator) else seeded_generator(seed)
    perm = torch.randperm(h * w, generator=generator)
    return maps.reshape(c, h * w)[:, perm.to(maps.device)].reshape(c, h, w)


# --------------------------------------------------------------------------- building blocks


def same_padding(kernel_size: int) -> tuple[int, int, int, int]:
    """TensorFlow's "same" padding for stride 1 as ``F.pad`` wants it: (left, right, top, bottom).

    An even kernel pads one pixel less before than after, as TensorFlow does.
    """
    before, after = convolutions.same_padding(kernel_size)
    return (before, after, before, after)


class SameConv2d(nn.Conv2d):
    """A stride-1 convolution with TensorFlow's "same" padding (also for even kernels).

    Computed by :func:`sbdlib.convolutions.same_conv2d`: on CPU, wide layers use an exact
    Winograd algorithm with fewer multiplications than the direct convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, impl: str = "auto") -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=1, padding=0)
        self.impl = impl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C_in, H, W] -> [B, C_out, H, W]``."""
        return convolutions.same_conv2d(x, self.weight, self.bias, impl=self.impl)


def stride2_padding(kernel_size: int) -> int:
    """Symmetric padding that makes a stride-2 (de)convolution halve (double) the size."""
    if kernel_size < 2 or kernel_size % 2:
        raise ValueError(f"stride-2 layers need an even kernel size >= 2, got {kernel_size}")
    return (kernel_size - 2) // 2


def init_weights(module: nn.Module) -> None:
    """The paper's initialisation: truncated-normal weights, zero biases.

    The standard deviation follows fan-in (1 / sqrt(fan_in)), cut at two deviations, as
    TensorFlow/Sonnet's default truncated-normal initialiser does.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if isinstance(m, nn.ConvTranspose2d):
                fan_in = m.weight.shape[0] * m.weight[0, 0].numel()
            else:
                fan_in = m.weight[0].numel()
            trunc_normal_fan_in_(m.weight, fan_in)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def trunc_normal_fan_in_(weight: torch.Tensor, fan_in: int) -> None:
    """Fill ``weight`` from N(0, 1 / fan_in) truncated at two standard deviations."""
    std = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)


def mlp(sizes: Sequence[int], *, final_activation: bool) -> nn.Sequential:
    """Fully connected layers ``sizes[0] -> ... -> sizes[-1]`` with ReLU between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _check_images(x: torch.Tensor, channels: int, image_size: int) -> None:
    """Raise a ValueError unless ``x`` is ``[B, channels, image_size, image_size]``."""
    if x.dim() != 4 or x.shape[1] != channels or x.shape[2] != image_size or x.shape[3] != image_size:
        raise ValueError(
            f"expected images of shape [B, {channels}, {image_size}, {image_size}], got {tuple(x.shape)}"
        )


# --------------------------------------------------------------------------- encoder


class Encoder(nn.Module):
    """Conv(k, s2) layers -> flatten -> FC ``hidden`` -> FC 2 x ``latent_dim``.

    Table 1: four 64-channel 4 x 4 stride-2 convolutions (64 -> 4 pixels), FC 256.
    Table 2 (FactorVAE): channels (32, 32, 64, 64).
    """

    def __init__(
        self,
        latent_dim: int = LATENT_DIM,
        in_channels: int = 3,
        *,
        channels: Sequence[int] = (WIDTH,) * 4,
        kernel_size: int = KERNEL_SIZE,
        hidden: int = HIDDEN,
        image_size: int = IMAGE_SIZE,
    ) -> None:
        super().__init__()
        for name, value in dict(latent_dim=latent_dim, in_channels=in_channels, hidden=hidden,
                                image_size=image_size).items():
            check_int(value, name)
        side = image_size // 2 ** len(channels)
        if side < 1 or image_size % 2 ** len(channels):
            raise ValueError(f"image_size {image_size} is not divisible by 2^{len(channels)}")
        pad = stride2_padding(kernel_size)
        convs: list[nn.Module] = []
        for c_in, c_out in zip((in_channels, *channels[:-1]), channels):
            convs += [nn.Conv2d(c_in, c_out, kernel_size, stride=2, padding=pad), nn.ReLU()]
        self.convs = nn.Sequential(*convs)
        self.head = mlp([channels[-1] * side * side, hidden, 2 * latent_dim], final_activation=False)
        self.latent_dim = latent_dim
        init_weights(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``[B, C, H, W]`` -> posterior (mean ``[B, D]``, log-variance ``[B, D]``)."""
        h = self.convs(x)
        # Flatten channels-last and channels-first alike in the same (C, H, W) order.
        stats = self.head(h.reshape(h.shape[0], -1))
        return stats[:, : self.latent_dim], stats[:, self.latent_dim :]


# --------------------------------------------------------------------------- decoders


class DeconvDecoder(nn.Module):
    """MLP -> reshape to ``start x start x channels[0]`` -> stride-2 DeConvs -> logits.

    Table 1: FC 256 -> 2 x 2 x 64 -> DeConv(4, s2, 64) x 4 -> DeConv(4, s2, C).
    ``channels`` lists the hidden deconvs' widths; one more deconv outputs ``out_channels``,
    so the depth (Table 6) is ``len(channels) + 1``. ``mlp_layers`` (Table 8) counts the
    FC layers before the reshape; hidden ones are ``hidden`` wide.
    """

    def __init__(
        self,
        latent_dim: int = LATENT_DIM,
        out_channels: int = 3,
        *,
        channels: Sequence[int] = (WIDTH,) * 4,
        kernel_size: int = KERNEL_SIZE,
        mlp_layers: int = 1,
        hidden: int = HIDDEN,
        image_size: int = IMAGE_SIZE,
        coord_channels: bool = False,
    ) -> None:
        super().__init__()
        for name, value in dict(latent_dim=latent_dim, out_channels=out_channels, mlp_layers=mlp_layers,
                                image_size=image_size).items():
            check_int(value, name)
        depth = len(channels) + 1
        self.start = image_size // 2**depth
        if self.start < 1 or image_size % 2**depth:
            raise ValueError(f"image_size {image_size} is not divisible by 2^{depth} (deconv depth {depth})")
        self.start_channels = channels[0]
        self.coord_channels = coord_channels
        extra = COORD_CHANNELS if coord_channels else 0
        self.mlp = mlp([latent_dim] + [hidden] * (mlp_layers - 1) + [self.start**2 * channels[0]], final_activation=True)
        pad = stride2_padding(kernel_size)
        self.deconvs = nn.ModuleList(
            nn.ConvTranspose2d(c_in + extra, c_out, kernel_size, stride=2, padding=pad)
            for c_in, c_out in zip((channels[0], *channels), (*channels, out_channels))
        )
        init_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, D]`` -> logits ``[B, C, H, W]``."""
        h = self.mlp(z).reshape(z.shape[0], self.start_channels, self.start, self.start)
        for i, deconv in enumerate(self.deconvs):
            if self.coord_channels:
                coords = coordinate_maps(h.shape[2], h.shape[3], device=h.device, dtype=h.dtype)
                h = torch.cat([h, coords.expand(h.shape[0], COORD_CHANNELS, -1, -1)], dim=1)
            h = deconv(h)
            if i < len(self.deconvs) - 1:
                h = F.relu(h)
        return h


class CoordConvDecoder(DeconvDecoder):
    """App. E's CoordConv VAE decoder: the DeConv decoder with x and y maps appended
    before every deconvolution (no tiling of z)."""

    def __init__(self, latent_dim: int = LATENT_DIM, out_channels: int = 3, **kwargs) -> None:
        super().__init__(latent_dim, out_channels, coord_channels=True, **kwargs)


class BroadcastConv(nn.Module):
    """The SBD's first layer: a "same" convolution of ``spatial_broadcast(z)``.

    :meth:`conv` convolves the broadcast tensor itself (Algorithm 1); calling the layer on
    ``z`` computes exactly the same thing without materialising the tiled input:

    Split the kernel into its latent part ``W_z`` and its coordinate part ``W_xy``. The latent
    channels are constant over space, so at pixel (i, j) their contribution is
    ``sum_c z_c * M[o, c, i, j]`` where ``M`` sums ``W_z`` over the taps that land inside the
    image (all of them in the interior, fewer at the border where "same" padding adds zeros).
    ``M`` is separable: ``M = R W_z C^T`` with ``R[i, u] = 1`` when tap row ``u`` is inside at
    row ``i``. The coordinate part is one small convolution shared by the whole batch. Cost
    per image: ``k * C_out * H * W`` multiply-adds instead of ``(k + 2) * C_out * H * W * K^2``.
    The weights are an ordinary ``[C_out, k + 2, K, K]`` conv weight, so checkpoints, init and
    gradients are those of the plain layer.
    """

    def __init__(self, latent_dim: int, out_channels: int, kernel_size: int, height: int, width: int,
                 *, shuffle_coords: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, latent_dim + COORD_CHANNELS, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.latent_dim, self.kernel_size = latent_dim, kernel_size
        coords = coordinate_maps(height, width)
        if shuffle_coords:
            coords = shuffle_pixels(coords)
        self.register_buffer("coords", coords, persistent=False)
        self.register_buffer("rows", self._valid_taps(height, kernel_size), persistent=False)
        self.register_buffer("cols", self._valid_taps(width, kernel_size), persistent=False)

    @staticmethod
    def _valid_taps(size: int, kernel_size: int) -> torch.Tensor:
        """``[size, K]``: 1 where kernel tap ``u`` reads a pixel inside the image."""
        before = same_padding(kernel_size)[0]
        i = torch.arange(size)[:, None]
        u = torch.arange(kernel_size)[None, :]
        src = i + u - before
        return ((src >= 0) & (src < size)).float()

    def conv(self, broadcast: torch.Tensor) -> torch.Tensor:
        """The plain "same" convolution of ``spatial_broadcast(z)`` ``[B, k + 2, H, W]`` -> ``[B, C_out, H, W]``."""
        return F.conv2d(F.pad(broadcast, same_padding(self.kernel_size)), self.weight, self.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, k]`` -> ``self.conv(spatial_broadcast(z))`` ``[B, C_out, H, W]``, without tiling."""
        # spatial_broadcast's channel order: the latents, then the coordinate maps.
        w_z, w_xy = self.weight[:, : self.latent_dim], self.weight[:, self.latent_dim :]
        # M[c, o, i, j]: latent c's weight summed over the taps that are inside at (i, j).
        m = torch.einsum("iu,ocuv,jv->coij", self.rows.to(z.dtype), w_z, self.cols.to(z.dtype))
        xy = F.conv2d(F.pad(self.coords[None].to(z.dtype), same_padding(self.kernel_size)), w_xy, self.bias)
        k, o, h, w = m.shape
        return torch.addmm(xy.reshape(1, -1), z, m.reshape(k, -1)).view(z.shape[0], o, h, w)


def fast_path_pays(z: torch.Tensor) -> bool:
    """Whether the SBD's exact fast path is the faster computation for latents ``z`` here.

    Measured per machine with ``benchmarks/bench_population.py``: in fp32 on a 2-core AVX2
    CPU the fast path trains faster; on a 2-core CPU with native bf16 (AMX), training under
    bf16 autocast, Algorithm 1 as written trained at 253 images/s against 155 for the fast
    path (paper size, batch 16). So: Algorithm 1 on a CPU under autocast, the fast path
    elsewhere (CUDA keeps it, as before).
    """
    return not (z.device.type == "cpu" and torch.is_autocast_enabled("cpu"))


class SpatialBroadcastDecoder(nn.Module):
    """The Spatial Broadcast decoder: optional MLP -> broadcast -> stride-1 convs -> logits.

    Table 1: tile z to 64 x 64 x 10, append x and y, Conv(4, s1, 64) x 2, Conv(4, s1, C).
    No upsampling anywhere.

    Args:
        latent_dim: k, the size of z.
        out_channels: C of the output image.
        width: Channels of every hidden conv layer.
        num_layers: Conv layers in all, the output layer included (Table 5: 2..5; default 3).
        kernel_size: Side of the conv kernels ("same" padding, even sizes as TensorFlow pads).
        mlp_layers: FC layers applied to z before broadcasting (Table 7; 0 = none), each
            ``mlp_width`` wide; the broadcast then tiles their output.
        upscales: How many of the last layers are stride-2 deconvolutions instead of
            convolutions (Table 10); the broadcast is at ``image_size / 2**upscales``.
        shuffle_coords: App. B ablation: permute the coordinate maps' pixels once (fixed seed),
            keeping each (x, y) pair together.
        image_size: Side of the output image.
        impl: How the same function is computed (not part of the architecture, so not in
            ``VAE.config``): ``"reference"`` runs Algorithm 1 as written (tile, append
            coordinates, direct convolutions); ``"fast"`` computes the first layer without
            tiling (:class:`BroadcastConv`) and lets :func:`sbdlib.convolutions.same_conv2d`
            pick an exact faster algorithm per layer; ``"auto"`` (default) chooses per call
            with :func:`fast_path_pays`. ``tests/test_models.py`` checks both give the same
            outputs and gradients.
    """

    def __init__(
        self,
        latent_dim: int = LATENT_DIM,
        out_channels: int = 3,
        *,
        width: int = WIDTH,
        num_layers: int = 3,
        kernel_size: int = KERNEL_SIZE,
        mlp_layers: int = 0,
        mlp_width: int = HIDDEN,
        upscales: int = 0,
        shuffle_coords: bool = False,
        image_size: int = IMAGE_SIZE,
        impl: str = "auto",
    ) -> None:
        super().__init__()
        for name, value in dict(latent_dim=latent_dim, out_channels=out_channels, width=width, num_layers=num_layers,
                                kernel_size=kernel_size, image_size=image_size).items():
            check_int(value, name)
        if num_layers < 2:
            raise ValueError(f"num_layers must be >= 2 (one hidden conv and the output conv), got {num_layers}")
        if not 0 <= upscales < num_layers:
            raise ValueError(f"upscales must be in [0, num_layers - 1] = [0, {num_layers - 1}], got {upscales}")
        if mlp_layers < 0:
            raise ValueError(f"mlp_layers must be >= 0, got {mlp_layers}")
        side = image_size // 2**upscales
        if side < 1 or image_size % 2**upscales:
            raise ValueError(f"image_size {image_size} is not divisible by 2^{upscales} (upscales)")
        self.side = side
        self.mlp = mlp([latent_dim] + [mlp_width] * mlp_layers, final_activation=True) if mlp_layers else nn.Identity()
        tiled = mlp_width if mlp_layers else latent_dim
        self.broadcast = BroadcastConv(tiled, width, kernel_size, side, side, shuffle_coords=shuffle_coords)
        layers: list[nn.Module] = []
        for i in range(1, num_layers):
            c_out = out_channels if i == num_layers - 1 else width
            if i >= num_layers - upscales:
                layers.append(nn.ConvTranspose2d(width, c_out, kernel_size, stride=2, padding=stride2_padding(kernel_size)))
            else:
                layers.append(SameConv2d(width, c_out, kernel_size))
        self.convs = nn.ModuleList(layers)
        init_weights(self)
        # BroadcastConv holds a plain conv weight: give it the same initialisation.
        trunc_normal_fan_in_(self.broadcast.weight, self.broadcast.weight[0].numel())
        self.set_impl(impl)

    def set_impl(self, impl: str) -> "SpatialBroadcastDecoder":
        """Choose ``"reference"`` (Algorithm 1 as written), ``"fast"`` (exact equivalents) or ``"auto"``."""
        if impl not in SBD_IMPLS:
            raise ValueError(f"impl must be one of {SBD_IMPLS}, got {impl!r}")
        self.impl = impl
        for layer in self.convs:
            if isinstance(layer, SameConv2d):
                layer.impl = "direct" if impl == "reference" else "auto"
        return self

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, k]`` -> logits ``[B, C, H, W]``."""
        z = self.mlp(z)
        if self.impl == "fast" or (self.impl == "auto" and fast_path_pays(z)):
            # Exact fast path: the same first convolution computed from z without tiling.
            h = self.broadcast(z)
        else:
            # Algorithm 1: tile z over the image, append the x and y maps, convolve ("same", stride 1).
            h = self.broadcast.conv(spatial_broadcast(z, self.side, self.side, coords=self.broadcast.coords))
        h = F.relu(h)
        for i, layer in enumerate(self.convs):
            h = layer(h)
            if i < len(self.convs) - 1:
                h = F.relu(h)
        return h


class Discriminator(nn.Module):
    """FactorVAE's discriminator (Kim & Mnih, 2018): 6 FC layers of 1000 units, LeakyReLU(0.2),
    2 logits (sample from q(z) vs. from the product of its marginals)."""

    def __init__(self, latent_dim: int = LATENT_DIM, hidden: int = 1000, num_layers: int = 6) -> None:
        super().__init__()
        for name, value in dict(latent_dim=latent_dim, hidden=hidden, num_layers=num_layers).items():
            check_int(value, name)
        layers: list[nn.Module] = []
        sizes = [latent_dim] + [hidden] * (num_layers - 1)
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        layers.append(nn.Linear(sizes[-1], 2))
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, D]`` -> logits ``[B, 2]``."""
        return self.net(z)


# --------------------------------------------------------------------------- the named decoders


@dataclass(frozen=True)
class DecoderInfo:
    """A named decoder: how :class:`VAE` builds it, and how every figure names and colours it.

    ``build(latent_dim, image_channels, width=, image_size=, deconv_channels=, options=)``
    returns the module; ``deconv_channels`` are the architecture's DeConv widths (Table 1 or
    2); ``options`` (the VAE's ``decoder_kwargs``) records the widths a DeConv decoder used.
    """

    build: Callable[..., nn.Module]
    label: str
    color: str


def _build_sbd(latent_dim: int, image_channels: int, *, width: int, image_size: int, deconv_channels: Sequence[int],
               options: dict[str, Any]) -> nn.Module:
    """The SBD at ``width`` (the same in Tables 1 and 2)."""
    return SpatialBroadcastDecoder(latent_dim, image_channels, width=width, image_size=image_size, **options)


def _build_deconv(cls: type) -> Callable[..., nn.Module]:
    """A builder of a DeConv-family decoder with the architecture's channels unless the options give them."""
    def build(latent_dim: int, image_channels: int, *, width: int, image_size: int, deconv_channels: Sequence[int],
              options: dict[str, Any]) -> nn.Module:
        options.setdefault("channels", deconv_channels)  # recorded in VAE.config, as checkpoints hold it
        return cls(latent_dim, image_channels, image_size=image_size, **options)
    return build


# The one place a decoder is added: its builder, display name and colour (plots.COLORS / LABELS).
# Order: how figures list them. Colours: colour-blind-safe Okabe-Ito vermillion, blue, bluish green.
DECODERS: dict[str, DecoderInfo] = {
    "deconv": DecoderInfo(_build_deconv(DeconvDecoder), "DeConv", "#D55E00"),
    "sbd": DecoderInfo(_build_sbd, "Spatial Broadcast", "#0072B2"),
    "coordconv": DecoderInfo(_build_deconv(CoordConvDecoder), "CoordConv", "#009E73"),
}


@dataclass(frozen=True)
class Variant:
    """A named ablation of a decoder: its display name (also its run-name part) and its options.

    ``options(width)`` gives the decoder's keyword arguments at a model width.
    """

    decoder: str
    label: str
    options: Callable[[int], dict[str, Any]]


def _option(name: str, value: Any) -> Callable[[int], dict[str, Any]]:
    """``options(width) = {name: value}``."""
    return lambda width: {name: value}


MAX_VARIANT_SIZE = 9  # depths, MLP layers and upscales of the named variants: 0..9
VARIANTS: dict[str, Variant] = {
    "shuffled-coords": Variant("sbd", "shuffled-coords", _option("shuffle_coords", True)),  # App. B
    **{f"sbd-depth-{n}": Variant("sbd", f"depth-{n}", _option("num_layers", n))  # Table 5: conv layers
       for n in range(MAX_VARIANT_SIZE + 1)},
    **{f"sbd-mlp-{n}": Variant("sbd", f"mlp-{n}", _option("mlp_layers", n))  # Table 7: FC layers before the broadcast
       for n in range(MAX_VARIANT_SIZE + 1)},
    **{f"sbd-upscale-{n}": Variant("sbd", f"upscale-{n}", _option("upscales", n))  # Table 10: stride-2 layers
       for n in range(MAX_VARIANT_SIZE + 1)},
    **{f"deconv-depth-{n}": Variant("deconv", f"depth-{n}",  # Table 6: deconvolutions in all
                                    lambda width, n=n: {"channels": (width,) * (n - 1)})
       for n in range(MAX_VARIANT_SIZE + 1)},
}


def variant_options(variant: str, width: int) -> dict[str, Any]:
    """Decoder options of a named ablation variant at a model width (empty name: the default architecture)."""
    if not variant:
        return {}
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected '', 'shuffled-coords', 'sbd-depth-N', 'sbd-mlp-N', "
                         f"'sbd-upscale-N' or 'deconv-depth-N' (N in 0..{MAX_VARIANT_SIZE}; models.VARIANTS)")
    return VARIANTS[variant].options(width)


# --------------------------------------------------------------------------- a model's identity

VARIANT_SEPARATOR = "/"  # model keys of ablation variants: "sbd/shuffled-coords"
VARIANT_TINT = 0.45  # a variant's colour: its decoder's, mixed this far towards white


def model_key(decoder: str, variant: str = "") -> str:
    """A model's key in figures and summaries: its decoder (``"sbd"``), or ``decoder/variant`` for a variant."""
    return f"{decoder}{VARIANT_SEPARATOR}{variant}" if variant else decoder


def model_label(decoder: str, variant: str = "") -> str:
    """A model's display name: its decoder's (``"Spatial Broadcast"``), and its variant's (``"..., depth-4"``)."""
    label = DECODERS[decoder].label
    return f"{label}, {VARIANTS[variant].label}" if variant else label


def model_color(decoder: str, variant: str = "") -> str:
    """A model's colour (``"#rrggbb"``): its decoder's, lightened for a variant, a member of its decoder's family."""
    color = DECODERS[decoder].color
    if not variant:
        return color
    rgb = [int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    return "#" + "".join(f"{round((c + VARIANT_TINT * (1.0 - c)) * 255):02x}" for c in rgb)


# Every registered model by its key: {key: (decoder, variant)}, looked up, never parsed.
MODELS: dict[str, tuple[str, str]] = {
    **{model_key(name): (name, "") for name in DECODERS},
    **{model_key(v.decoder, name): (v.decoder, name) for name, v in VARIANTS.items()},
}


# --------------------------------------------------------------------------- your own decoder

PLAIN_TYPES = (bool, int, float, str, type(None))


def _is_plain(value: Any) -> bool:
    """True for values a checkpoint can hold without pickled code (numbers, strings, lists, dicts)."""
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return isinstance(value, PLAIN_TYPES)


def decoder_arguments(module: nn.Module) -> dict[str, Any] | None:
    """The constructor arguments that rebuild ``module``, or ``None`` if they cannot be recorded.

    The protocol, in order: a ``module.config`` dict of keyword arguments (as :class:`VAE`
    keeps); else each constructor parameter stored as an attribute of the same name
    (``self.width = width``, the scikit-learn convention), parameters not stored taking
    their defaults. Every value must be plain (numbers, strings, lists, dicts).
    """
    config = getattr(module, "config", None)
    if isinstance(config, dict):
        return dict(config) if _is_plain(config) else None
    kwargs: dict[str, Any] = {}
    for name, p in inspect.signature(type(module).__init__).parameters.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if name in vars(module):
            value = vars(module)[name]
        elif p.default is not p.empty:
            continue
        else:
            return None  # a required argument the module did not keep
        if not _is_plain(value):
            return None
        kwargs[name] = value
    return kwargs


def describe_decoder(module: nn.Module) -> dict[str, Any]:
    """A checkpoint-safe description of a decoder module: ``{"module", "qualname", "kwargs"}``.

    ``module``/``qualname`` locate its class for import; ``kwargs`` are its constructor
    arguments (:func:`decoder_arguments`; ``None`` when they could not be recorded).
    :func:`build_decoder` turns the description back into a fresh module (weights are
    loaded separately), so a checkpoint never holds pickled code.
    """
    cls = type(module)
    return {"module": cls.__module__, "qualname": cls.__qualname__, "kwargs": decoder_arguments(module)}


def build_decoder(description: dict[str, Any]) -> nn.Module:
    """Rebuild a decoder module from :func:`describe_decoder`'s description (fresh weights).

    Raises:
        ValueError: One line saying why the class cannot be rebuilt and how to fix it.
    """
    if not isinstance(description, dict) or set(description) != {"module", "qualname", "kwargs"}:
        raise ValueError(f"a decoder description is a dict with keys module, qualname and kwargs; got {description!r}")
    path = f"{description['module']}.{description['qualname']}"
    fix = ("define the class in an importable .py file and build it from there, or build the model yourself and "
           "load into it: load_checkpoint(path, vae=VAE(decoder=YourDecoder(...), ...))")
    if "<locals>" in description["qualname"]:
        raise ValueError(f"cannot rebuild decoder {path}: it was defined inside a function; {fix}")
    try:
        obj: Any = importlib.import_module(description["module"])
        for part in description["qualname"].split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        where = " (defined in a notebook or script that is not running now)" if description["module"] == "__main__" else ""
        raise ValueError(f"cannot rebuild decoder {path}: no such class here{where}; {fix}") from None
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise ValueError(f"cannot rebuild decoder {path}: it is not an nn.Module class")
    if description["kwargs"] is None:
        raise ValueError(f"cannot rebuild decoder {path}: its constructor arguments were not recorded (keep them "
                         f"as self.config = dict(...) or as attributes named like the parameters); {fix}")
    try:
        return obj(**description["kwargs"])
    except Exception as exc:
        raise ValueError(f"cannot rebuild decoder {path} from {description['kwargs']}: "
                         f"{type(exc).__name__}: {exc}; {fix}") from None


def _check_decoder_output(module: nn.Module, latent_dim: int, channels: int, image_size: int) -> None:
    """Raise a ValueError unless ``module`` maps ``[2, latent_dim]`` to ``[2, channels, image_size, image_size]``."""
    param = next(module.parameters(), None)
    z = torch.zeros(2, latent_dim, device=param.device if param is not None else None)
    training = module.training
    try:
        with torch.no_grad():
            out = module.eval()(z)
    except Exception as exc:
        raise ValueError(f"decoder {type(module).__name__} failed on latents of shape [2, {latent_dim}]: "
                         f"{type(exc).__name__}: {exc}") from None
    finally:
        module.train(training)
    expected = (2, channels, image_size, image_size)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"decoder {type(module).__name__} must map latents [B, {latent_dim}] to images "
                         f"[B, {channels}, {image_size}, {image_size}]; got {got} for B = 2")


# --------------------------------------------------------------------------- the VAE


class VAE(nn.Module):
    """A VAE with the paper's encoder and a chosen decoder.

    Args:
        decoder: ``"sbd"``, ``"deconv"`` or ``"coordconv"``; or your own decoder, an
            ``nn.Module`` mapping latents ``[B, latent_dim]`` to image logits
            ``[B, channels, image_size, image_size]`` (see :func:`describe_decoder` for how
            a checkpoint rebuilds it); or the description :func:`describe_decoder` made of one.
        latent_dim: Number of latents (the paper: 10).
        channels: Image channels C.
        likelihood: ``"bernoulli"`` (default, the paper's runs: decoder output = logits) or
            ``"gaussian"`` (fixed variance 0.3, mean = decoder output; App. A's more stable start).
        beta: Weight of the KL term (1 = plain VAE). The one place beta lives: it is saved
            with the weights, and :class:`sbdlib.objectives.BetaVAE` reads it from here.
        width: Channels of every hidden conv layer in encoder and decoder (the paper: 64).
        image_size: Side of the square images.
        architecture: ``"table1"`` (default) or ``"table2"`` (FactorVAE's encoder channels
            32, 32, 64, 64 and DeConv 64, 64, 32, 32; the SBD is unchanged).
        decoder_kwargs: Extra options of the decoder class (the ablations: ``num_layers``,
            ``kernel_size``, ``mlp_layers``, ``upscales``, ``shuffle_coords``, ...); named
            decoders only.

    ``vae.config`` holds exactly these arguments, so ``VAE(**vae.config)`` rebuilds it (a
    decoder module is recorded there as its :func:`describe_decoder` description).
    ``vae.decoder_name`` is the decoder's name, or its class name for a module.
    """

    def __init__(
        self,
        decoder: str | nn.Module | dict = "sbd",
        latent_dim: int = LATENT_DIM,
        channels: int = 3,
        likelihood: str = PAPER_LIKELIHOOD,
        beta: float = 1.0,
        *,
        width: int = WIDTH,
        image_size: int = IMAGE_SIZE,
        architecture: str = "table1",
        decoder_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        module = build_decoder(decoder) if isinstance(decoder, dict) else decoder
        if isinstance(module, nn.Module):
            if decoder_kwargs:
                raise ValueError("decoder_kwargs configure a named decoder; build your decoder module with "
                                 "its options instead")
            decoder = describe_decoder(module)
        elif not isinstance(decoder, str) or decoder not in DECODERS:
            raise ValueError(f"unknown decoder {decoder!r}; expected one of {tuple(DECODERS)} or an nn.Module "
                             f"mapping latents [B, latent_dim] to images [B, C, H, W]")
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood {likelihood!r}; expected one of {LIKELIHOODS}")
        if architecture not in ("table1", "table2"):
            raise ValueError(f"unknown architecture {architecture!r}; expected 'table1' or 'table2'")
        if not isinstance(beta, (int, float)) or isinstance(beta, bool) or not (math.isfinite(beta) and beta >= 0):
            raise ValueError(f"beta must be a finite number >= 0 (the paper's range: 0.4 to 5.4), got {beta!r}")
        for name, value in dict(latent_dim=latent_dim, channels=channels).items():
            check_int(value, name)
        check_int(width, "width", minimum=2 if architecture == "table2" else 1)  # table2 halves it
        check_image_size(image_size)  # the encoder also needs a multiple of 16 (four stride-2 layers)
        decoder_kwargs = dict(decoder_kwargs or {})
        self.config = dict(decoder=decoder, latent_dim=latent_dim, channels=channels, likelihood=likelihood,
                           beta=float(beta), width=width, image_size=image_size, architecture=architecture,
                           decoder_kwargs=decoder_kwargs)
        if architecture == "table2":
            enc_channels, dec_channels = (width // 2, width // 2, width, width), (width, width, width // 2, width // 2)
        else:
            enc_channels = dec_channels = (width,) * 4
        self.encoder = Encoder(latent_dim, channels, channels=enc_channels, image_size=image_size)
        if isinstance(module, nn.Module):
            _check_decoder_output(module, latent_dim, channels, image_size)
            self.decoder = module
        else:
            self.decoder = DECODERS[decoder].build(latent_dim, channels, width=width, image_size=image_size,
                                                   deconv_channels=dec_channels, options=decoder_kwargs)
        self.decoder_name = type(module).__name__ if isinstance(module, nn.Module) else decoder
        self.latent_dim = latent_dim
        self.channels = channels
        self.image_size = image_size
        self.likelihood = likelihood
        self.beta = float(beta)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``[B, C, H, W]`` in [0, 1] -> (posterior mean ``[B, D]``, log-variance ``[B, D]``)."""
        _check_images(x, self.channels, self.image_size)
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, D]`` -> decoder output ``[B, C, H, W]`` (Gaussian mean or Bernoulli logits)."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected latents of shape [B, {self.latent_dim}], got {tuple(z.shape)}")
        return self.decoder(z)

    def to_image(self, out: torch.Tensor) -> torch.Tensor:
        """Decoder output -> the image it predicts, in [0, 1] (``[B, C, H, W]``)."""
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out.clamp(0.0, 1.0)

    def decode_image(self, z: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, D]`` -> images ``[B, C, H, W]`` in [0, 1]."""
        return self.to_image(self.decode(z))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``[B, C, H, W]`` -> reconstructions from the posterior means, in [0, 1]."""
        mean, _ = self.encode(x)
        return self.decode_image(mean)

    def nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of images ``x`` under decoder output ``out``, nats per image ``[B]``.

        Gaussian: ``sum((x - out)^2) / (2 * 0.3) + 0.5 * log(2 pi 0.3)`` per pixel, constant
        included. Bernoulli: binary cross-entropy with logits summed over pixels (the paper's).
        """
        if self.likelihood == "bernoulli":
            per_pixel = F.binary_cross_entropy_with_logits(out, x, reduction="none")
        else:
            per_pixel = (x - out) ** 2 / (2 * GAUSSIAN_VARIANCE) + 0.5 * math.log(2 * math.pi * GAUSSIAN_VARIANCE)
        return per_pixel.flatten(1).sum(1)

    def loss_terms(self, x: torch.Tensor, *, generator: torch.Generator | None = None,
                   noise: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One reparameterised pass: per-image NLL, KL and ELBO (nats) and the latents.

        Args:
            x: Images ``[B, C, H, W]`` in [0, 1].
            generator: Optional RNG for the reparameterisation noise (drawn in float32, so a
                run's noise does not depend on its precision).
            noise: The standard-normal noise ``[B, D]`` itself, drawn beforehand (a
                population draws each member's from its own generator).

        Returns:
            ``nll``, ``kl``, ``elbo`` (= nll + kl, the negative ELBO, as the paper reports it),
            each ``[B]``; ``loss`` = nll + beta * kl, ``[B]``; ``z``, ``mean``, ``logvar``, ``[B, D]``.
        """
        mean, logvar = self.encode(x)
        eps = noise if noise is not None else torch.randn(mean.shape, generator=generator, device=mean.device)
        z = mean + eps * torch.exp(0.5 * logvar)
        nll = self.nll(self.decode(z), x)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
        return dict(nll=nll, kl=kl, elbo=nll + kl, loss=nll + self.beta * kl, z=z, mean=mean, logvar=logvar)

    def forward(self, x: torch.Tensor, *, generator: torch.Generator | None = None,
                noise: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Batch means of :meth:`loss_terms`: ``loss`` (to minimise), ``nll``, ``kl``, ``elbo``."""
        t = self.loss_terms(x, generator=generator, noise=noise)
        return {k: t[k].mean() for k in ("loss", "nll", "kl", "elbo")}


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def activation_memory(vae: VAE, x: torch.Tensor) -> int:
    """Bytes of activations autograd keeps for the backward pass of one training step.

    Counts every tensor saved for backward during ``vae(x)`` once, parameters excluded:
    the memory that grows with the batch (the paper: the SBD needs about 50% more than the
    DeConv decoder, as all its activations are at full resolution).

    Args:
        vae: The model.
        x: A batch ``[B, C, H, W]``.
    """
    return saved_tensor_bytes(vae, x)
