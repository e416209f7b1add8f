"""A fingerprint of what sbdlib computes, to show that a refactor changed nothing.

Run it on the code before a change and after, and compare the two files byte for byte::

    python benchmarks/fingerprint.py /tmp/before.json    # on the old checkout
    python benchmarks/fingerprint.py /tmp/after.json     # on the new one
    cmp /tmp/before.json /tmp/after.json

It records, as SHA-256 prefixes of the exact bytes and ``repr`` of every float:

* the images and factors of every procedural dataset and of notebook 13's scenes;
* three experiments trained at the quick scale into a temporary folder (circles-xy seeds 0-1,
  factorvae seed 0, sprites-ablations seed 0): every checkpoint's weights, optimiser state and
  history, and every results row;
* ``train`` in fp32 and with bf16 autocast forced (20 steps of the SBD VAE): weights and history;
* notebook 13's slot model, both decoders, trained at the quick scale: checkpoint and evaluation;
* the first row of every shipped results table and of every shipped objects group, evaluated again.

Timing fields (wall-clock seconds, images per second) are left out: they differ between runs.
The precision is fixed, fp32 (``SBDLIB_CPU_BF16=none``) but where bf16 is forced, and one thread
runs, so that the choice of precision, which on a CPU with native bf16 depends on a timing, cannot
differ between the two runs. About a minute on a 2-core CPU (64 s on a 2-core Xeon).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ["SBDLIB_CPU_BF16"] = "none"  # before sbdlib decides anything about precision

import torch  # noqa: E402

from sbdlib import experiments  # noqa: E402
from sbdlib.data import DATASET_NAMES, get_dataset  # noqa: E402
from sbdlib.experiments import object_rows, object_runs  # noqa: E402
from sbdlib.experiments.results import read_results  # noqa: E402
from sbdlib.models import VAE  # noqa: E402
from sbdlib.scales import scale  # noqa: E402
from sbdlib.training import train  # noqa: E402

TIMING_WORDS = ("time", "second", "per_s", "wall", "date", "path", "host")  # keys left out
EXPERIMENTS = (("circles-xy", [0, 1]), ("factorvae", [0]), ("sprites-ablations", [0]))
TRAIN_STEPS = 20
DIGEST_CHARS = 16


def digest(t: torch.Tensor) -> str:
    """The first characters of the SHA-256 of a tensor's bytes."""
    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:DIGEST_CHARS]


def plain(x: Any) -> Any:
    """``x`` as JSON: tensors digested, floats as their repr, timing fields dropped."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in sorted(x.items(), key=lambda kv: str(kv[0]))
                if not any(w in str(k) for w in TIMING_WORDS)}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, torch.Tensor):
        return digest(x)
    if isinstance(x, float):
        return repr(x)
    if isinstance(x, (int, str, bool)) or x is None:
        return x
    return repr(type(x))


def checkpoint(path: Path) -> Any:
    """Every entry of a checkpoint, loaded without running pickled code."""
    return plain(torch.load(path, weights_only=True, map_location="cpu"))


def fingerprint() -> dict[str, Any]:
    """Everything listed in the module docstring, by name."""
    fp: dict[str, Any] = {}
    for name in DATASET_NAMES:
        if not name.endswith("_file"):  # the file readers need files this machine may not have
            ds = get_dataset(name)
            fp[f"data/{name}"] = plain([ds.eval_set(64, seed=3), ds.sample(16, seed=5)])
    quick = object_runs.object_settings("quick")
    scenes = object_runs.scenes_for(quick)
    fp["data/scenes"] = plain([scenes.sample(8, seed=1), scenes.eval_set(8, seed=2)])

    with tempfile.TemporaryDirectory() as tmp:
        for experiment, seeds in EXPERIMENTS:
            store = Path(tmp) / experiment
            rows = experiments.run_experiment(experiment, seeds, scale=scale("quick"), progress="none",
                                              storage=str(store), device="cpu")
            fp[f"rows/{experiment}"] = plain(rows)
            for path in sorted(store.rglob("*.pt")):
                fp[f"checkpoint/{experiment}/{path.name}"] = checkpoint(path)
        for amp in (False, True):
            torch.manual_seed(0)
            vae = VAE("sbd")
            history = train(vae, get_dataset("circles/xy"), steps=TRAIN_STEPS, batch_size=8, seed=0, progress="none",
                            amp=amp)
            fp[f"train/amp={amp}"] = plain({"weights": vae.state_dict(), "history": vars(history)})
        for decoder in ("sbd", "deconv"):
            path = Path(tmp) / f"objects_{decoder}.pt"
            object_runs.train_objects(decoder, 0, quick, path=path)
            model, _ = object_runs.load_object_model(path)
            fp[f"objects/{decoder}"] = {"checkpoint": checkpoint(path),
                                        "evaluation": plain(object_runs.evaluate_objects(model, scenes, eval_size=64))}

    for table in sorted(experiments.RESULTS_DIR.glob("*.csv")):
        row = read_results(table)[0]
        vae = experiments.load_run(row, device="cpu")
        fp[f"shipped/{table.name}"] = plain(experiments.evaluate_run(vae, experiments.row_spec(row), scale(row["scale"]),
                                                                     seed=experiments.EVAL_SEED))
    rows = object_runs.read_object_results(object_runs.object_results_path("course"))
    for (decoder, variant, steps), members in object_rows.groups(rows).items():
        row = members[0]
        budget = object_runs.LONG if steps > object_runs.OBJECT_SETTINGS[row["scale"]].steps else ""
        model, _ = object_runs.load_object_model(object_runs.object_checkpoint_path(
            decoder, row["seed"], row["scale"], budget=budget, variant=variant))
        settings = object_runs.budget_settings(row["scale"], budget, variant)
        fp[f"shipped-objects/{decoder}/{variant}/{steps}"] = plain(object_runs.evaluate_objects(
            model, object_runs.scenes_for(settings), eval_size=settings.eval_size))
    return fp


def main() -> None:
    """Write the fingerprint to the path given."""
    if len(sys.argv) != 2:
        sys.exit("usage: python benchmarks/fingerprint.py OUT.json")
    torch.set_num_threads(1)
    fp = fingerprint()
    Path(sys.argv[1]).write_text(json.dumps(fp, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(fp)} entries to {sys.argv[1]}")


if __name__ == "__main__":
    main()
