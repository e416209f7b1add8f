"""Checker of notebook 08 (small objects): an image's centre of mass, in pixels."""

from __future__ import annotations

from typing import Any, Callable

import torch

from sbdlib.course.exercises._checking import NOT_ATTEMPTED, attempted, compare, generator, passed
from sbdlib.data import centre_of_mass

__all__ = ["check_centre_of_mass"]


def _grid(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer pixel indices: columns ``j`` [1, W] and rows ``i`` [H, 1], float64."""
    return torch.arange(w, dtype=torch.float64)[None, :], torch.arange(h, dtype=torch.float64)[:, None]


def _centres(mass: torch.Tensor, offset: float = 0.5, divide: bool = True) -> torch.Tensor:
    """``[N, 2]`` (x, y) of ``[N, H, W]`` masses with pixel (i, j) at (j + offset, i + offset)."""
    j, i = _grid(*mass.shape[1:])
    total = mass.sum((1, 2)) if divide else torch.ones(len(mass), dtype=mass.dtype)
    return torch.stack([(mass * (j + offset)).sum((1, 2)) / total, (mass * (i + offset)).sum((1, 2)) / total], 1)


def _centre_mistakes() -> list[tuple[str, Callable[..., Any]]]:
    """The typical wrong centres, as functions of ``(images,)``."""
    def whole(images: torch.Tensor) -> torch.Tensor:
        return images.double().sum(1)

    return [
        ("x and y swapped: x is the column index j (to the right), y the row index i (downwards)",
         lambda im: _centres(whole(im)).flip(1)),
        ("pixel centres at integers (j, i); pixel (i, j) is centred at (j + 0.5, i + 0.5)",
         lambda im: _centres(whole(im), offset=0.0)),
        ("the weighted sum not divided by the total mass", lambda im: _centres(whole(im), divide=False)),
        ("one channel only; sum the channels first", lambda im: _centres(im.double()[:, 0])),
        ("frame units (divided by the image side); the centre is wanted in pixels",
         lambda im: _centres(whole(im)) / torch.tensor([im.shape[-1], im.shape[-2]], dtype=torch.float64)),
    ]


def _centre_cases() -> list[tuple[torch.Tensor, str]]:
    """(images [N, C, H, W], description): random brightness, blobs in 3 channels, a non-square frame."""
    g = generator(8)
    blobs = torch.zeros(4, 3, 12, 12)
    for n, (i, j) in enumerate([(2, 3), (7, 9), (10, 1), (5, 5)]):
        blobs[n, n % 3, i:i + 2, j:j + 3] = 1.0
        blobs[n, (n + 1) % 3, (i + 4) % 12, (j + 2) % 12] = 0.5
    return [(torch.rand(5, 3, 10, 10, generator=g), "5 random RGB images, 10 x 10"),
            (blobs, "blobs in different channels, 12 x 12"),
            (torch.rand(3, 2, 6, 9, generator=g) ** 4, "3 images of 2 channels, 6 x 9 (not square)")]


def check_centre_of_mass(fn: Callable[..., Any]) -> None:
    """Check ``fn(images [N, C, H, W]) -> [N, 2]``: each image's centre of brightness (x, y) in pixels, pixel
    (i, j) centred at (j + 0.5, i + 0.5), channels summed."""
    for images, case in _centre_cases():
        got = attempted(fn, images.clone())
        if got is NOT_ATTEMPTED:
            return
        compare("your centre_of_mass", got, centre_of_mass(images.double()), (images,), _centre_mistakes(), case=case)
    passed("centre_of_mass", "matches sbdlib.data.centre_of_mass (RGB, blobs, a 6 x 9 frame)")
