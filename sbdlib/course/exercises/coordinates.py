"""Checker of notebook 09 (coordinates): shuffle the pixels of coordinate maps, each pixel's channels together."""

from __future__ import annotations

from typing import Any, Callable

import torch

from sbdlib.course.exercises._checking import NOT_ATTEMPTED, as_tensor, attempted, generator, passed

__all__ = ["check_shuffle_pixels"]

CHECK_SIZE = (2, 8, 12)  # [C, H, W] of the maps checked: 96 pixels, so no permutation is the identity by chance


def _labelled_maps(c: int, h: int, w: int) -> torch.Tensor:
    """``[C, H, W]`` maps whose channel k at pixel p holds ``p + 1000 k``: every value names its pixel and channel."""
    pixels = torch.arange(h * w, dtype=torch.float32).reshape(1, h, w)
    return pixels + 1000 * torch.arange(c, dtype=torch.float32)[:, None, None]


def _permutation_of(got: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """The pixel each output pixel came from ([H * W], from channel 0); AssertionError naming the mistake if the
    output is not one permutation of the pixels applied to every channel."""
    c, h, w = maps.shape
    if got.shape != maps.shape:
        raise AssertionError(f"your shuffle_pixels returned shape {list(got.shape)}, expected {[c, h, w]} ([C, H, W])")
    flat = got.reshape(c, h * w)
    source = flat[0].round().long()
    if not torch.equal(torch.sort(source).values, torch.arange(h * w)):
        raise AssertionError("your shuffle_pixels does not return the same pixels rearranged: every input pixel must "
                             "appear exactly once in the output")
    together = torch.equal(flat, maps.reshape(c, h * w)[:, source].double())
    if not together:
        each = all(torch.equal(torch.sort(flat[k]).values, torch.sort(maps[k].reshape(-1).double()).values)
                   for k in range(c))
        if each:
            raise AssertionError("it looks like each channel permuted on its own: the (x, y) pairs are broken; draw "
                                 "ONE permutation of the H * W pixels and apply it to every channel")
        raise AssertionError("your shuffle_pixels mixes values between channels; keep each pixel's channels together")
    return source


def check_shuffle_pixels(fn: Callable[..., Any]) -> None:
    """Check ``fn(maps [C, H, W], generator) -> [C, H, W]``: the pixels permuted once, with the permutation
    drawn from ``generator``, each pixel's channels kept together."""
    c, h, w = CHECK_SIZE
    maps = _labelled_maps(c, h, w)
    got = attempted(fn, maps.clone(), generator(0))
    if got is NOT_ATTEMPTED:
        return
    source = _permutation_of(as_tensor(got, "your shuffle_pixels"), maps)
    if torch.equal(source, torch.arange(h * w)):
        raise AssertionError("it looks like nothing moved: the output is the input; permute the pixels")
    rows = source.reshape(h, w)
    if torch.equal(rows - rows[:, :1], torch.arange(w).expand(h, w)) and bool((rows[:, 0] % w == 0).all()):
        raise AssertionError("it looks like whole rows moved (each row intact, rows reordered); permute the "
                             "H * W pixels, not the rows")
    if bool((rows // w == torch.arange(h)[:, None]).all()):
        raise AssertionError("it looks like each row's pixels moved within their row only; permute all H * W pixels")
    again = _permutation_of(as_tensor(fn(maps.clone(), generator(0)), "your shuffle_pixels"), maps)
    other = _permutation_of(as_tensor(fn(maps.clone(), generator(1)), "your shuffle_pixels"), maps)
    if not torch.equal(again, source) or torch.equal(other, source):
        raise AssertionError("it looks like the generator ignored: the same generator seed must give the same "
                             "permutation and another seed another one (torch.randperm(..., generator=generator))")
    passed("shuffle_pixels", "one permutation of the 96 pixels of a 2 x 8 x 12 map, channels together, "
           "drawn from the generator (as sbdlib.models.shuffle_pixels)")
