"""Checkers of notebook 01 (the datasets): anti-aliased disc coverage, a whole circle image, HSV to RGB."""

from __future__ import annotations

import math
from typing import Callable

import torch

from sbdlib import data
from sbdlib.course.exercises._checking import NOT_ATTEMPTED, attempted, compare, generator, name_of, passed

__all__ = ["check_disc_ramp", "check_render_circle", "check_hsv_to_rgb"]


# --------------------------------------------------------------------------- disc_ramp


def _offsets(n: int, height: int, width: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre offsets ``dx [N, 1, W]``, ``dy [N, H, 1]`` from random sub-pixel centres."""
    centre = torch.rand(n, 2, generator=generator(seed)) * torch.tensor([width, height])
    dx = torch.arange(width, dtype=torch.float32)[None, None, :] + 0.5 - centre[:, 0, None, None]
    dy = torch.arange(height, dtype=torch.float32)[None, :, None] + 0.5 - centre[:, 1, None, None]
    return dx, dy


def _ramp(dx: torch.Tensor, dy: torch.Tensor, radius: float, *, edge: float, samples: int) -> torch.Tensor:
    """A linear edge ramp ending at distance ``edge``, averaged over ``samples`` x ``samples`` points."""
    offsets = [(k + 0.5) / samples - 0.5 for k in range(samples)]
    total = sum((edge - ((dx + ox) ** 2 + (dy + oy) ** 2).sqrt()).clamp(0.0, 1.0) for ox in offsets for oy in offsets)
    return total / samples**2


def _corrected(radius: float) -> float:
    """The ramp's centre radius that keeps the area pi r^2."""
    return math.sqrt(max(radius**2 - data.RAMP_AREA_CORRECTION, 0.0))


_DISC_MISTAKES = [
    ("a hard edge (coverage 0 or 1): use the one-pixel ramp clamp(r' + 0.5 - d, 0, 1)",
     lambda dx, dy, r: ((dx**2 + dy**2).sqrt() <= r).float()),
    ("no area correction: the ramp must be centred on r' = sqrt(r^2 - 1/12), not on r",
     lambda dx, dy, r: _ramp(dx, dy, r, edge=r + 0.5, samples=data.AA_SUBSAMPLES)),
    ("no supersampling: average 2 x 2 samples at offsets of +-0.25 pixel, not one at the pixel centre",
     lambda dx, dy, r: _ramp(dx, dy, r, edge=_corrected(r) + 0.5, samples=1)),
    ("the ramp's + 0.5 missing: the ramp should straddle the edge, clamp(r' + 0.5 - d, 0, 1)",
     lambda dx, dy, r: _ramp(dx, dy, r, edge=_corrected(r), samples=data.AA_SUBSAMPLES)),
]


def check_disc_ramp(fn: Callable) -> None:
    """Check ``fn(dx [N, 1, W], dy [N, H, 1], radius) -> [N, H, W]`` against :func:`sbdlib.data.disc_ramp`."""
    name = name_of(fn)
    cases = [(3, 16, 16, 4.0), (2, 12, 20, 2.5), (4, 32, 32, 1.3), (1, 8, 8, 6.0)]
    for i, (n, h, w, radius) in enumerate(cases):
        dx, dy = _offsets(n, h, w, seed=i)
        got = attempted(fn, dx.clone(), dy.clone(), radius)
        if got is NOT_ATTEMPTED:
            return
        compare(name, got, data.disc_ramp(dx, dy, radius), (dx, dy, radius), _DISC_MISTAKES,
                case=f"N={n}, {h} x {w} pixels, radius {radius}")
    dx, dy = _offsets(1, 64, 64, seed=10)
    area = float(fn(dx, dy, 10.0).sum())
    passed(name, f"{len(cases)} cases match sbdlib.data.disc_ramp; a radius-10 disc covers {area:.2f} pixels "
                 f"(pi r^2 = {math.pi * 100:.2f})")


# --------------------------------------------------------------------------- render_circle


def _hard_circle(x: float, y: float, diameter: float, colour: torch.Tensor, image_size: int) -> torch.Tensor:
    """A circle whose pixels are lit when their centre is inside (no anti-aliasing)."""
    centres = torch.arange(image_size, dtype=torch.float32) + 0.5
    d2 = (centres[None, :] - x * image_size) ** 2 + (centres[:, None] - y * image_size) ** 2
    inside = (d2 <= (0.5 * diameter * image_size) ** 2).float()
    return torch.as_tensor(colour, dtype=torch.float32)[:, None, None] * inside


def _integer_centres(x: float, y: float, diameter: float, colour: torch.Tensor, image_size: int) -> torch.Tensor:
    """The circle rendered with pixel (i, j) centred at (j, i) instead of (j + 0.5, i + 0.5)."""
    shift = 0.5 / image_size
    return data.render_circle(x + shift, y + shift, diameter, colour, image_size)


_CIRCLE_MISTAKES = [
    ("x and y swapped: x is the column (along the width), y the row (along the height, growing downwards)",
     lambda x, y, d, c, s: data.render_circle(y, x, d, c, s)),
    ("pixel centres at integers: pixel (i, j) is centred at ((j + 0.5) / W, (i + 0.5) / H)", _integer_centres),
    ("the diameter used as the radius: the radius in pixels is diameter * image_size / 2",
     lambda x, y, d, c, s: data.render_circle(x, y, 2 * d, c, s)),
    ("the radius not converted to pixels: multiply diameter / 2 by image_size",
     lambda x, y, d, c, s: data.render_circle(x, y, d / s, c, s)),
    ("a hard edge: use sbdlib.data.disc_ramp (or your disc_ramp) for the anti-aliased coverage", _hard_circle),
    ("y growing upwards: y grows downwards, like row indices", lambda x, y, d, c, s: data.render_circle(x, 1 - y, d, c, s)),
]


def check_render_circle(fn: Callable) -> None:
    """Check ``fn(x, y, diameter, colour [3], image_size) -> [3, H, W]`` against :func:`sbdlib.data.render_circle`."""
    name = name_of(fn)
    g = generator(1)
    cases = [(0.25, 0.35, 0.2, torch.ones(3), 64), (0.7, 0.45, 0.3, data.hsv_to_rgb(*torch.tensor([[0.3], [1.0], [1.0]]))[0], 32)]
    for size in (16, 33, 64):
        x, y = (0.2 + 0.6 * torch.rand(2, generator=g)).tolist()
        cases.append((x, y, 0.05 + 0.3 * float(torch.rand(1, generator=g)), torch.rand(3, generator=g), size))
    cases.append((0.05, 0.97, 0.2, torch.tensor([0.2, 0.9, 0.4]), 24))  # partly outside the frame
    for x, y, diameter, colour, size in cases:
        args = (x, y, diameter, colour, size)
        got = attempted(fn, x, y, diameter, colour.clone(), size)
        if got is NOT_ATTEMPTED:
            return
        compare(name, got, data.render_circle(*args), args, _CIRCLE_MISTAKES, atol=1e-5,
                case=f"x={x:.3f}, y={y:.3f}, diameter {diameter:.3f}, {size} x {size}")
    passed(name, f"{len(cases)} circles (sizes 16 to 64 pixels, one partly outside the frame) "
                 "match sbdlib.data.render_circle and the Circles datasets")


# --------------------------------------------------------------------------- hsv_to_rgb


def _hsv_no_wrap(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """HSV to RGB without the modulo 6 on k."""
    k = torch.tensor([5.0, 3.0, 1.0])[None, :] + 6.0 * h[:, None]
    return v[:, None] * (1.0 - s[:, None] * torch.minimum(k, 4.0 - k).clamp(0.0, 1.0))


_HSV_MISTAKES = [
    ("the channels in the wrong order (B, G, R instead of R, G, B)", lambda h, s, v: data.hsv_to_rgb(h, s, v).flip(-1)),
    ("the hue read as degrees: here hue is in [0, 1] (one turn), so the sector is 6 * hue",
     lambda h, s, v: data.hsv_to_rgb(h / 360.0, s, v)),
    ("saturation and value swapped", lambda h, s, v: data.hsv_to_rgb(h, v, s)),
    ("k not wrapped around: k = (n + 6 * hue) mod 6", _hsv_no_wrap),
]


def check_hsv_to_rgb(fn: Callable) -> None:
    """Check ``fn(hue [N], saturation [N], value [N]) -> [N, 3]`` against :func:`sbdlib.data.hsv_to_rgb`."""
    name = name_of(fn)
    g = generator(2)
    primaries = torch.tensor([[0.0, 1.0, 1.0], [1 / 3, 1.0, 1.0], [2 / 3, 1.0, 1.0], [1.0, 1.0, 1.0],
                              [0.5, 0.0, 0.7], [0.25, 0.5, 0.0]])  # red, green, blue, red again, grey, black
    cases = [("primaries, hue 1 = red, grey and black", primaries), ("64 random colours", torch.rand(64, 3, generator=g)),
             ("sprites' range: S, V in [0.3, 0.7]", torch.cat([torch.rand(32, 1, generator=g), 0.3 + 0.4 * torch.rand(32, 2, generator=g)], 1))]
    for case, hsv in cases:
        args = tuple(hsv.unbind(1))
        got = attempted(fn, *(a.clone() for a in args))
        if got is NOT_ATTEMPTED:
            return
        compare(name, got, data.hsv_to_rgb(*args), args, _HSV_MISTAKES, case=case)
    passed(name, "primaries, greys and 96 random colours match sbdlib.data.hsv_to_rgb")
