"""Checkers of notebook 12 (FactorVAE): permute each latent across the batch (samples of the product of the
marginals), and the discriminator's total-correlation estimate from its logits."""

from __future__ import annotations

from typing import Any, Callable

import torch

from sbdlib.course.exercises._checking import NOT_ATTEMPTED, as_tensor, attempted, compare, generator, passed
from sbdlib.training.objectives import tc_estimate

__all__ = ["check_permute_dims", "check_tc_estimate"]

CHECK_SHAPE = (40, 6)  # [B, D] checked: 40! orders per column, so no column stays in place by chance


def _labelled_codes(b: int, d: int) -> torch.Tensor:
    """``[B, D]`` codes whose entry (i, j) is ``1000 j + i``: every value names its row and column."""
    return torch.arange(b, dtype=torch.float32)[:, None] + 1000 * torch.arange(d, dtype=torch.float32)[None, :]


def _sources(got: Any, z: torch.Tensor) -> torch.Tensor:
    """``[B, D]``: the row each output entry came from; AssertionError naming the mistake if a column's values
    are not a permutation of that column's."""
    b, d = z.shape
    out = as_tensor(got, "your permute_dims")
    if out.shape != z.shape:
        raise AssertionError(f"your permute_dims returned shape {list(out.shape)}, expected {[b, d]} ([B, D])")
    column = (out // 1000).round().long()
    rows = (out - 1000 * column).round().long()
    if not torch.equal(column, torch.arange(d).expand(b, d)):
        if all(torch.equal(torch.sort(out[i]).values, z[i].double()) for i in range(b)):
            raise AssertionError("it looks like the entries permuted within each row; permute each COLUMN (latent) "
                                 "across the batch, so every latent keeps its own values")
        raise AssertionError("your permute_dims moves values between columns; each latent keeps its own values")
    if not all(torch.equal(torch.sort(rows[:, j]).values, torch.arange(b)) for j in range(d)):
        raise AssertionError("a column of your output is not a permutation of that column: every value must appear "
                             "exactly once")
    return rows


def check_permute_dims(fn: Callable[..., Any]) -> None:
    """Check ``fn(z [B, D], generator) -> [B, D]``: each column permuted over the batch by its own permutation
    drawn from ``generator``."""
    b, d = CHECK_SHAPE
    z = _labelled_codes(b, d)
    got = attempted(fn, z.clone(), generator(0))
    if got is NOT_ATTEMPTED:
        return
    rows = _sources(got, z)
    moved = [not torch.equal(rows[:, j], torch.arange(b)) for j in range(d)]
    if not any(moved):
        raise AssertionError("it looks like no permutation: the output is the input")
    if not all(moved):
        raise AssertionError(f"it looks like only some columns permuted ({sum(moved)} of {d}); permute every latent")
    if all(torch.equal(rows[:, j], rows[:, 0]) for j in range(d)):
        raise AssertionError("it looks like one permutation for every column (the rows shuffled): each latent needs "
                             "its own permutation, else the samples keep q(z)'s dependencies")
    again, other = _sources(fn(z.clone(), generator(0)), z), _sources(fn(z.clone(), generator(1)), z)
    if not torch.equal(again, rows) or torch.equal(other, rows):
        raise AssertionError("it looks like the generator ignored: the same generator seed must give the same "
                             "permutations and another seed other ones")
    passed("permute_dims", "each of 6 latents permuted over a batch of 40 by its own permutation, drawn from the "
           "generator (as sbdlib.training.objectives.permute_dims)")


# ------------------------------------------------------------------------------ TC estimate


def _tc_mistakes() -> list[tuple[str, Callable[..., Any]]]:
    """The typical wrong estimates, as functions of ``(logits,)``."""
    return [
        ("the columns swapped: column 0 is the class 'a sample of q(z)', so take logit 0 minus logit 1",
         lambda lg: -tc_estimate(lg)),
        ("the difference of the softmax probabilities; the log density ratio is the difference of the LOGITS",
         lambda lg: (lg.softmax(1)[:, 0] - lg.softmax(1)[:, 1]).mean()),
        ("the sum over the batch; the estimate is the mean", lambda lg: (lg[:, 0] - lg[:, 1]).sum()),
        ("the mean of logit 0 alone; subtract logit 1", lambda lg: lg[:, 0].mean()),
        ("the mean log-probability of class 0; take the log RATIO of the two classes",
         lambda lg: lg.log_softmax(1)[:, 0].mean()),
    ]


def check_tc_estimate(fn: Callable[..., Any]) -> None:
    """Check ``fn(logits [B, 2]) -> float``: the mean over the batch of logit 0 minus logit 1."""
    g = generator(12)
    cases = [(torch.randn(32, 2, generator=g) * 2 + torch.tensor([1.0, -0.5]), "32 samples of q(z)"),
             (torch.randn(5, 2, generator=g).double(), "5 samples, float64")]
    for logits, case in cases:
        got = attempted(fn, logits.clone())
        if got is NOT_ATTEMPTED:
            return
        compare("your tc_estimate", got, tc_estimate(logits), (logits,), _tc_mistakes(), case=case)
    passed("tc_estimate", "matches sbdlib.training.objectives.tc_estimate (batch mean of the logit difference)")
