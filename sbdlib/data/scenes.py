"""Scenes of several discs with a label per pixel (:class:`Scenes`): notebook 13's data."""

from __future__ import annotations

from typing import Any, Iterator

import torch
from torch import Tensor

from sbdlib.checks import check_image_size, check_int, seeded_generator
from sbdlib.data.base import hsv_to_rgb

SCENE_OBJECT_FACTORS = ("present", "x", "y", "radius", "hue")  # per object, in column order
SCENE_RADIUS = (0.1, 0.2)  # radius range in frame units (0.1 x 32 px = 3.2 px)


class Scenes:
    """Scenes of ``min_objects..max_objects`` coloured discs on black, with a label per pixel.

    Object ``k`` (of ``max_objects`` columns, the absent ones with ``present = 0``) has a
    centre ``(x, y)``, a radius and a hue (saturation and value 1). Objects are drawn in
    column order, so a later object hides an earlier one where they overlap (depth order);
    the label of a pixel is ``1 +`` the index of the object it shows, ``0`` the background.
    The pixel convention is the package's (:func:`sbdlib.data.centre_of_mass`). Images and labels are
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
