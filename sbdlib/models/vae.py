"""The VAE: an encoder, one of the decoders (or your own module) and a likelihood; its parameter count
and activation memory.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sbdlib.checks import check_image_size, check_int
from sbdlib.devices import saved_tensor_bytes
from sbdlib.models.descriptions import _check_decoder_output, build_decoder, describe_decoder
from sbdlib.models.encoder import Encoder
from sbdlib.models.layers import IMAGE_SIZE, LATENT_DIM, WIDTH, _check_images
from sbdlib.models.registry import DECODERS
from sbdlib.scales import PAPER_LIKELIHOOD

GAUSSIAN_VARIANCE = 0.3  # the paper's advice: fixed decoder variance
LIKELIHOODS = ("gaussian", "bernoulli")


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
            with the weights, and :class:`sbdlib.training.objectives.BetaVAE` reads it from here.
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
