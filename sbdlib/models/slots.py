"""Where the SBD went next: an object-centric autoencoder whose slots are each decoded into an image and a mask.

MONet, IODINE, GENESIS and Slot Attention decode every *slot* (one latent vector per object)
with a Spatial Broadcast decoder into RGB and an alpha logit; the alphas are softmaxed over
the slots into masks, and the image is the masks' mixture of the slots' RGB. Here:

* :class:`SlotAttention` -- Locatello et al. (2020): K slots compete, by a softmax over the
  slots, for the encoder's feature vectors, and are refined over a few iterations.
* :class:`SlotEncoder` -- a small CNN with a soft position embedding: ``[B, C, H, W] -> [B, H*W, D]``.
* :func:`composite` -- the mixture: per-slot ``[B, K, C + 1, H, W]`` -> image and masks.
* :class:`SlotAutoencoder` -- encoder, slot attention, one per-slot decoder shared by all slots
  (the Spatial Broadcast decoder or a DeConv decoder of :mod:`sbdlib.models`), compositing.

The object-discovery recipe (as in Locatello et al.'s published object-discovery code): the
model sees and paints images in [-1, 1] (:func:`to_signed`), each slot's RGB is linear (no
sigmoid; only the alphas go through a softmax, over the slots), and the loss is the squared
error in those units. Training also clips the gradient's global norm (:mod:`sbdlib.experiments.object_runs`).
The model's inputs and its returned ``recon`` and ``rgb`` stay in the images' [0, 1].
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from sbdlib.checks import check_int
from sbdlib.models.broadcast import coordinate_maps
from sbdlib.models.decoders import DeconvDecoder, SpatialBroadcastDecoder

SLOT_DECODERS = ("sbd", "deconv")
SLOT_ITERATIONS = 3
EPSILON = 1e-8  # keeps the attention's weighted mean finite where a slot wins no feature


def to_signed(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> [-1, 1], the range the object-discovery recipe trains in."""
    return images * 2 - 1


def from_signed(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> [0, 1] (the inverse of :func:`to_signed`)."""
    return (images + 1) / 2


def composite(slot_outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mix per-slot outputs into one image: ``[B, K, C + 1, H, W]`` -> image, masks, slot RGB.

    The last channel of each slot is its alpha logit; a softmax over the K slots makes the
    masks ``[B, K, 1, H, W]`` (they sum to one at every pixel), and the image ``[B, C, H, W]``
    is ``sum_k masks_k * rgb_k`` with ``rgb_k`` the slot's first C channels as they are
    (linear, in the [-1, 1] units the model paints in).
    """
    rgb = slot_outputs[:, :, :-1]
    masks = torch.softmax(slot_outputs[:, :, -1:], dim=1)
    return (masks * rgb).sum(dim=1), masks, rgb


class SlotAttention(nn.Module):
    """Slot Attention: ``[B, N, D]`` features -> ``[B, K, D]`` slots and the attention ``[B, K, N]``.

    Each iteration: every feature's attention is a softmax over the slots (the slots compete
    for it); every slot takes the attention-weighted mean of the features' values, and a
    GRU and a residual MLP update it. The first slots are drawn from a learned Gaussian.
    """

    def __init__(self, num_slots: int, dim: int, *, iterations: int = SLOT_ITERATIONS, hidden: int | None = None,
                 learned_init: bool = False) -> None:
        super().__init__()
        for name, value in dict(num_slots=num_slots, dim=dim, iterations=iterations).items():
            check_int(value, name)
        self.num_slots, self.dim, self.iterations, self.learned_init = num_slots, dim, iterations, learned_init
        # The first slots: K learned vectors (learned_init), else K draws from one learned Gaussian.
        self.mu = nn.Parameter(torch.randn(1, num_slots if learned_init else 1, dim) * dim**-0.5)
        self.log_sigma = nn.Parameter(torch.full((1, 1, dim), math.log(dim**-0.5)), requires_grad=not learned_init)
        self.norm_features = nn.LayerNorm(dim)
        self.norm_slots = nn.LayerNorm(dim)
        self.norm_mlp = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.gru = nn.GRUCell(dim, dim)
        hidden = hidden or 2 * dim
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def forward(self, features: torch.Tensor, generator: torch.Generator | None = None,
                key_features: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Features ``[B, N, D]`` -> slots ``[B, K, D]``, attention ``[B, K, N]`` (each feature's sums to 1 over K).

        ``key_features`` (default ``features``) are what the slots attend by; the slots take the
        weighted mean of ``features``' values.
        """
        b, _, d = features.shape
        features = self.norm_features(features)
        keys = features if key_features is None else self.norm_features(key_features)
        k, v = self.to_k(keys), self.to_v(features)
        if self.learned_init:
            slots = self.mu.expand(b, -1, -1)
        else:
            noise = torch.randn(b, self.num_slots, d, generator=generator, device=features.device, dtype=features.dtype)
            slots = self.mu + self.log_sigma.exp() * noise
        for _ in range(self.iterations):
            previous = slots
            q = self.to_q(self.norm_slots(slots))
            attn = torch.softmax(torch.einsum("bkd,bnd->bkn", q, k) * d**-0.5, dim=1)  # slots compete per feature
            weights = (attn + EPSILON) / (attn + EPSILON).sum(dim=2, keepdim=True)  # weighted mean over features
            updates = torch.einsum("bkn,bnd->bkd", weights, v)
            slots = self.gru(updates.reshape(-1, d), previous.reshape(-1, d)).reshape(b, self.num_slots, d)
            slots = slots + self.mlp(self.norm_mlp(slots))
        return slots, attn


class SlotEncoder(nn.Module):
    """Images ``[B, C, H, W]`` -> features ``[B, H*W, D]``: stride-1 convolutions plus a soft position embedding.

    The position embedding is a linear map of four maps (x, y, 1 - x, 1 - y in [0, 1]) added
    to the CNN's output; an MLP then mixes them per pixel.
    """

    def __init__(self, in_channels: int, dim: int, *, width: int, image_size: int, num_layers: int = 3,
                 kernel_size: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(num_layers):
            layers += [nn.Conv2d(in_channels if i == 0 else width, width, kernel_size, padding=kernel_size // 2),
                       nn.ReLU()]
        self.convs = nn.Sequential(*layers)
        xy = (coordinate_maps(image_size, image_size) + 1) / 2  # [2, H, W] in [0, 1]
        self.register_buffer("grid", torch.cat([xy, 1 - xy]).flatten(1).T.contiguous(), persistent=False)  # [N, 4]
        self.position = nn.Linear(4, width)
        self.norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, dim), nn.ReLU(), nn.Linear(dim, dim))

    def forward(self, x: torch.Tensor, *, with_position: bool = True) -> torch.Tensor:
        """``[B, C, H, W]`` -> ``[B, H*W, D]`` (``with_position=False``: the appearance alone)."""
        h = self.convs(x).flatten(2).transpose(1, 2)
        return self.mlp(self.norm(h + self.position(self.grid) if with_position else h))


def slot_decoder(kind: str, dim: int, out_channels: int, *, width: int, image_size: int) -> nn.Module:
    """The per-slot decoder: ``"sbd"`` (broadcast, 3 x 3 convs) or ``"deconv"`` (2 x 2 start, stride-2 deconvs).

    Both map a slot ``[B, D]`` to ``[B, out_channels, H, W]`` at ``width`` channels.
    """
    if kind == "sbd":
        return SpatialBroadcastDecoder(dim, out_channels, width=width, num_layers=3, kernel_size=3,
                                       image_size=image_size)
    if kind == "deconv":
        depth = int(math.log2(image_size)) - 1  # from 2 x 2 up to the image
        return DeconvDecoder(dim, out_channels, channels=(width,) * (depth - 1), image_size=image_size)
    raise ValueError(f"unknown slot decoder {kind!r}; expected one of {SLOT_DECODERS}")


class SlotAutoencoder(nn.Module):
    """Encoder -> Slot Attention -> the same decoder for every slot -> :func:`composite`.

    ``forward(x)`` returns a dict: ``recon`` ``[B, C, H, W]``, ``masks`` ``[B, K, 1, H, W]``,
    ``rgb`` ``[B, K, C, H, W]``, ``slots`` ``[B, K, D]`` and ``attn`` ``[B, K, H*W]``.
    """

    def __init__(self, decoder: str = "sbd", *, num_slots: int = 4, dim: int = 32, width: int = 32,
                 image_size: int = 32, channels: int = 3, iterations: int = SLOT_ITERATIONS,
                 learned_init: bool = False, keys_see_position: bool = True, decoder_width: int | None = None) -> None:
        super().__init__()
        self.config: dict[str, Any] = dict(decoder=decoder, num_slots=num_slots, dim=dim, width=width,
                                           image_size=image_size, channels=channels, iterations=iterations,
                                           learned_init=learned_init, keys_see_position=keys_see_position,
                                           decoder_width=decoder_width)
        self.keys_see_position = keys_see_position
        self.encoder = SlotEncoder(channels, dim, width=width, image_size=image_size)
        self.slot_attention = SlotAttention(num_slots, dim, iterations=iterations, learned_init=learned_init)
        self.decoder = slot_decoder(decoder, dim, channels + 1, width=decoder_width or width, image_size=image_size)

    def decode_slots(self, slots: torch.Tensor) -> torch.Tensor:
        """Slots ``[B, K, D]`` -> per-slot RGB logits and alpha logit ``[B, K, C + 1, H, W]``."""
        b, k, d = slots.shape
        out = self.decoder(slots.reshape(b * k, d))
        return out.reshape(b, k, *out.shape[1:])

    def paint(self, slots: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Slots ``[B, K, D]`` -> image ``[B, C, H, W]``, masks ``[B, K, 1, H, W]``, slot RGB ``[B, K, C, H, W]``, in [0, 1] units."""
        image, masks, rgb = composite(self.decode_slots(slots))
        return from_signed(image), masks, from_signed(rgb)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Images ``[B, C, H, W]`` in [0, 1] -> reconstruction, masks and slots (see the class).

        The encoder sees the images in [-1, 1]; ``recon`` and ``rgb`` come back in [0, 1] units
        (linear outputs, so not clipped: a painted value may lie a little outside).
        """
        signed = to_signed(x)
        keys = None if self.keys_see_position else self.encoder(signed, with_position=False)
        slots, attn = self.slot_attention(self.encoder(signed), generator, keys)
        recon, masks, rgb = self.paint(slots)
        return dict(recon=recon, masks=masks, rgb=rgb, slots=slots, attn=attn)
