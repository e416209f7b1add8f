"""Procedural circles: one anti-aliased disc per image, the course's main dataset (:class:`Circles`),
and :func:`render_circle`, its plain form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from sbdlib.checks import check_image_size, check_int
from sbdlib.data.base import (CONTINUOUS_GRID_SIZE, DEFAULT_IMAGE_SIZE, PRESENT, PRESENT_THRESHOLD, FactorDataset,
                              _paste, _windows, hsv_to_rgb)

HOLE_TYPES = ("center", "corner")
CIRCLE_SET_NAMES = ("xy", "xh", "rg", "xyh_small", "xyh_tiny")


# A one-pixel linear edge ramp centred on radius r covers pi * (r^2 + 1/12) pixels, so the
# ramp is centred on sqrt(r^2 - 1/12) instead, which makes the area exactly pi * r^2.
RAMP_AREA_CORRECTION = 1.0 / 12.0
AA_SUBSAMPLES = 2  # per axis: each circle pixel averages 2 x 2 ramp samples


@dataclass(frozen=True)
class _CircleSpec:
    """One row of the paper's Table 3."""

    free: tuple[tuple[str, tuple[float, float]], ...]
    fixed: dict[str, float]
    diameter: float
    colour_space: str  # "rgb" or "hsv"
    title: str


_WHITE = {"red": 1.0, "green": 1.0, "blue": 1.0}
_FULL_HSV = {"saturation": 1.0, "value": 1.0}
_CENTRE_RANGE = (0.2, 0.8)
_CIRCLE_SPECS: dict[str, _CircleSpec] = {
    "xy": _CircleSpec((("x", _CENTRE_RANGE), ("y", _CENTRE_RANGE)), dict(_WHITE), 0.2, "rgb", "X-Y"),
    "xh": _CircleSpec((("x", _CENTRE_RANGE), ("hue", (0.2, 0.8))), {"y": 0.5, **_FULL_HSV}, 0.3, "hsv", "X-H"),
    "rg": _CircleSpec(
        (("red", (0.4, 0.8)), ("green", (0.4, 0.8))), {"x": 0.5, "y": 0.5, "blue": 1.0}, 0.5, "rgb", "R-G"
    ),
    "xyh_small": _CircleSpec(
        (("x", _CENTRE_RANGE), ("y", _CENTRE_RANGE), ("hue", (0.2, 0.8))), dict(_FULL_HSV), 0.1, "hsv",
        "X-Y-H Small",
    ),
    "xyh_tiny": _CircleSpec(
        (("x", _CENTRE_RANGE), ("y", _CENTRE_RANGE), ("hue", (0.2, 0.8))), dict(_FULL_HSV), 0.075, "hsv",
        "X-Y-H Tiny",
    ),
}


def disc_ramp(dx: Tensor, dy: Tensor, radius: float) -> Tensor:
    """Anti-aliased disc coverage: a one-pixel linear edge ramp, 2 x 2 supersampled.

    A sample at distance ``d`` (pixels) from the disc centre gets ``clamp(r' + 0.5 - d, 0, 1)``:
    a one-pixel linear ramp across the edge, the exact pixel coverage of a straight edge.
    ``r' = sqrt(r^2 - 1/12)`` because the ramp alone adds ``pi / 12`` to the area. Each pixel
    averages :data:`AA_SUBSAMPLES` x :data:`AA_SUBSAMPLES` such samples, which brings the
    total coverage within 0.2% of ``pi r^2`` wherever the centre falls (radii of 2 pixels or more).

    Args:
        dx: ``[N, 1, W]`` pixel-centre x offsets from the disc centre, in pixels.
        dy: ``[N, H, 1]`` pixel-centre y offsets from the disc centre, in pixels.
        radius: Radius in pixels.

    Returns:
        ``[N, H, W]`` float32 coverage in [0, 1].
    """
    edge = math.sqrt(max(radius * radius - RAMP_AREA_CORRECTION, 0.0)) + 0.5
    offsets = [(k + 0.5) / AA_SUBSAMPLES - 0.5 for k in range(AA_SUBSAMPLES)]
    dx2 = [(dx + o).square_() for o in offsets]
    dy2 = [(dy + o).square_() for o in offsets]
    total = torch.zeros(dx.shape[0], dy.shape[1], dx.shape[2], device=dx.device)
    for x2 in dx2:
        for y2 in dy2:
            total += torch.rsub((x2 + y2).sqrt_(), edge).clamp_(0.0, 1.0)
    return total.mul_(1.0 / AA_SUBSAMPLES**2)


def render_circle(x: float, y: float, diameter: float, colour: Tensor, image_size: int = DEFAULT_IMAGE_SIZE
                  ) -> Tensor:
    """One anti-aliased circle on black, the whole image at once: ``[3, H, W]`` with H = W = ``image_size``.

    The plain form of what :class:`Circles` renders batch by batch in windows (the same pixels).

    Args:
        x, y: Centre in frame units, [0, 1] ``x`` to the right, ``y`` down.
        diameter: Diameter as a fraction of the frame width.
        colour: ``[3]`` RGB in [0, 1].
        image_size: Side of the image in pixels.
    """
    size = check_int(image_size, "image_size")
    pixel_centres = torch.arange(size, dtype=torch.float32) + 0.5
    dx = (pixel_centres - torch.tensor(x, dtype=torch.float32) * size)[None, None, :]
    dy = (pixel_centres - torch.tensor(y, dtype=torch.float32) * size)[None, :, None]
    coverage = disc_ramp(dx, dy, 0.5 * diameter * size)[0]
    return torch.as_tensor(colour, dtype=torch.float32)[:, None, None] * coverage


class Circles(FactorDataset):
    """A single anti-aliased circle on black: the paper's Table 3 sets.

    ========== ============ ============ ========= ==================== ======================
    set        x            y            diameter  colour (HSV)         colour (RGB)
    ========== ============ ============ ========= ==================== ======================
    xy         [0.2, 0.8]   [0.2, 0.8]   0.2       -                    (1, 1, 1)
    xh         [0.2, 0.8]   0.5          0.3       ([0.2, 0.8], 1, 1)   -
    rg         0.5          0.5          0.5       -                    ([.4, .8], [.4, .8], 1)
    xyh_small  [0.2, 0.8]   [0.2, 0.8]   0.1       ([0.2, 0.8], 1, 1)   -
    xyh_tiny   [0.2, 0.8]   [0.2, 0.8]   0.075     ([0.2, 0.8], 1, 1)   -
    ========== ============ ============ ========= ==================== ======================

    The paper's "size" (a fraction of the frame width) is read as the circle's *diameter*:
    with a radius reading the X-H circle (0.3) at x = 0.2 would leave the frame, while with
    a diameter every circle of every set fits. Positions are the centre in frame units.

    Anti-aliasing is a one-pixel analytic edge ramp, 2 x 2 supersampled (see
    :func:`disc_ramp`), instead of the paper's 5 x 5 supersampling of a hard edge: the same
    soft edge, the area within 0.2% of ``pi r^2``, and far cheaper. Only a window
    around each circle is computed; the rest of the image is zero.

    Fixed factors of a set (e.g. ``y = 0.5`` in X-H) are not factors; they are listed in
    ``fixed_factors``. Free factors are uniform over their range; their grid has
    :data:`CONTINUOUS_GRID_SIZE` evenly spaced values (endpoints included).

    Args:
        name: One of ``"xy"``, ``"xh"``, ``"rg"``, ``"xyh_small"``, ``"xyh_tiny"``.
        hole: ``None``, ``"center"`` or ``"corner"``: hold out a quarter of the 2-D factor
            space, the product of half of each factor's range (the middle halves for
            ``"center"``, the upper halves for ``"corner"``). Only for sets with two free
            factors. Held-out points are never sampled but can be rendered.
        blank_fraction: In [0, 1). If positive, that fraction of samples is all black and a
            last factor ``"present"`` (1 = circle drawn, 0 = blank) is added.
        image_size: Side of the square images, 8 to 256 pixels.

    Raises:
        ValueError: On an unknown name, a bad hole, blank fraction or image size.
    """

    def __init__(
        self,
        name: str,
        *,
        hole: str | None = None,
        blank_fraction: float = 0.0,
        image_size: int = DEFAULT_IMAGE_SIZE,
    ) -> None:
        if name not in _CIRCLE_SPECS:
            raise ValueError(f"unknown circle set {name!r}; expected one of {list(CIRCLE_SET_NAMES)}")
        check_image_size(image_size)
        if not isinstance(blank_fraction, (int, float)) or not 0.0 <= float(blank_fraction) < 1.0:
            raise ValueError(f"blank_fraction must be a number in [0, 1), got {blank_fraction!r}")
        spec = _CIRCLE_SPECS[name]
        if hole is not None and (hole not in HOLE_TYPES or len(spec.free) != 2):
            raise ValueError(
                f"hole must be None or one of {HOLE_TYPES} on a set with exactly two free factors "
                f"(xy, xh, rg); got hole={hole!r} for {name!r} with {len(spec.free)} free factors"
            )
        self.set_name = name
        self.name = f"circles/{name}"
        self.title = spec.title
        self.image_size = int(image_size)
        self.num_channels = 3
        self.hole = hole
        self.blank_fraction = float(blank_fraction)
        self.diameter = spec.diameter
        self.fixed_factors = dict(spec.fixed)
        self.colour_space = spec.colour_space
        names = [factor for factor, _ in spec.free]
        ranges = [r for _, r in spec.free]
        sizes = [CONTINUOUS_GRID_SIZE] * len(names)
        discrete = [False] * len(names)
        if self.blank_fraction > 0:
            names.append(PRESENT)
            ranges.append((0.0, 1.0))
            sizes.append(2)
            discrete.append(True)
        self.factor_names = tuple(names)
        self.factor_ranges = tuple(ranges)
        self.factor_sizes = tuple(sizes)
        self.factor_discrete = tuple(discrete)
        self.hole_box = self._hole_box(hole, spec)

    def _config_kwargs(self) -> dict[str, Any]:
        return {"hole": self.hole, "blank_fraction": self.blank_fraction, "image_size": self.image_size}

    @staticmethod
    def _hole_box(hole: str | None, spec: _CircleSpec) -> tuple[tuple[float, float], ...] | None:
        """Per free factor, the closed interval held out (None without a hole)."""
        if hole is None:
            return None
        box = []
        for _, (lo, hi) in spec.free:
            width = hi - lo
            box.append((lo + width / 4, hi - width / 4) if hole == "center" else (lo + width / 2, hi))
        return tuple(box)

    def default_factors(self) -> Tensor:
        """The middle of each range, with ``present = 1`` (the circle drawn). Returns ``[K]``."""
        values = super().default_factors()
        if PRESENT in self.factor_names:
            values[-1] = 1.0
        return values

    def _label_weights(self, i: int) -> Tensor | None:
        if self.factor_names[i] == PRESENT:
            return torch.tensor([self.blank_fraction, 1.0 - self.blank_fraction])
        return None

    def in_hole(self, factors: Tensor) -> Tensor:
        factors = self._check_factors(factors)
        inside = torch.zeros(factors.shape[0], dtype=torch.bool, device=factors.device)
        if self.hole_box is None:
            return inside
        inside = ~inside
        for i, (lo, hi) in enumerate(self.hole_box):
            inside &= (factors[:, i] >= lo) & (factors[:, i] <= hi)
        return inside

    def _quantity(self, factors: Tensor, name: str) -> Tensor | float:
        """A column of ``factors`` if ``name`` is free, else its fixed value."""
        if name in self.factor_names:
            return factors[:, self.factor_names.index(name)]
        return self.fixed_factors[name]

    def colours(self, factors: Tensor) -> Tensor:
        """RGB colour of each circle (ignoring presence). ``[N, K]`` -> ``[N, 3]``."""
        n = factors.shape[0]
        if self.colour_space == "hsv":
            channels = [self._quantity(factors, c) for c in ("hue", "saturation", "value")]
            h, s, v = (torch.as_tensor(c, device=factors.device).expand(n) for c in channels)
            return hsv_to_rgb(h, s, v)
        channels = [self._quantity(factors, c) for c in ("red", "green", "blue")]
        return torch.stack([torch.as_tensor(c, device=factors.device).expand(n) for c in channels], dim=1)

    def _render_into(self, factors: Tensor, out: Tensor) -> None:
        n, size = factors.shape[0], self.image_size
        cx = torch.as_tensor(self._quantity(factors, "x"), device=factors.device).expand(n) * size
        cy = torch.as_tensor(self._quantity(factors, "y"), device=factors.device).expand(n) * size
        radius = 0.5 * self.diameter * size
        windows = _windows(cx, cy, radius + 1.0, size)
        mask = disc_ramp(windows.dx, windows.dy, radius)
        colour = self.colours(factors)
        if PRESENT in self.factor_names:
            colour = colour * (factors[:, -1:] >= PRESENT_THRESHOLD)
        _paste(windows, mask, colour, out)
