"""Supervised rendering (notebook 02): a decoder alone, taught to draw the image of given factor values.

No encoder and no KL: the decoder's input is the true factors, and its loss is the squared
error to the rendered image. It shows how easily each decoder learns to put an object at
(x, y), before any VAE is trained.
"""

from __future__ import annotations

import torch

from sbdlib.checks import seeded_generator


def train_renderer(
    decoder: torch.nn.Module,
    dataset,
    factor_names: tuple[str, ...] = ("x", "y"),
    *,
    steps: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
) -> list[float]:
    """Supervised rendering: teach a decoder to draw the image of given factor values.

    No encoder, no KL: the decoder's input is the true factors, rescaled to [-1, 1], and the
    loss is the squared error to the rendered image. Notebook 02 uses it to show how easily
    each decoder learns to put an object at (x, y).

    Args:
        decoder: Maps ``[B, len(factor_names)]`` -> ``[B, C, H, W]``.
        dataset: A procedural dataset (``sample_factors``, ``render``, ``factor_ranges``).
        factor_names: The factors fed to the decoder.
        steps: Optimiser steps.
        batch_size: Images per step.
        lr: Adam learning rate.
        seed: Fixes the factors drawn.

    Returns:
        The per-step mean squared error per pixel.
    """
    generator = seeded_generator(seed)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        factors = dataset.sample_factors(batch_size, generator)
        target = dataset.render(factors)
        code = dataset.normalise(factors, factor_names)
        loss = ((decoder(code) - target) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses
