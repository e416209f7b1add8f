"""Results rows: one trained and evaluated run as a row, and a row back to its spec, checkpoint and model."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from sbdlib.devices import default_device
from sbdlib.experiments.paths import checkpoint_path
from sbdlib.experiments.specs import EXPERIMENTS, RunSpec
from sbdlib.metrics import metric_columns
from sbdlib.models import VAE, row_model_key
from sbdlib.scales import Scale
from sbdlib.scales import scale as current_scale
from sbdlib.training.checkpoints import load_checkpoint
from sbdlib.training.history import History


def result_row(spec: RunSpec, seed: int, scale: Scale, vae: VAE, history: History, metrics: dict,
               eval_seconds: float) -> dict[str, Any]:
    """One row of the results format for a trained and evaluated run."""
    return dict(dataset=spec.dataset_label,
                decoder=spec.decoder, variant=spec.variant, objective=spec.objective, beta=spec.beta, seed=seed,
                scale=scale.name, image_size=vae.image_size, width=vae.config["width"], likelihood=vae.likelihood,
                steps=len(history), batch_size=scale.batch_size, lr=scale.lr,
                **{c.name: metrics[c.name] for c in metric_columns()}, diverged=int(bool(history.diverged)),
                train_seconds=history.seconds, eval_seconds=eval_seconds, device=history.device or "cpu",
                precision=history.precision or "fp32")


def check_row(row: dict[str, Any], payload: dict[str, Any], path: Path | str) -> None:
    """One clear error when a checkpoint's settings disagree with its results row."""
    config, history = payload["config"], payload["history"]
    expected = {"seed": payload.get("seed"), "decoder": config["decoder"], "beta": config["beta"],
                "batch_size": payload.get("batch_size"), "lr": payload.get("lr"), "steps": len(history["step"]),
                "image_size": config["image_size"], "width": config["width"]}
    bad = {k: (row[k], v) for k, v in expected.items() if v is not None and row[k] != v
           and not (isinstance(v, float) and math.isclose(row[k], v, rel_tol=1e-6))}
    if bad:
        raise ValueError(f"{path} disagrees with its results row in {sorted(bad)} as (row, checkpoint) {bad}; the table "
                         f"and the checkpoints come from different runs: regenerate both with `make results`")


def row_spec(row: dict[str, Any]) -> RunSpec:
    """The registered spec (:data:`EXPERIMENTS`) a results row was trained from, found by lookup.

    A spec matches when its dataset label, decoder, variant, objective, beta, image size and
    width at the row's scale are the row's; several matches (one model at two budgets) are
    told apart by the steps the row trained (a run that diverged trained fewer: the spec
    whose planned steps cover them and whose checkpoint exists).
    """
    s = current_scale(row["scale"])
    same = [spec for spec in dict.fromkeys(spec for specs in EXPERIMENTS.values() for spec in specs)
            if (spec.dataset_label, spec.decoder, spec.variant, spec.objective, spec.size(s), spec.scale_for(s).width)
            == (row["dataset"], row["decoder"], row["variant"] or "", row["objective"], row["image_size"], row["width"])
            and math.isclose(spec.beta, row["beta"], rel_tol=1e-9)]
    for candidates in ([p for p in same if p.scale_for(s).steps == row["steps"]],
                       [p for p in same if p.scale_for(s).steps >= row["steps"]
                        and checkpoint_path(p, int(row["seed"]), s, shipped=True).exists()]):
        if len(candidates) == 1:
            return candidates[0]
    raise ValueError(f"no single registered spec matches the results row {row['dataset']} {row_model_key(row)} "
                     f"beta {row['beta']} seed {row['seed']} ({len(same)} candidates); was it trained from a spec "
                     f"of sbdlib.experiments.EXPERIMENTS?")


def row_checkpoint(row: dict[str, Any], *, shipped: bool = True) -> Path:
    """The checkpoint behind a results row: its registered spec (:func:`row_spec`) at the row's scale."""
    return checkpoint_path(row_spec(row), int(row["seed"]), current_scale(row["scale"]), shipped=shipped)


def load_run(row: dict[str, Any], scale: Scale | None = None, device: str | torch.device | None = None) -> VAE:
    """The shipped model behind a results row, checked against the row (:func:`check_row`)."""
    path = row_checkpoint(row)
    vae, payload = load_checkpoint(path, device=device if device is not None else default_device(),
                                   require_finished=True)
    check_row(row, payload, path)
    return vae
