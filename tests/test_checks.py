"""Tests of sbdlib.checks: the integer check and the seeding convention every module uses."""

import numpy as np
import pytest
import torch

from sbdlib.checks import MAX_SEED, check_image_size, check_int, check_seed, seeded_generator


def test_check_int_returns_python_ints():
    assert check_int(3, "n") == 3
    assert check_int(np.int64(5), "n") == 5 and type(check_int(np.int64(5), "n")) is int
    assert check_int(0, "skip", minimum=0) == 0


@pytest.mark.parametrize("value", [0, -2, 1.0, 2.5, True, "3", None])
def test_check_int_names_the_argument_value_and_expectation(value):
    with pytest.raises(ValueError, match=rf"batch_size must be an integer >= 1, got {value!r}"):
        check_int(value, "batch_size")


def test_seeded_generator_is_reproducible_and_local():
    state = torch.random.get_rng_state()
    a = torch.rand(5, generator=seeded_generator(3))
    b = torch.rand(5, generator=seeded_generator(3))
    assert torch.equal(a, b) and not torch.equal(a, torch.rand(5, generator=seeded_generator(4)))
    assert torch.equal(a, torch.rand(5, generator=torch.Generator().manual_seed(3)))  # the same stream as torch's
    assert torch.equal(state, torch.random.get_rng_state())
    with pytest.raises(ValueError, match="seed must be an integer between 0 and"):
        seeded_generator(-1)
    with pytest.raises(ValueError, match=f"seed must be an integer between 0 and {2**64 - 1}, got {2**70}"):
        seeded_generator(2**70)


def test_seeds_and_image_sizes_have_bounds():
    assert check_seed(MAX_SEED) == MAX_SEED and check_image_size(64) == 64
    with pytest.raises(ValueError, match=f"each seed must be an integer between 0 and {MAX_SEED}, got {2**70}"):
        check_seed(2**70, "each seed")
    for size in (3, 100000):
        with pytest.raises(ValueError, match=f"image_size must be an integer between 8 and 256, got {size}"):
            check_image_size(size)
