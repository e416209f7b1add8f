"""Every dataset by name: :func:`get_dataset` and :data:`DATASET_NAMES`."""

from __future__ import annotations

from typing import Any, Callable

from sbdlib.data.base import FactorDataset
from sbdlib.data.circles import CIRCLE_SET_NAMES, Circles
from sbdlib.data.files import DSpritesFile, Shapes3DFile
from sbdlib.data.sprites import ColoredSprites

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
