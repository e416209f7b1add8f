"""The training loop: Adam on fresh procedural batches, one model or a population of many.

:func:`train` trains one VAE; :func:`train_many` trains a population (the paper's claims are
medians over many seeds). ``train`` *is* ``train_many`` with one member, so member ``i`` of a
population is exactly the run ``train(vaes[i], seed=seeds[i])`` gives: the same batches (its
own data stream), the same reparameterisation noise (its own generator, seeded from its
seed, never the global RNG) and its own Adam.

* **Two engines, one API.** ``population="stacked"`` runs all members as one computation:
  their weights are stacked and the loss is ``torch.vmap``-ed over members
  (``torch.func.functional_call``), with one Adam over the stacked tensors (Adam is
  elementwise, so this is each member's Adam). ``"sequential"`` steps each member in turn,
  interleaved step by step. ``"auto"`` picks stacked on CUDA and sequential on the CPU: on
  the 2-core AVX2 CPUs this course is tested on, a vmapped population of 8 course models ran
  slower than the members one after another (``benchmarks/bench_population.py`` measures both).
* **Safe to stop**: Ctrl-C ends training cleanly; every member keeps its last fully applied
  update and its history, its checkpoint is written, and a line names the step it holds;
  ``train``/``train_many`` then return (``History.interrupted``), while
  :func:`sbdlib.experiments.train_population` re-raises, so one Stop ends a notebook cell.
* **Never overwrites by accident**: an existing checkpoint is resumed (``resume=True``) or
  replaced only with ``overwrite=True``; every checkpoint records the run's target steps and
  whether it finished (:func:`sbdlib.checkpoints.is_finished`); a checkpoint path that cannot
  be written fails before the first step.
* **Safe to diverge**: a member whose loss becomes NaN or infinite gets back the last weights
  that gave a finite loss and stops (recorded in its :class:`History`); the others go on.
* **No per-step host synchronisation**: losses are accumulated on the device and read back
  every ``check_every`` steps (every step on the CPU, where reading is free; every
  ``log_every`` on CUDA). The last good weights are kept on the device meanwhile.
* **Precision per machine** (:mod:`sbdlib.devices`): bf16 autocast on GPUs with native bf16;
  fp16 or fp32, by a measurement, on older CUDA GPUs; fp32 on CPUs and MPS unless ``amp=True``
  (bf16 on a CPU); ``amp=False`` forces fp32.
  In fp16 every member has its own dynamic loss scale (``torch.amp.GradScaler``'s rule), so
  one member's overflow skips only that member's step (:class:`MemberScaler`).
* **Checkpoints** (optional) are written atomically every ``checkpoint_every`` steps and at
  the end, one file per member in the single-model format; ``resume=True`` continues.
* Progress: in a notebook one bar and one live figure (median and range over members of
  NLL, KL, ELBO); in a script, text lines.
"""

from __future__ import annotations

import copy
import inspect
import math
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

from sbdlib.checkpoints import (COMPACTED, describe_progress, is_finished, load_state, read_checkpoint,
                                save_checkpoint)
from sbdlib.checks import check_int, check_seed, seeded_generator
from sbdlib.devices import Precision, choose_precision, configure_process, explain_mps_errors, resolve_device
from sbdlib.models import VAE
from sbdlib.objectives import BetaVAE, gaussian_kl
from sbdlib.scales import PAPER_BATCH_SIZE, PAPER_LR

LOGGED = ("loss", "nll", "kl", "elbo")
PROGRESS_MODES = ("auto", "notebook", "text", "none")
POPULATION_ENGINES = ("auto", "stacked", "sequential")
PLOT_REDRAWS = 10  # live-figure redraws per run: each costs a matplotlib render (~0.3 s on a laptop)
REPORTS_PER_RUN = 50  # default progress reports per run (log_every = steps // this)
NOISE_SEED_STRIDE = 1_000_003  # a run's noise generator and data stream are seeded with seed * stride
OOM_HEADROOM = 0.8  # fraction of free GPU memory a suggested population may fill


@dataclass
class History:
    """Per-step training metrics (batch means, nats per image) and how the run ended."""

    step: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    interrupted: bool = False
    diverged: str | None = None
    device: str = ""     # where it trained, e.g. "cpu" or "cuda:0"
    precision: str = ""  # "fp32", "bf16" or "fp16" (sbdlib.devices.Precision.name)
    engine: str = ""     # "sequential" or "stacked" (how its population ran)

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
                "seconds": self.seconds, "interrupted": self.interrupted, "diverged": self.diverged,
                "device": self.device, "precision": self.precision, "engine": self.engine}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        """Inverse of :meth:`as_dict`."""
        return cls(step=list(d["step"]), metrics={k: list(v) for k, v in d["metrics"].items()},
                   seconds=float(d.get("seconds", 0.0)), interrupted=bool(d.get("interrupted", False)),
                   diverged=d.get("diverged"), device=d.get("device", ""), precision=d.get("precision", ""),
                   engine=d.get("engine", ""))


def in_notebook() -> bool:
    """True inside a Jupyter kernel (live plots), False in scripts and terminals."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


# ----------------------------------------------------------------------------- progress


class _Progress:
    """One bar and one live figure (median and range over members) in notebooks; text lines in scripts."""

    def __init__(self, mode: str, total: int, start: int, log_every: int, title: str, decoder: str,
                 setting: str = "") -> None:
        self.mode = ("notebook" if in_notebook() else "text") if mode == "auto" else mode
        self.log_every, self.total, self.title, self.decoder = log_every, total, title, decoder
        self.setting = setting  # e.g. "cpu, fp32": shown beside the first report (the bar's name in notebooks)
        self.last_step, self.last_time = start, time.perf_counter()
        self.steps: list[int] = []
        self.values: dict[str, list[list[float]]] = {k: [] for k in ("nll", "kl", "elbo")}
        self.bar = self.figure = self.handle = None
        self.reports = 0
        if self.mode == "notebook":
            from sbdlib.widgets import progress_bar  # its saved output reads as it ended

            self.bar = progress_bar(total=total, initial=start, desc=f"{title} ({setting})" if setting else title)

    def update(self, step: int, means: list[dict[str, float] | None]) -> None:
        """Report each member's running means at ``step`` (``None`` for members that stopped)."""
        now = time.perf_counter()
        rate = (step - self.last_step) / max(now - self.last_time, 1e-9)
        self.last_step, self.last_time = step, now
        alive = [m for m in means if m is not None]
        if not alive:
            return
        self.steps.append(step)
        for k in self.values:
            self.values[k].append([m[k] if m is not None else math.nan for m in means])
        med = {k: float(torch.tensor([m[k] for m in alive]).median()) for k in ("nll", "kl", "elbo")}
        span = "" if len(means) == 1 else (f" (median of {len(alive)}/{len(means)} members, elbo "
                                           f"{min(m['elbo'] for m in alive):.1f}..{max(m['elbo'] for m in alive):.1f})")
        if self.mode == "notebook":
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix(elbo=f"{med['elbo']:.1f}", steps_per_s=f"{rate:.1f}")
            self.reports += 1
            every = max(1, self.total // (self.log_every * PLOT_REDRAWS))
            if self.reports % every == 0 or step >= self.total:
                self._draw()
        elif self.mode == "text":
            first = f"  [{self.setting}]" if self.setting and not self.reports else ""
            self.reports += 1
            print(f"[{self.title}] step {step}/{self.total}  nll {med['nll']:.2f}  kl {med['kl']:.2f}  "
                  f"elbo {med['elbo']:.2f}{span}  ({rate:.1f} steps/s){first}", flush=True)

    def _draw(self) -> None:
        """Redraw the live figure: per metric, the members' median and their min-max band."""
        import matplotlib.pyplot as plt
        import numpy as np
        from IPython.display import display

        from sbdlib.plots import color_of, label_of

        if self.figure is None:
            self.figure, _ = plt.subplots(1, 3, figsize=(12, 3))
            plt.close(self.figure)  # shown through the display handle only
        color = color_of(self.decoder)
        for ax, key in zip(self.figure.axes, ("nll", "kl", "elbo")):
            ax.clear()
            v = np.asarray(self.values[key], dtype=float)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns of stopped members
                ax.plot(self.steps, np.nanmedian(v, 1), color=color, label=f"{label_of(self.decoder)} median")
                if v.shape[1] > 1:
                    ax.fill_between(self.steps, np.nanmin(v, 1), np.nanmax(v, 1), color=color, alpha=0.25,
                                    label=f"range over {v.shape[1]} members")
            ax.set_title(key.upper() if key != "elbo" else "negative ELBO")
            ax.set_xlabel("step")
            ax.set_ylabel("nats per image")
        self.figure.axes[0].legend(fontsize=8)
        self.figure.suptitle(self.title)
        self.figure.tight_layout()
        if self.handle is None:
            self.handle = display(self.figure, display_id=True)
        else:
            self.handle.update(self.figure)

    def close(self) -> None:
        """Finish the bar."""
        if self.bar is not None:
            self.bar.close()


# ----------------------------------------------------------------------------- members


def _stream(dataset, batch_size: int, seed: int, device: torch.device, channels_last: bool, skip: int
            ) -> Iterator[torch.Tensor]:
    """The dataset's endless stream from batch ``skip`` on, rendered on ``device`` where the dataset can."""
    takes = inspect.signature(dataset.stream).parameters
    kwargs = {k: v for k, v in (("device", device), ("skip", skip)) if k in takes}
    stream = dataset.stream(batch_size, seed=seed, **kwargs)
    for _ in range(0 if "skip" in takes else skip):  # a stream that cannot skip is read through
        next(stream)
    for x in stream:
        x = x.to(device, non_blocking=True)
        yield x.contiguous(memory_format=torch.channels_last) if channels_last else x


@dataclass
class _Member:
    """One run of a population: its model, objective, optimiser, data, noise and record."""

    vae: VAE
    seed: int
    objective: Any
    checkpoint: Path | None
    history: History = field(default_factory=History)
    start: int = 0
    optimizer: torch.optim.Optimizer | None = None
    generator: torch.Generator | None = None
    batches: Iterator[torch.Tensor] | None = None
    stopped: bool = False
    saved_optimizer: dict | None = None  # a stopped member's optimiser state, as saved
    generator_state: torch.Tensor | None = None  # a resumed run's noise generator, where it stopped


def _objectives(objective, count: int) -> list[Any]:
    """One objective per member: a stateless one is shared, a stateful one must be given per member."""
    if objective is None:
        return [BetaVAE()] * count
    if isinstance(objective, (list, tuple)):
        if len(objective) != count:
            raise ValueError(f"got {len(objective)} objectives for {count} VAEs; give one per VAE")
        if len({id(o) for o in objective if not getattr(o, "stackable", False)}) < sum(
                not getattr(o, "stackable", False) for o in objective):
            raise ValueError("the same stateful objective (e.g. FactorVAE) appears twice; give each VAE its own")
        if len({type(o) for o in objective}) > 1:
            raise ValueError(f"a population needs one kind of objective, got {sorted({type(o).__name__ for o in objective})}")
        return list(objective)
    if count > 1 and not getattr(objective, "stackable", False):
        raise ValueError(f"{type(objective).__name__} keeps per-model state (a discriminator); give one per VAE, "
                         f"e.g. objective=[{type(objective).__name__}(vae.latent_dim) for vae in vaes]")
    return [objective] * count


def _check_population(vaes: Sequence[VAE], seeds: Sequence[int], checkpoints: Sequence | None) -> None:
    """One clear error for empty, mismatched or mixed populations, before any work."""
    if not isinstance(vaes, (list, tuple)) or not vaes:
        raise ValueError("train_many needs a non-empty list of VAEs")
    if not all(isinstance(v, VAE) for v in vaes):
        raise ValueError(f"train_many trains sbdlib VAEs; got {sorted({type(v).__name__ for v in vaes})}")
    if len({id(v) for v in vaes}) != len(vaes):
        raise ValueError("the same VAE object appears twice in the population; build one VAE per member")
    if not isinstance(seeds, (list, tuple)) or len(seeds) != len(vaes):
        raise ValueError(f"need one seed per VAE: got {len(vaes)} VAEs and "
                         f"{len(seeds) if isinstance(seeds, (list, tuple)) else repr(seeds)} seeds")
    for s in seeds:
        check_seed(s, "each seed")
    configs = {repr(v.config) for v in vaes}
    if len(configs) > 1:
        diff = {k for k in vaes[0].config if any(v.config.get(k) != vaes[0].config[k] for v in vaes)}
        raise ValueError(f"a population needs one architecture; the VAEs differ in {sorted(diff)}")
    if checkpoints is not None:
        if not isinstance(checkpoints, (list, tuple)) or len(checkpoints) != len(vaes):
            raise ValueError(f"need one checkpoint path per VAE: got {len(vaes)} VAEs and "
                             f"{len(checkpoints) if isinstance(checkpoints, (list, tuple)) else repr(checkpoints)} paths")
        if len({str(Path(p).resolve()) for p in checkpoints}) != len(checkpoints):
            raise ValueError("two members share a checkpoint path; give each its own file")


def _check_checkpoint_path(path: Path, resume: bool, overwrite: bool) -> None:
    """One clear error, before any work, for a checkpoint path that is a folder, cannot be written, or holds a run.

    The folder is created if needed and a temporary file is written and removed in it, so a
    permission or file-system problem shows now rather than at the first checkpoint.
    """
    if path.is_dir():
        raise ValueError(f"checkpoint path {path} is a folder; give a file name such as {path / 'run.pt'}")
    if path.exists() and not resume and not overwrite:
        try:
            payload = read_checkpoint(path)
            held = f"a {'finished' if is_finished(payload) else 'unfinished'} run at {describe_progress(payload)}"
        except ValueError:
            held = "a file that is not a readable checkpoint"
        raise ValueError(f"{path} exists ({held}); pass resume=True to continue it, overwrite=True to replace it, "
                         f"or another path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise ValueError(f"cannot write checkpoint {path}: {exc.strerror or exc}; choose a folder you can write"
                         ) from None


def _check_dataset(dataset) -> None:
    """One clear error for a dataset that is not one (a name, ``None``, ...), before any work."""
    if not callable(getattr(dataset, "stream", None)):
        hint = f"; for a name use sbdlib.data.get_dataset({dataset!r})" if isinstance(dataset, str) else ""
        raise ValueError(f"dataset must have a stream(batch_size, seed) method, e.g. sbdlib.data.Circles('xy'); "
                         f"got {type(dataset).__name__}{hint}")


def _check_settings(steps: int, batch_size: int, lr: float, log_every: int | None, checkpoint_every: int | None,
                    progress: str, population: str) -> None:
    """One clear error for bad numbers or names, before any work."""
    check_int(steps, "steps", minimum=0)
    for name, value in (("batch_size", batch_size), ("log_every", log_every), ("checkpoint_every", checkpoint_every)):
        if value is not None:
            check_int(value, name)
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if progress not in PROGRESS_MODES:
        raise ValueError(f"unknown progress mode {progress!r}; expected one of {PROGRESS_MODES}")
    if population not in POPULATION_ENGINES:
        raise ValueError(f"unknown population engine {population!r}; expected one of {POPULATION_ENGINES}")


def _resume(member: _Member, resume: bool) -> dict | None:
    """Load a member's checkpoint when resuming (weights now, optimiser state returned for later)."""
    if not (resume and member.checkpoint is not None and member.checkpoint.exists()):
        return None
    state = read_checkpoint(member.checkpoint)
    load_state(member.vae, state["state_dict"], source=str(member.checkpoint))
    if state.get("seed", member.seed) != member.seed:
        raise ValueError(f"{member.checkpoint} was trained with seed {state.get('seed')}, not {member.seed}; "
                         f"resume it with its own seed or delete the file")
    if state.get(COMPACTED):
        raise ValueError(f"{member.checkpoint} is a shipped, finished run whose training state was dropped "
                         f"({state[COMPACTED]}), so it cannot be trained further; train a fresh run into another "
                         f"file (runs/ is the default) or pass --retrain")
    if "objective" in state and state["objective"]:
        member.objective.load_state_dict(state["objective"])
    member.history, member.start = History.from_dict(state["history"]), int(state["step"])
    member.history.interrupted = False  # the flag says how the last segment ended; this one has not ended yet
    member.generator_state = state.get("generator")
    return state["optimizer"]


def population_fit(per_member_bytes: int, free_bytes: int, headroom: float = OOM_HEADROOM) -> int:
    """How many members fit in ``free_bytes`` of device memory at ``per_member_bytes`` each."""
    return max(0, int(headroom * free_bytes // max(per_member_bytes, 1)))


def _out_of_memory(vaes: Sequence[VAE], batch_size: int, device: torch.device) -> RuntimeError:
    """An out-of-memory error that says which population size would fit on this device."""
    from sbdlib.models import activation_memory

    torch.cuda.empty_cache()
    probe = copy.deepcopy(vaes[0]).to(device)
    x = torch.zeros(batch_size, probe.channels, probe.image_size, probe.image_size, device=device)
    params = sum(p.numel() * p.element_size() for p in probe.parameters())
    per_member = activation_memory(probe, x) + 4 * params  # activations + weights, grads, two Adam moments
    free = torch.cuda.mem_get_info(device)[0]
    fit = population_fit(per_member, free)
    return RuntimeError(f"out of GPU memory training {len(vaes)} VAEs at batch {batch_size} on {device}: each needs "
                        f"about {per_member / 2**20:.0f} MiB and {free / 2**20:.0f} MiB are free, so about {fit} "
                        f"would fit; train fewer at once (run_seeds(max_population={max(fit, 1)})) or a smaller batch")


# ----------------------------------------------------------------------------- fp16 loss scaling


class MemberScaler:
    """Dynamic fp16 loss scaling with one scale per member: ``torch.amp.GradScaler``'s rule, member by member.

    A member whose gradients hold an inf or NaN skips its update and halves its scale; the
    others step as usual, and a scale doubles after ``GROWTH_INTERVAL`` clean steps in a row.
    The sequential engine gives each member its own ``torch.amp.GradScaler``; the stacked
    engine, whose members share tensors ``[S, ...]``, uses this class on the stack. Scales are
    not checkpointed: a resumed fp16 run calibrates them afresh (halving on each overflow, as at the start).
    """

    INIT_SCALE, GROWTH, BACKOFF, GROWTH_INTERVAL = 2.0**16, 2.0, 0.5, 2000  # GradScaler's defaults

    def __init__(self, count: int, device: torch.device) -> None:
        self.scale = torch.full((count,), self.INIT_SCALE, device=device)
        self.clean_steps = torch.zeros(count, dtype=torch.int64, device=device)

    def unscale_(self, grads: Sequence[torch.Tensor]) -> torch.Tensor:
        """Divide each member's slice of ``grads`` (``[S, ...]``) by its scale; returns ``[S]``: non-finite found."""
        found = torch.zeros_like(self.scale, dtype=torch.bool)
        for g in grads:
            g.mul_((1.0 / self.scale).view(-1, *([1] * (g.dim() - 1))).to(g.dtype))
            found |= ~torch.isfinite(g).flatten(1).all(1)
        return found

    def update(self, found: torch.Tensor) -> None:
        """Halve the scales of members that overflowed; double those clean for ``GROWTH_INTERVAL`` steps."""
        self.clean_steps = torch.where(found, 0, self.clean_steps + 1)
        grow = self.clean_steps >= self.GROWTH_INTERVAL
        self.scale = torch.where(found, self.scale * self.BACKOFF, torch.where(grow, self.scale * self.GROWTH, self.scale))
        self.clean_steps = torch.where(grow, 0, self.clean_steps)


def _stacked_adam_(params: dict[str, torch.Tensor], optimizer: torch.optim.Adam, skip: torch.Tensor) -> None:
    """One Adam step of the stacked members except those in ``skip`` (``[S]``), with a step count per member.

    torch's Adam keeps one step count per tensor, shared by the stacked members; a member that
    skips (fp16 overflow) must not advance its count, or its next bias correction is wrong.
    The arithmetic is torch's (``torch.optim.Adam``, no weight decay, no amsgrad).
    """
    (beta1, beta2), eps, lr = optimizer.defaults["betas"], optimizer.defaults["eps"], optimizer.defaults["lr"]
    with torch.no_grad():
        for p in params.values():
            state = optimizer.state[p]
            if not state:
                state.update(step=torch.zeros(p.shape[0], device=p.device), exp_avg=torch.zeros_like(p),
                             exp_avg_sq=torch.zeros_like(p))
            keep = (~skip).view(-1, *([1] * (p.dim() - 1)))
            step = state["step"] = state["step"] + (~skip).to(state["step"].dtype)
            g = torch.where(keep, p.grad, 0.0)
            state["exp_avg"] = torch.where(keep, state["exp_avg"] * beta1 + g * (1 - beta1), state["exp_avg"])
            state["exp_avg_sq"] = torch.where(keep, state["exp_avg_sq"] * beta2 + g * g * (1 - beta2),
                                              state["exp_avg_sq"])
            shape = (-1, *([1] * (p.dim() - 1)))
            step_size = (lr / (1 - beta1 ** step)).view(shape)
            denom = state["exp_avg_sq"].sqrt() / (1 - beta2 ** step).sqrt().view(shape) + eps
            p.sub_(torch.where(keep, step_size * state["exp_avg"] / denom, 0.0))


# ----------------------------------------------------------------------------- engines


class _Engine:
    """What both engines share: members, the on-device record of steps, divergence and checkpoints.

    Each step's batch means are kept on the device as ``[S]`` tensors (one entry per member)
    and read back in one transfer by :meth:`read_back`. ``latched[i]`` stays True while every
    loss of member ``i`` has been finite; the last good weights are copied on the device
    under that mask, so finding a divergence late (:meth:`check`) still restores the right ones.
    """

    def __init__(self, members: list[_Member], device: torch.device, precision: Precision, lr: float,
                 batch_size: int, dataset) -> None:
        self.members, self.device, self.precision, self.lr = members, device, precision, lr
        self.batch_size, self.dataset = batch_size, dataset
        self.pending: list[tuple[int, dict[str, torch.Tensor], list[bool]]] = []  # steps not yet read back
        self.latched = torch.ones(len(members), dtype=torch.bool, device=device)
        self.diverged_at: list[int | None] = [None] * len(members)
        self.updating = False
        self.t0 = time.perf_counter()
        self.steps = 0  # the run's target step count, recorded in every checkpoint (set by train_many)
        self.base_seconds = [m.history.seconds for m in members]  # a resumed run's earlier training time

    def autocast(self):
        """The run's autocast context (a no-op in fp32)."""
        dtype = self.precision.autocast
        return torch.autocast(self.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)

    def active(self, step: int) -> list[bool]:
        """Which members take part in ``step`` (not stopped, and past their resumed start)."""
        return [not m.stopped and step >= m.start for m in self.members]

    def check(self, step: int, current: dict[str, torch.Tensor] | None = None,
              active: list[bool] | None = None, only: Sequence[int] | None = None) -> list[int]:
        """Stop every member whose loss was not finite at some step up to ``step`` (one host sync).

        ``current``/``active``: the values of ``step`` itself, not yet in :attr:`pending`;
        ``only``: check just these members.
        """
        flags = (~self.latched).tolist()
        bad = [i for i in (range(len(flags)) if only is None else only) if flags[i] and not self.members[i].stopped]
        if not bad:
            return []
        records = self.pending + ([(step, current, active)] if current is not None else [])
        losses = torch.stack([v["loss"] for _, v, _ in records]).cpu()
        for i in bad:
            t = next(t for t, (_, _, act) in enumerate(records) if act[i] and not math.isfinite(float(losses[t, i])))
            self.stop(i, records[t][0], float(losses[t, i]), delayed=records[t][0] < step)
        return bad

    def read_back(self) -> None:
        """Move the pending steps' values into the members' histories."""
        for step, values, active in self.pending:
            columns = {k: v.cpu().tolist() for k, v in values.items()}
            for i, member in enumerate(self.members):
                if active[i] and (self.diverged_at[i] is None or step < self.diverged_at[i]):
                    member.history.append(step + 1, {k: c[i] for k, c in columns.items()})
        self.pending = []

    def stop(self, i: int, step: int, loss: float, delayed: bool) -> None:
        """Member ``i`` diverged at ``step``: back to its last good weights, recorded, saved."""
        member = self.members[i]
        self.diverged_at[i] = step
        self.read_back()
        self.restore(i)
        member.stopped = True
        member.history.diverged = (f"loss became {loss} at step {step}; training stopped and the weights of the "
                                   f"last finite step were restored")
        warnings.warn(f"seed {member.seed}: {member.history.diverged}", RuntimeWarning, stacklevel=5)
        # Found later than the step itself (CUDA), the optimiser saw non-finite gradients: start it afresh.
        member.saved_optimizer = self.optimizer_state(i, fresh=delayed)
        self.save(i)

    def save(self, i: int) -> None:
        """Write member ``i``'s checkpoint (atomically) in the single-model format."""
        member = self.members[i]
        member.history.seconds = self.base_seconds[i] + time.perf_counter() - self.t0
        if member.checkpoint is None:
            return
        self.sync_weights(i)
        optimizer = member.saved_optimizer if member.stopped else self.optimizer_state(i)
        objective = member.objective.state_dict() if hasattr(member.objective, "state_dict") else {}
        step = self.held_step(i)
        save_checkpoint(member.checkpoint, member.vae, optimizer=optimizer, history=member.history.as_dict(),
                        generator=member.generator.get_state(), step=step, target_steps=self.steps,
                        finished=bool(member.history.diverged) or step >= self.steps, seed=member.seed,
                        batch_size=self.batch_size, lr=self.lr, objective=objective,
                        dataset=self.dataset.config() if hasattr(self.dataset, "config") else None)

    def held_step(self, i: int) -> int:
        """The steps member ``i`` has completed (what its checkpoint holds)."""
        member = self.members[i]
        return member.history.step[-1] if member.history.step else member.start

    def window_means(self, log_every: int) -> list[dict[str, float] | None]:
        """Each member's mean of its last ``log_every`` logged steps (None for stopped members)."""
        return [None if m.stopped or not m.history.step else {k: m.history.tail_mean(k, log_every) for k in LOGGED}
                for m in self.members]

    def interrupted(self, step: int) -> None:
        """Ctrl-C half-way through an update: every member back to the start of ``step``, which is dropped."""
        if self.updating:
            for i, member in enumerate(self.members):
                if not member.stopped and step >= member.start:
                    self.restore(i, freeze=False)
            self.pending = [p for p in self.pending if p[0] < step]
            self.updating = False

    # Engine-specific: step, restore, optimizer_state, sync_weights, finish.


def _stack_records(records: list[dict[str, torch.Tensor] | None], device: torch.device) -> dict[str, torch.Tensor]:
    """Per-member 0-d values -> one ``[S]`` tensor per key (NaN for members that sat the step out)."""
    keys = dict.fromkeys(k for r in records if r is not None for k in r)
    nan = torch.tensor(math.nan, device=device)
    return {k: torch.stack([r.get(k, nan) if r is not None else nan for r in records]) for k in keys}


class _Sequential(_Engine):
    """Each member steps in turn with its own Adam (CPU default; stateful objectives such as FactorVAE)."""

    def __init__(self, members, device, precision, lr, batch_size, dataset, optimizer_states, compile_model) -> None:
        super().__init__(members, device, precision, lr, batch_size, dataset)
        self.good: list[list[torch.Tensor]] = []
        self.models = []
        for m, state in zip(members, optimizer_states):
            m.optimizer = torch.optim.Adam(m.vae.parameters(), lr=lr)
            if state is not None:
                m.optimizer.load_state_dict(state)
            self.good.append([p.detach().clone() for p in m.vae.parameters()])
            self.models.append(torch.compile(m.vae) if compile_model else m.vae)
        fp16 = precision.autocast == torch.float16  # one GradScaler per member: an overflow skips only its step
        self.scalers = [torch.amp.GradScaler(device.type) if fp16 else None for _ in members]
        self.records: list[dict[str, torch.Tensor] | None] | None = None  # the step under way, member by member
        self.done: list[bool] = []  # which members have applied the step under way
        self.updating_member = -1

    def step(self, step: int, check: bool) -> None:
        """One optimiser step of every active member, one after another (one member's activations at a time)."""
        active = self.active(step)
        records: list[dict[str, torch.Tensor] | None] = [None] * len(self.members)
        self.records, self.done = records, [False] * len(self.members)
        for i in (i for i, a in enumerate(active) if a):
            m = self.members[i]
            x = next(m.batches)
            with self.autocast():
                if getattr(m.objective, "stackable", False):
                    noise = torch.randn((x.shape[0], m.vae.latent_dim), generator=m.generator, device=self.device)
                    terms = m.objective(self.models[i], x, noise=noise)
                else:
                    terms = m.objective(m.vae, x, generator=m.generator)
            ok = torch.isfinite(terms["loss"].detach()) & self.latched[i]
            with torch.no_grad():  # keep the weights that gave this finite loss
                for g, p in zip(self.good[i], m.vae.parameters()):
                    g.copy_(torch.where(ok, p, g))
            self.latched[i] = ok
            records[i] = {k: v.detach().float() for k, v in terms.items() if v.dim() == 0}
            if check and self.check(step, _stack_records(records, self.device), active, only=[i]):
                records[i] = None
                continue
            self.updating, self.updating_member = True, i
            m.optimizer.zero_grad(set_to_none=True)
            scaler = self.scalers[i]
            if scaler is None:
                terms["loss"].backward()
                m.optimizer.step()
            else:
                scaler.scale(terms["loss"]).backward()
                scaler.step(m.optimizer)  # skipped when this member's gradients overflowed
                scaler.update()
            self.done[i] = True
            self.updating = False
            extra = m.objective.after_step()
            records[i].update({k: v.detach().float() for k, v in extra.items()})
        if any(r is not None for r in records):
            self.pending.append((step, _stack_records(records, self.device), active))
        self.records = None

    def interrupted(self, step: int) -> None:
        """Ctrl-C part-way through ``step``: members that applied it keep it, recorded; the one updating goes back."""
        if self.updating:
            self.restore(self.updating_member)
            self.updating = False
        if self.records is not None:
            if any(self.done):
                kept = [r if d else None for r, d in zip(self.records, self.done)]
                self.pending.append((step, _stack_records(kept, self.device), list(self.done)))
            self.records = None

    def restore(self, i: int, freeze: bool = True) -> None:
        """Member ``i``'s weights back to the last that gave a finite loss."""
        with torch.no_grad():
            torch._foreach_copy_(list(self.members[i].vae.parameters()), self.good[i])

    def optimizer_state(self, i: int, fresh: bool = False) -> dict:
        """Member ``i``'s Adam state (``fresh``: as if new, for a member whose moments saw NaNs)."""
        if fresh:
            return torch.optim.Adam(self.members[i].vae.parameters(), lr=self.lr).state_dict()
        return self.members[i].optimizer.state_dict()

    def sync_weights(self, i: int) -> None:
        """The members' own modules hold their weights already."""

    def finish(self) -> None:
        """Nothing to write back."""


class _Stacked(_Engine):
    """All members as one computation: stacked weights, ``vmap``-ed loss, one Adam over the stack."""

    def __init__(self, members, device, precision, lr, batch_size, dataset, optimizer_states, compile_model) -> None:
        super().__init__(members, device, precision, lr, batch_size, dataset)
        self.template = copy.deepcopy(members[0].vae).to(device)  # convolutions.choose_impl: plain ops under vmap
        self.names = [n for n, _ in self.template.named_parameters()]
        own = [dict(m.vae.named_parameters()) for m in members]
        self.params = {n: torch.stack([o[n].detach() for o in own]).requires_grad_() for n in self.names}
        self.buffers = dict(self.template.named_buffers())
        self.optimizer = torch.optim.Adam(list(self.params.values()), lr=lr, fused=device.type == "cuda")
        self.scaler = MemberScaler(len(members), device) if precision.autocast == torch.float16 else None
        if any(s is not None for s in optimizer_states):
            self._load_optimizer(optimizer_states)
        self.good = {n: p.detach().clone() for n, p in self.params.items()}
        self.frozen = torch.zeros(len(members), dtype=torch.bool, device=device)

        def member_terms(params, x, noise):
            return torch.func.functional_call(self.template, (params, self.buffers), (x,), {"noise": noise})

        self.terms = torch.vmap(member_terms)
        if compile_model:
            self.terms = torch.compile(self.terms)

    def _load_optimizer(self, states: list[dict | None]) -> None:
        """Stack the members' resumed Adam states into the population's."""
        if any(s is None for s in states):
            raise ValueError("some members have checkpoints to resume and others not; resume all or none")
        for j, n in enumerate(self.names):
            per = [s["state"].get(j) for s in states]
            if any(p is None for p in per):
                continue
            step_device = self.device if self.optimizer.defaults.get("fused") else "cpu"
            steps = (torch.stack([p["step"].detach().float().reshape(()) for p in per]).to(self.device)
                     if self.scaler is not None else per[0]["step"].detach().clone().float().to(step_device))
            self.optimizer.state[self.params[n]] = {
                "step": steps,  # fp16: one count per member (_stacked_adam_)
                "exp_avg": torch.stack([p["exp_avg"] for p in per]).to(self.device),
                "exp_avg_sq": torch.stack([p["exp_avg_sq"] for p in per]).to(self.device),
            }

    @staticmethod
    def _view(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """A member mask ``[S]`` shaped to broadcast against a stacked tensor ``[S, ...]``."""
        return mask.view(-1, *([1] * (like.dim() - 1)))

    def step(self, step: int, check: bool) -> None:
        """One optimiser step of the whole population as one computation."""
        x = torch.stack([next(m.batches) for m in self.members])
        noise = torch.stack([torch.randn((self.batch_size, m.vae.latent_dim), generator=m.generator, device=self.device)
                             for m in self.members])
        active = self.active(step)
        with self.autocast():
            terms = self.terms(self.params, x, noise)
        ok = torch.isfinite(terms["loss"].detach()) & self.latched
        with torch.no_grad():
            for n, p in self.params.items():
                self.good[n].copy_(torch.where(self._view(ok, p), p, self.good[n]))
        self.latched = ok
        current = {k: v.detach().float() for k, v in terms.items() if v.dim() == 1}
        if check:
            self.check(step, current, active)
        self.updating = True
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            terms["loss"].sum().backward()
            self.optimizer.step()
        else:  # each member's loss scaled by its own scale; a member whose gradients overflow skips its step
            (terms["loss"].float() * self.scaler.scale).sum().backward()
            self.scaled_step()
        if any(m.stopped for m in self.members):
            with torch.no_grad():  # stopped members keep their last good weights
                for n, p in self.params.items():
                    p.copy_(torch.where(self._view(self.frozen, p), self.good[n], p))
        self.pending.append((step, current, active))  # recorded before the flag drops: no unrecorded update
        self.updating = False

    def scaled_step(self) -> None:
        """fp16: unscale each member's gradients, step the members without overflow, update the scales."""
        found = self.scaler.unscale_([p.grad for p in self.params.values()])
        _stacked_adam_(self.params, self.optimizer, found)
        self.scaler.update(found)

    def restore(self, i: int, freeze: bool = True) -> None:
        """Member ``i`` back to its last good weights.

        ``freeze`` (a diverged member, found mid-step): its own module gets the good weights now
        and its slice of the stack is reset after every step from then on (changing the stack
        in place before the backward pass would break autograd). Otherwise (Ctrl-C between
        steps) the slice itself is reset.
        """
        with torch.no_grad():
            if freeze:
                self.frozen[i] = True
                for n, p in self.members[i].vae.named_parameters():
                    p.copy_(self.good[n][i])
            else:
                for n, p in self.params.items():
                    p[i].copy_(self.good[n][i])

    def optimizer_state(self, i: int, fresh: bool = False) -> dict:
        """Member ``i``'s slice of the population's Adam, as a single model's Adam state."""
        state = torch.optim.Adam(self.members[i].vae.parameters(), lr=self.lr).state_dict()
        if fresh:
            return state
        for j, n in enumerate(self.names):
            s = self.optimizer.state.get(self.params[n])
            if s:
                step = s["step"][i] if s["step"].dim() == 1 else s["step"]  # fp16: a count per member
                state["state"][j] = {"step": step.detach().clone().cpu(),
                                     "exp_avg": s["exp_avg"][i].detach().clone(),
                                     "exp_avg_sq": s["exp_avg_sq"][i].detach().clone()}
        return state

    def sync_weights(self, i: int) -> None:
        """Copy member ``i``'s slice into its own module (a stopped member's module is final already)."""
        if self.members[i].stopped:
            return
        with torch.no_grad():
            for n, p in self.members[i].vae.named_parameters():
                p.copy_(self.params[n][i])

    def finish(self) -> None:
        """Write every member's weights back into its module."""
        for i in range(len(self.members)):
            self.sync_weights(i)


def _choose_engine(population: str, device: torch.device, objectives: list, members: list[_Member]) -> str:
    """``"stacked"`` or ``"sequential"`` (see the module docstring); explicit choices are checked."""
    stackable = all(getattr(o, "stackable", False) for o in objectives)
    same_start = len({m.start for m in members}) == 1
    if population == "stacked":
        if not stackable:
            raise ValueError(f"{type(objectives[0]).__name__} cannot run stacked (per-member state); "
                             f"use population='sequential' or 'auto'")
        if not same_start:
            raise ValueError(f"stacked populations resume from one step; the checkpoints are at steps "
                             f"{sorted({m.start for m in members})}; use population='sequential'")
        return "stacked"
    if population == "sequential":
        return "sequential"
    return "stacked" if device.type == "cuda" and stackable and same_start and len(members) > 1 else "sequential"


# ----------------------------------------------------------------------------- public API


def train_many(
    vaes: Sequence[VAE],
    dataset,
    *,
    seeds: Sequence[int],
    steps: int,
    batch_size: int = PAPER_BATCH_SIZE,
    lr: float = PAPER_LR,
    objective=None,
    device: str | torch.device | None = None,
    amp: bool | None = None,
    checkpoints: Sequence[str | os.PathLike] | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: str = "auto",
    log_every: int | None = None,
    title: str | None = None,
    population: str = "auto",
    compile: bool = False,
) -> list[History]:
    """Train a population of VAEs (same architecture) in place; member ``i`` is ``train(vaes[i], seed=seeds[i])``.

    Args:
        vaes: The models, one architecture (``VAE.config`` equal); moved to ``device``.
        dataset: Anything with ``stream(batch_size, seed[, device])`` yielding ``[B, C, H, W]`` batches.
        seeds: One per VAE: fixes its data and reparameterisation noise (its initial weights
            are fixed by whoever built it, e.g. ``torch.manual_seed(seed)`` before ``VAE()``).
        steps: Total optimiser steps per member (a resumed run continues up to this many).
        batch_size: Images per step per member (the paper: 16).
        lr: Adam learning rate (the paper: 3e-4).
        objective: :class:`~sbdlib.objectives.BetaVAE` (default, shared) or a list with one
            objective per VAE (FactorVAE: one each, so each member has its own discriminator).
        device: Default: CUDA when available, else CPU.
        amp: Reduced precision: ``None`` chooses per machine (:mod:`sbdlib.devices`: fp32 on
            CPUs and MPS), ``False`` forces fp32, ``True`` asks for the device's reduced precision
            (bf16 on CPUs and on GPUs with native bf16, fp16 on older CUDA GPUs).
        checkpoints: One file per VAE, written atomically every ``checkpoint_every`` steps,
            when a member stops, and at the end; each loads with ``load_checkpoint`` and
            records ``target_steps`` (``steps``) and whether the run ``finished``.
        checkpoint_every: Steps between checkpoints (default: only at the end).
        resume: Continue each member from its checkpoint if it exists.
        overwrite: Replace existing checkpoints (their first rewrite is at the first
            checkpoint). Without it, and without ``resume``, an existing file is refused.
        progress: ``"auto"`` (live figure in notebooks, text elsewhere), ``"notebook"``,
            ``"text"`` or ``"none"``.
        log_every: Steps between progress reports (default: about 50 reports per run).
        title: Name shown in progress reports (default: the decoder and population size).
        population: ``"auto"``, ``"stacked"`` (one vmapped computation) or ``"sequential"``.
        compile: ``torch.compile`` the loss computation (first steps are slow while it compiles).

    Returns:
        One :class:`History` per VAE (for a resumed run, including the earlier steps);
        after Ctrl-C each says ``interrupted`` (the models keep their last complete update).
    """
    _check_population(vaes, seeds, checkpoints)
    _check_dataset(dataset)
    _check_settings(steps, batch_size, lr, log_every, checkpoint_every, progress, population)
    if resume and checkpoints is None:
        raise ValueError("resume=True needs checkpoint paths")
    for path in checkpoints or ():
        _check_checkpoint_path(Path(path), resume, overwrite)
    objectives = _objectives(objective, len(vaes))
    device = resolve_device(device)
    configure_process(device)
    members = [_Member(vae=v, seed=int(s), objective=o, checkpoint=None if checkpoints is None else Path(c))
               for v, s, o, c in zip(vaes, seeds, objectives, checkpoints or [None] * len(vaes))]
    optimizer_states = [_resume(m, resume) for m in members]
    engine_name = _choose_engine(population, device, objectives, members)
    precision = choose_precision(device, amp, population=engine_name == "stacked")
    for m in members:
        m.history.device, m.history.precision, m.history.engine = str(device), precision.name, engine_name
        m.vae.to(device)
        if precision.channels_last:
            m.vae.to(memory_format=torch.channels_last)
        m.vae.train()
        # Resuming is exact: the noise generator continues from its saved state, the data stream skips
        # the batches already seen, so a run stopped and resumed equals one that never stopped.
        m.generator = seeded_generator(m.seed * NOISE_SEED_STRIDE, device)
        if m.generator_state is not None:
            m.generator.set_state(m.generator_state)
        m.batches = _stream(dataset, batch_size, m.seed * NOISE_SEED_STRIDE, device, precision.channels_last, m.start)
    engine_cls = _Stacked if engine_name == "stacked" else _Sequential
    engine = engine_cls(members, device, precision, lr, batch_size, dataset, optimizer_states, compile)
    log_every = log_every or max(1, steps // REPORTS_PER_RUN)
    check_every = 1 if device.type == "cpu" else log_every
    decoder = vaes[0].decoder_name
    title = title or (decoder if len(vaes) == 1 else f"{decoder} x {len(vaes)} ({engine_name})")
    start = min(m.start for m in members)
    bar = _Progress(progress, steps, start, log_every, title, decoder, f"{device}, {precision.name}")
    engine.t0, engine.steps = time.perf_counter(), steps
    step, stopped_by_user = start, False
    try:
        for step in range(start, steps):
            if not any(engine.active(step)):
                break
            done = step + 1
            with explain_mps_errors(device):  # an operation MPS lacks: one line naming it and the way out
                engine.step(step, check=done % check_every == 0 or done == steps)
            if done % log_every == 0 or done == steps:
                engine.read_back()
                bar.update(done, engine.window_means(log_every))
            if checkpoint_every and done % checkpoint_every == 0:
                engine.read_back()
                for i, m in enumerate(members):
                    if not m.stopped:
                        engine.save(i)
    except torch.cuda.OutOfMemoryError:
        raise _out_of_memory(vaes, batch_size, device) from None
    except KeyboardInterrupt:
        engine.interrupted(step)
        engine.check(step)
        for m in members:
            m.history.interrupted = True
        stopped_by_user = True
    finally:
        bar.close()
    engine.read_back()
    engine.finish()
    for i, m in enumerate(members):
        if not m.stopped:
            engine.save(i)  # also sets the history's seconds: earlier segments + this one
        m.vae.eval()
    if stopped_by_user:
        print(f"Training interrupted: {_held(engine)} of {steps}; every model keeps its last complete update "
              f"and its history" + ("; the checkpoints hold the same" if checkpoints is not None else "") + ".")
    return [m.history for m in members]


def _held(engine: _Engine) -> str:
    """``"step 480"`` or ``"steps [480, 479]"``: what the members hold (and their checkpoints)."""
    held = [engine.held_step(i) for i in range(len(engine.members))]
    return f"step {held[0]}" if len(set(held)) == 1 else f"steps {held}"


def train(
    vae: VAE,
    dataset,
    *,
    steps: int,
    batch_size: int = PAPER_BATCH_SIZE,
    lr: float = PAPER_LR,
    seed: int = 0,
    objective=None,
    device: str | torch.device | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    log_every: int | None = None,
    progress: str = "auto",
    title: str | None = None,
    amp: bool | None = None,
    compile: bool = False,
) -> History:
    """Train one VAE on fresh batches from ``dataset`` with Adam (the paper's defaults).

    A population of one: see :func:`train_many` for every argument (``seed`` and
    ``checkpoint`` are the single-model forms of ``seeds`` and ``checkpoints``).

    Returns:
        The :class:`History` (for a resumed run, including the earlier steps).
    """
    return train_many([vae], dataset, seeds=[seed], steps=steps, batch_size=batch_size, lr=lr,
                      objective=None if objective is None else [objective], device=device, amp=amp,
                      checkpoints=None if checkpoint is None else [checkpoint], checkpoint_every=checkpoint_every,
                      resume=resume, overwrite=overwrite, progress=progress, log_every=log_every, title=title,
                      compile=compile)[0]


def train_step(vae: VAE, optimizer: torch.optim.Optimizer, x: torch.Tensor, beta: float) -> dict[str, float]:
    """One optimiser step on ``NLL + beta * KL``, written out: the readable form of a step of :func:`train`.

    Args:
        vae: The model (its own ``vae.beta`` is not used: ``beta`` is).
        optimizer: An optimiser over ``vae``'s parameters (the course: Adam).
        x: Images ``[B, C, H, W]`` in [0, 1].
        beta: Weight of the KL term.

    Returns:
        Batch means ``loss``, ``nll`` and ``kl`` (nats per image) as floats. The noise comes from
        ``torch.randn_like`` (the global generator); :func:`train` draws it from the run's own.
    """
    optimizer.zero_grad()
    mu, logvar = vae.encode(x)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    nll = vae.nll(vae.decode(z), x)
    kl = gaussian_kl(mu, logvar)
    loss = (nll + beta * kl).mean()
    loss.backward()
    optimizer.step()
    return {"loss": loss.item(), "nll": nll.mean().item(), "kl": kl.mean().item()}


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
    generator = seeded_generator(seed)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        factors = dataset.sample_factors(batch_size, generator)
        target = dataset.render(factors)
        code = dataset.normalise(factors, factor_names)
        loss = ((decoder(code) - target) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses
