"""Checkpoints: a model, its config and its training state in one file, safely.

Writes are atomic (a temporary file in the same folder, flushed, then renamed over the
target), so an interrupted save never leaves a half-written checkpoint. Loading uses
``torch.load(weights_only=True)``: only tensors and plain Python values are read, no
pickled code is ever executed.

A training run's checkpoint (:func:`sbdlib.training.train_many`) also records
``target_steps``, the steps the run was asked for, and ``finished``: whether it ended (all
its steps done, or stopped by a divergence). Both are written from the first checkpoint
on, so a file left by a killed process says it is unfinished. Files written before these
fields existed count as finished unless their history says they were interrupted
(:func:`is_finished`); a bare model saved with :func:`save_checkpoint` counts as finished.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import IO, Any, Callable

import torch

from sbdlib.models import VAE

FORMAT = "sbdlib-checkpoint"
VERSION = 1


def save_checkpoint(path: str | os.PathLike, vae: VAE, **extra: Any) -> Path:
    """Write ``vae`` (weights and config) and any plain ``extra`` entries to ``path`` atomically.

    Args:
        path: Target file (``.pt``); its folder is created if needed.
        vae: The model.
        **extra: Plain values or tensors to keep beside it (history, step, optimizer state,
            dataset config, seed, command line ...).

    Returns:
        The path written.
    """
    payload = {"format": FORMAT, "version": VERSION, "config": vae.config,
               "state_dict": {k: v.detach().cpu() for k, v in vae.state_dict().items()}, **extra}
    return write_atomically(path, lambda f: torch.save(payload, f))


def write_atomically(path: str | os.PathLike, write: Callable[[IO], None], mode: str = "wb") -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, flush it to disk, then rename it over ``path``.

    A reader never sees a half-written file, and an interrupted write leaves the old file
    (or none) and no temporary behind. The folder is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"newline": ""})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the result is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


COMPACTED = "compacted"  # payload key: why a shipped checkpoint lacks its objective's state


def compact_checkpoint(path: str | os.PathLike) -> bool:
    """Drop a finished run's objective state for shipping; ``True`` if there was any to drop.

    A FactorVAE's discriminator and its Adam state are 48 MB per run at the course's sizes
    (its 6 layers of 1,000 units dwarf the VAE), a gigabyte for 20 runs, and a finished run
    needs neither to be loaded, evaluated or checked against its results row. The VAE, its
    optimiser, noise generator and history stay. What is lost is training the run further:
    :func:`sbdlib.training.train_many` refuses to resume a compacted checkpoint.
    """
    payload = read_checkpoint(path)
    if not payload.get("objective"):
        return False
    payload["objective"] = {}
    payload[COMPACTED] = ("the objective's state (a FactorVAE discriminator) was dropped for shipping "
                          "(sbdlib.training.checkpoints.compact_checkpoint)")
    write_atomically(path, lambda f: torch.save(payload, f))
    return True


def is_finished(payload: dict[str, Any]) -> bool:
    """Whether a checkpoint holds a run that ended (all its steps, or a divergence) rather than a partial one.

    Files with a ``finished`` entry say so themselves. Older files (no ``finished``, no
    ``target_steps``) are finished unless their history was interrupted: their step equals
    their history's length, so that is the only sign of an unfinished run they carry.
    """
    if "finished" in payload:
        return bool(payload["finished"])
    history = payload.get("history")
    if not isinstance(history, dict) or "step" not in history:
        return True  # a bare model, not a training run
    if history.get("diverged"):
        return True
    return not history.get("interrupted") and int(payload.get("step", len(history["step"]))) >= len(history["step"])


def describe_progress(payload: dict[str, Any]) -> str:
    """``"step 480 of 2000"`` (or ``"step 480"`` where the target was not recorded)."""
    step, target = payload.get("step"), payload.get("target_steps")
    return f"step {step}" + (f" of {target}" if target is not None else "")


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint's contents without building a model (no pickled code runs).

    Raises:
        FileNotFoundError: If there is no such file.
        ValueError: If the file is not a readable sbdlib checkpoint.
    """
    path = Path(path)
    try:
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint at {path}")
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except PermissionError as exc:
        raise ValueError(f"cannot read the checkpoint {path}: {exc.strerror}; check its and its folders' "
                         f"permissions") from None
    except Exception as exc:  # truncated, corrupted, or a pickle that needs code
        raise ValueError(f"{path} is not a readable sbdlib checkpoint (corrupted or not written by "
                         f"sbdlib.training.save_checkpoint): {type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not an sbdlib checkpoint (expected a dict with format={FORMAT!r})")
    if payload.get("version") != VERSION:
        raise ValueError(f"{path} has checkpoint version {payload.get('version')}, this sbdlib reads {VERSION}")
    return payload


def load_state(vae: VAE, state_dict: dict[str, torch.Tensor], *, source: str = "checkpoint") -> None:
    """Load weights into ``vae``, with one clear error listing every mismatch."""
    own = vae.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = [f"{k}: {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state_dict and state_dict[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = [f"missing {missing[:5]}" if missing else "", f"unexpected {unexpected[:5]}" if unexpected else "",
                 f"shape mismatch {shapes[:5]}" if shapes else ""]
        raise ValueError(f"{source} does not match the model ({vae.decoder_name} VAE): "
                         + "; ".join(p for p in parts if p))
    vae.load_state_dict(state_dict)


def load_checkpoint(path: str | os.PathLike, vae: VAE | None = None, *, device: str | torch.device | None = None,
                    require_finished: bool = False) -> tuple[VAE, dict[str, Any]]:
    """Load a checkpoint, building the VAE from its stored config (or into ``vae``).

    An unfinished run (interrupted or killed part-way, :func:`is_finished`) loads with a
    warning, and ``payload["finished"]`` is ``False``; with ``require_finished`` it is refused.

    Args:
        path: A file written by :func:`save_checkpoint`.
        vae: Optional existing model; its config must match the checkpoint's.
        device: Where to put the model (default: CPU).
        require_finished: Refuse (ValueError) a run that has not ended.

    Returns:
        ``(vae, payload)``: the model in eval mode and the checkpoint's other entries
        (``payload["finished"]`` always set).

    Raises:
        FileNotFoundError, ValueError: Missing, corrupted, mismatched or (``require_finished``) unfinished checkpoint.
    """
    payload = read_checkpoint(path)
    payload["finished"] = is_finished(payload)
    if not payload["finished"]:
        message = (f"{path} holds an unfinished run ({describe_progress(payload)}); resume it with "
                   f"train(..., checkpoint=path, resume=True) or train it again")
        if require_finished:
            raise ValueError(message)
        warnings.warn(message, UserWarning, stacklevel=2)
    config = payload["config"]
    if vae is None:
        try:
            vae = VAE(**config)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path} holds a config this sbdlib cannot build: {exc}") from None
    elif vae.config != config:
        diff = {k: (config.get(k), vae.config.get(k)) for k in set(config) | set(vae.config)
                if config.get(k) != vae.config.get(k)}
        raise ValueError(f"{path} was saved from a different model; (checkpoint, model) differ in {diff}")
    load_state(vae, payload["state_dict"], source=str(path))
    if device is not None:
        vae.to(device)
    return vae.eval(), payload
