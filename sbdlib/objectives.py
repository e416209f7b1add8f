"""Training objectives: the (beta-)VAE ELBO and FactorVAE.

An objective is called on a batch and returns batch-mean scalars, ``loss`` (what the
optimiser minimises) plus the quantities to log; ``after_step`` runs once the VAE's
optimiser has stepped (FactorVAE trains its discriminator there). Both keep their own
state in ``state_dict`` so a resumed run continues exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sbdlib.models import VAE, Discriminator

FACTOR_VAE_GAMMA = 35.0       # the paper's gamma for colored sprites
FACTOR_VAE_DISC_LR = 2e-5     # discriminator learning rate (paper-facts, App. A)
FACTOR_VAE_DISC_BETAS = (0.5, 0.9)  # Kim & Mnih's Adam betas for the discriminator


class BetaVAE:
    """The negative ELBO with a weighted KL: ``NLL + beta * KL`` (beta = 1: the plain VAE).

    Args:
        beta: KL weight; ``None`` uses the VAE's own ``beta``.
    """

    def __init__(self, beta: float | None = None) -> None:
        if beta is not None and not beta >= 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.beta = beta

    def __call__(self, vae: VAE, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Images ``[B, C, H, W]`` -> batch means ``loss``, ``nll``, ``kl``, ``elbo``."""
        t = vae.loss_terms(x)
        beta = vae.beta if self.beta is None else self.beta
        nll, kl = t["nll"].mean(), t["kl"].mean()
        return dict(loss=nll + beta * kl, nll=nll, kl=kl, elbo=nll + kl)

    def after_step(self) -> dict[str, float]:
        """Nothing to do after the VAE's step."""
        return {}

    def state_dict(self) -> dict:
        """Plain state for checkpoints."""
        return {"beta": self.beta}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.beta = state.get("beta")


def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shuffle each latent dimension independently across the batch: samples of prod_j q(z_j).

    Args:
        z: Latent samples ``[B, D]``.

    Returns:
        ``[B, D]`` with every column permuted by its own random permutation.
    """
    b, d = z.shape
    idx = torch.argsort(torch.rand(b, d, generator=generator, device=z.device), dim=0)
    return torch.gather(z, 0, idx)


class FactorVAE:
    """Kim & Mnih's FactorVAE: ``NLL + KL + gamma * TC``, TC estimated by a discriminator.

    Each batch is split in two halves. The first gives the VAE loss and the density-ratio
    estimate of total correlation, ``TC ~ mean(D(z)_0 - D(z)_1)``; the discriminator then
    learns to tell the first half's z (label 0) from the second half's z with its dimensions
    shuffled across the batch (label 1), with its own Adam optimiser.

    Args:
        latent_dim: Size of z.
        gamma: TC weight (the paper: 35).
        disc_lr: Discriminator learning rate (the paper: 2e-5).
        device: Where the discriminator lives (move it with the VAE otherwise).
    """

    def __init__(self, latent_dim: int, gamma: float = FACTOR_VAE_GAMMA, disc_lr: float = FACTOR_VAE_DISC_LR,
                 device: str | torch.device | None = None) -> None:
        if not gamma >= 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.gamma = gamma
        self.discriminator = Discriminator(latent_dim).to(device or "cpu")
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=disc_lr, betas=FACTOR_VAE_DISC_BETAS)
        self._pending: tuple[torch.Tensor, torch.Tensor] | None = None

    def __call__(self, vae: VAE, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Images ``[B, C, H, W]`` (B even, >= 4) -> batch means ``loss``, ``nll``, ``kl``, ``elbo``, ``tc``."""
        if x.shape[0] < 4 or x.shape[0] % 2:
            raise ValueError(f"FactorVAE needs an even batch of at least 4 images, got {x.shape[0]}")
        self.discriminator.to(x.device)
        half = x.shape[0] // 2
        t = vae.loss_terms(x[:half])
        logits = self.discriminator(t["z"])
        tc = (logits[:, 0] - logits[:, 1]).mean()
        with torch.no_grad():
            mean, logvar = vae.encode(x[half:])
            z2 = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        self._pending = (t["z"].detach(), permute_dims(z2))
        nll, kl = t["nll"].mean(), t["kl"].mean()
        return dict(loss=nll + kl + self.gamma * tc, nll=nll, kl=kl, elbo=nll + kl, tc=tc)

    def after_step(self) -> dict[str, float]:
        """One discriminator step on the last batch's latents; returns its loss and accuracy."""
        if self._pending is None:
            return {}
        z, z_perm = self._pending
        self._pending = None
        logits = self.discriminator(torch.cat([z, z_perm]))
        labels = torch.cat([torch.zeros(len(z), dtype=torch.long), torch.ones(len(z_perm), dtype=torch.long)]).to(z.device)
        loss = F.cross_entropy(logits, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        accuracy = (logits.argmax(1) == labels).float().mean()
        return {"disc_loss": float(loss.detach()), "disc_accuracy": float(accuracy)}

    def state_dict(self) -> dict:
        """Discriminator weights, its optimiser and gamma, for checkpoints."""
        return {"gamma": self.gamma, "discriminator": self.discriminator.state_dict(),
                "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.gamma = state["gamma"]
        self.discriminator.load_state_dict(state["discriminator"])
        self.optimizer.load_state_dict(state["optimizer"])
