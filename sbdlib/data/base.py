"""What every dataset shares: factors, their grid and held-out region, sampling, rendering in chunks
(:class:`FactorDataset`); colours and the centre of mass.

The common interface comes in parts with one job each: the factor space, its discrete grid,
held-out regions, sampling factors, rendering images; :class:`FactorDataset` puts them together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from sbdlib.checks import check_int, seeded_generator

DEFAULT_IMAGE_SIZE = 64
RENDER_CHUNK = 1024  # images per internal rendering step: bounds the working set
STREAM_BLOCK = 512  # images rendered at once by ``stream`` and served in batch slices
CONTINUOUS_GRID_SIZE = 32  # grid values per continuous circle factor
RANGE_TOLERANCE = 1e-5  # slack when checking that factors lie inside their ranges
MAX_REJECTION_ROUNDS = 1000  # safety cap of the hole-rejection loop
PRESENT = "present"  # name of the presence factor added when ``blank_fraction > 0``
PRESENT_THRESHOLD = 0.5  # ``present`` values at or above it draw the object


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

    Uses the pixel convention of :mod:`sbdlib.data`: pixel ``(i, j)`` is centred at
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
