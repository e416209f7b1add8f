"""Which device, precision and memory layout a training run uses, chosen per machine.

Machines differ, so the choice is made from what the machine says and measures, never
from one machine's habits:

* **CUDA**: bf16 autocast where ``torch.cuda.is_bf16_supported()`` (Ampere and newer),
  fp32 elsewhere; channels-last memory for single models.
* **CPU with native bf16** (AVX-512 BF16 or AMX in ``/proc/cpuinfo``): bf16 autocast and
  channels-last if a short measurement (:func:`cpu_bf16_is_faster`, once per process) finds
  them faster than fp32 on a convolution of the models' shape.
* **Other CPUs** (AVX2 only, like the course's CI): fp32 NCHW. Without native bf16 the
  emulated bf16 kernels ran about 100x slower than fp32 (``benchmarks/bench_roofline.py``).

Nothing here changes a process-wide setting on import. :func:`configure_process` is the one
call that does (glibc's allocator, see :func:`sbdlib.convolutions.reuse_freed_memory`); the
training loop makes it explicitly.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from sbdlib.checks import seeded_generator
from sbdlib.convolutions import reuse_freed_memory

CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of native bf16 arithmetic
PROBE_SHAPE = (16, 32, 32, 32)                # [B, C, H, W] of the bf16-vs-fp32 probe convolution
PROBE_REPEATS = 5


@dataclass(frozen=True)
class Precision:
    """How a run computes: autocast dtype (None = fp32) and whether activations are channels-last."""

    autocast: torch.dtype | None
    channels_last: bool

    @property
    def name(self) -> str:
        """``"bf16"``, ``"fp16"`` or ``"fp32"`` (for logs and result rows)."""
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.autocast, "fp32")


def module_device(module: Any) -> torch.device:
    """Device of a module's first parameter (CPU for parameter-free stand-ins)."""
    try:
        return next(module.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The training device, checked to exist (one clear error otherwise).

    Args:
        device: ``None`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    """
    if device is None:
        return default_device()
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device {device!r} is not a device name; use 'cpu', 'cuda' or 'cuda:N' ({exc})") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = 0 if device.index is None else device.index
        if index >= count:
            raise ValueError(f"device {str(device)!r} does not exist: this machine has {count} CUDA device(s); "
                             f"use device='cpu' or one of {[f'cuda:{i}' for i in range(count)]}")
    elif device.type not in ("cpu", "mps"):
        raise ValueError(f"device {str(device)!r} is not supported; use 'cpu' or 'cuda'")
    return device


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags (empty where ``/proc/cpuinfo`` is missing, e.g. macOS)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags") or line.startswith("Features"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_has_native_bf16(flags: set[str] | None = None) -> bool:
    """Whether the CPU computes bf16 natively (AVX-512 BF16 or AMX), from its flags."""
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in CPU_BF16_FLAGS)


def _time_conv(x: torch.Tensor, w: torch.Tensor, dtype: torch.dtype | None) -> float:
    """Median seconds of one forward + backward of ``conv2d(x, w)``, optionally under autocast."""
    times = []
    for _ in range(PROBE_REPEATS):
        xi, wi = x.detach().requires_grad_(), w.detach().requires_grad_()
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            y = F.conv2d(xi, wi, padding=2)
        y.float().sum().backward()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


@functools.cache
def cpu_bf16_is_faster() -> bool:
    """Measured once per process: does bf16 autocast + channels-last beat fp32 on this CPU?

    Only CPUs with native bf16 are measured (on the others bf16 is emulated and far slower).
    The probe is a 5 x 5 convolution of ``PROBE_SHAPE``, the size of a course-scale layer.
    """
    if not cpu_has_native_bf16():
        return False
    g = seeded_generator(0)
    x = torch.randn(PROBE_SHAPE, generator=g)
    w = torch.randn(PROBE_SHAPE[1], PROBE_SHAPE[1], 5, 5, generator=g)
    fp32 = _time_conv(x, w, None)
    bf16 = _time_conv(x.contiguous(memory_format=torch.channels_last), w.contiguous(memory_format=torch.channels_last),
                      torch.bfloat16)
    return bf16 < fp32


def choose_precision(device: torch.device, amp: bool | None = None, *, population: bool = False) -> Precision:
    """The precision a run on ``device`` uses (see the module docstring).

    Args:
        device: The training device.
        amp: ``None`` chooses per machine; ``False`` forces fp32; ``True`` forces the
            device's reduced precision (bf16 where supported, else fp16 on CUDA).
        population: A stacked population (5-D batches): channels-last does not apply.
    """
    if amp is False:
        return Precision(None, False)
    if device.type == "cuda":
        if amp is None and not torch.cuda.is_bf16_supported():
            return Precision(None, not population)  # fp32: no grad scaler needed, members stay independent
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return Precision(dtype, not population)
    if device.type == "cpu" and (amp or cpu_bf16_is_faster()):
        return Precision(torch.bfloat16, not population)
    return Precision(None, False)


def configure_process(device: torch.device) -> None:
    """The process-wide settings training wants, made explicitly (never on import).

    On the CPU: glibc keeps freed activation-sized blocks for reuse instead of returning
    them to the OS (each fresh block otherwise costs a page fault per 4 KiB on first touch).
    """
    if device.type == "cpu":
        reuse_freed_memory()
