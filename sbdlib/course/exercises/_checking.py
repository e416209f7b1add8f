"""What every checker shares: call the learner's code, say "correct", or name the likely mistake.

A checker calls the learner's function through :func:`attempted`: a skeleton that still
raises ``NotImplementedError`` prints one "not attempted yet" line and the checker returns,
so a notebook runs top to bottom before any exercise is solved. A wrong answer raises
``AssertionError``; :func:`compare` first tries the known wrong variants of the exercise
(each a small function computing what a typical mistake computes) and names the one that
matches, else reports the largest error and the shapes.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

ATOL = 1e-5  # absolute tolerance of a value comparison (float32 round-off of small sums)
RTOL = 1e-4  # relative tolerance of a value comparison
Mistake = tuple[str, Callable[..., Any]]  # (what the mistake is, a function computing its result)


class _NotAttempted:
    """The value :func:`attempted` returns for a skeleton that raises ``NotImplementedError``."""

    def __repr__(self) -> str:
        return "NOT_ATTEMPTED"

    def __bool__(self) -> bool:
        return False


NOT_ATTEMPTED = _NotAttempted()


def name_of(fn: Any) -> str:
    """A readable name for a function, class or module instance."""
    return getattr(fn, "__name__", None) or type(fn).__name__


def not_attempted(fn: Any) -> _NotAttempted:
    """Print the "not attempted yet" line for ``fn`` and return :data:`NOT_ATTEMPTED`."""
    print(f"not attempted yet: {name_of(fn)} raises NotImplementedError "
          "(write it, then run this cell again; the notebook goes on with the library's version)")
    return NOT_ATTEMPTED


def attempted(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, or :data:`NOT_ATTEMPTED` (after one printed line) if it raises
    ``NotImplementedError``. Other exceptions propagate: they are the learner's bugs to see."""
    if not callable(fn):
        raise TypeError(f"expected a function (or class) to check, got {type(fn).__name__}; "
                        "pass the function itself, e.g. check_x(my_fn), not my_fn(...)")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        return not_attempted(fn)


def mine_or_library(mine: Callable[..., Any], library: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``mine(*args, **kwargs)`` if it is written, else ``library(*args, **kwargs)``; prints which one ran.

    For cells that go on with the learner's code when there is some (e.g. training their decoder).
    """
    try:
        out = mine(*args, **kwargs)
        print(f"using your {name_of(mine)}")
        return out
    except NotImplementedError:
        print(f"{name_of(mine)} is not written yet: using the library's {name_of(library)}")
        return library(*args, **kwargs)


def passed(name: str, detail: str) -> None:
    """Print the one "correct" line of a checker that found nothing wrong."""
    print(f"correct: {name} — {detail}")


def as_tensor(value: Any, name: str) -> torch.Tensor:
    """``value`` as a float64 CPU tensor (tensors, numpy arrays and Python numbers), or an
    AssertionError saying what came back instead."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", torch.float64)
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise AssertionError(f"{name} returned {type(value).__name__}; expected a tensor or a number") from None


def close(a: torch.Tensor, b: torch.Tensor, atol: float = ATOL, rtol: float = RTOL) -> bool:
    """Same shape and equal values within tolerance."""
    return a.shape == b.shape and bool(torch.allclose(a, b, atol=atol, rtol=rtol, equal_nan=False))


def matching_mistake(got: Any, args: Sequence[Any], mistakes: Sequence[Mistake], *,
                     atol: float = ATOL, rtol: float = RTOL) -> str | None:
    """The name of the first known mistake whose result on ``args`` equals ``got``, else None."""
    got_t = as_tensor(got, "the function")
    for mistake, wrong in mistakes:
        expected_wrong = as_tensor(wrong(*args), mistake)
        if close(got_t, expected_wrong, atol, rtol):
            return mistake
    return None


def compare(name: str, got: Any, expected: Any, args: Sequence[Any] = (), mistakes: Sequence[Mistake] = (), *,
            case: str = "", hint: str = "", atol: float = ATOL, rtol: float = RTOL) -> None:
    """Raise ``AssertionError`` unless ``got`` equals ``expected`` (shape and values).

    Args:
        name: The learner's function, for the message.
        got: What it returned on ``args``.
        expected: What the library returns on ``args``.
        args: The inputs, passed to each mistake's function.
        mistakes: ``(what the mistake is, wrong function)`` pairs: a match is reported by name.
        case: A few words on the inputs (e.g. "B=3, k=4, 5 x 7"), for the message.
        hint: A last sentence for the generic mismatch message.
        atol, rtol: Tolerances of the value comparison.
    """
    got_t, exp_t = as_tensor(got, name), as_tensor(expected, "the library")
    if close(got_t, exp_t, atol, rtol):
        return
    where = f" (case: {case})" if case else ""
    mistake = matching_mistake(got_t, args, mistakes, atol=atol, rtol=rtol)
    if mistake is not None:
        raise AssertionError(f"{name} is not right{where}: it looks like {mistake}.")
    if got_t.shape != exp_t.shape:
        raise AssertionError(f"{name} returned shape {list(got_t.shape)}, expected {list(exp_t.shape)}{where}.")
    err = (got_t - exp_t).abs()
    err = err[~torch.isnan(err)].max().item() if (~torch.isnan(err)).any() else float("nan")
    raise AssertionError(f"{name} is not right{where}: its output (shape {list(got_t.shape)}) differs from the "
                         f"library's by up to {err:.3g}; none of the usual mistakes matches.{' ' + hint if hint else ''}")


def generator(seed: int) -> torch.Generator:
    """A CPU generator for a checker's random cases (the global RNG is left alone)."""
    return torch.Generator().manual_seed(seed)
