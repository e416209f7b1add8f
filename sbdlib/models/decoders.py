"""The decoders: DeConv, Spatial Broadcast (with its exact fast path) and CoordConv."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sbdlib.checks import check_int
from sbdlib.models.broadcast import COORD_CHANNELS, coordinate_maps, shuffle_pixels, spatial_broadcast
from sbdlib.models.layers import (HIDDEN, IMAGE_SIZE, KERNEL_SIZE, LATENT_DIM, WIDTH, SameConv2d, init_weights, mlp,
                                  same_padding, stride2_padding, trunc_normal_fan_in_)

SBD_IMPLS = ("auto", "fast", "reference")  # SpatialBroadcastDecoder(impl=...): same function, two computations


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
            tiling (:class:`BroadcastConv`) and lets :func:`sbdlib.models.convolutions.same_conv2d`
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
