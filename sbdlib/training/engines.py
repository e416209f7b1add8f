"""The two population engines behind :func:`sbdlib.training.train_many`, and the one training step they share.

:meth:`_Engine.step` is :func:`sbdlib.training.train_step` made safe and fast: for each
*group* of members that runs as one computation it draws the batch and the noise, computes
the loss terms (the forward pass), keeps the weights that gave a finite loss, and takes the
backward pass and the optimiser step. The engines differ only in what a group is:

* :class:`_Sequential`: one member at a time, each with its own module and Adam (the CPU
  default; stateful objectives such as FactorVAE);
* :class:`_Stacked`: the whole population at once, its weights stacked ``[S, ...]`` and the
  loss ``torch.vmap``-ed over members, one Adam over the stack (Adam is elementwise, so this
  is each member's Adam).

In fp16 every member has its own dynamic loss scale (a ``torch.amp.GradScaler`` each, or one
:class:`MemberScaler` over the stack), so one member's overflow skips only its step.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

from sbdlib.devices import Precision
from sbdlib.models import VAE
from sbdlib.training.checkpoints import save_checkpoint
from sbdlib.training.history import History

LOGGED = ("loss", "nll", "kl", "elbo")
POPULATION_ENGINES = ("auto", "stacked", "sequential")


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
        self.scales = torch.full((count,), self.INIT_SCALE, device=device)
        self.found = torch.zeros(count, dtype=torch.bool, device=device)  # the last step's overflowing members
        self.clean_steps = torch.zeros(count, dtype=torch.int64, device=device)

    def unscale_(self, grads: Sequence[torch.Tensor]) -> torch.Tensor:
        """Divide each member's slice of ``grads`` (``[S, ...]``) by its scale; returns ``[S]``: non-finite found."""
        found = torch.zeros_like(self.scales, dtype=torch.bool)
        for g in grads:
            g.mul_((1.0 / self.scales).view(-1, *([1] * (g.dim() - 1))).to(g.dtype))
            found |= ~torch.isfinite(g).flatten(1).all(1)
        return found

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        """Each member's loss (``[S]``) times its own scale."""
        return loss.float() * self.scales

    def step(self, optimizer: torch.optim.Adam) -> None:
        """Unscale the stack's gradients and step the members whose gradients are finite (:func:`_stacked_adam_`)."""
        params = optimizer.param_groups[0]["params"]
        self.found = self.unscale_([p.grad for p in params])
        _stacked_adam_(params, optimizer, self.found)

    def update(self, found: torch.Tensor | None = None) -> None:
        """Halve the scales of members that overflowed; double those clean for ``GROWTH_INTERVAL`` steps.

        ``found``: the members whose gradients overflowed (default: those the last :meth:`step` found).
        """
        found = self.found if found is None else found
        self.clean_steps = torch.where(found, 0, self.clean_steps + 1)
        grow = self.clean_steps >= self.GROWTH_INTERVAL
        self.scales = torch.where(found, self.scales * self.BACKOFF,
                                  torch.where(grow, self.scales * self.GROWTH, self.scales))
        self.clean_steps = torch.where(grow, 0, self.clean_steps)


def _stacked_adam_(params: Sequence[torch.Tensor], optimizer: torch.optim.Adam, skip: torch.Tensor) -> None:
    """One Adam step of the stacked members except those in ``skip`` (``[S]``), with a step count per member.

    torch's Adam keeps one step count per tensor, shared by the stacked members; a member that
    skips (fp16 overflow) must not advance its count, or its next bias correction is wrong.
    The arithmetic is torch's (``torch.optim.Adam``, no weight decay, no amsgrad).
    """
    (beta1, beta2), eps, lr = optimizer.defaults["betas"], optimizer.defaults["eps"], optimizer.defaults["lr"]
    with torch.no_grad():
        for p in params:
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



def _member_view(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A member mask (``[S]``, or 0-d for one member) shaped to broadcast against ``like`` (``[S, ...]``)."""
    return mask if mask.dim() == 0 else mask.view(-1, *([1] * (like.dim() - 1)))


def _stack_records(records: list[dict[str, torch.Tensor] | None], device: torch.device) -> dict[str, torch.Tensor]:
    """Per-member 0-d values -> one ``[S]`` tensor per key (NaN for members that sat the step out)."""
    keys = dict.fromkeys(k for r in records if r is not None for k in r)
    nan = torch.tensor(math.nan, device=device)
    return {k: torch.stack([r.get(k, nan) if r is not None else nan for r in records]) for k in keys}


class _Engine:
    """What both engines share: the training step, the on-device record of steps, divergence and checkpoints.

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

    # ------------------------------------------------------------------ the training step

    def step(self, step: int, check: bool) -> None:
        """One training step of every active member: batch, forward and loss, backward, optimiser step.

        The steps of :func:`sbdlib.training.train_step`, once per group (one member, or the
        whole stack), with the run's own data and noise, the last good weights kept, and a
        member whose loss is not finite stopped (``check``: look now, one host sync).
        """
        active = self.active(step)
        self.begin(step, active)
        for group in self.groups(active):
            x, noise = self.batch(group)  # [B, C, H, W] per member, and its reparameterisation noise
            with self.autocast():
                terms = self.loss_terms(group, x, noise)  # forward: encode, sample, decode; loss, nll, kl, elbo
            self.keep_good_weights(group, terms["loss"].detach())
            if not self.record(step, group, terms, active, check):
                continue  # the member diverged at this step: no update
            self.updating = True
            optimizer, scaler = self.optimizer_of(group)
            optimizer.zero_grad(set_to_none=True)
            if scaler is None:
                terms["loss"].sum().backward()  # the sum over a stack's members: each gets its own gradient
                optimizer.step()
            else:  # fp16: each member's loss times its own scale; a member whose gradients overflow skips its step
                scaler.scale(terms["loss"]).sum().backward()
                scaler.step(optimizer)
                scaler.update()
            self.applied(step, group, active)
            self.updating = False
            self.after_update(group)
        self.end(step, active)

    def keep_good_weights(self, group: int | slice, loss: torch.Tensor) -> None:
        """Copy the group's weights into its last good ones where every loss so far was finite."""
        ok = torch.isfinite(loss) & self.latched[group]
        with torch.no_grad():
            if ok.dim() == 0 and self.device.type == "cpu":  # one member on the CPU: reading the flag is free
                if bool(ok):
                    params, goods = zip(*self.weights(group))
                    torch._foreach_copy_(list(goods), list(params))  # one copy, no temporary per tensor
            else:
                for p, good in self.weights(group):
                    good.copy_(torch.where(_member_view(ok, p), p, good))
        self.latched[group] = ok

    # Engine-specific parts of the step: groups, batch, loss_terms, weights, record, optimizer_of, applied;
    # begin, after_update and end are optional.

    def begin(self, step: int, active: list[bool]) -> None:
        """Before the step's first group."""

    def after_update(self, group: int | slice) -> None:
        """After the group's optimiser step (outside the update: Ctrl-C here keeps it)."""

    def end(self, step: int, active: list[bool]) -> None:
        """After the step's last group."""

    # ------------------------------------------------------------------ the record, divergence, checkpoints

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


class _Sequential(_Engine):
    """Each member steps in turn with its own Adam (CPU default; stateful objectives such as FactorVAE).

    A group is one member: its own module, optimiser and (fp16) ``torch.amp.GradScaler``.
    """

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

    def begin(self, step: int, active: list[bool]) -> None:
        """A fresh record of the step, filled member by member (one member's activations at a time)."""
        self.records, self.done = [None] * len(self.members), [False] * len(self.members)

    def groups(self, active: list[bool]) -> list[int]:
        """The active members, one after another."""
        return [i for i, a in enumerate(active) if a]

    def batch(self, i: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Member ``i``'s next batch and noise (an objective with its own sampling draws the noise itself)."""
        m = self.members[i]
        x = next(m.batches)
        if not getattr(m.objective, "stackable", False):
            return x, None
        return x, torch.randn((x.shape[0], m.vae.latent_dim), generator=m.generator, device=self.device)

    def loss_terms(self, i: int, x: torch.Tensor, noise: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Member ``i``'s objective on its batch: batch means (0-d) ``loss``, ``nll``, ``kl``, ..."""
        m = self.members[i]
        if noise is not None:
            return m.objective(self.models[i], x, noise=noise)
        return m.objective(m.vae, x, generator=m.generator)

    def weights(self, i: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Member ``i``'s parameters, each with its last good copy."""
        return zip(self.members[i].vae.parameters(), self.good[i])

    def record(self, step: int, i: int, terms: dict[str, torch.Tensor], active: list[bool], check: bool) -> bool:
        """Keep member ``i``'s values of ``step``; False (no update) if it has diverged."""
        self.records[i] = {k: v.detach().float() for k, v in terms.items() if v.dim() == 0}
        if check and self.check(step, _stack_records(self.records, self.device), active, only=[i]):
            self.records[i] = None
            return False
        self.updating_member = i
        return True

    def optimizer_of(self, i: int) -> tuple[torch.optim.Optimizer, torch.amp.GradScaler | None]:
        """Member ``i``'s Adam and (fp16) loss scaler."""
        return self.members[i].optimizer, self.scalers[i]

    def applied(self, step: int, i: int, active: list[bool]) -> None:
        """Member ``i`` holds the step's update."""
        self.done[i] = True

    def after_update(self, i: int) -> None:
        """The objective's own work after the VAE's step (FactorVAE: its discriminator), recorded."""
        extra = self.members[i].objective.after_step()
        self.records[i].update({k: v.detach().float() for k, v in extra.items()})

    def end(self, step: int, active: list[bool]) -> None:
        """The step's record, for :meth:`read_back`."""
        if any(r is not None for r in self.records):
            self.pending.append((step, _stack_records(self.records, self.device), active))
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
    """All members as one computation: stacked weights, ``vmap``-ed loss, one Adam over the stack.

    A group is the whole stack (``slice(None)``): every member computes every step, and a
    stopped member's slice is reset to its last good weights after each update.
    """

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
        self.current: dict[str, torch.Tensor] = {}  # the step under way's values, [S] per key

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

    def groups(self, active: list[bool]) -> list[slice]:
        """One group: the whole stack."""
        return [slice(None)]

    def batch(self, group: slice) -> tuple[torch.Tensor, torch.Tensor]:
        """Every member's next batch and noise, stacked: ``[S, B, C, H, W]`` and ``[S, B, k]``."""
        x = torch.stack([next(m.batches) for m in self.members])
        noise = torch.stack([torch.randn((self.batch_size, m.vae.latent_dim), generator=m.generator, device=self.device)
                             for m in self.members])
        return x, noise

    def loss_terms(self, group: slice, x: torch.Tensor, noise: torch.Tensor) -> dict[str, torch.Tensor]:
        """The vmapped objective: ``[S]`` batch means per member of ``loss``, ``nll``, ``kl``, ``elbo``."""
        return self.terms(self.params, x, noise)

    def weights(self, group: slice) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The stacked parameters ``[S, ...]``, each with its last good copy."""
        return ((p, self.good[n]) for n, p in self.params.items())

    def record(self, step: int, group: slice, terms: dict[str, torch.Tensor], active: list[bool], check: bool) -> bool:
        """Keep the step's values; a member found diverged is frozen (the stack still updates as one)."""
        self.current = {k: v.detach().float() for k, v in terms.items() if v.dim() == 1}
        if check:
            self.check(step, self.current, active)
        return True

    def optimizer_of(self, group: slice) -> tuple[torch.optim.Optimizer, MemberScaler | None]:
        """The population's Adam and (fp16) its per-member loss scales."""
        return self.optimizer, self.scaler

    def applied(self, step: int, group: slice, active: list[bool]) -> None:
        """Stopped members back to their last good weights; the step recorded before the update counts as done."""
        if any(m.stopped for m in self.members):
            with torch.no_grad():  # stopped members keep their last good weights
                for n, p in self.params.items():
                    p.copy_(torch.where(_member_view(self.frozen, p), self.good[n], p))
        self.pending.append((step, self.current, active))  # recorded before the flag drops: no unrecorded update

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
