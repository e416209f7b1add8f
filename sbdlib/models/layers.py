"""The building blocks every network here is made of: the paper's sizes, TensorFlow's "same" padding,
the fast same convolution, initialisation and MLPs.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from sbdlib.models.convolutions import same_conv2d, same_padding_1d
from sbdlib.scales import PAPER_IMAGE_SIZE, PAPER_WIDTH

LATENT_DIM = 10
IMAGE_SIZE = PAPER_IMAGE_SIZE
WIDTH = PAPER_WIDTH
KERNEL_SIZE = 4
HIDDEN = 256


def same_padding(kernel_size: int) -> tuple[int, int, int, int]:
    """TensorFlow's "same" padding for stride 1 as ``F.pad`` wants it: (left, right, top, bottom).

    An even kernel pads one pixel less before than after, as TensorFlow does.
    """
    before, after = same_padding_1d(kernel_size)
    return (before, after, before, after)


class SameConv2d(nn.Conv2d):
    """A stride-1 convolution with TensorFlow's "same" padding (also for even kernels).

    Computed by :func:`sbdlib.models.convolutions.same_conv2d`: on CPU, wide layers use an exact
    Winograd algorithm with fewer multiplications than the direct convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, impl: str = "auto") -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=1, padding=0)
        self.impl = impl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C_in, H, W] -> [B, C_out, H, W]``."""
        return same_conv2d(x, self.weight, self.bias, impl=self.impl)


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
