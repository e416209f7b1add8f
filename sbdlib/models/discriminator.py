"""FactorVAE's total-correlation discriminator (notebook 12)."""

from __future__ import annotations

import torch
from torch import nn

from sbdlib.checks import check_int
from sbdlib.models.layers import LATENT_DIM, init_weights


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
