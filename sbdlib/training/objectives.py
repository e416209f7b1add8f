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
FACTOR_VAE_LR = 1e-4          # the VAE's learning rate in the paper's FactorVAE runs (App. A)
FACTOR_VAE_DISC_LR = 2e-5     # discriminator learning rate (paper-facts, App. A)
FACTOR_VAE_BATCH_SIZE = 32    # the paper's FactorVAE batch (two halves of 16)
FACTOR_VAE_DISC_BETAS = (0.5, 0.9)  # Kim & Mnih's Adam betas for the discriminator


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per image, summed over latents: ``[B, k]`` x 2 -> ``[B]`` nats.

    The closed form ``0.5 * sum(mu^2 + exp(logvar) - 1 - logvar)``, as in :meth:`sbdlib.models.VAE.loss_terms`.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli negative log-likelihood of images ``x`` under decoder ``logits``: ``[B, C, H, W]`` x 2 -> ``[B]``.

    Binary cross-entropy with logits summed over pixels and channels (nats per image), the paper's
    likelihood, as in :meth:`sbdlib.models.VAE.nll`.
    """
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


class BetaVAE:
    """The negative ELBO with a weighted KL, ``NLL + beta * KL`` (beta = 1: the plain VAE).

    The loss is defined once, in :meth:`sbdlib.models.VAE.loss_terms`, and beta lives once,
    on the VAE (``VAE(beta=...)``, saved with its weights); this objective only averages
    over the batch. It holds no state, so one instance serves a whole population, and a
    population can run it as one stacked computation.
    """

    stackable = True  # the loss is ``vae.forward``: a population may vmap it over members

    def __call__(self, vae: VAE, x: torch.Tensor, *, generator: torch.Generator | None = None,
                 noise: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Images ``[B, C, H, W]`` -> batch means ``loss``, ``nll``, ``kl``, ``elbo``."""
        return vae(x, generator=generator, noise=noise)

    def after_step(self) -> dict[str, torch.Tensor]:
        """Nothing to do after the VAE's step."""
        return {}

    def state_dict(self) -> dict:
        """No state (beta is the VAE's)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Nothing to restore."""


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


def tc_estimate(logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's total-correlation estimate from its logits ``[B, 2]`` on samples of q(z): a 0-d tensor.

    Column 0 is the class "a sample of q(z)", column 1 "a sample of prod_j q(z_j)"; the
    difference of the logits is the log density ratio ``log q(z) / prod_j q(z_j)``, and its mean
    over the batch estimates the KL divergence between them, the total correlation.
    """
    return (logits[:, 0] - logits[:, 1]).mean()


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

    stackable = False  # its own discriminator and optimiser: a population runs members one by one

    def __init__(self, latent_dim: int, gamma: float = FACTOR_VAE_GAMMA, disc_lr: float = FACTOR_VAE_DISC_LR,
                 device: str | torch.device | None = None) -> None:
        if not gamma >= 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.gamma = gamma
        self.discriminator = Discriminator(latent_dim).to(device or "cpu")
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=disc_lr, betas=FACTOR_VAE_DISC_BETAS)
        self._pending: tuple[torch.Tensor, torch.Tensor] | None = None

    def __call__(self, vae: VAE, x: torch.Tensor, *, generator: torch.Generator | None = None
                 ) -> dict[str, torch.Tensor]:
        """Images ``[B, C, H, W]`` (B even, >= 4) -> batch means ``loss``, ``nll``, ``kl``, ``elbo``, ``tc``.

        ``generator`` (on ``x``'s device) draws all of the step's noise: both halves'
        reparameterisation and the dimension shuffle.
        """
        if x.shape[0] < 4 or x.shape[0] % 2:
            raise ValueError(f"FactorVAE needs an even batch of at least 4 images, got {x.shape[0]}")
        self.discriminator.to(x.device)
        half = x.shape[0] // 2
        t = vae.loss_terms(x[:half], generator=generator)
        tc = tc_estimate(self.discriminator(t["z"]))
        with torch.no_grad():
            mean, logvar = vae.encode(x[half:])
            z2 = mean + torch.randn(mean.shape, generator=generator, device=mean.device) * torch.exp(0.5 * logvar)
        self._pending = (t["z"].detach().float(), permute_dims(z2.float(), generator))
        nll, kl = t["nll"].mean(), t["kl"].mean()
        return dict(loss=t["loss"].mean() + self.gamma * tc, nll=nll, kl=kl, elbo=nll + kl, tc=tc)

    def after_step(self) -> dict[str, torch.Tensor]:
        """One discriminator step on the last batch's latents; returns its loss and accuracy (0-d tensors)."""
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
        return {"disc_loss": loss.detach(), "disc_accuracy": accuracy}

    def state_dict(self) -> dict:
        """Discriminator weights, its optimiser and gamma, for checkpoints."""
        return {"gamma": self.gamma, "discriminator": self.discriminator.state_dict(),
                "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.gamma = state["gamma"]
        self.discriminator.load_state_dict(state["discriminator"])
        self.optimizer.load_state_dict(state["optimizer"])
