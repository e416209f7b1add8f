"""A decoder module described for a checkpoint (its class and constructor arguments) and rebuilt from
it, so that no checkpoint holds pickled code.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import torch
from torch import nn

PLAIN_TYPES = (bool, int, float, str, type(None))


def _is_plain(value: Any) -> bool:
    """True for values a checkpoint can hold without pickled code (numbers, strings, lists, dicts)."""
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return isinstance(value, PLAIN_TYPES)


def decoder_arguments(module: nn.Module) -> dict[str, Any] | None:
    """The constructor arguments that rebuild ``module``, or ``None`` if they cannot be recorded.

    The protocol, in order: a ``module.config`` dict of keyword arguments (as :class:`~sbdlib.models.VAE`
    keeps); else each constructor parameter stored as an attribute of the same name
    (``self.width = width``, the scikit-learn convention), parameters not stored taking
    their defaults. Every value must be plain (numbers, strings, lists, dicts).
    """
    config = getattr(module, "config", None)
    if isinstance(config, dict):
        return dict(config) if _is_plain(config) else None
    kwargs: dict[str, Any] = {}
    for name, p in inspect.signature(type(module).__init__).parameters.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if name in vars(module):
            value = vars(module)[name]
        elif p.default is not p.empty:
            continue
        else:
            return None  # a required argument the module did not keep
        if not _is_plain(value):
            return None
        kwargs[name] = value
    return kwargs


def describe_decoder(module: nn.Module) -> dict[str, Any]:
    """A checkpoint-safe description of a decoder module: ``{"module", "qualname", "kwargs"}``.

    ``module``/``qualname`` locate its class for import; ``kwargs`` are its constructor
    arguments (:func:`decoder_arguments`; ``None`` when they could not be recorded).
    :func:`build_decoder` turns the description back into a fresh module (weights are
    loaded separately), so a checkpoint never holds pickled code.
    """
    cls = type(module)
    return {"module": cls.__module__, "qualname": cls.__qualname__, "kwargs": decoder_arguments(module)}


def build_decoder(description: dict[str, Any]) -> nn.Module:
    """Rebuild a decoder module from :func:`describe_decoder`'s description (fresh weights).

    Raises:
        ValueError: One line saying why the class cannot be rebuilt and how to fix it.
    """
    if not isinstance(description, dict) or set(description) != {"module", "qualname", "kwargs"}:
        raise ValueError(f"a decoder description is a dict with keys module, qualname and kwargs; got {description!r}")
    path = f"{description['module']}.{description['qualname']}"
    fix = ("define the class in an importable .py file and build it from there, or build the model yourself and "
           "load into it: load_checkpoint(path, vae=VAE(decoder=YourDecoder(...), ...))")
    if "<locals>" in description["qualname"]:
        raise ValueError(f"cannot rebuild decoder {path}: it was defined inside a function; {fix}")
    try:
        obj: Any = importlib.import_module(description["module"])
        for part in description["qualname"].split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        where = " (defined in a notebook or script that is not running now)" if description["module"] == "__main__" else ""
        raise ValueError(f"cannot rebuild decoder {path}: no such class here{where}; {fix}") from None
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise ValueError(f"cannot rebuild decoder {path}: it is not an nn.Module class")
    if description["kwargs"] is None:
        raise ValueError(f"cannot rebuild decoder {path}: its constructor arguments were not recorded (keep them "
                         f"as self.config = dict(...) or as attributes named like the parameters); {fix}")
    try:
        return obj(**description["kwargs"])
    except Exception as exc:
        raise ValueError(f"cannot rebuild decoder {path} from {description['kwargs']}: "
                         f"{type(exc).__name__}: {exc}; {fix}") from None


def _check_decoder_output(module: nn.Module, latent_dim: int, channels: int, image_size: int) -> None:
    """Raise a ValueError unless ``module`` maps ``[2, latent_dim]`` to ``[2, channels, image_size, image_size]``."""
    param = next(module.parameters(), None)
    z = torch.zeros(2, latent_dim, device=param.device if param is not None else None)
    training = module.training
    try:
        with torch.no_grad():
            out = module.eval()(z)
    except Exception as exc:
        raise ValueError(f"decoder {type(module).__name__} failed on latents of shape [2, {latent_dim}]: "
                         f"{type(exc).__name__}: {exc}") from None
    finally:
        module.train(training)
    expected = (2, channels, image_size, image_size)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"decoder {type(module).__name__} must map latents [B, {latent_dim}] to images "
                         f"[B, {channels}, {image_size}, {image_size}]; got {got} for B = 2")
