"""The encoder of both VAEs: Conv(4, s2) x 4 -> FC 256 -> FC 2 x latents (Table 1)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from sbdlib.checks import check_int
from sbdlib.models.layers import HIDDEN, IMAGE_SIZE, KERNEL_SIZE, LATENT_DIM, WIDTH, init_weights, mlp, stride2_padding


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
