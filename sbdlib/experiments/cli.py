"""The command line ``python -m sbdlib.experiments EXPERIMENT ...`` (also ``python -m sbdlib.experiments.cli``).

It parses and checks every argument before any training, then runs the experiment here
(:func:`sbdlib.experiments.run_experiment`) or as Ray tasks
(:func:`sbdlib.experiments.distributed.run_experiment_on_ray`): both paths train through
:func:`sbdlib.experiments.run_spec`. The library never imports this module, so the command
line adds no import cycle.
"""

from __future__ import annotations

import argparse
import sys

import torch

from sbdlib.checks import check_int
from sbdlib.devices import resolve_device
from sbdlib.experiments import (DEFAULT_EXPERIMENT, EXPERIMENTS, MAX_POPULATION, experiment_specs, parse_seeds,
                                plan_experiment, run_experiment)
from sbdlib.scales import scale as current_scale


def _parser() -> argparse.ArgumentParser:
    """The command line of ``python -m sbdlib.experiments``."""
    parser = argparse.ArgumentParser(prog="python -m sbdlib.experiments", description=main.__doc__.splitlines()[0])
    parser.add_argument("experiment", nargs="?", default=DEFAULT_EXPERIMENT, choices=sorted(EXPERIMENTS))
    parser.add_argument("--seeds", nargs="+", default=None, help="e.g. 0-9 (default: the scale's seed count)")
    parser.add_argument("--scale", default=None, help="quick, course or paper (default: $SBDLIB_SCALE or course)")
    parser.add_argument("--decoders", nargs="+", default=None, help="only the experiment's models with these decoders")
    parser.add_argument("--retrain", action="store_true", help="train afresh even where checkpoints exist")
    parser.add_argument("--ship", action="store_true", help="write data/ (the shipped artefacts) instead of runs/")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: CUDA when available)")
    parser.add_argument("--max-population", type=int, default=MAX_POPULATION, help="models trained at once")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's choice; 1 when other jobs share the cores)")
    parser.add_argument("--storage", default=None, metavar="PATH_OR_URL",
                        help="checkpoint folder, or an fsspec URL such as s3://bucket/sweep "
                             "(default: runs/checkpoints)")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="run the configurations as Ray tasks: on the cluster at ADDRESS (HOST:PORT, "
                             "ray://HOST:PORT, auto), or with no ADDRESS on the one running here, else a new one here "
                             "(needs pip install -e '.[distributed]')")
    parser.add_argument("--cpus-per-task", type=int, default=1, help="with --ray: CPUs (and torch threads) per task")
    parser.add_argument("--retries", type=int, default=3, help="with --ray: retries of a task whose worker died")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Train (or load) and evaluate an experiment at ``SBDLIB_SCALE`` (or ``--scale``), one population per model.

    Example, the shipped course-scale X-Y circles (``make results``):
    ``python -m sbdlib.experiments circles-xy --scale course --seeds 0-9 --ship``; on Ray:
    ``python -m sbdlib.experiments beta-sweep --scale paper --ray auto --storage s3://bucket/sweep``
    """
    args = _parser().parse_args(argv)
    try:  # every bad input fails here, in one line, before any training
        check_int(args.max_population, "--max-population")
        check_int(args.cpus_per_task, "--cpus-per-task")
        check_int(args.retries, "--retries", minimum=0)
        if args.threads is not None:
            check_int(args.threads, "--threads")
        if args.device is not None:
            resolve_device(args.device)
        s = current_scale(args.scale)
        seeds = parse_seeds(args.seeds) if args.seeds else None
        specs = experiment_specs(args.experiment, args.decoders)
        plan = plan_experiment(args.experiment, seeds, scale=s, ship=args.ship, specs=specs, storage=args.storage)
        if args.ray is not None:
            from sbdlib.experiments import distributed

            if args.threads is not None:
                raise ValueError("--threads is for local runs; with --ray give --cpus-per-task (each task's threads)")
            distributed.require_ray()
            distributed.check_reachable(args.ray)
    except (ValueError, RuntimeError) as exc:
        sys.exit(f"error: {exc}")
    options = dict(scale=s, retrain=args.retrain, ship=args.ship, progress="text", device=args.device,
                   max_population=args.max_population, specs=plan.specs, storage=plan.storage)
    if args.ray is not None:
        try:
            rows = distributed.run_experiment_on_ray(args.experiment, plan.seeds, address=args.ray, **options,
                                                     cpus_per_task=args.cpus_per_task, retries=args.retries)
        except distributed.SetupError as exc:
            sys.exit(f"error: {exc}")
    else:
        if args.threads is not None:
            torch.set_num_threads(args.threads)  # process-wide, so made here, on request, never on import
        try:
            rows = run_experiment(args.experiment, plan.seeds, **options)
        except KeyboardInterrupt as exc:
            sys.exit(f"stopped: {exc or 'interrupted'}")
    for row in rows:
        print({k: row[k] for k in ("decoder", "variant", "beta", "seed", "elbo", "latents_used", "mig", "factor_vae",
                                   "affine_r2", "train_seconds")})
    print(f"results: {plan.results}")


if __name__ == "__main__":
    main()


def objects_main(argv: list[str] | None = None) -> None:
    """Train (or load) and evaluate notebook 13's object-centric runs: seeds of each per-slot decoder.

    Example, the shipped course-scale runs:
    ``python -m sbdlib.experiments.object_runs --scale course --decoders sbd deconv --seeds 0-4 --ship``
    """
    from sbdlib.experiments import object_runs
    from sbdlib.models.slots import SLOT_DECODERS

    parser = argparse.ArgumentParser(prog="python -m sbdlib.experiments.object_runs", description=objects_main.__doc__.splitlines()[0])
    parser.add_argument("--decoders", nargs="+", default=list(SLOT_DECODERS), choices=SLOT_DECODERS)
    parser.add_argument("--seeds", nargs="+", default=["0-4"], help="e.g. 0-4 (default)")
    parser.add_argument("--scale", default=None, help="quick, course or paper (default: $SBDLIB_SCALE or course)")
    parser.add_argument("--ship", action="store_true", help="write data/ (the shipped artefacts) instead of runs/")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cpu)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--budget", default="", choices=("", object_runs.LONG),
                        help="'long': continue each seed's run to the scale's longer budget")
    parser.add_argument("--variant", default="", choices=tuple(object_runs.OBJECT_VARIANTS),
                        help="one controlled change of the recipe (sbdlib.experiments.object_runs.OBJECT_VARIANTS); default: none")
    args = parser.parse_args(argv)
    try:
        s = current_scale(args.scale)
        object_runs.budget_settings(s.name, args.budget, args.variant)
        seeds = parse_seeds(args.seeds)
        if args.threads is not None:
            check_int(args.threads, "--threads")
        if args.device is not None:
            resolve_device(args.device)
    except (ValueError, RuntimeError) as exc:
        sys.exit(f"error: {exc}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    def progress(step: int, total: int, values: dict) -> None:
        print(f"step {step}/{total}  loss {values['loss']:.2f}  foreground ARI {values['ari']:.3f}", flush=True)

    try:
        rows = object_runs.run_objects(args.decoders, seeds, scale=s, ship=args.ship, device=args.device,
                                       progress=progress, budget=args.budget,
                                       variant=args.variant)
    except KeyboardInterrupt as exc:
        sys.exit(f"stopped: {exc or 'interrupted'}")
    for row in rows:
        print({k: row[k] for k in ("decoder", "seed", "ari", "ari_median", "mse", "train_seconds")})
    print(f"results: {object_runs.object_results_path(s.name, shipped=args.ship)}")
