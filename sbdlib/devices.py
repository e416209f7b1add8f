"""Which device, precision and memory layout a training run uses, chosen per machine.

Machines differ, so the choice is made from what the machine says and measures, never
from one machine's habits. :func:`choose_precision` decides; ``amp=False`` always means
fp32, ``amp=True`` asks for the device's reduced precision, ``amp=None`` (the default) is:

* **CUDA with native bf16** (compute capability >= 8.0: A100, H100, RTX 30xx/40xx; or any
  ROCm GPU): bf16 autocast. ``torch.cuda.is_bf16_supported()`` alone is not trusted: it
  counts emulated bf16 by default and is True on a T4 (capability 7.5).
* **Older CUDA GPUs** (T4, V100, P100, GTX 10xx/20xx): fp16 autocast or fp32, whichever a
  short measurement (:func:`reduced_precision_is_faster`, once per process and device) finds
  faster, provided fp16 stays finite there. fp16 training needs a ``GradScaler``; the training
  engines keep one per member when ``Precision.autocast is torch.float16``.
  ``amp=True`` gives fp16 without measuring.
* **Apple silicon (MPS)**: fp32; ``amp=True`` is refused. MPS lacks a few operations;
  :func:`explain_mps_errors` turns PyTorch's long message into one line naming the
  operation and the fallback (``PYTORCH_ENABLE_MPS_FALLBACK=1``, set before Python starts).
* **CPU with native bf16** (AVX-512 BF16 or AMX in its flags: Intel Xeons from Cooper Lake
  and Sapphire Rapids on, AMD Zen 4 and later): bf16 autocast with channels-last tensors,
  wherever a short measurement finds it faster than fp32 *for the model at hand*
  (:func:`cpu_bf16_pays`): one warm-up, then :data:`MODEL_PROBE_STEPS` forward + backward
  passes of a copy of the VAE at the run's batch size, fp32 and bf16 interleaved; bf16 is
  chosen when the median speed-up is at least :data:`BF16_MIN_SPEEDUP` (a margin, so a near
  tie does not flip between processes). Measured once per process and model shape (the
  VAE's class and ``config``, and the batch size), so a population of one architecture
  measures once. A tiny model, whose steps are dominated by per-operation overheads, stays
  in fp32. bf16 changes single runs in their last digits and beyond, as thread counts and
  kernel sets already do, so a run is compared with the distribution over seeds, never with
  one seed.
* **Any other CPU**: fp32. Its bf16 would be emulated (about 100x slower than fp32 where it
  was measured, ``benchmarks/bench_roofline.py``), so it is never measured. ``amp=True``
  still asks for bf16 autocast, on any CPU.
* **The environment variable** ``SBDLIB_CPU_BF16`` overrides what the CPU says:
  ``native`` takes it as a CPU with native bf16 that pays (bf16 by default, nothing
  measured), ``none`` as one without (fp32 by default); ``auto`` (or unset) reads the flags
  and measures. It is read when a run starts (nothing changes on import) and exists so that
  both kinds of CPU can be tested on one machine.

Evaluation (:mod:`sbdlib.metrics`) is fp32 everywhere; only training changes. Each
run's precision is recorded in its :class:`~sbdlib.training.history.History` and results row, and
:func:`computed_in` says it in one line beside a run's numbers.

Channels-last memory is used with CUDA and with CPU bf16, for single models (a stacked
population's 5-D batches have no channels-last layout).

Before any step, :func:`check_batch_fits` refuses in one line a batch whose training step
cannot fit: :func:`step_memory` estimates the step from the activations a one- and a two-image
forward pass save, :func:`available_memory` reads what the machine has (free CUDA memory, else
MemAvailable capped by a container's limit). ``train``, ``train_many`` and the object runs call it.

Nothing here changes a process-wide setting on import. :func:`configure_process` is the one
call that does (glibc's allocator, see :func:`reuse_freed_memory`); the
training loop makes it explicitly.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import functools
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from sbdlib.checks import seeded_generator

CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of native bf16 arithmetic
CUDA_NATIVE_BF16 = (8, 0)                     # compute capability from which CUDA GPUs compute bf16 natively
PROBE_SHAPES = {"cpu": (16, 32, 32, 32),      # [B, C, H, W] of the probe convolution: a course-scale layer,
                "cuda": (16, 64, 64, 64)}     # and a paper-scale one (64 x 64, width 64, batch 16) on a GPU
PROBE_KERNEL = 5
PROBE_REPEATS = 5
MODEL_PROBE_STEPS = 3                         # timed forward + backward passes per precision (after one warm-up)
BF16_MIN_SPEEDUP = 1.25                       # bf16 is the CPU default where it measured at least this much faster
CPU_BF16_ENV = "SBDLIB_CPU_BF16"              # "auto" (default), "native" or "none": see the module docstring
CPU_BF16_MODES = ("auto", "native", "none")
MPS_FALLBACK = "PYTORCH_ENABLE_MPS_FALLBACK"  # PyTorch's switch: run operations MPS lacks on the CPU


# glibc mallopt parameters (malloc.h) and the block size below which freed memory is kept.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MALLOC_THRESHOLD_BYTES = 1 << 30


def reuse_freed_memory(threshold_bytes: int = MALLOC_THRESHOLD_BYTES) -> bool:
    """Make glibc keep freed memory for reuse instead of returning it to the OS.

    By default glibc serves big allocations with fresh ``mmap`` pages and unmaps them on
    free, so every new activation-sized tensor pays one page fault per 4 KiB on first touch
    (measured: cloning a 48 MB tensor took 40-50 ms instead of 12 ms). Raising
    ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD`` keeps such blocks in the heap. This is a
    process-wide setting, so it is opt-in (call it once at start-up).

    Returns:
        Whether the setting was applied (False off glibc).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold_bytes)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, 2 * threshold_bytes)
        )
    except (OSError, AttributeError):
        return False


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
    """CUDA when available, else Apple's MPS when available, else CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The training device, checked to exist (one clear error otherwise).

    Args:
        device: ``None`` (:func:`default_device`), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ...
    """
    if device is None:
        return default_device()
    names = "'cpu', 'cuda', 'cuda:N' or 'mps'"
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device {device!r} is not a device name; use {names} ({exc})") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = 0 if device.index is None else device.index
        if index >= count:
            raise ValueError(f"device {str(device)!r} does not exist: this machine has {count} CUDA device(s); "
                             f"use device='cpu' or one of {[f'cuda:{i}' for i in range(count)]}")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError("device 'mps' is not available here (it needs Apple silicon, macOS >= 12.3 and a "
                             "PyTorch built with MPS); use device='cpu'")
    elif device.type != "cpu":
        raise ValueError(f"device {str(device)!r} is not supported; use {names}")
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


def cpu_bf16_mode() -> str:
    """``SBDLIB_CPU_BF16``: ``"auto"`` (unset: read the flags and measure), ``"native"`` or ``"none"``."""
    mode = os.environ.get(CPU_BF16_ENV, "auto").strip().lower() or "auto"
    if mode not in CPU_BF16_MODES:
        raise ValueError(f"{CPU_BF16_ENV}={os.environ[CPU_BF16_ENV]!r} is not one of {CPU_BF16_MODES}; "
                         f"unset it to let sbdlib read the CPU")
    return mode


def cpu_has_native_bf16(flags: set[str] | None = None) -> bool:
    """Whether the CPU computes bf16 natively (AVX-512 BF16 or AMX), from its flags.

    Without ``flags``, ``SBDLIB_CPU_BF16=native`` or ``none`` answers instead of the CPU.
    """
    if flags is None:
        mode = cpu_bf16_mode()
        if mode != "auto":
            return mode == "native"
        flags = cpu_flags()
    return any(f in flags for f in CPU_BF16_FLAGS)


def cuda_has_native_bf16(device: torch.device) -> bool:
    """Whether a CUDA device computes bf16 natively: compute capability >= 8.0, or any ROCm GPU.

    Deliberately not ``torch.cuda.is_bf16_supported()``, which by default also counts emulated
    bf16 (True on a T4).
    """
    if torch.version.hip:
        return True
    return tuple(torch.cuda.get_device_capability(device)) >= CUDA_NATIVE_BF16


def _synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (timing on a GPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_conv(x: torch.Tensor, w: torch.Tensor, dtype: torch.dtype | None) -> tuple[float, bool]:
    """Median seconds of one forward + backward of ``conv2d(x, w)``, optionally under autocast,
    and whether every output and gradient was finite."""
    device = x.device
    times, finite = [], True
    for _ in range(PROBE_REPEATS + 1):  # the first one warms up (kernel choice, allocations)
        xi, wi = x.detach().requires_grad_(), w.detach().requires_grad_()
        _synchronize(device)
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            y = F.conv2d(xi, wi, padding=PROBE_KERNEL // 2)
        y.float().sum().backward()
        _synchronize(device)
        times.append(time.perf_counter() - t0)
        finite = finite and all(bool(torch.isfinite(t).all()) for t in (y, xi.grad, wi.grad))
    times = sorted(times[1:])
    return times[len(times) // 2], finite


@functools.cache
def _probe(device: torch.device, dtype: torch.dtype) -> bool:
    g = seeded_generator(0)
    shape = PROBE_SHAPES[device.type]
    x = torch.randn(shape, generator=g).to(device)
    w = (torch.randn(shape[1], shape[1], PROBE_KERNEL, PROBE_KERNEL, generator=g)
         / math.sqrt(shape[1] * PROBE_KERNEL**2)).to(device)  # initialised like a layer: outputs of unit scale
    fp32, _ = _time_conv(x, w, None)
    reduced, finite = _time_conv(x.contiguous(memory_format=torch.channels_last),
                                 w.contiguous(memory_format=torch.channels_last), dtype)
    return finite and reduced < fp32


def reduced_precision_is_faster(device: torch.device, dtype: torch.dtype) -> bool:
    """Measured once per process and device: does ``dtype`` autocast + channels-last beat fp32?

    The probe is one forward + backward of a 5 x 5 convolution the size of a model's layer
    (``PROBE_SHAPES``: course scale on a CPU, paper scale on a GPU), median of 5 after a warm-up.
    A reduced precision whose outputs or gradients are not all finite never counts as faster.
    """
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return _probe(device, dtype)


def cpu_bf16_is_faster() -> bool:
    """Whether bf16 autocast + channels-last beats fp32 for one course-scale convolution on this CPU.

    Only CPUs with native bf16 are measured (on the others bf16 is emulated and far slower);
    ``SBDLIB_CPU_BF16=native`` or ``none`` answers without measuring.
    """
    if cpu_bf16_mode() != "auto":
        return cpu_has_native_bf16()
    return cpu_has_native_bf16() and reduced_precision_is_faster(torch.device("cpu"), torch.bfloat16)


def model_shape(vae: Any, batch_size: int) -> tuple:
    """What a precision measurement is cached under: the model's class and architecture, and the batch size."""
    config = getattr(vae, "config", None)
    shape = repr(config) if config is not None else repr([tuple(p.shape) for p in vae.parameters()])
    return type(vae).__module__, type(vae).__qualname__, shape, int(batch_size)


def _time_pass(model: Any, x: torch.Tensor, bf16: bool) -> float:
    """Seconds of one forward + backward pass of a VAE's loss on ``x`` ``[B, C, H, W]``, fp32 or bf16 autocast."""
    g = seeded_generator(0)
    t0 = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = model(x, generator=g)["loss"]
    loss.backward()
    seconds = time.perf_counter() - t0
    for p in model.parameters():
        p.grad = None
    return seconds


def bf16_speedup(vae: Any, batch_size: int) -> float:
    """fp32 seconds over bf16 seconds of a training pass of ``vae`` on this CPU (> 1: bf16 is faster).

    A copy of the VAE (the model itself is not touched) runs one warm-up and then
    :data:`MODEL_PROBE_STEPS` forward + backward passes per precision on random images
    ``[batch_size, C, H, W]``, fp32 and bf16 (autocast, channels-last, as training runs it)
    interleaved so that a changing load hits both alike; the median of the per-pair ratios.
    """
    plain = copy.deepcopy(vae).cpu().train()
    fast = copy.deepcopy(plain).to(memory_format=torch.channels_last)
    x = torch.rand(batch_size, vae.channels, vae.image_size, vae.image_size, generator=seeded_generator(0))
    x_fast = x.contiguous(memory_format=torch.channels_last)
    _time_pass(plain, x, False), _time_pass(fast, x_fast, True)  # warm-up: kernel choice, allocations
    ratios = sorted(_time_pass(plain, x, False) / _time_pass(fast, x_fast, True) for _ in range(MODEL_PROBE_STEPS))
    return ratios[len(ratios) // 2]


_BF16_PAYS: dict[tuple, bool] = {}  # model_shape -> whether bf16 measured faster, this process


def cpu_bf16_pays(vae: Any, batch_size: int) -> bool:
    """Whether training ``vae`` at ``batch_size`` defaults to bf16 on this CPU (see the module docstring).

    Native bf16 (the CPU's flags, or ``SBDLIB_CPU_BF16``) and, under ``auto``, a measured
    :func:`bf16_speedup` of at least :data:`BF16_MIN_SPEEDUP`, cached per process and
    :func:`model_shape`.
    """
    if cpu_bf16_mode() != "auto":
        return cpu_has_native_bf16()
    if not cpu_has_native_bf16():
        return False
    key = model_shape(vae, batch_size)
    if key not in _BF16_PAYS:
        _BF16_PAYS[key] = bf16_speedup(vae, batch_size) >= BF16_MIN_SPEEDUP
    return _BF16_PAYS[key]


def forget_measurements() -> None:
    """Drop this process's cached precision measurements (the next run measures again)."""
    _BF16_PAYS.clear()
    _probe.cache_clear()


def computed_in(run: Any) -> str:
    """One line saying what a run, or a set of runs, trained on: ``"trained on cpu in bf16"``.

    Args:
        run: A :class:`~sbdlib.training.history.History`, a results row (a dict with ``device`` and
            ``precision``), or a list of either (e.g. a shipped table's rows: each distinct
            device and precision with its count of runs).
    """
    runs = run if isinstance(run, (list, tuple)) else [run]

    def pair(r: Any) -> tuple[str, str]:
        get = r.get if isinstance(r, dict) else lambda k, d="": getattr(r, k, d)
        return str(get("device", "") or "an unrecorded device"), str(get("precision", "") or "fp32")
    counts: dict[tuple[str, str], int] = {}
    for r in runs:
        counts[pair(r)] = counts.get(pair(r), 0) + 1
    if len(runs) == 1:
        device, precision = next(iter(counts))
        return f"trained on {device} in {precision}"
    parts = [f"{n} on {d} in {p}" for (d, p), n in counts.items()]
    return f"{len(runs)} runs trained: " + ", ".join(parts)


def choose_precision(device: torch.device, amp: bool | None = None, *, population: bool = False,
                     model: Any = None, batch_size: int | None = None) -> Precision:
    """The precision a run on ``device`` uses (see the module docstring for the rules).

    Args:
        device: The training device.
        amp: ``None`` chooses per device; ``False`` forces fp32; ``True`` asks for reduced
            precision: bf16 on CPUs and on CUDA GPUs with native bf16, fp16 on older CUDA
            GPUs; refused on MPS.
        population: A stacked population (5-D batches): channels-last does not apply, and
            on a CPU the default stays fp32 (the measurement is of a single model).
        model, batch_size: The VAE to be trained and its batch size: on a CPU with native
            bf16, ``amp=None`` measures this model (:func:`cpu_bf16_pays`); without them, one
            course-scale convolution (:func:`cpu_bf16_is_faster`).

    Returns:
        ``Precision(autocast, channels_last)``: ``autocast`` is ``torch.bfloat16``,
        ``torch.float16`` (train with a ``GradScaler``) or ``None`` (fp32).
    """
    layout = not population
    if amp is False:
        return Precision(None, False)
    if device.type == "cuda":
        if cuda_has_native_bf16(device):
            return Precision(torch.bfloat16, layout)
        if amp or reduced_precision_is_faster(device, torch.float16):
            return Precision(torch.float16, layout)
        return Precision(None, layout)  # fp32: no grad scaler needed
    if device.type == "mps":
        if amp:
            raise ValueError("amp=True: sbdlib trains in fp32 on MPS (mixed precision there is untested); "
                             "use amp=None or amp=False")
        return Precision(None, False)
    if amp:
        return Precision(torch.bfloat16, layout)  # an explicit opt-in; emulated (slow) without native bf16
    if population:
        return Precision(None, False)
    pays = cpu_bf16_pays(model, batch_size or 1) if model is not None else cpu_bf16_is_faster()
    return Precision(torch.bfloat16, True) if pays else Precision(None, False)


_MPS_OPERATOR = re.compile(r"operator '([^']+)' is not currently implemented for the MPS device")


def mps_error_line(exc: BaseException) -> str:
    """One line for an operation the MPS backend lacks: which one, and the two ways out."""
    found = _MPS_OPERATOR.search(str(exc))
    what = f"operation {found.group(1)!r}" if found else "an operation"
    return (f"{what} is not implemented on Apple's MPS backend: start Python or Jupyter with "
            f"{MPS_FALLBACK}=1 (it runs such operations on the CPU), or use device='cpu'")


@contextlib.contextmanager
def explain_mps_errors(device: torch.device) -> Iterator[None]:
    """Re-raise an MPS ``NotImplementedError`` as :func:`mps_error_line` (other errors pass unchanged)."""
    try:
        yield
    except NotImplementedError as exc:
        if device.type != "mps":
            raise
        raise NotImplementedError(mps_error_line(exc)) from None


def configure_process(device: torch.device) -> None:
    """The process-wide settings training wants, made explicitly (never on import).

    On the CPU: glibc keeps freed activation-sized blocks for reuse instead of returning
    them to the OS (each fresh block otherwise costs a page fault per 4 KiB on first touch).
    """
    if device.type == "cpu":
        reuse_freed_memory()


# ----------------------------------------------------------------------------- memory before training

# A training step's peak over the activations autograd saves: the backward pass's gradients of them,
# the forward's transient outputs and the fast convolutions' buffers come on top. Measured on the
# course models (32 x 32, width 32, CPU, fp32; peak resident memory of 3 steps, growth per image between
# batch 256 and 2,048-4,096): SBD 1.57 MiB per image against 0.49 MiB saved (3.2x), DeConv 0.24
# against 0.13 (1.8x). The smaller ratio, rounded down, so that a refused batch surely cannot fit.
STEP_OVER_SAVED = 1.8
OPTIMIZER_COPIES = 4   # bytes per parameter, in parameter sizes: weights, gradients, Adam's two moments
MEMINFO = Path("/proc/meminfo")
CGROUP_MEMORY = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current"))  # cgroup v2 limit, use


def saved_tensor_bytes(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes of tensors autograd keeps for the backward pass of ``model(x)``, parameters excluded.

    Each saved storage counts once; ``x`` is a batch ``[B, C, H, W]``.
    """
    params = {p.data_ptr() for p in model.parameters()}
    seen: set[tuple[int, int]] = set()
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        key = (t.data_ptr(), t.numel())
        if t.data_ptr() not in params and key not in seen:
            seen.add(key)
            total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return total


@dataclass(frozen=True)
class StepMemory:
    """What one training step needs: ``fixed`` bytes (weights, gradients, Adam) plus ``per_image`` bytes."""

    fixed: int
    per_image: int

    def at(self, batch_size: int) -> int:
        """Bytes at ``batch_size`` images per step."""
        return self.fixed + self.per_image * batch_size

    def largest_batch(self, available: int) -> int:
        """The largest batch whose step fits in ``available`` bytes (0 if none does)."""
        return max(0, (available - self.fixed) // max(self.per_image, 1))


def step_memory(model: torch.nn.Module, image_shape: tuple[int, int, int], *, members: int = 1,
                concurrent: int = 1) -> StepMemory:
    """Estimated memory of a training step of ``members`` copies of ``model``, ``concurrent`` of them at once.

    Measured, not guessed: the activations autograd saves for a forward pass of one and of two
    images ``[1|2, C, H, W]`` (on a copy of the model, the random generators left as they were),
    their difference being what each image adds, times :data:`STEP_OVER_SAVED` for the backward
    pass; plus the input image and its gradient-sized twin. Weights, gradients and Adam's two
    moments are counted for every member.
    """
    probe = copy.deepcopy(model)
    device = next(probe.parameters()).device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.enable_grad():
        one, two = (saved_tensor_bytes(probe, torch.zeros(b, *image_shape, device=device)) for b in (1, 2))
    image = math.prod(image_shape) * 4  # float32
    per_image = int(STEP_OVER_SAVED * max(two - one, 0)) + 2 * image
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    return StepMemory(fixed=OPTIMIZER_COPIES * params * members + max(2 * one - two, 0) * concurrent,
                      per_image=per_image * concurrent)


def _meminfo_available(meminfo: Path = MEMINFO) -> int | None:
    """MemAvailable of /proc/meminfo in bytes, or None where there is no such file."""
    try:
        text = meminfo.read_text()
    except OSError:
        return None
    found = re.search(r"^MemAvailable:\s+(\d+) kB", text, flags=re.M)
    return int(found.group(1)) * 1024 if found else None


def _cgroup_available(limit: Path = CGROUP_MEMORY[0], used: Path = CGROUP_MEMORY[1]) -> int | None:
    """What this process's cgroup (a container's memory limit) still allows, or None without a limit."""
    try:
        cap = limit.read_text().strip()
        return None if cap == "max" else max(int(cap) - int(used.read_text()), 0)
    except (OSError, ValueError):
        return None


def available_memory(device: torch.device) -> int | None:
    """Bytes a training run can still take on ``device`` (None where the machine does not say).

    CUDA: the free memory ``torch.cuda.mem_get_info`` reports. CPU and MPS (unified memory):
    the system's available memory (/proc/meminfo's MemAvailable, else ``os.sysconf``), capped by a
    container's cgroup limit.
    """
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    system = _meminfo_available()
    if system is None:
        try:
            system = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, OSError, ValueError):
            system = None
    limits = [m for m in (system, _cgroup_available()) if m is not None]
    return min(limits) if limits else None


def _size(num_bytes: float) -> str:
    """``num_bytes`` in the largest binary unit that keeps it at least 1 (``"3.2 GiB"``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if num_bytes < 1024 or unit == "PiB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    raise AssertionError("unreachable")


def check_batch_fits(model: torch.nn.Module, batch_size: int, device: torch.device, *,
                     image_shape: tuple[int, int, int], members: int = 1, concurrent: int = 1,
                     available: int | None = None) -> StepMemory:
    """Refuse, in one line and before training, a batch whose step cannot fit in ``device``'s memory.

    ``model`` is one member; ``image_shape`` is ``(C, H, W)``; ``members`` train in turn
    (``concurrent`` of them at once, a stacked population). ``available`` defaults to
    :func:`available_memory`; where the machine does not say, nothing is refused.

    Raises:
        ValueError: naming the batch size, the memory it needs, what the device has and what to do.
    """
    need = step_memory(model, image_shape, members=members, concurrent=concurrent)
    available = available_memory(device) if available is None else available
    if available is None or need.at(batch_size) <= available:
        return need
    fits = need.largest_batch(available)
    who = f"{members} models" if members > 1 else "the model"
    advice = (f"use batch_size <= {fits:,}" if fits else
              f"even one image does not fit: train fewer models at once or a smaller model")
    raise ValueError(f"batch_size {batch_size:,} does not fit: one training step of {who} "
                     f"({'x'.join(map(str, image_shape))} images) needs about {_size(need.at(batch_size))} and "
                     f"{device} has {_size(available)} available; {advice}")
