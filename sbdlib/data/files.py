"""Readers of datasets you already have on disk: dSprites (:class:`DSpritesFile`) and 3dshapes
(:class:`Shapes3DFile`); nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sbdlib.data.base import FactorDataset


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
