"""Coloured sprites: squares, ellipses and hearts with a scale, an orientation, a position and a colour
(:class:`ColoredSprites`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from sbdlib.checks import check_image_size
from sbdlib.data.base import DEFAULT_IMAGE_SIZE, FactorDataset, _paste, _windows, _Windows, hsv_to_rgb

SPRITE_SHAPES = ("square", "ellipse", "heart")
SPRITE_SCALES = 6
SPRITE_ORIENTATIONS = 40
SPRITE_POSITIONS = 32
SPRITE_COLOUR_GRID = 16  # grid values per colour factor (H, S, V) in the evaluation grid
SPRITE_SV_RANGE = (0.3, 0.7)  # saturation and value range (paper, App. A.3)
SPRITE_CENTRE_RANGE = (0.2, 0.8)  # frame span of the object centre for dSprites x, y in [0, 1]
SPRITE_UNIT = 0.24  # square side, in frame widths, at scale 1
ELLIPSE_SEMI_AXES = (0.6, 0.3)  # in units of SPRITE_UNIT (so 1.2 x 0.6 at scale 1)
HEART_WIDTH = 1.1  # in units of SPRITE_UNIT
SPRITE_REACH = 0.75  # radius, in units of SPRITE_UNIT, of a disc containing every shape


def _box_sdf(px: Tensor, py: Tensor, half: float) -> Tensor:
    """Signed distance to an axis-aligned square of half-side ``half`` at the origin."""
    qx, qy = px.abs() - half, py.abs() - half
    outside = torch.hypot(qx.clamp_min(0.0), qy.clamp_min(0.0))
    return outside + torch.maximum(qx, qy).clamp_max(0.0)


def _ellipse_sdf(px: Tensor, py: Tensor, a: float, b: float) -> Tensor:
    """Approximate signed distance to an ellipse with semi-axes ``a`` (x) and ``b`` (y).

    First-order estimate ``(f - 1) / |grad f|`` with ``f = |(x/a, y/b)|``; exact on the
    boundary, which is all the anti-aliasing needs.
    """
    k0 = torch.hypot(px / a, py / b)
    k1 = torch.hypot(px / (a * a), py / (b * b)).clamp_min(1e-6)
    return k0 * (k0 - 1.0) / k1


def _heart_sdf(px: Tensor, py: Tensor) -> Tensor:
    """Signed distance (exact outside) to a unit heart, tip down, y pointing up.

    Built as the union of a square rotated by 45 degrees (the lower point) and two discs
    on the midpoints of its two upper edges; scaled to a width of 1 and centred on its
    bounding box.
    """
    side = 1.0
    half_diag = side / math.sqrt(2.0)
    width = 2.0 * (half_diag / 2.0 + side / 2.0)
    top, bottom = half_diag / 2.0 + side / 2.0, -half_diag
    shift = 0.5 * (top + bottom)
    px, py = px * width, py * width + shift  # to construction units, centred bbox
    rx, ry = (px + py) / math.sqrt(2.0), (py - px) / math.sqrt(2.0)  # rotate by -45 degrees
    diamond = _box_sdf(rx, ry, side / 2.0)
    lobes = torch.minimum(
        torch.hypot(px + half_diag / 2.0, py - half_diag / 2.0),
        torch.hypot(px - half_diag / 2.0, py - half_diag / 2.0),
    ) - side / 2.0
    return torch.minimum(diamond, lobes) / width


class ColoredSprites(FactorDataset):
    """dSprites shapes multiplied by a random colour (the paper's colored sprites).

    Factors (in order): ``shape`` (0 square, 1 ellipse, 2 heart; rounded), ``scale`` (6 values in
    [0.5, 1]), ``orientation`` (40 values ``2 pi k / 40``, radians, counter-clockwise on
    screen), ``x`` and ``y`` (32 values each in [0, 1], dSprites convention: the object
    centre moves over :data:`SPRITE_CENTRE_RANGE` of the frame), and the colour ``hue``
    (in [0, 1]), ``saturation`` and ``value`` (both in [0.3, 0.7]). Shape, scale,
    orientation and position are sampled on the dSprites grid; the colour is continuous and
    drawn per image (as in the paper), with a 16-value grid per colour factor for metrics.

    The shapes are drawn procedurally with signed-distance functions (rotated and scaled),
    with a one-pixel anti-aliased edge, ``clamp(0.5 - sdf, 0, 1)`` in pixels; the sizes
    approximate dSprites' (a square of :data:`SPRITE_UNIT` frame widths at scale 1).
    dSprites itself is binary; these edges are soft. The image is ``colour * mask``.

    Args:
        image_size: Side of the square images, 8 to 256 pixels.
    """

    def __init__(self, image_size: int = DEFAULT_IMAGE_SIZE) -> None:
        check_image_size(image_size)
        self.name = "sprites"
        self.title = "Colored sprites"
        self.image_size = int(image_size)
        self.num_channels = 3
        self.shape_names = SPRITE_SHAPES
        self.factor_names = ("shape", "scale", "orientation", "x", "y", "hue", "saturation", "value")
        self.factor_ranges = (
            (0.0, float(len(SPRITE_SHAPES) - 1)),
            (0.5, 1.0),
            (0.0, 2.0 * math.pi),
            (0.0, 1.0),
            (0.0, 1.0),
            (0.0, 1.0),
            SPRITE_SV_RANGE,
            SPRITE_SV_RANGE,
        )
        self.factor_sizes = (
            len(SPRITE_SHAPES), SPRITE_SCALES, SPRITE_ORIENTATIONS, SPRITE_POSITIONS, SPRITE_POSITIONS,
            SPRITE_COLOUR_GRID, SPRITE_COLOUR_GRID, SPRITE_COLOUR_GRID,
        )
        self.factor_discrete = (True, True, True, True, True, False, False, False)

    def _config_kwargs(self) -> dict[str, Any]:
        return {"image_size": self.image_size}

    def factor_values(self, i: int) -> Tensor:
        """Grid values of factor ``i``; orientation and hue exclude the endpoint 2 pi / 1."""
        i = self._check_factor_column(i)
        name = self.factor_names[i]
        if name in ("orientation", "hue"):
            hi = self.factor_ranges[i][1]
            return torch.arange(self.factor_sizes[i], dtype=torch.float32) * (hi / self.factor_sizes[i])
        return super().factor_values(i)

    def _window_masks(self, factors: Tensor) -> tuple[_Windows, Tensor]:
        """Shape masks inside per-image windows: ``(windows, [N, span, span])``."""
        size = self.image_size
        shape, scale, angle, x, y = factors[:, :5].unbind(1)
        lo, hi = SPRITE_CENTRE_RANGE
        unit = scale * (SPRITE_UNIT * size)  # [N] pixels per shape unit
        reach = self._reach(float(scale.max()) if len(scale) else 1.0)
        windows = _windows((lo + (hi - lo) * x) * size, (lo + (hi - lo) * y) * size, reach, size)
        u, v = windows.dx, -windows.dy  # y up in the shape's frame
        cos, sin = angle.cos()[:, None, None], angle.sin()[:, None, None]
        inv_unit = unit.reciprocal()[:, None, None]
        lx = (cos * u + sin * v) * inv_unit  # rotate by -angle into the shape's frame
        ly = (cos * v - sin * u) * inv_unit
        sdf = torch.empty_like(lx)
        kind = shape.round().long()
        for k, fn in enumerate((
            lambda a, b: _box_sdf(a, b, 0.5),
            lambda a, b: _ellipse_sdf(a, b, *ELLIPSE_SEMI_AXES),
            lambda a, b: _heart_sdf(a / HEART_WIDTH, b / HEART_WIDTH) * HEART_WIDTH,
        )):
            rows = (kind == k).nonzero()[:, 0]
            if rows.numel():
                sdf[rows] = fn(lx[rows], ly[rows]) * unit[rows, None, None]
        return windows, torch.rsub(sdf, 0.5).clamp_(0.0, 1.0)

    def masks(self, factors: Tensor) -> Tensor:
        """Anti-aliased shape masks (colour ignored).

        Args:
            factors: ``[N, 8]`` factors inside ``factor_ranges``.

        Returns:
            ``[N, H, W]`` float32 in [0, 1].
        """
        return self._in_chunks(self._check_factors(factors), 1, self._mask_into)[:, 0]

    def _mask_into(self, factors: Tensor, out: Tensor) -> None:
        """Draw the shape masks of ``[n, 8]`` valid factors into the zero-filled ``[n, 1, H, W]`` ``out``."""
        windows, mask = self._window_masks(factors)
        _paste(windows, mask, torch.ones(len(mask), 1, device=out.device), out)

    def _reach(self, scale: float) -> float:
        """Pixels from the centre beyond which a sprite of this scale draws nothing."""
        return SPRITE_REACH * SPRITE_UNIT * self.image_size * scale + 1.0

    def _render_into(self, factors: Tensor, out: Tensor) -> None:
        colour = hsv_to_rgb(factors[:, 5], factors[:, 6], factors[:, 7])
        windows, mask = self._window_masks(factors)
        _paste(windows, mask, colour, out)
