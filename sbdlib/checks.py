"""The two conventions every sbdlib module shares: integer arguments and seeds.

Integer arguments (image counts, batch sizes, layer widths, ...) are checked by
:func:`check_int`, which names the argument, shows the value and says what was expected.

Seeding (the one convention of the library):

* A function that makes a random result from scratch takes an integer ``seed`` and builds
  its own local generator with :func:`seeded_generator`: the same seed gives the same
  numbers, and torch's global RNG is neither read nor changed. Examples:
  ``FactorDataset.sample / sample_discrete / eval_set / stream``, ``metrics.evaluate``,
  ``metrics.factor_vae_score``, ``models.shuffle_pixels``, ``training.train(seed=...)``.
* A function that is one step of a longer random computation takes that computation's
  ``generator`` instead, so that successive calls continue one stream: the dataset's
  ``sample_factors`` / ``sample_labels`` (called once per batch or vote), ``VAE.loss_terms``
  and the objectives (called once per training step). Whoever owns the computation builds
  the generator from a seed with :func:`seeded_generator`. Given ``generator=None``, the
  per-step functions fall back to torch's global RNG, as torch's own layers do.

Why seeds for entry points: a seed is a plain number that fits in a results row, a file
name and a notebook cell, and a local generator keeps notebooks and tests independent of
what ran before them. Why generators for steps: re-seeding at every step would repeat
or correlate the draws; one stream per computation is what makes runs (and resumes) exact.

The one place the global RNG is used on purpose is weight initialisation: torch's layers
draw their initial weights from it, so a model's seed is applied as ``torch.manual_seed(seed)``
just before building it (``sbdlib.experiments.train_population``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

MAX_SEED = 2**32 - 1            # a run's seed: training derives further seeds from it (seed x 1,000,003 must fit)
MAX_GENERATOR_SEED = 2**64 - 1  # the largest seed a torch.Generator takes
MIN_IMAGE_SIZE = 8              # smaller images cannot show an object and its position
MAX_IMAGE_SIZE = 256            # the paper's images are 64 px; 256 px is the most the course's models are sized for


def check_int(value: Any, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an ``int``, or a ValueError naming ``name`` unless it is an integer in ``[minimum, maximum]``.

    Python and numpy integers pass; bools, floats and strings do not.

    Args:
        value: The argument to check.
        name: Its name, for the error message.
        minimum: The smallest allowed value (1 for sizes, 0 for counts that may be empty).
        maximum: The largest allowed value (``None``: no bound).

    Returns:
        ``int(value)``.
    """
    bad = not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum
    if bad or (maximum is not None and value > maximum):
        expected = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ValueError(f"{name} must be an integer {expected}, got {value!r}")
    return int(value)


def check_seed(value: Any, name: str = "seed") -> int:
    """A run's seed: an integer between 0 and :data:`MAX_SEED` (one clear error otherwise)."""
    return check_int(value, name, minimum=0, maximum=MAX_SEED)


def check_image_size(value: Any, name: str = "image_size") -> int:
    """An image side between :data:`MIN_IMAGE_SIZE` and :data:`MAX_IMAGE_SIZE` pixels (one clear error otherwise)."""
    return check_int(value, name, minimum=MIN_IMAGE_SIZE, maximum=MAX_IMAGE_SIZE)


def seeded_generator(seed: Any, device: torch.device | str | None = None) -> torch.Generator:
    """A new ``torch.Generator`` on ``device`` (default CPU) seeded with ``seed``.

    Args:
        seed: An integer >= 0.
        device: Where the generator draws (a CUDA generator for noise drawn on the GPU).

    Returns:
        The generator; the global RNG is left alone.
    """
    return torch.Generator(device=device or "cpu").manual_seed(check_int(seed, "seed", 0, MAX_GENERATOR_SEED))
