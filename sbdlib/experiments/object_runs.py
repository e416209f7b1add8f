"""Training, evaluating and shipping the object-centric autoencoders of notebook 13.

One run is a :class:`sbdlib.models.slots.SlotAutoencoder` with one per-slot decoder (``"sbd"`` or
``"deconv"``) trained from a seed on :class:`sbdlib.data.Scenes` at a scale's
:class:`ObjectSettings`. :func:`train_objects` trains (or exactly resumes) one run with
checkpoints written atomically; :func:`evaluate_objects` scores it by the foreground ARI of
its masks (:func:`sbdlib.metrics.foreground_ari`) and its reconstruction error on a held-out
set with its own generator; :func:`run_objects` trains and evaluates seeds ``0..N-1`` of each
decoder and writes one results table (:data:`OBJECT_COLUMNS`, :func:`sbdlib.experiments.results.write_table`).

The recipe is the object-discovery one of Locatello et al.'s published code: images and targets
in [-1, 1], linear per-slot RGB (both in :mod:`sbdlib.models.slots`), the squared error in those units
(:func:`reconstruction_loss`), Adam with a linear warm-up, and the gradient's global norm clipped
(:attr:`ObjectSettings.clip_norm`; clipping is the usual stabiliser of its follow-ups, and 1.0 is
inside the range they report, 0.05 to 5).

:data:`OBJECT_VARIANTS` are the controlled changes of notebook 13's experiment on why SBD slots share
objects, each one setting changed and nothing else; the ``long`` budget continues the same runs.

The command line ``python -m sbdlib.experiments.object_runs --decoders sbd deconv --seeds 0-4 --ship`` lives
in :mod:`sbdlib.experiments.cli`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from sbdlib.checks import check_int, check_seed, seeded_generator
from sbdlib.data import Scenes
from sbdlib.devices import check_batch_fits, resolve_device
from sbdlib.experiments import paths
from sbdlib.experiments.results import read_table, write_table
from sbdlib.metrics import foreground_ari, object_ownership
from sbdlib.models.slots import SLOT_DECODERS, SlotAutoencoder, to_signed
from sbdlib.scales import Scale
from sbdlib.scales import scale as current_scale
from sbdlib.training.checkpoints import read_checkpoint, save_checkpoint

EVAL_SEED = 1234                  # the held-out scenes and the slots' noise at evaluation
NOISE_SEED_OFFSET = 1_000_003     # the slots' initial noise during training: its own stream, apart from the data's
HISTORY_POINTS = 20               # loss and ARI recorded this many times over a run
HISTORY_EVAL_SIZE = 256           # held-out scenes of the ARI recorded during training
EXPERIMENT = "objects"            # the results table: data/results/objects/objects_<scale>.csv
OBJECT_SEEDS = {"quick": 2, "course": 10, "paper": 10}  # seeds per per-slot decoder at each scale (the shipped course runs: 0-9)
# A second, longer budget at the course scale: the same runs continued (the learning-rate schedule
# depends on the step only, so continuing a finished run is training it longer from the start).
LONG_STEPS = {"quick": 24, "course": 6000}
LONG = "long"
CLIP_NORM = 1.0                   # the gradient's global norm is clipped to this at every step
# The controlled variants (name -> what it tests, the one setting it changes). Decided before
# any of them ran; each trains the SBD slot decoder, seeds 0..VARIANT_SEEDS-1.
OBJECT_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "": ("the course recipe", {}),
    "learned-init": ("symmetry: K learned initial slots, distinct from the first step, instead of K draws "
                     "from one Gaussian", {"learned_init": True}),
    "wide-decoder": ("capacity: the per-slot decoder twice as wide (the encoder unchanged)",
                     {"decoder_width": 32}),
}
VARIANT_SEEDS = {"quick": 1, "course": 5, "paper": 10}
# The experiment's runs beyond the course budget, as (decoders, budget, variant): the variants train
# the SBD; the longer budget continues both decoders' runs (the DeConv's as its control).
EXPERIMENT_RUNS = ((("sbd",), "", "learned-init"), (("sbd",), "", "wide-decoder"), (("sbd", "deconv"), LONG, ""))


@dataclass(frozen=True)
class ObjectSettings:
    """What one object-centric run trains with at a scale.

    Attributes:
        image_size: Side of the scenes' images.
        min_objects, max_objects: Discs per scene.
        num_slots: K, the slots (one more than the most objects: the background takes one).
        dim: Size of a slot.
        width: Channels of the encoder's and the per-slot decoder's hidden layers.
        iterations: Slot Attention's refinement steps.
        steps, batch_size, lr: Adam's schedule: ``lr`` after a linear warm-up of ``warmup``
            steps, halved every ``half_life`` steps.
        eval_size: Held-out scenes of the final evaluation.
        clip_norm: The gradient's global norm is clipped to this at every step.
        learned_init: K learned initial slots instead of K draws from one learned Gaussian.
        decoder_width: Channels of the per-slot decoder where they differ from ``width``.
    """

    image_size: int
    min_objects: int
    max_objects: int
    num_slots: int
    dim: int
    width: int
    iterations: int
    steps: int
    batch_size: int
    lr: float
    warmup: int
    half_life: int
    eval_size: int
    clip_norm: float = CLIP_NORM
    learned_init: bool = False
    decoder_width: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (checkpoints and results rows)."""
        return dataclasses.asdict(self)


OBJECT_SETTINGS: dict[str, ObjectSettings] = {
    "quick": ObjectSettings(image_size=32, min_objects=1, max_objects=2, num_slots=3, dim=16, width=8, iterations=2,
                            steps=12, batch_size=8, lr=4e-4, warmup=4, half_life=100_000, eval_size=32),
    "course": ObjectSettings(image_size=32, min_objects=1, max_objects=2, num_slots=3, dim=32, width=16,
                             iterations=3, steps=2000, batch_size=16, lr=4e-4, warmup=500, half_life=100_000,
                             eval_size=1000),
    # Locatello et al. (2020)'s object-discovery schedule (batch 64, lr 4e-4, 10,000 warm-up steps,
    # halved every 100,000, 500,000 steps), on 64 px scenes of up to 4 discs.
    "paper": ObjectSettings(image_size=64, min_objects=1, max_objects=4, num_slots=5, dim=64, width=64, iterations=3,
                            steps=500_000, batch_size=64, lr=4e-4, warmup=10_000, half_life=100_000, eval_size=5000),
}


def object_settings(scale: Scale | str | None = None) -> ObjectSettings:
    """The object-centric settings of a scale (default: ``SBDLIB_SCALE``)."""
    name = scale.name if isinstance(scale, Scale) else current_scale(scale).name
    return OBJECT_SETTINGS[name]


def scenes_for(settings: ObjectSettings) -> Scenes:
    """The scenes a run trains and is evaluated on."""
    return Scenes(settings.image_size, min_objects=settings.min_objects, max_objects=settings.max_objects)


def build_model(decoder: str, settings: ObjectSettings, seed: int) -> SlotAutoencoder:
    """A fresh model; its weights drawn after ``torch.manual_seed(seed)`` (the library's convention)."""
    if decoder not in SLOT_DECODERS:
        raise ValueError(f"unknown slot decoder {decoder!r}; expected one of {SLOT_DECODERS}")
    check_seed(seed)
    torch.manual_seed(seed)
    return SlotAutoencoder(decoder, num_slots=settings.num_slots, dim=settings.dim, width=settings.width,
                           image_size=settings.image_size, iterations=settings.iterations,
                           learned_init=settings.learned_init, decoder_width=settings.decoder_width)


def learning_rate(step: int, settings: ObjectSettings) -> float:
    """The learning rate at ``step`` (1-based): linear warm-up, then halved every ``half_life`` steps."""
    return settings.lr * min(1.0, step / settings.warmup) * 0.5 ** (step / settings.half_life)


def squared_errors(recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per image, the squared error in the recipe's [-1, 1] units: ``[B, C, H, W]`` (both in [0, 1]) -> ``[B]``."""
    return ((to_signed(recon) - to_signed(x)) ** 2).sum(dim=(1, 2, 3))


def reconstruction_loss(recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The training loss: :func:`squared_errors` averaged over the batch."""
    return squared_errors(recon, x).mean()


def predicted_labels(masks: torch.Tensor) -> torch.Tensor:
    """Each pixel's slot: the argmax of the masks ``[B, K, 1, H, W]`` -> ``[B, H*W]``."""
    return masks[:, :, 0].flatten(2).argmax(dim=1)


def object_slot_shares(masks: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per object, how its pixels are split between the slots: ``masks [B, K, 1, H, W]``, ``labels [B, H*W]``.

    Returns:
        ``won [M, K]``, the share of each object's pixels that each slot wins (the argmax of the
        masks), and ``strength [M, K]``, each slot's mean mask over the object's pixels; one row
        per object present (true label > 0): every image's first object, then every second one.
    """
    b, k = masks.shape[:2]
    flat = masks[:, :, 0].flatten(2)  # [B, K, P]
    if labels.shape != (b, flat.shape[2]):
        raise ValueError(f"labels must be [B, H*W] = {(b, flat.shape[2])}, got {tuple(labels.shape)}")
    winners = torch.nn.functional.one_hot(predicted_labels(masks), k).transpose(1, 2).to(flat.dtype)  # [B, K, P]
    won, strength = [], []
    for obj in range(1, int(labels.max()) + 1 if labels.numel() else 1):
        inside = (labels == obj).to(flat.dtype)[:, None]  # [B, 1, P]
        size = inside.sum(2)  # [B, 1]
        present = size[:, 0] > 0
        won.append(((winners * inside).sum(2) / size.clamp_min(1))[present])
        strength.append(((flat * inside).sum(2) / size.clamp_min(1))[present])
    empty = masks.new_zeros(0, k)
    return (torch.cat(won) if won else empty), (torch.cat(strength) if strength else empty)


@torch.no_grad()
def evaluate_objects(model: SlotAutoencoder, scenes: Scenes, *, eval_size: int, seed: int = EVAL_SEED,
                     chunk: int = 250) -> dict[str, Any]:
    """Foreground ARI and reconstruction error on ``eval_size`` held-out scenes (their own generator).

    Returns:
        ``{"ari": mean, "ari_median", "ari_per_image": [N] tensor, "mse": squared error per image in
        [-1, 1] units, "ownership": mean share of an object's pixels won by one slot}``.
    """
    eval_size = check_int(eval_size, "eval_size")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    images, labels, _ = scenes.eval_set(eval_size, seed=seed, device=device)
    noise = seeded_generator(seed, device)
    aris, errors, owned = [], [], []
    for start in range(0, eval_size, chunk):
        x = images[start:start + chunk]
        out = model(x, noise)
        predicted = predicted_labels(out["masks"])
        aris.append(foreground_ari(labels[start:start + chunk], predicted))
        owned.append(object_ownership(labels[start:start + chunk], predicted))
        errors.append(squared_errors(out["recon"], x).cpu())
    model.train(was_training)
    ari = torch.cat(aris)
    return {"ari": float(ari.nanmean()), "ari_median": float(ari.nanmedian()), "ari_per_image": ari,
            "mse": float(torch.cat(errors).mean()), "ownership": float(torch.cat(owned).nanmean())}


def object_checkpoint_name(decoder: str, seed: int, scale_name: str, budget: str = "", variant: str = "") -> str:
    """A run's file name: ``scenes_<decoder>[_<variant>][_<budget>]_s<seed>_<scale>.pt``."""
    parts = [f"scenes_{decoder}", *(p for p in (variant, budget) if p)]
    return f"{'_'.join(parts)}_s{seed}_{scale_name}.pt"


def load_object_model(path: str | os.PathLike, device: str | torch.device = "cpu"
                      ) -> tuple[SlotAutoencoder, dict[str, Any]]:
    """A trained model and its checkpoint's contents (read without running pickled code)."""
    payload = read_checkpoint(path)
    if payload.get("kind") != "objects":
        raise ValueError(f"{path} is not an object-centric checkpoint (written by sbdlib.experiments.object_runs.train_objects)")
    model = SlotAutoencoder(**payload["config"])
    model.load_state_dict(payload["state_dict"])
    return model.to(device), payload


def _continues(payload: dict[str, Any], decoder: str, settings: ObjectSettings) -> bool:
    """Whether a checkpoint is a shorter run of the same model and settings (which training can go on from)."""
    same = {**payload.get("settings", {}), "steps": settings.steps} == settings.as_dict()
    return same and payload.get("decoder") == decoder and int(payload["step"]) <= settings.steps


def train_objects(decoder: str, seed: int, settings: ObjectSettings, *, path: str | os.PathLike | None = None,
                  device: str | torch.device | None = None, progress: Callable[[int, int, dict], None] | None = None,
                  start_from: str | os.PathLike | None = None) -> tuple[SlotAutoencoder, dict[str, Any]]:
    """Train one run (or resume it exactly from ``path``, or load it there if finished).

    ``start_from``: where there is no ``path`` yet, a checkpoint of the same run trained for fewer
    steps, which training continues (a longer budget of the same seeds).

    The data stream is seeded by ``seed``, the slots' initial noise by its own stream, the
    weights by ``torch.manual_seed(seed)``. With a ``path``, a checkpoint (weights, Adam,
    both streams' positions, history) is written atomically ``HISTORY_POINTS`` times and at
    the end, and an interruption (KeyboardInterrupt) saves one first. A non-finite loss stops
    the run and marks it diverged.

    Returns:
        The model and its history ``{"step", "loss", "ari", "seconds", "diverged", "finished"}``.
    """
    check_seed(seed)
    device = resolve_device(device or "cpu")
    model = build_model(decoder, settings, seed).to(device)
    check_batch_fits(model, settings.batch_size, device, image_shape=(3, settings.image_size, settings.image_size))
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    noise = seeded_generator(seed * NOISE_SEED_OFFSET + 1, device)
    history: dict[str, Any] = {"step": [], "loss": [], "ari": [], "seconds": 0.0, "diverged": False,
                               "finished": False}
    start = 0
    source = path if path is not None and Path(path).exists() else start_from
    if source is not None and Path(source).exists():
        payload = read_checkpoint(source)
        if source == start_from and _continues(payload, decoder, settings) and not payload["history"]["diverged"]:
            payload["history"]["finished"] = False  # a shorter run of the same model: go on from it
        elif payload.get("settings") != settings.as_dict() or payload.get("decoder") != decoder:
            raise ValueError(f"{source} holds a run of other settings or another decoder; pass another path or "
                             f"delete it to train afresh")
        model.load_state_dict(payload["state_dict"])
        history = payload["history"]
        if history["finished"] or history["diverged"]:
            return model, history
        optimizer.load_state_dict(payload["optimizer"])
        noise.set_state(payload["noise_state"])
        start = int(payload["step"])
    scenes = scenes_for(settings)
    stream = scenes.stream(settings.batch_size, seed=seed, device=device, skip=start)
    record_every = max(1, math.ceil(settings.steps / HISTORY_POINTS))

    def save(step: int) -> None:
        if path is not None:
            save_checkpoint(path, model, kind="objects", decoder=decoder, seed=seed, settings=settings.as_dict(),
                            step=step, optimizer=optimizer.state_dict(), noise_state=noise.get_state(),
                            history=history)

    began, step, done, window = time.perf_counter(), start, start, []
    noise_before = noise.get_state()
    try:
        for step in range(start + 1, settings.steps + 1):
            noise_before = noise.get_state()
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, settings)
            x = next(stream)
            loss = reconstruction_loss(model(x, noise)["recon"], x)
            if not torch.isfinite(loss):
                history["diverged"] = True
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.clip_norm)
            optimizer.step()
            done = step
            window.append(loss.item())
            if step % record_every == 0 or step == settings.steps:
                ari = evaluate_objects(model, scenes, eval_size=min(HISTORY_EVAL_SIZE, settings.eval_size))["ari"]
                history["step"].append(step)
                history["loss"].append(sum(window) / len(window))
                history["ari"].append(ari)
                window = []
                history["seconds"] += time.perf_counter() - began
                began = time.perf_counter()
                if step < settings.steps:
                    save(step)
                if progress is not None:
                    progress(step, settings.steps, {"loss": history["loss"][-1], "ari": ari})
    except KeyboardInterrupt:
        history["seconds"] += time.perf_counter() - began
        if done < step:  # stopped inside a step: it is redone on resume, with the same noise
            noise.set_state(noise_before)
        save(done)
        where = f"; {path} holds step {done} and the same call resumes it" if path is not None else ""
        raise KeyboardInterrupt(f"{decoder} seed {seed} stopped at step {done} of {settings.steps}{where}") from None
    history["seconds"] += time.perf_counter() - began
    history["finished"] = not history["diverged"]
    save(done)
    return model, history


OBJECT_COLUMNS = ("dataset", "decoder", "variant", "seed", "scale", "image_size", "max_objects", "num_slots", "dim", "width",
                  "steps", "batch_size", "lr", "ari", "ari_median", "ownership", "mse", "diverged", "train_seconds",
                  "device", "precision")
OBJECT_TEXT_COLUMNS = ("dataset", "decoder", "variant", "scale", "device", "precision")
OBJECT_INT_COLUMNS = ("seed", "image_size", "max_objects", "num_slots", "dim", "width", "steps", "batch_size",
                      "diverged")


def object_result_row(decoder: str, seed: int, scale_name: str, settings: ObjectSettings, history: dict[str, Any],
               scores: dict[str, Any], device: torch.device, variant: str = "") -> dict[str, Any]:
    """One row of the objects table (:data:`OBJECT_COLUMNS`)."""
    return dict(dataset="scenes", decoder=decoder, variant=variant, seed=seed, scale=scale_name, image_size=settings.image_size,
                max_objects=settings.max_objects, num_slots=settings.num_slots, dim=settings.dim,
                width=settings.width, steps=history["step"][-1] if history["step"] else 0,
                batch_size=settings.batch_size, lr=settings.lr, ari=scores["ari"], ari_median=scores["ari_median"],
                ownership=scores["ownership"], mse=scores["mse"], diverged=int(history["diverged"]), train_seconds=history["seconds"],
                device=device.type, precision="fp32")


def object_results_path(scale_name: str, *, shipped: bool = True) -> Path:
    """The objects table: ``data/results/objects/objects_<scale>.csv`` (shipped) or the same under ``runs/``.

    A folder of its own: its columns are not the results format's (:data:`OBJECT_COLUMNS`).
    """
    folder = paths.RESULTS_DIR if shipped else paths.RUNS_DIR / "results"
    return folder / EXPERIMENT / f"{EXPERIMENT}_{scale_name}.csv"


def object_checkpoint_path(decoder: str, seed: int, scale_name: str, *, shipped: bool = True, budget: str = "",
                    variant: str = "") -> Path:
    """A run's checkpoint: ``data/checkpoints`` (shipped) or ``runs/checkpoints``."""
    return paths.checkpoints_folder(shipped) / object_checkpoint_name(decoder, seed, scale_name, budget, variant)


def read_object_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of an objects table, typed per column."""
    return read_table(path, OBJECT_COLUMNS, int_columns=OBJECT_INT_COLUMNS, text_columns=OBJECT_TEXT_COLUMNS)


def budget_settings(scale_name: str, budget: str = "", variant: str = "") -> ObjectSettings:
    """The settings of a run: the scale's, changed by a :data:`OBJECT_VARIANTS` entry, and (``"long"``) with :data:`LONG_STEPS` steps."""
    settings = OBJECT_SETTINGS[scale_name]
    if variant not in OBJECT_VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {sorted(OBJECT_VARIANTS)}")
    if budget and (budget != LONG or scale_name not in LONG_STEPS):
        raise ValueError(f"budget {budget!r} at scale {scale_name!r}: expected '' or {LONG!r} at "
                         f"{' or '.join(LONG_STEPS)} scale")
    changes = dict(OBJECT_VARIANTS[variant][1], **({"steps": LONG_STEPS[scale_name]} if budget else {}))
    return dataclasses.replace(settings, **changes)


def run_objects(decoders: Sequence[str], seeds: Sequence[int], *, scale: Scale | str | None = None,
                ship: bool = False, device: str | torch.device | None = None,
                progress: Callable[[int, int, dict], None] | None = None, budget: str = "",
                variant: str = "") -> list[dict[str, Any]]:
    """Train (or load) and evaluate every decoder's seeds; rows merged into the objects table after each run.

    ``budget="long"`` continues each seed's run of the scale's budget to :data:`LONG_STEPS` steps;
    ``variant`` names a :data:`OBJECT_VARIANTS` entry.
    """
    s = current_scale(scale.name if isinstance(scale, Scale) else scale)
    settings = budget_settings(s.name, budget, variant)
    for decoder in decoders:
        if decoder not in SLOT_DECODERS:
            raise ValueError(f"unknown slot decoder {decoder!r}; expected one of {SLOT_DECODERS}")
    for seed in seeds:
        check_seed(seed, "each seed")
    device = resolve_device(device or "cpu")
    out = object_results_path(s.name, shipped=ship)
    done = []
    for decoder in decoders:
        for seed in seeds:
            model, history = train_objects(
                decoder, seed, settings, device=device, progress=progress,
                path=object_checkpoint_path(decoder, seed, s.name, shipped=ship, budget=budget, variant=variant),
                start_from=object_checkpoint_path(decoder, seed, s.name, shipped=ship, variant=variant) if budget else None)
            scores = evaluate_objects(model, scenes_for(settings), eval_size=settings.eval_size)
            row = object_result_row(decoder, seed, s.name, settings, history, scores, device, variant)
            done.append(row)
            # Merged into the table as it is now on disk: other runs may have written it meanwhile.
            key = lambda r: (r["variant"], r["steps"], r["decoder"], r["seed"])  # noqa: E731
            rows = {key(r): r for r in (read_object_results(out) if out.exists() else [])}
            rows[key(row)] = row
            write_table(sorted(rows.values(), key=key), out, OBJECT_COLUMNS)
    return done


def shipped_or_run_objects(scale: Scale | str | None = None, *, device: str | torch.device | None = None,
                   progress: Callable[[int, int, dict], None] | None = None) -> list[dict[str, Any]]:
    """The scale's shipped objects table if there is one, else its runs trained (or loaded) in ``runs/``."""
    s = current_scale(scale.name if isinstance(scale, Scale) else scale)
    shipped = object_results_path(s.name, shipped=True)
    if shipped.exists():
        return read_object_results(shipped)
    rows = run_objects(SLOT_DECODERS, range(OBJECT_SEEDS[s.name]), scale=s, device=device, progress=progress)
    for decoders, budget, variant in EXPERIMENT_RUNS:
        if not budget or s.name in LONG_STEPS:
            rows += run_objects(decoders, range(VARIANT_SEEDS[s.name]), scale=s, device=device, progress=progress,
                                budget=budget, variant=variant)
    return rows


def load_object_run(decoder: str, seed: int, scale: Scale | str | None = None, device: str | torch.device = "cpu",
             budget: str = "", variant: str = "") -> tuple[SlotAutoencoder, dict[str, Any]]:
    """A trained run of the scale: the shipped checkpoint if there is one, else the one in ``runs/``."""
    s = current_scale(scale.name if isinstance(scale, Scale) else scale)
    path = object_checkpoint_path(decoder, seed, s.name, shipped=True, budget=budget, variant=variant)
    if not path.exists():
        path = object_checkpoint_path(decoder, seed, s.name, shipped=False, budget=budget, variant=variant)
    if not path.exists():
        extra = (f" --budget {budget}" if budget else "") + (f" --variant {variant}" if variant else "")
        raise FileNotFoundError(f"no run {object_checkpoint_name(decoder, seed, s.name, budget, variant)}: train it with "
                                f"`python -m sbdlib.experiments.object_runs --scale {s.name} --decoders {decoder} --seeds {seed}{extra}`")
    return load_object_model(path, device)


if __name__ == "__main__":  # `python -m sbdlib.experiments.object_runs ...`: the command line lives in sbdlib.experiments.cli
    from sbdlib.experiments.cli import objects_main

    objects_main()
