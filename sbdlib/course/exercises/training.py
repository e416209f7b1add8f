"""Checkers of notebook 03 (training a VAE): the Gaussian KL, the Bernoulli NLL, one training step."""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from sbdlib.course.exercises._checking import NOT_ATTEMPTED, attempted, compare, generator, name_of, passed
from sbdlib.models import VAE
from sbdlib.training import train_step
from sbdlib.training.objectives import bernoulli_nll, gaussian_kl

__all__ = ["check_gaussian_kl", "check_bernoulli_nll", "check_train_step"]


# --------------------------------------------------------------------------- the KL term


_KL_MISTAKES = [
    ("the 1/2 missing: KL = 0.5 * sum(mu^2 + exp(logvar) - 1 - logvar)", lambda m, lv: 2 * gaussian_kl(m, lv)),
    ("the mean over latents instead of the sum: the KL of independent latents adds up",
     lambda m, lv: gaussian_kl(m, lv) / m.shape[1]),
    ("a sign error: the KL is >= 0, the terms are mu^2 + exp(logvar) - 1 - logvar", lambda m, lv: -gaussian_kl(m, lv)),
    ("the sign of the log-variance term flipped: it is - logvar",
     lambda m, lv: 0.5 * (m**2 + lv.exp() - 1 + lv).sum(1)),
    ("the standard deviation where the variance belongs: the variance is exp(logvar), not exp(0.5 * logvar)",
     lambda m, lv: 0.5 * (m**2 + (0.5 * lv).exp() - 1 - lv).sum(1)),
    ("the log-variance used as the variance: the variance is exp(logvar)",
     lambda m, lv: 0.5 * (m**2 + lv - 1 - lv.abs().clamp_min(1e-12).log()).sum(1)),
    ("the mean over the batch: return one KL per image, shape [B]", lambda m, lv: gaussian_kl(m, lv).mean()),
]


def check_gaussian_kl(fn: Callable) -> None:
    """Check ``fn(mu [B, k], logvar [B, k]) -> [B]`` against :func:`sbdlib.training.objectives.gaussian_kl`."""
    name = name_of(fn)
    g = generator(5)
    cases = [("B=4, k=10, random", torch.randn(4, 10, generator=g), torch.randn(4, 10, generator=g)),
             ("the prior itself: mu = 0, logvar = 0 (KL = 0)", torch.zeros(3, 5), torch.zeros(3, 5)),
             ("B=1, k=1", torch.tensor([[1.5]]), torch.tensor([[-2.0]])),
             ("B=8, k=3, wide posteriors", 2 * torch.randn(8, 3, generator=g), 1 + torch.rand(8, 3, generator=g))]
    for case, mu, logvar in cases:
        got = attempted(fn, mu.clone(), logvar.clone())
        if got is NOT_ATTEMPTED:
            return
        compare(name, got, gaussian_kl(mu, logvar), (mu, logvar), _KL_MISTAKES, case=case)
    passed(name, f"{len(cases)} cases (the prior, one latent, wide posteriors) match sbdlib.training.objectives.gaussian_kl")


# --------------------------------------------------------------------------- the likelihood


_NLL_MISTAKES = [
    ("the mean over pixels instead of the sum: the NLL is nats per image, summed over every pixel and channel",
     lambda lg, x: bernoulli_nll(lg, x) / lg[0].numel()),
    ("a sigmoid applied before binary_cross_entropy_with_logits: that function takes logits and applies it itself",
     lambda lg, x: bernoulli_nll(torch.sigmoid(lg), x)),
    ("the arguments swapped: binary_cross_entropy_with_logits(logits, x) takes the logits first",
     lambda lg, x: F.binary_cross_entropy_with_logits(x, lg, reduction="none").flatten(1).sum(1)),
    ("the sign missing: the NLL is minus the log-likelihood, positive", lambda lg, x: -bernoulli_nll(lg, x)),
    ("the mean over the batch: return one NLL per image, shape [B]", lambda lg, x: bernoulli_nll(lg, x).mean()),
]


def check_bernoulli_nll(fn: Callable) -> None:
    """Check ``fn(logits [B, C, H, W], x [B, C, H, W]) -> [B]`` against :func:`sbdlib.training.objectives.bernoulli_nll`."""
    name = name_of(fn)
    g = generator(6)
    cases = [("B=4, 3 x 8 x 8, grey-level targets", 3 * torch.randn(4, 3, 8, 8, generator=g), torch.rand(4, 3, 8, 8, generator=g)),
             ("B=2, 1 x 5 x 7, binary targets", 2 * torch.randn(2, 1, 5, 7, generator=g),
              (torch.rand(2, 1, 5, 7, generator=g) > 0.5).float()),
             ("large logits (+-30): a stable formula is needed", 30 * torch.randn(3, 3, 4, 4, generator=g).sign(),
              torch.rand(3, 3, 4, 4, generator=g))]
    for case, logits, x in cases:
        got = attempted(fn, logits.clone(), x.clone())
        if got is NOT_ATTEMPTED:
            return
        compare(name, got, bernoulli_nll(logits, x), (logits, x), _NLL_MISTAKES, case=case, atol=1e-4,
                hint="With large logits, log(sigmoid(.)) overflows: F.binary_cross_entropy_with_logits is stable.")
    passed(name, f"{len(cases)} cases (grey and binary targets, logits of +-30) match sbdlib.training.objectives.bernoulli_nll")


# --------------------------------------------------------------------------- one training step


CHECK_LATENTS = 3  # the small VAE a step is checked on: 3 latents, 1 x 16 x 16 images, width 4
CHECK_SIZE = 16
CHECK_BETA = 4.0
CHECK_MEAN_SHIFT = 2.0  # added to the encoder's mean bias so the KL is large enough to see beta
KEYS = ("loss", "nll", "kl")


def _step_variant(*, zero_grad: bool = True, step: bool = True, use_beta: bool = True, batch_mean: bool = True
                  ) -> Callable:
    """A training step with one of its parts left out or changed."""

    def wrong_step(vae: VAE, optimizer: torch.optim.Optimizer, x: torch.Tensor, beta: float) -> dict[str, float]:
        if zero_grad:
            optimizer.zero_grad()
        mu, logvar = vae.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        nll, kl = bernoulli_nll(vae.decode(z), x), gaussian_kl(mu, logvar)
        per_image = nll + (beta if use_beta else 1.0) * kl
        loss = per_image.mean() if batch_mean else per_image.sum()
        loss.backward()
        if step:
            optimizer.step()
        return {"loss": loss.item(), "nll": nll.mean().item(), "kl": kl.mean().item()}

    return wrong_step


_STEP_MISTAKES = [
    ("optimizer.zero_grad() forgotten: the gradients of every step add up", _step_variant(zero_grad=False)),
    ("optimizer.step() forgotten: the weights never change", _step_variant(step=False)),
    ("beta not applied: the loss is nll + beta * kl", _step_variant(use_beta=False)),
    ("the loss summed over the batch instead of averaged", _step_variant(batch_mean=False)),
]


def _as_float(value: Any, key: str, name: str) -> float:
    """A returned number as a float, or an AssertionError saying what came back."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise AssertionError(f"{name} returned {key}={value!r}; expected a float (use loss.item())")


def _run_steps(step_fn: Callable, steps: int = 2) -> torch.Tensor | None:
    """Run ``step_fn`` on a fixed small VAE and batches; returns the reported numbers then the final weights.

    The global generator is seeded inside ``fork_rng`` (the caller's random state is left as it was), so a
    step that draws its noise with ``torch.randn_like`` draws the same noise as the library's.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        vae = VAE("sbd", latent_dim=CHECK_LATENTS, channels=1, width=4, image_size=CHECK_SIZE)
        with torch.no_grad():
            vae.encoder.head[-1].bias[:CHECK_LATENTS] += CHECK_MEAN_SHIFT
        optimizer = torch.optim.Adam(vae.parameters(), lr=1e-2)
        g = generator(7)
        reported = []
        for i in range(steps):
            x = torch.rand(6, 1, CHECK_SIZE, CHECK_SIZE, generator=g)
            torch.manual_seed(100 + i)
            out = attempted(step_fn, vae, optimizer, x, CHECK_BETA)
            if out is NOT_ATTEMPTED:
                return None
            if not isinstance(out, dict) or not all(k in out for k in KEYS):
                raise AssertionError(f"{name_of(step_fn)} returned {type(out).__name__}"
                                     f"{' with keys ' + str(sorted(out)) if isinstance(out, dict) else ''}; "
                                     f"expected a dict with at least {list(KEYS)}")
            reported += [_as_float(out[k], k, name_of(step_fn)) for k in KEYS]
        weights = torch.cat([p.detach().flatten() for p in vae.parameters()])
    return torch.cat([torch.tensor(reported, dtype=torch.float64), weights.double()])


def check_train_step(fn: Callable) -> None:
    """Check ``fn(vae, optimizer, x [B, C, H, W], beta) -> dict`` (``loss``, ``nll``, ``kl``: batch means, floats)
    against :func:`sbdlib.training.train_step`, over two Adam steps on a small VAE."""
    name = name_of(fn)
    got = _run_steps(fn)
    if got is None:
        return
    expected = _run_steps(train_step)
    mistakes = [(mistake, (lambda variant=variant: _run_steps(variant))) for mistake, variant in _STEP_MISTAKES]
    compare(name, got, expected, (), mistakes, atol=1e-4, rtol=1e-3,
            case=f"two Adam steps on a {CHECK_LATENTS}-latent VAE, beta = {CHECK_BETA}",
            hint="Draw the noise with torch.randn_like(mu), so the check can draw the same noise.")
    loss, nll, kl = got[3:6].tolist()
    passed(name, f"two steps reproduce the library's (weights and reported numbers); last step: loss {loss:.2f} = "
                 f"nll {nll:.2f} + {CHECK_BETA:g} x kl {kl:.2f}")
