"""The training loop: Adam on fresh procedural batches, safe to stop, safe to diverge.

* Fresh data every step from ``dataset.stream`` (colour sampled online, as in the paper).
* In a notebook: live loss curves (livelossplot) and a progress bar (tqdm). In a script:
  plain text lines.
* The stop button (``KeyboardInterrupt``) ends training cleanly: the model keeps the last
  fully applied update and the history so far.
* A NaN or infinite loss stops training with a message and puts back the last weights that
  gave a finite loss.
* Checkpoints (optional) are written atomically every ``checkpoint_every`` steps and at the
  end; ``resume=True`` continues a run from its checkpoint.
* CUDA when available, else CPU, with the same code; on CUDA, bf16 autocast and
  channels-last memory. On CPU, fp32 NCHW (on CPUs without native bf16, such as the
  2-core AVX2 machines this course is tested on, bf16 and channels-last convolutions run
  slower, see ``benchmarks/``), and glibc is told to reuse freed memory.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch

from sbdlib.convolutions import reuse_freed_memory
from sbdlib.checkpoints import load_state, read_checkpoint, save_checkpoint
from sbdlib.models import VAE
from sbdlib.objectives import BetaVAE

LOGGED = ("loss", "nll", "kl", "elbo")
PROGRESS_MODES = ("auto", "notebook", "text", "none")
PLOT_REDRAWS = 10  # live-plot redraws per run: each costs a matplotlib render (~0.3 s on a laptop)


@dataclass
class History:
    """Per-step training metrics (batch means, nats per image) and how the run ended."""

    step: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    interrupted: bool = False
    diverged: str | None = None

    def append(self, step: int, values: dict[str, float]) -> None:
        """Record one step's scalars."""
        self.step.append(step)
        for k, v in values.items():
            self.metrics.setdefault(k, []).append(float(v))

    def __getitem__(self, key: str) -> list[float]:
        """``history["nll"]``: the per-step values of one metric."""
        return self.metrics[key]

    def __len__(self) -> int:
        return len(self.step)

    def tail_mean(self, key: str, n: int = 100) -> float:
        """Mean of the last ``n`` values of a metric (a smoothed final value)."""
        values = self.metrics[key][-n:]
        return sum(values) / len(values) if values else float("nan")

    def as_dict(self) -> dict[str, Any]:
        """Plain lists and numbers (checkpoint-safe)."""
        return {"step": list(self.step), "metrics": {k: list(v) for k, v in self.metrics.items()},
                "seconds": self.seconds, "interrupted": self.interrupted, "diverged": self.diverged}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        """Inverse of :meth:`as_dict`."""
        return cls(step=list(d["step"]), metrics={k: list(v) for k, v in d["metrics"].items()},
                   seconds=float(d.get("seconds", 0.0)), interrupted=bool(d.get("interrupted", False)),
                   diverged=d.get("diverged"))


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def in_notebook() -> bool:
    """True inside a Jupyter kernel (live plots), False in scripts and terminals."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class _Progress:
    """Live curves + progress bar in notebooks, text lines in scripts, or nothing."""

    def __init__(self, mode: str, total: int, start: int, log_every: int, title: str) -> None:
        if mode not in PROGRESS_MODES:
            raise ValueError(f"unknown progress mode {mode!r}; expected one of {PROGRESS_MODES}")
        self.mode = ("notebook" if in_notebook() else "text") if mode == "auto" else mode
        self.log_every, self.total, self.title = log_every, total, title
        self.t0, self.last_step, self.last_time = time.perf_counter(), start, time.perf_counter()
        self.bar = self.plot = None
        self.reports = 0
        if self.mode == "notebook":
            from livelossplot import PlotLosses
            from livelossplot.outputs import MatplotlibPlot
            from tqdm.auto import tqdm

            self.plot = PlotLosses(groups={"NLL": ["nll"], "KL": ["kl"], "ELBO": ["elbo"]},
                                   outputs=[MatplotlibPlot(figsize=(12, 3))], mode="notebook")
            self.bar = tqdm(total=total, initial=start, desc=title, leave=True)

    def update(self, step: int, means: dict[str, float]) -> None:
        """Report running means at ``step`` (1-based count of steps done)."""
        now = time.perf_counter()
        rate = (step - self.last_step) / max(now - self.last_time, 1e-9)
        self.last_step, self.last_time = step, now
        if self.mode == "notebook":
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix(elbo=f"{means['elbo']:.1f}", steps_per_s=f"{rate:.1f}")
            self.plot.update({k: means[k] for k in ("nll", "kl", "elbo")}, current_step=step)
            self.reports += 1
            every = max(1, self.total // (self.log_every * PLOT_REDRAWS))
            if self.reports % every == 0 or step >= self.total:
                self.plot.send()
        elif self.mode == "text":
            print(f"[{self.title}] step {step}/{self.total}  nll {means['nll']:.2f}  kl {means['kl']:.2f}  "
                  f"elbo {means['elbo']:.2f}  ({rate:.1f} steps/s)", flush=True)

    def close(self) -> None:
        """Finish the bar."""
        if self.bar is not None:
            self.bar.close()


@torch.no_grad()
def _restore(targets: list[torch.Tensor], sources: list[torch.Tensor]) -> None:
    """Copy tensors in place (weights into the last-good snapshot, or back)."""
    torch._foreach_copy_(targets, [s.detach() for s in sources])


def _batches(dataset, batch_size: int, seed: int, device: torch.device, channels_last: bool) -> Iterator[torch.Tensor]:
    """The dataset's endless stream, on ``device`` and in the model's memory format."""
    for x in dataset.stream(batch_size, seed=seed):
        x = x.to(device, non_blocking=True)
        yield x.contiguous(memory_format=torch.channels_last) if channels_last else x


def train(
    vae: VAE,
    dataset,
    *,
    steps: int,
    batch_size: int = 16,
    lr: float = 3e-4,
    seed: int = 0,
    objective=None,
    device: str | torch.device | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    log_every: int | None = None,
    progress: str = "auto",
    title: str | None = None,
    amp: bool | None = None,
) -> History:
    """Train ``vae`` on fresh batches from ``dataset`` with Adam (the paper's defaults).

    Args:
        vae: The model; moved to ``device``.
        dataset: Anything with ``stream(batch_size, seed)`` yielding ``[B, C, H, W]`` batches.
        steps: Total optimiser steps (a resumed run continues up to this many).
        batch_size: Images per step (the paper: 16).
        lr: Adam learning rate (the paper: 3e-4).
        seed: Fixes the initial weights' noise, the data and the reparameterisation noise.
        objective: :class:`~sbdlib.objectives.BetaVAE` (default) or
            :class:`~sbdlib.objectives.FactorVAE`.
        device: Default: CUDA when available, else CPU.
        checkpoint: File to save to (atomically) every ``checkpoint_every`` steps and at the end.
        checkpoint_every: Steps between checkpoints (default: only at the end).
        resume: Continue from ``checkpoint`` if it exists (weights, optimiser, history, step).
        log_every: Steps between progress reports (default: about 50 reports per run).
        progress: ``"auto"`` (live plot in notebooks, text elsewhere), ``"notebook"``,
            ``"text"`` or ``"none"``.
        title: Name shown in progress reports (default: the decoder's name).
        amp: bf16 autocast; default on for CUDA, off for CPU (CPUs without native bf16 run it
            far slower than fp32).

    Returns:
        The :class:`History` (for a resumed run, including the earlier steps).
    """
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs a checkpoint path")
    device = torch.device(device) if device is not None else default_device()
    cuda = device.type == "cuda"
    amp = cuda if amp is None else amp
    objective = objective if objective is not None else BetaVAE()
    vae.to(device)
    if not cuda:
        reuse_freed_memory()  # activation-sized buffers are reused instead of page-faulted in anew
    if cuda:
        vae.to(memory_format=torch.channels_last)
    vae.train()
    optimizer = torch.optim.Adam(vae.parameters(), lr=lr)
    history, start = History(), 0
    if resume and os.path.exists(checkpoint):
        state = read_checkpoint(checkpoint)
        load_state(vae, state["state_dict"], source=str(checkpoint))
        optimizer.load_state_dict(state["optimizer"])
        if "objective" in state and hasattr(objective, "load_state_dict"):
            objective.load_state_dict(state["objective"])
        history, start = History.from_dict(state["history"]), int(state["step"])
    log_every = log_every or max(1, steps // 50)
    title = title or vae.config["decoder"]

    def save(step: int) -> None:
        if checkpoint is not None:
            save_checkpoint(checkpoint, vae, optimizer=optimizer.state_dict(), history=history.as_dict(),
                            step=step, seed=seed, batch_size=batch_size, lr=lr,
                            objective=objective.state_dict() if hasattr(objective, "state_dict") else {},
                            dataset=dataset.config() if hasattr(dataset, "config") else None)

    params = list(vae.parameters())
    good = [p.detach().clone() for p in params]  # the last weights that gave a finite loss
    torch.manual_seed(seed * 1_000_003 + start)
    batches = _batches(dataset, batch_size, seed * 1_000_003 + start, device, cuda)
    bar = _Progress(progress, steps, start, log_every, title)
    sums = {k: 0.0 for k in LOGGED}
    count, step, updating = 0, start, False
    t0 = time.perf_counter()
    try:
        for step in range(start, steps):
            x = next(batches)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                terms = objective(vae, x)
            loss = terms["loss"]
            if not torch.isfinite(loss):
                _restore(params, good)
                history.diverged = (f"loss became {float(loss.detach())} at step {step}; training stopped and the "
                                    f"weights of the last finite step were restored")
                warnings.warn(history.diverged, RuntimeWarning, stacklevel=2)
                break
            _restore(good, params)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            updating = True
            optimizer.step()
            updating = False
            extra = objective.after_step()
            values = {k: float(v.detach()) for k, v in terms.items() if v.dim() == 0}
            values.update(extra)
            history.append(step + 1, values)
            for k in LOGGED:
                sums[k] += values[k]
            count += 1
            if (step + 1) % log_every == 0 or step + 1 == steps:
                bar.update(step + 1, {k: s / count for k, s in sums.items()})
                sums, count = {k: 0.0 for k in LOGGED}, 0
            if checkpoint_every and (step + 1) % checkpoint_every == 0:
                save(step + 1)
    except KeyboardInterrupt:
        if updating:  # stopped half-way through an update: go back to the step's start
            _restore(params, good)
        history.interrupted = True
        print(f"Training interrupted after {len(history)} steps; the model and history so far are kept.")
    finally:
        bar.close()
        history.seconds += time.perf_counter() - t0
    save(history.step[-1] if history.step else start)
    vae.eval()
    return history


def images_per_second(history: History, batch_size: int) -> float:
    """Training throughput of a finished run."""
    return len(history) * batch_size / history.seconds if history.seconds > 0 else math.nan


def train_renderer(
    decoder: torch.nn.Module,
    dataset,
    factor_names: tuple[str, ...] = ("x", "y"),
    *,
    steps: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
) -> list[float]:
    """Supervised rendering: teach a decoder to draw the image of given factor values.

    No encoder, no KL: the decoder's input is the true factors, rescaled to [-1, 1], and the
    loss is the squared error to the rendered image. Notebook 02 uses it to show how easily
    each decoder learns to put an object at (x, y).

    Args:
        decoder: Maps ``[B, len(factor_names)]`` -> ``[B, C, H, W]``.
        dataset: A procedural dataset (``sample_factors``, ``render``, ``factor_ranges``).
        factor_names: The factors fed to the decoder.
        steps: Optimiser steps.
        batch_size: Images per step.
        lr: Adam learning rate.
        seed: Fixes the factors drawn.

    Returns:
        The per-step mean squared error per pixel.
    """
    columns = [dataset.factor_index(n) for n in factor_names]
    lo = torch.tensor([dataset.factor_ranges[i][0] for i in columns])
    hi = torch.tensor([dataset.factor_ranges[i][1] for i in columns])
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        factors = dataset.sample_factors(batch_size, generator)
        target = dataset.render(factors)
        code = 2 * (factors[:, columns] - lo) / (hi - lo) - 1
        loss = ((decoder(code) - target) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses
