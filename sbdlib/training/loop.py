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
  whether it finished (:func:`sbdlib.training.checkpoints.is_finished`); a checkpoint path that cannot
  be written fails before the first step.
* **Safe to diverge**: a member whose loss becomes NaN or infinite gets back the last weights
  that gave a finite loss and stops (recorded in its :class:`History`); the others go on.
* **No per-step host synchronisation**: losses are accumulated on the device and read back
  every ``check_every`` steps (every step on the CPU, where reading is free; every
  ``log_every`` on CUDA). The last good weights are kept on the device meanwhile.
* **Precision per machine** (:mod:`sbdlib.devices`): bf16 autocast on GPUs with native bf16;
  fp16 or fp32, by a measurement, on older CUDA GPUs; on CPUs with native bf16, bf16 where a
  short measurement of the model finds it faster; fp32 on other CPUs and on MPS unless
  ``amp=True`` (bf16 on a CPU); ``amp=False`` forces fp32. Evaluation stays fp32.
  In fp16 every member has its own dynamic loss scale (``torch.amp.GradScaler``'s rule), so
  one member's overflow skips only that member's step (:class:`~sbdlib.training.engines.MemberScaler`).
* **Checkpoints** (optional) are written atomically every ``checkpoint_every`` steps and at
  the end, one file per member in the single-model format; ``resume=True`` continues.
* Progress (:mod:`sbdlib.training.progress`): in a notebook one bar and one live figure (median and
  range over members of NLL, KL, ELBO); in a script, text lines.

Where the parts live: the engines and the one training step they share in
:mod:`sbdlib.training.engines` (:func:`train_step` below is its plain, readable form), the record of a
run in :mod:`sbdlib.training.history`, the progress display in :mod:`sbdlib.training.progress`, and notebook 02's
supervised rendering demo in :mod:`sbdlib.training.renderer`; this module checks the arguments, sets up
the members and runs the loop.
"""

from __future__ import annotations

import copy
import inspect
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

from sbdlib.checks import check_int, check_seed, seeded_generator
from sbdlib.devices import (check_batch_fits, choose_precision, configure_process, explain_mps_errors, resolve_device,
                            step_memory)
from sbdlib.models import VAE
from sbdlib.scales import PAPER_BATCH_SIZE, PAPER_LR
from sbdlib.training.checkpoints import COMPACTED, describe_progress, is_finished, load_state, read_checkpoint
from sbdlib.training.engines import POPULATION_ENGINES, _choose_engine, _Engine, _Member, _Sequential, _Stacked
from sbdlib.training.history import History
from sbdlib.training.objectives import BetaVAE, gaussian_kl
from sbdlib.training.progress import PROGRESS_MODES, Progress

REPORTS_PER_RUN = 50  # default progress reports per run (log_every = steps // this)
NOISE_SEED_STRIDE = 1_000_003  # a run's noise generator and data stream are seeded with seed * stride
OOM_HEADROOM = 0.8  # fraction of free GPU memory a suggested population may fill


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
    torch.cuda.empty_cache()
    probe = copy.deepcopy(vaes[0]).to(device)
    per_member = step_memory(probe, (probe.channels, probe.image_size, probe.image_size)).at(batch_size)
    free = torch.cuda.mem_get_info(device)[0]
    fit = population_fit(per_member, free)
    return RuntimeError(f"out of GPU memory training {len(vaes)} VAEs at batch {batch_size} on {device}: each needs "
                        f"about {per_member / 2**20:.0f} MiB and {free / 2**20:.0f} MiB are free, so about {fit} "
                        f"would fit; train fewer at once (run_seeds(max_population={max(fit, 1)})) or a smaller batch")


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
        objective: :class:`~sbdlib.training.objectives.BetaVAE` (default, shared) or a list with one
            objective per VAE (FactorVAE: one each, so each member has its own discriminator).
        device: Default: CUDA when available, else CPU.
        amp: Reduced precision: ``None`` chooses per machine (:mod:`sbdlib.devices`: bf16 on
            CPUs with native bf16 where it measures faster for this model, else fp32 on CPUs
            and MPS), ``False`` forces fp32, ``True`` asks for the device's reduced precision
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
    check_batch_fits(vaes[0], batch_size, device, image_shape=(vaes[0].channels, vaes[0].image_size, vaes[0].image_size),
                     members=len(vaes), concurrent=len(vaes) if engine_name == "stacked" else 1)
    precision = choose_precision(device, amp, population=engine_name == "stacked", model=vaes[0], batch_size=batch_size)
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
    bar = Progress(progress, steps, start, log_every, title, decoder, f"{device}, {precision.name}")
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

