"""Checkers of notebook 13 (objects): the alpha compositing of the slots, and the foreground ARI."""

from __future__ import annotations

from typing import Any, Callable

import torch

from sbdlib.course.exercises._checking import NOT_ATTEMPTED, attempted, compare, generator, passed
from sbdlib.metrics import foreground_ari
from sbdlib.models.slots import composite

__all__ = ["check_composite", "check_foreground_ari"]


# ------------------------------------------------------------------------------- compositing


def _library_image(out: torch.Tensor) -> torch.Tensor:
    """The library's composite image of per-slot outputs ``[B, K, C + 1, H, W]``."""
    return composite(out)[0]


def _composite_mistakes() -> list[tuple[str, Callable[..., torch.Tensor]]]:
    """The typical wrong mixtures, as functions of the per-slot outputs ``[B, K, C + 1, H, W]``."""
    def mix(out: torch.Tensor, masks: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        return (masks * rgb).sum(dim=1)

    rgb = lambda out: out[:, :, :-1]  # noqa: E731
    alpha = lambda out: out[:, :, -1:]  # noqa: E731
    return [
        ("a softmax over the pixels (or channels); the masks are a softmax over the slots (dim 1), "
         "so that they sum to one at every pixel",
         lambda out: mix(out, torch.softmax(alpha(out).flatten(3), -1).reshape(alpha(out).shape), rgb(out))),
        ("a sigmoid of each alpha on its own; the slots must compete: softmax over the slots",
         lambda out: mix(out, torch.sigmoid(alpha(out)), rgb(out))),
        ("a sigmoid on the RGB; in this recipe the slots paint in [-1, 1] and their RGB is linear, "
         "only the alphas are squashed (softmax over the slots)",
         lambda out: mix(out, torch.softmax(alpha(out), 1), torch.sigmoid(out[:, :, :-1]))),
        ("the mean over the slots instead of the sum of masks x RGB",
         lambda out: (torch.softmax(alpha(out), 1) * rgb(out)).mean(dim=1)),
        ("the alpha taken from the first channel; it is the last one (RGB first, then alpha)",
         lambda out: mix(out, torch.softmax(out[:, :, :1], 1), out[:, :, 1:])),
    ]


def check_composite(fn: Callable[..., Any]) -> None:
    """Check ``fn(slot_outputs [B, K, C + 1, H, W]) -> image [B, C, H, W]``: linear RGB mixed by a softmax over slots."""
    g = generator(13)
    cases = [(torch.randn(2, 3, 4, 5, 6, generator=g) * 3, "B=2, K=3 slots, RGB + alpha, 5 x 6"),
             (torch.randn(1, 5, 2, 4, 4, generator=g), "one image, K=5, one colour channel + alpha")]
    for out, case in cases:
        got = attempted(fn, out.clone())
        if got is NOT_ATTEMPTED:
            return
        if isinstance(got, (tuple, list)):
            got = got[0]  # an (image, masks, ...) tuple: its image
        compare("your composite", got, _library_image(out), (out,), _composite_mistakes(), case=case)
    passed("composite", "matches sbdlib.models.slots.composite (masks softmaxed over the slots, linear RGB)")


# ------------------------------------------------------------------------------------ the ARI


def _pairs(n: torch.Tensor) -> torch.Tensor:
    return n * (n - 1) / 2


def _ari_with_background(true: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    """The ARI over every pixel, background included (what "foreground" leaves out)."""
    return foreground_ari(true + 1, pred)


def _rand_index(true: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    """The plain Rand index over foreground pairs: agreement without the chance correction."""
    out = []
    for t, p in zip(true, pred):
        keep = t > 0
        t, p = t[keep], p[keep]
        same_t = (t[:, None] == t[None]).double()
        same_p = (p[:, None] == p[None]).double()
        off = ~torch.eye(len(t), dtype=torch.bool)
        out.append(((same_t == same_p) & off).sum() / off.sum().clamp_min(1))
    return torch.stack(out).double()


def _ari_mistakes() -> list[tuple[str, Callable[..., torch.Tensor]]]:
    """The typical wrong ARIs, as functions of ``(true [N, P], pred [N, P])``."""
    return [
        ("the background pixels counted; the foreground ARI leaves out every pixel whose true label is 0",
         _ari_with_background),
        ("the Rand index without the chance correction (ARI = (index - expected) / (max - expected))", _rand_index),
        ("one ARI over all images pooled; the metric is one ARI per image, [N]",
         lambda t, p: foreground_ari(t.reshape(1, -1), p.reshape(1, -1)).expand(len(t))),
    ]


def check_foreground_ari(fn: Callable[..., Any]) -> None:
    """Check ``fn(true_labels [N, P], pred_labels [N, P]) -> [N]``: the adjusted Rand index over foreground pixels."""
    g = generator(7)
    true = torch.randint(0, 4, (6, 40), generator=g)
    noisy = torch.where(torch.rand(6, 40, generator=g) < 0.3, torch.randint(0, 5, (6, 40), generator=g), true)
    renamed = torch.tensor([3, 0, 2, 1])[true]  # the same partition under other names
    cases = [(true, noisy, "6 images of 40 pixels, 30% of labels scrambled"),
             (true, renamed, "the right partition under other label names: ARI 1"),
             (true, torch.zeros_like(true), "everything in one slot: ARI 0")]
    for t, p, case in cases:
        got = attempted(fn, t.clone(), p.clone())
        if got is NOT_ATTEMPTED:
            return
        compare("your foreground_ari", got, foreground_ari(t, p), (t, p), _ari_mistakes(), case=case)
    passed("foreground_ari", "matches sbdlib.metrics.foreground_ari (noisy, renamed and one-slot predictions)")
