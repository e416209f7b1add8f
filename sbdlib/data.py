"""Datasets with known factors of variation: procedural circles, coloured sprites, file readers.

Every dataset here knows the ground-truth *factors* behind each image (position, hue, ...),
which is what disentanglement metrics (MIG, FactorVAE score) and latent-geometry plots need.
All datasets share the interface of :class:`FactorDataset`:

* ``factor_names``, ``factor_ranges``, ``factor_sizes`` describe the factors that vary;
* ``render(factors)`` turns a ``[N, K]`` factor tensor into ``[N, C, H, W]`` images in [0, 1];
* ``sample``, ``sample_discrete``, ``eval_set``, ``stream`` and ``grid`` draw images;
* ``sample_labels`` / ``labels_to_factors`` work on the discrete evaluation grid (metrics);
* ``normalise(factors, names)`` maps factors onto [-1, 1] (a decoder's input).

Seeds follow :mod:`sbdlib.checks`: ``sample``, ``sample_discrete``, ``eval_set`` and ``stream``
take an integer ``seed``; ``sample_factors`` and ``sample_labels``, the steps they are made of,
take the caller's ``generator``.

Pixel convention (all procedural sets): x grows to the right, y grows downwards and pixel
``(i, j)`` (row ``i``, column ``j``) is centred at ``((j + 0.5) / W, (i + 0.5) / H)`` in
frame units, where the frame is ``[0, 1] x [0, 1]``; :func:`centre_of_mass` measures
images in this convention.

Rendering is vectorised over images, runs on the device of the factors tensor, and works
in chunks of :data:`RENDER_CHUNK` images so the working set stays bounded whatever ``N`` is
(a few MB besides the output). Only a small window around each object is computed; the rest
of the zero-filled output is left alone.
Nothing is downloaded: circles and sprites are drawn procedurally, and the readers
(:class:`DSpritesFile`, :class:`Shapes3DFile`) only open files you already have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from sbdlib.checks import check_image_size, check_int, seeded_generator

DEFAULT_IMAGE_SIZE = 64
RENDER_CHUNK = 1024  # images per internal rendering step: bounds the working set
STREAM_BLOCK = 512  # images rendered at once by ``stream`` and served in batch slices
CONTINUOUS_GRID_SIZE = 32  # grid values per continuous circle factor
RANGE_TOLERANCE = 1e-5  # slack when checking that factors lie inside their ranges
MAX_REJECTION_ROUNDS = 1000  # safety cap of the hole-rejection loop
PRESENT = "present"  # name of the presence factor added when ``blank_fraction > 0``
PRESENT_THRESHOLD = 0.5  # ``present`` values at or above it draw the object

HOLE_TYPES = ("center", "corner")
CIRCLE_SET_NAMES = ("xy", "xh", "rg", "xyh_small", "xyh_tiny")

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

# A one-pixel linear edge ramp centred on radius r covers pi * (r^2 + 1/12) pixels, so the
# ramp is centred on sqrt(r^2 - 1/12) instead, which makes the area exactly pi * r^2.
RAMP_AREA_CORRECTION = 1.0 / 12.0
AA_SUBSAMPLES = 2  # per axis: each circle pixel averages 2 x 2 ramp samples


# ----------------------------------------------------------------------------------------
# Colour helpers
# ----------------------------------------------------------------------------------------


def hsv_to_rgb(hue: Tensor, saturation: Tensor, value: Tensor) -> Tensor:
    """Convert HSV colours to RGB, vectorised.

    Args:
        hue: ``[N]`` hue in [0, 1] (0 and 1 are both red).
        saturation: ``[N]`` saturation in [0, 1].
        value: ``[N]`` value (brightness) in [0, 1].

    Returns:
        ``[N, 3]`` RGB in [0, 1].
    """
    # Channel c in (R, G, B) uses k = (n_c + 6 h) mod 6 with n = (5, 3, 1):
    # c = v - v s clamp(min(k, 4 - k), 0, 1).
    offsets = torch.tensor([5.0, 3.0, 1.0], device=hue.device, dtype=hue.dtype)
    k = torch.remainder(offsets[None, :] + 6.0 * hue[:, None], 6.0)
    ramp = torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)
    return value[:, None] * (1.0 - saturation[:, None] * ramp)


def rgb_to_hsv(rgb: Tensor) -> Tensor:
    """Convert RGB colours to HSV, vectorised (inverse of :func:`hsv_to_rgb`).

    Args:
        rgb: ``[N, 3]`` RGB in [0, 1].

    Returns:
        ``[N, 3]`` (hue, saturation, value), hue in [0, 1); grey gets hue 0.
    """
    red, green, blue = rgb.unbind(-1)
    value, argmax = rgb.max(dim=-1)
    chroma = value - rgb.min(dim=-1).values
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    hue_sixths = torch.stack(
        [
            torch.remainder((green - blue) / safe, 6.0),
            (blue - red) / safe + 2.0,
            (red - green) / safe + 4.0,
        ],
        dim=-1,
    ).gather(-1, argmax[:, None])[:, 0]
    hue = torch.where(chroma > 0, hue_sixths / 6.0, torch.zeros_like(chroma))
    saturation = torch.where(value > 0, chroma / torch.where(value > 0, value, 1.0), 0.0)
    return torch.stack([torch.remainder(hue, 1.0), saturation, value], dim=-1)


def centre_of_mass(images: Tensor) -> Tensor:
    """Centre of mass of each image's brightness: ``[N, 2]`` as ``(x, y)`` in pixels.

    Uses the pixel convention of this module: pixel ``(i, j)`` is centred at
    ``x = j + 0.5``, ``y = i + 0.5`` pixels (x to the right, y downwards), so dividing by
    the image side gives frame units; a circle drawn at factors ``(x, y)`` has its centre
    of mass at ``(x, y) * image_size``. Channels are summed; an all-black image gets NaN.

    Args:
        images: ``[N, C, H, W]`` images, or ``[N, H, W]`` masks, with values >= 0.

    Returns:
        ``[N, 2]`` float tensor on the device of ``images``.
    """
    if images.dim() not in (3, 4):
        raise ValueError(f"images must have shape [N, C, H, W] or [N, H, W], got {tuple(images.shape)}")
    mass = images.sum(1) if images.dim() == 4 else images
    mass = mass if mass.is_floating_point() else mass.float()
    height, width = mass.shape[-2:]
    total = mass.sum((1, 2))
    x = (mass.sum(1) * (torch.arange(width, device=mass.device, dtype=mass.dtype) + 0.5)).sum(1) / total
    y = (mass.sum(2) * (torch.arange(height, device=mass.device, dtype=mass.dtype) + 0.5)).sum(1) / total
    return torch.stack([x, y], 1)


# ----------------------------------------------------------------------------------------
# The common interface, in parts with one job each: the factor space, its discrete grid,
# held-out regions, sampling factors, rendering images. FactorDataset puts them together.
# ----------------------------------------------------------------------------------------


class _FactorSpace:
    """The factors: their names and ranges, the registry config, validation, [-1, 1] scaling."""

    name: str
    factor_names: tuple[str, ...]
    factor_ranges: tuple[tuple[float, float], ...]
    factor_sizes: tuple[int, ...]
    factor_discrete: tuple[bool, ...]

    @property
    def num_factors(self) -> int:
        """Number of factors ``K``."""
        return len(self.factor_names)

    def config(self) -> dict[str, Any]:
        """Registry name and constructor arguments: ``get_dataset(**config())`` rebuilds it.

        Returns:
            A plain dict with ``name`` and the keyword arguments.
        """
        return {"name": self.name, **self._config_kwargs()}

    def _config_kwargs(self) -> dict[str, Any]:
        """Constructor keyword arguments (subclasses extend)."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._config_kwargs().items())
        return f"{type(self).__name__}({self.name!r}{', ' if args else ''}{args})"

    def factor_index(self, name: str) -> int:
        """Column of the factor called ``name``."""
        if name not in self.factor_names:
            raise ValueError(f"unknown factor {name!r}; expected one of {self.factor_names}")
        return self.factor_names.index(name)

    def normalise(self, factors: Tensor, names: Sequence[str]) -> Tensor:
        """The factors called ``names``, each mapped affinely from its range onto [-1, 1].

        What a decoder fed the true factors wants (``renderer.train_renderer``, notebook 02).

        Args:
            factors: ``[N, K]`` factors in ``factor_names`` order, inside their ranges.
            names: The factors to keep, in the order wanted.

        Returns:
            ``[N, len(names)]`` float32, on the device of ``factors``.
        """
        factors = self._check_factors(factors)
        columns = [self.factor_index(n) for n in names]
        lo = torch.tensor([self.factor_ranges[i][0] for i in columns], device=factors.device)
        hi = torch.tensor([self.factor_ranges[i][1] for i in columns], device=factors.device)
        return 2 * (factors[:, columns] - lo) / (hi - lo) - 1

    def _check_factor_column(self, i: int) -> int:
        """Validate a factor column index."""
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool) or not 0 <= i < self.num_factors:
            raise ValueError(f"factor index must be an int in [0, {self.num_factors}), got {i!r}")
        return int(i)

    def _check_factors(self, factors: Tensor) -> Tensor:
        """Validate a ``[N, K]`` factor tensor and return it as float32."""
        if not isinstance(factors, Tensor):
            factors = torch.as_tensor(np.asarray(factors, dtype=np.float32))
        if factors.dim() != 2 or factors.shape[1] != self.num_factors:
            raise ValueError(
                f"factors must have shape [N, {self.num_factors}] for {self.factor_names}, "
                f"got {tuple(factors.shape)}"
            )
        factors = factors.to(torch.float32)
        if factors.numel():
            lo = torch.tensor([r[0] for r in self.factor_ranges], device=factors.device)
            hi = torch.tensor([r[1] for r in self.factor_ranges], device=factors.device)
            bad = ~torch.isfinite(factors) | (factors < lo - RANGE_TOLERANCE) | (factors > hi + RANGE_TOLERANCE)
            if bool(bad.any()):
                column = int(bad.any(dim=0).nonzero()[0])
                raise ValueError(
                    f"factor {self.factor_names[column]!r} must lie in {self.factor_ranges[column]}, "
                    f"got values such as {float(factors[bad.any(dim=1), column][0]):.4g}"
                )
        return factors


class _FactorGrid(_FactorSpace):
    """The discrete grid of each factor: its values, and labels (grid indices) to and from factors."""

    def factor_values(self, i: int) -> Tensor:
        """Grid values of factor ``i``.

        Args:
            i: Factor column, ``0 <= i < K``.

        Returns:
            ``[factor_sizes[i]]`` float32 values (evenly spaced over the range by default).
        """
        i = self._check_factor_column(i)
        lo, hi = self.factor_ranges[i]
        return torch.linspace(lo, hi, self.factor_sizes[i])

    def default_factors(self) -> Tensor:
        """Factors used for everything not being varied: the middle of each range.

        Discrete factors take the grid value nearest to the middle. Returns ``[K]``.
        """
        values = []
        for i, (lo, hi) in enumerate(self.factor_ranges):
            middle = 0.5 * (lo + hi)
            if self.factor_discrete[i]:
                grid = self.factor_values(i)
                middle = float(grid[(grid - middle).abs().argmin()])
            values.append(middle)
        return torch.tensor(values, dtype=torch.float32)

    def axis_values(self, i: int, n: int) -> Tensor:
        """``n`` values of factor ``i`` spanning its range, as used by :meth:`grid`.

        Args:
            i: Factor column.
            n: Number of values.

        Returns:
            ``[n]`` evenly spaced values over the range, or evenly spaced grid values
            for a discrete factor.
        """
        i = self._check_factor_column(i)
        n = check_int(n, "n")
        if self.factor_discrete[i]:
            grid = self.factor_values(i)
            index = torch.linspace(0, len(grid) - 1, n).round().long()
            return grid[index]
        lo, hi = self.factor_ranges[i]
        return torch.linspace(lo, hi, n)

    def labels_to_factors(self, labels: Tensor) -> Tensor:
        """Map grid indices to factor values.

        Args:
            labels: ``[N, K]`` integer indices into each factor's grid.

        Returns:
            ``[N, K]`` float32 factors, on the device of ``labels``.
        """
        if not isinstance(labels, Tensor) or labels.dim() != 2 or labels.shape[1] != self.num_factors:
            raise ValueError(f"labels must be an integer tensor of shape [N, {self.num_factors}]")
        labels = labels.long()
        sizes = torch.tensor(self.factor_sizes, device=labels.device)
        if labels.numel() and bool(((labels < 0) | (labels >= sizes)).any()):
            raise ValueError(f"labels must lie in [0, factor_sizes) = {self.factor_sizes}")
        columns = [self.factor_values(i).to(labels.device)[labels[:, i]] for i in range(self.num_factors)]
        if not columns:
            return torch.zeros(labels.shape[0], 0, device=labels.device)
        return torch.stack(columns, dim=1)

    def factors_to_labels(self, factors: Tensor) -> Tensor:
        """Discrete labels of any factors: the index of the nearest value in each factor's grid.

        Gives continuous samples and :meth:`grid` points the discrete labels that MIG and the
        other metrics need; the inverse of :meth:`labels_to_factors` on grid values.

        Args:
            factors: ``[N, K]`` factors in ``factor_names`` order, inside their ranges.

        Returns:
            ``[N, K]`` int64 labels, on the device of ``factors``.
        """
        factors = self._check_factors(factors)
        columns = [(factors[:, i, None] - self.factor_values(i).to(factors)[None]).abs().argmin(1)
                   for i in range(self.num_factors)]
        if not columns:
            return torch.zeros(factors.shape[0], 0, dtype=torch.long, device=factors.device)
        return torch.stack(columns, dim=1)


class _HeldOut(_FactorSpace):
    """Held-out regions of the factor space: which rows are in one, and redrawing those."""

    def in_hole(self, factors: Tensor) -> Tensor:
        """Which factor rows lie in the held-out region.

        Args:
            factors: ``[N, K]`` factors.

        Returns:
            ``[N]`` bool tensor (all False for datasets without a hole).
        """
        factors = self._check_factors(factors)
        return torch.zeros(factors.shape[0], dtype=torch.bool, device=factors.device)

    def _redraw_hole(self, rows: Tensor, draw: Callable[[int], Tensor], as_factors: Callable[[Tensor], Tensor]) -> Tensor:
        """Redraw the rows whose factors fall in the hole until none do."""
        for _ in range(MAX_REJECTION_ROUNDS):
            bad = self.in_hole(as_factors(rows))
            count = int(bad.sum())
            if count == 0:
                return rows
            rows[bad] = draw(count)
        raise RuntimeError("could not draw factors outside the hole")  # pragma: no cover


class _FactorSampler(_FactorGrid, _HeldOut):
    """Random factors from a caller's generator: grid labels, and training factors (never in a hole)."""

    def _label_weights(self, i: int) -> Tensor | None:
        """Sampling weights over the grid values of factor ``i`` (None = uniform)."""
        return None

    def _draw_labels(self, n: int, generator: torch.Generator) -> Tensor:
        """``[n, K]`` grid indices drawn independently per factor (holes not removed)."""
        columns = []
        for i, size in enumerate(self.factor_sizes):
            weights = self._label_weights(i)
            if weights is None:
                columns.append(torch.randint(size, (n,), generator=generator))
            else:
                columns.append(torch.multinomial(weights, n, replacement=True, generator=generator))
        return torch.stack(columns, dim=1) if columns else torch.zeros(n, 0, dtype=torch.long)

    def sample_labels(self, n: int, generator: torch.Generator) -> Tensor:
        """Draw grid indices uniformly over the allowed grid points (never in the hole).

        Args:
            n: Number of rows.
            generator: A CPU ``torch.Generator`` (the caller owns the random state).

        Returns:
            ``[n, K]`` int64 indices, column ``i`` in ``[0, factor_sizes[i])``.
        """
        n = check_int(n, "n", minimum=0)
        labels = self._draw_labels(n, generator)
        return self._redraw_hole(labels, lambda m: self._draw_labels(m, generator), self.labels_to_factors)

    def _draw_factors(self, n: int, generator: torch.Generator) -> Tensor:
        """``[n, K]`` training factors: grid values for discrete factors, uniform otherwise."""
        factors = self.labels_to_factors(self._draw_labels(n, generator))
        for i, discrete in enumerate(self.factor_discrete):
            if not discrete:
                lo, hi = self.factor_ranges[i]
                factors[:, i] = lo + (hi - lo) * torch.rand(n, generator=generator)
        return factors

    def sample_factors(self, n: int, generator: torch.Generator) -> Tensor:
        """Draw training factors (never in the hole).

        Args:
            n: Number of rows.
            generator: A CPU ``torch.Generator`` (the caller owns the random state).

        Returns:
            ``[n, K]`` float32 factors on the CPU.
        """
        n = check_int(n, "n", minimum=0)
        factors = self._draw_factors(n, generator)
        return self._redraw_hole(factors, lambda m: self._draw_factors(m, generator), lambda f: f)


class _Renderer(_FactorGrid, _HeldOut):
    """Images of given factors, in bounded chunks, on the device of the factors."""

    image_size: int
    num_channels: int

    def render(self, factors: Tensor) -> Tensor:
        """Render images from factors (in ``factor_names`` order).

        Factors inside a held-out hole are rendered too (generalisation tests).

        Args:
            factors: ``[N, K]`` factors inside ``factor_ranges``; its device is used.

        Returns:
            ``[N, C, H, W]`` float32 images in [0, 1] on the device of ``factors``.

        Raises:
            ValueError: If the shape is not ``[N, K]`` or a value is outside its range.
        """
        return self._in_chunks(self._check_factors(factors), self.num_channels, self._render_into)

    def _render_into(self, factors: Tensor, out: Tensor) -> None:
        """Render ``[n, K]`` valid factors into the zero-filled contiguous ``[n, C, H, W]`` ``out``."""
        raise NotImplementedError

    def _in_chunks(self, factors: Tensor, channels: int, draw: Callable[[Tensor, Tensor], None]) -> Tensor:
        """``[N, channels, H, W]`` zeros on the factors' device, filled by ``draw(factors, out)``
        :data:`RENDER_CHUNK` images at a time (which bounds the working set)."""
        n, size = factors.shape[0], self.image_size
        out = torch.zeros(n, channels, size, size, device=factors.device)
        for start in range(0, n, RENDER_CHUNK):
            stop = min(start + RENDER_CHUNK, n)
            draw(factors[start:stop], out[start:stop])
        return out

    def grid(
        self,
        factor_a: str,
        factor_b: str,
        n_a: int = 8,
        n_b: int = 8,
        base: dict[str, float] | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Images on a grid over a 2-D factor subspace (row-major, ``factor_a`` slowest).

        Continuous factors get ``n`` evenly spaced values over their range; discrete ones
        ``n`` evenly spaced grid values. Other factors are at :meth:`default_factors`,
        overridden by ``base``.

        Args:
            factor_a: Name of the slowly varying factor.
            factor_b: Name of the fast varying factor.
            n_a: Values of ``factor_a``.
            n_b: Values of ``factor_b``.
            base: Optional ``{factor name: value}`` for the factors held fixed.

        Returns:
            ``(images [n_a*n_b, C, H, W], factors [n_a*n_b, K], held_out [n_a*n_b] bool)``
            where ``held_out`` marks grid points inside the hole.
        """
        ia, ib = self.factor_index(factor_a), self.factor_index(factor_b)
        if ia == ib:
            raise ValueError(f"grid needs two different factors, got {factor_a!r} twice")
        n_a = check_int(n_a, "n_a")
        n_b = check_int(n_b, "n_b")
        point = self.default_factors()
        for key, value in (base or {}).items():
            point[self.factor_index(key)] = float(value)
        values_a, values_b = self.axis_values(ia, n_a), self.axis_values(ib, n_b)
        factors = point.repeat(n_a * n_b, 1)
        factors[:, ia] = values_a.repeat_interleave(n_b)
        factors[:, ib] = values_b.repeat(n_a)
        return self.render(factors), factors, self.in_hole(factors)


class FactorDataset(_Renderer, _FactorSampler):
    """Base class: images generated from (or indexed by) known factors of variation.

    Put together from parts with one job each: :class:`_FactorSpace` (names, ranges,
    config, validation, ``normalise``), :class:`_FactorGrid` (grid values, labels <->
    factors), :class:`_HeldOut` (``in_hole`` and redrawing), :class:`_FactorSampler`
    (``sample_factors`` / ``sample_labels`` from the caller's generator) and
    :class:`_Renderer` (``render`` in bounded chunks on the factors' device, ``grid``).
    This class adds the seeded image sets built from them: ``sample``, ``sample_discrete``,
    ``eval_set`` and ``stream``.

    Subclasses set the attributes below in ``__init__`` and implement :meth:`_render_into`.

    Attributes:
        name: Registry name (``get_dataset(**ds.config())`` rebuilds the dataset).
        image_size: Side ``H = W`` of the square images.
        num_channels: ``C`` (3 for RGB).
        factor_names: Names of the factors that vary, in column order.
        factor_ranges: ``(lo, hi)`` per factor; :meth:`render` rejects values outside.
        factor_sizes: Values per factor in the canonical discrete evaluation grid.
        factor_discrete: Per factor, whether training samples use only grid values.
    """

    def sample(self, n: int, seed: int = 0, device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
        """Sample images with continuous factors where the factor is continuous.

        Args:
            n: Number of images.
            seed: Seed of a local generator; the same seed gives identical output.
            device: Where to render (default CPU).

        Returns:
            ``(images [n, C, H, W], factors [n, K])``, both on ``device``.
        """
        factors = self.sample_factors(n, seeded_generator(seed)).to(device or "cpu")
        return self.render(factors), factors

    def sample_discrete(
        self, n: int, seed: int = 0, device: torch.device | str | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Sample images on the discrete evaluation grid.

        Args:
            n: Number of images.
            seed: Seed of a local generator.
            device: Where to render (default CPU).

        Returns:
            ``(images [n, C, H, W], factors [n, K], labels [n, K] int64)`` on ``device``.
        """
        labels = self.sample_labels(n, seeded_generator(seed)).to(device or "cpu")
        factors = self.labels_to_factors(labels)
        return self.render(factors), factors, labels

    def eval_set(
        self, n: int, seed: int = 1234, device: torch.device | str | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """A fixed evaluation set on the discrete grid (see :meth:`sample_discrete`).

        Returns:
            ``(images [n, C, H, W], factors [n, K], labels [n, K])``.
        """
        return self.sample_discrete(n, seed=seed, device=device)

    def stream(
        self, batch_size: int, seed: int = 0, device: torch.device | str | None = None, skip: int = 0
    ) -> Iterator[Tensor]:
        """An endless stream of fresh training batches.

        Several batches are rendered at once (about :data:`STREAM_BLOCK` images) and served
        as slices, which keeps the per-image cost low on the training hot path.

        Args:
            batch_size: Images per batch ``B``.
            seed: Seed of a local generator.
            device: Where to render (default CPU).
            skip: Batches to pass over first, without rendering them: the stream then continues
                exactly where a stream that served ``skip`` batches would (an exact resume).

        Yields:
            ``[B, C, H, W]`` float32 batches.
        """
        batch_size = check_int(batch_size, "batch_size")
        skip = check_int(skip, "skip", minimum=0)
        generator = seeded_generator(seed)
        batches_per_block = max(1, STREAM_BLOCK // batch_size)
        target = torch.device(device or "cpu")
        for _ in range(skip // batches_per_block):  # whole blocks: draw their factors only
            self.sample_factors(batch_size * batches_per_block, generator)

        def endless() -> Iterator[Tensor]:
            first = skip % batches_per_block
            while True:
                factors = self.sample_factors(batch_size * batches_per_block, generator).to(target)
                images = self.render(factors[first * batch_size:])
                for k in range(batches_per_block - first):
                    yield images[k * batch_size : (k + 1) * batch_size]
                first = 0

        return endless()


# ----------------------------------------------------------------------------------------
# Circles (paper Table 3)
# ----------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class _Windows:
    """Square pixel windows, one per image, that contain everything an object draws."""

    row0: Tensor  # [N] first row of each window
    col0: Tensor  # [N] first column
    span: int  # window side in pixels
    dx: Tensor  # [N, 1, span] pixel-centre x minus object centre x, in pixels
    dy: Tensor  # [N, span, 1] pixel-centre y minus object centre y, in pixels (y down)


def _windows(cx: Tensor, cy: Tensor, reach: float, size: int) -> _Windows:
    """Windows around centres ``cx, cy`` (pixels) holding every pixel closer than ``reach``."""
    span = min(size, math.ceil(2.0 * reach) + 2)
    offsets = torch.arange(span, device=cx.device)

    def start(centre: Tensor) -> Tensor:
        """First pixel index of each window, kept inside the image."""
        return torch.floor(centre - reach - 0.5).long().clamp_(0, size - span)

    row0, col0 = start(cy), start(cx)
    dx = (col0[:, None] + offsets[None, :]).float().add_(0.5).sub_(cx[:, None])
    dy = (row0[:, None] + offsets[None, :]).float().add_(0.5).sub_(cy[:, None])
    return _Windows(row0, col0, span, dx[:, None, :], dy[:, :, None])


def _paste(windows: _Windows, mask: Tensor, colour: Tensor, out: Tensor) -> None:
    """Write ``colour * mask`` into the windows of the zero-filled ``out``.

    Args:
        windows: The ``N`` windows.
        mask: ``[N, span, span]`` coverage.
        colour: ``[N, C]`` colour per image.
        out: ``[N, C, H, W]`` zero-filled, contiguous output.
    """
    n, channels, height, width = out.shape
    span, device = windows.span, out.device
    offsets = torch.arange(span, device=device)
    rows = (windows.row0[:, None] + offsets[None, :]) * width  # [N, span]
    cols = windows.col0[:, None] + offsets[None, :]  # [N, span]
    image = torch.arange(n, device=device) * (channels * height * width)
    index = (image[:, None] + rows)[:, :, None] + cols[:, None, :]  # [N, span, span] in channel 0
    flat = out.view(-1)
    for c in range(channels):
        flat.scatter_(0, (index + c * height * width).view(-1), (mask * colour[:, c, None, None]).view(-1))


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


# ----------------------------------------------------------------------------------------
# Coloured sprites
# ----------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------
# Readers for stored datasets
# ----------------------------------------------------------------------------------------


class _StoredImages(FactorDataset):
    """A dataset of stored images indexed by their factor values (nearest-image render)."""

    def _setup(self, values: np.ndarray, names: tuple[str, ...], image_size: int, channels: int) -> None:
        """Index the factor columns that vary; build the grid-index -> row lookup table."""
        values = np.asarray(values, dtype=np.float64)
        keep = [k for k in range(values.shape[1]) if len(np.unique(values[:, k])) > 1]
        grids, labels = [], []
        for k in keep:
            grid, inverse = np.unique(values[:, k], return_inverse=True)
            grids.append(torch.tensor(grid, dtype=torch.float32))
            labels.append(inverse.reshape(-1))
        self.factor_names = tuple(names[k] for k in keep)
        self._grids = grids
        self.factor_sizes = tuple(len(g) for g in grids)
        self.factor_ranges = tuple((float(g[0]), float(g[-1])) for g in grids)
        self.factor_discrete = (True,) * len(keep)
        self.image_size = image_size
        self.num_channels = channels
        self._labels = torch.tensor(np.stack(labels, axis=1) if labels else np.zeros((len(values), 0)), dtype=torch.long)
        self._lookup = torch.full(self.factor_sizes, -1, dtype=torch.long)
        self._lookup[tuple(self._labels.T)] = torch.arange(len(values))
        self.num_images = len(values)

    def factor_values(self, i: int) -> Tensor:
        return self._grids[self._check_factor_column(i)].clone()

    def _draw_labels(self, n: int, generator: torch.Generator) -> Tensor:
        """Labels of uniformly drawn stored images (uniform over the grid if it is complete)."""
        return self._labels[torch.randint(self.num_images, (n,), generator=generator)]

    def _read(self, rows: np.ndarray) -> np.ndarray:
        """Stored images of ``rows`` as ``[n, H, W, C]`` or ``[n, H, W]`` uint8."""
        raise NotImplementedError

    _pixel_scale: float = 255.0

    def _render_into(self, factors: Tensor, out: Tensor) -> None:
        labels = torch.stack(
            [(factors[:, i, None].cpu() - g[None, :]).abs().argmin(dim=1) for i, g in enumerate(self._grids)], dim=1
        )
        rows = self._lookup[tuple(labels.T)]
        if bool((rows < 0).any()):
            raise ValueError("this factor combination is not stored in the file")
        pixels = torch.from_numpy(np.ascontiguousarray(self._read(rows.numpy())))
        pixels = pixels[:, None] if pixels.dim() == 3 else pixels.permute(0, 3, 1, 2)
        out.copy_(pixels.to(out.device, torch.float32) / self._pixel_scale)


class DSpritesFile(_StoredImages):
    """Reader of the dSprites ``.npz`` (grey images; nothing is downloaded).

    Keys used: ``imgs`` ``[N, 64, 64]`` uint8 (0/1 or 0/255) and ``latents_values``
    ``[N, 6]`` (color, shape, scale, orientation, posX, posY). Only the latents that vary
    become factors: normally ``shape, scale, orientation, x, y``. :meth:`render` returns the
    stored image nearest to the given factors. The whole image array is loaded in memory.

    Args:
        path: Path of the ``.npz`` file.
    """

    LATENT_NAMES = ("color", "shape", "scale", "orientation", "x", "y")

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.name = "dsprites_file"
        self.title = "dSprites (file)"
        with np.load(self.path, allow_pickle=False) as archive:
            if "imgs" not in archive or "latents_values" not in archive:
                raise ValueError(f"{self.path} must hold 'imgs' and 'latents_values' arrays")
            self._images = np.asarray(archive["imgs"], dtype=np.uint8)
            values = archive["latents_values"]
        if self._images.ndim != 3 or values.shape != (len(self._images), len(self.LATENT_NAMES)):
            raise ValueError("expected imgs [N, H, W] and latents_values [N, 6]")
        self._pixel_scale = 1.0 if self._images[:4096].max(initial=0) <= 1 else 255.0
        self._setup(values, self.LATENT_NAMES, self._images.shape[1], 1)

    def _config_kwargs(self) -> dict[str, Any]:
        return {"path": self.path}

    def _read(self, rows: np.ndarray) -> np.ndarray:
        return self._images[rows]


class Shapes3DFile(_StoredImages):
    """Reader of the 3dshapes ``.h5`` (RGB images; nothing is downloaded).

    Datasets used: ``images`` ``[N, 64, 64, 3]`` uint8 and ``labels`` ``[N, 6]`` (floor_hue,
    wall_hue, object_hue, scale, shape, orientation). Images are read lazily from the file;
    :meth:`render` returns the stored image nearest to the given factors.

    Args:
        path: Path of the ``.h5`` file.
    """

    LATENT_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")

    def __init__(self, path: str | Path) -> None:
        import h5py  # optional dependency, only needed for this reader

        self.path = str(path)
        self.name = "shapes3d_file"
        self.title = "3D shapes (file)"
        self._file = h5py.File(self.path, "r")
        if "images" not in self._file or "labels" not in self._file:
            raise ValueError(f"{self.path} must hold 'images' and 'labels' datasets")
        images, values = self._file["images"], self._file["labels"][()]
        if images.ndim != 4 or images.shape[3] != 3 or values.shape != (images.shape[0], len(self.LATENT_NAMES)):
            raise ValueError("expected images [N, H, W, 3] and labels [N, 6]")
        self._images = images
        self._setup(values, self.LATENT_NAMES, images.shape[1], 3)

    def _config_kwargs(self) -> dict[str, Any]:
        return {"path": self.path}

    def _read(self, rows: np.ndarray) -> np.ndarray:
        unique, inverse = np.unique(rows, return_inverse=True)  # h5py wants increasing indices
        return self._images[unique][inverse.reshape(-1)]


# ----------------------------------------------------------------------------------------
# Multi-object scenes (notebook 13): several circles per image, with ground-truth masks
# ----------------------------------------------------------------------------------------

SCENE_OBJECT_FACTORS = ("present", "x", "y", "radius", "hue")  # per object, in column order
SCENE_RADIUS = (0.1, 0.2)  # radius range in frame units (0.1 x 32 px = 3.2 px)


class Scenes:
    """Scenes of ``min_objects..max_objects`` coloured discs on black, with a label per pixel.

    Object ``k`` (of ``max_objects`` columns, the absent ones with ``present = 0``) has a
    centre ``(x, y)``, a radius and a hue (saturation and value 1). Objects are drawn in
    column order, so a later object hides an earlier one where they overlap (depth order);
    the label of a pixel is ``1 +`` the index of the object it shows, ``0`` the background.
    The pixel convention is the module's (:func:`centre_of_mass`). Images and labels are
    rendered on the device of the objects tensor.
    """

    num_channels = 3

    def __init__(self, image_size: int = 32, *, min_objects: int = 1, max_objects: int = 3,
                 radius: tuple[float, float] = SCENE_RADIUS) -> None:
        self.image_size = check_image_size(image_size)
        self.min_objects = check_int(min_objects, "min_objects")
        self.max_objects = check_int(max_objects, "max_objects")
        if min_objects > max_objects:
            raise ValueError(f"min_objects ({min_objects}) must be <= max_objects ({max_objects})")
        if not 0 < radius[0] <= radius[1] < 0.5:
            raise ValueError(f"radius must be (lo, hi) with 0 < lo <= hi < 0.5 (frame units), got {radius}")
        self.radius = (float(radius[0]), float(radius[1]))

    def config(self) -> dict[str, Any]:
        """Constructor arguments: ``Scenes(**scenes.config())`` rebuilds it."""
        return dict(image_size=self.image_size, min_objects=self.min_objects, max_objects=self.max_objects,
                    radius=self.radius)

    def __repr__(self) -> str:
        return f"Scenes({', '.join(f'{k}={v!r}' for k, v in self.config().items())})"

    def sample_objects(self, n: int, generator: torch.Generator) -> Tensor:
        """``[n, max_objects, 5]`` object factors (:data:`SCENE_OBJECT_FACTORS`) drawn from ``generator``."""
        n = check_int(n, "n")
        shape = (n, self.max_objects)
        count = torch.randint(self.min_objects, self.max_objects + 1, (n, 1), generator=generator)
        present = (torch.arange(self.max_objects)[None] < count).float()
        lo, hi = self.radius
        radius = lo + (hi - lo) * torch.rand(shape, generator=generator)
        x = radius + (1 - 2 * radius) * torch.rand(shape, generator=generator)  # wholly inside the frame
        y = radius + (1 - 2 * radius) * torch.rand(shape, generator=generator)
        hue = torch.rand(shape, generator=generator)
        return torch.stack([present, x, y, radius, hue], dim=-1)

    def render(self, objects: Tensor) -> tuple[Tensor, Tensor]:
        """Object factors ``[N, K, 5]`` -> images ``[N, 3, H, W]`` in [0, 1] and labels ``[N, H*W]`` (int64)."""
        if objects.dim() != 3 or objects.shape[-1] != len(SCENE_OBJECT_FACTORS):
            raise ValueError(f"objects must be [N, K, {len(SCENE_OBJECT_FACTORS)}] "
                             f"({', '.join(SCENE_OBJECT_FACTORS)}), got {tuple(objects.shape)}")
        n, k, _ = objects.shape
        size, device = self.image_size, objects.device
        present, x, y, radius, hue = (objects[..., i, None, None] for i in range(len(SCENE_OBJECT_FACTORS)))
        centres = (torch.arange(size, device=device, dtype=objects.dtype) + 0.5) / size
        inside = ((centres[None, None, None, :] - x) ** 2 + (centres[None, None, :, None] - y) ** 2 < radius**2)
        inside &= present > 0.5  # [N, K, H, W]
        depth = torch.arange(1, k + 1, device=device)[None, :, None, None]
        labels = (inside * depth).amax(dim=1).flatten(1)  # the last object drawn at a pixel is the one it shows
        flat_hue = objects[..., 4].reshape(-1)
        colours = hsv_to_rgb(flat_hue, torch.ones_like(flat_hue), torch.ones_like(flat_hue)).reshape(n, k, 3)
        palette = torch.cat([torch.zeros(n, 1, 3, device=device, dtype=colours.dtype), colours], dim=1)
        images = torch.gather(palette, 1, labels[..., None].expand(-1, -1, 3))  # [N, H*W, 3]
        return images.transpose(1, 2).reshape(n, 3, size, size).contiguous(), labels

    def sample(self, n: int, seed: int = 0, device: torch.device | str | None = None
               ) -> tuple[Tensor, Tensor, Tensor]:
        """``(images [n, 3, H, W], labels [n, H*W], objects [n, K, 5])`` from a local generator seeded ``seed``."""
        objects = self.sample_objects(n, seeded_generator(seed)).to(device or "cpu")
        return (*self.render(objects), objects)

    def eval_set(self, n: int, seed: int = 1234, device: torch.device | str | None = None
                 ) -> tuple[Tensor, Tensor, Tensor]:
        """A fixed held-out set: :meth:`sample` with the evaluation seed."""
        return self.sample(n, seed=seed, device=device)

    def stream(self, batch_size: int, seed: int = 0, device: torch.device | str | None = None, skip: int = 0
               ) -> Iterator[Tensor]:
        """An endless stream of fresh ``[B, 3, H, W]`` batches; ``skip`` batches are passed over (an exact resume)."""
        batch_size = check_int(batch_size, "batch_size")
        skip = check_int(skip, "skip", minimum=0)
        generator = seeded_generator(seed)
        for _ in range(skip):
            self.sample_objects(batch_size, generator)
        target = torch.device(device or "cpu")

        def endless() -> Iterator[Tensor]:
            while True:
                yield self.render(self.sample_objects(batch_size, generator).to(target))[0]

        return endless()


# ----------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------

_REGISTRY: dict[str, Callable[..., FactorDataset]] = {
    **{f"circles/{key}": (lambda key: lambda **kw: Circles(key, **kw))(key) for key in CIRCLE_SET_NAMES},
    "sprites": ColoredSprites,
    "dsprites_file": DSpritesFile,
    "shapes3d_file": Shapes3DFile,
}
DATASET_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def get_dataset(name: str, **kwargs: Any) -> FactorDataset:
    """Build a dataset by registry name.

    Args:
        name: One of :data:`DATASET_NAMES` (``"circles/xy"``, ..., ``"sprites"``,
            ``"dsprites_file"``, ``"shapes3d_file"``).
        **kwargs: Constructor arguments (e.g. ``hole="center"``, ``path=...``).

    Returns:
        The dataset; ``get_dataset(**ds.config())`` rebuilds ``ds``.

    Raises:
        ValueError: If the name is unknown.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; expected one of {list(DATASET_NAMES)}")
    return _REGISTRY[name](**kwargs)
