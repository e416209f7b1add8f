"""The course's experiments: named runs, trained as populations, evaluated into one results format.

A *run* is one trained model: a :class:`RunSpec` (dataset, decoder, variant, beta) and a
seed at a scale, named e.g. ``circles-xy_sbd_s0_course``. An *experiment* is a list of
specs (:data:`EXPERIMENTS`), trained for seeds ``0..N-1`` -- one population per spec
(:func:`sbdlib.training.train_many`) -- and evaluated into one results table
(:mod:`sbdlib.results`).

Where things live:

* ``data/`` holds the **shipped** artefacts (course-scale checkpoints and result tables).
  Notebooks only read it; ``make results`` (``python -m sbdlib.experiments ... --ship``) is
  the one command that regenerates it.
* ``runs/`` (git-ignored) holds what a reader trains: a notebook that retrains writes there,
  so ``git status`` stays clean after any notebook at any scale.

This module is the façade the notebooks import from; each part lives in its own module:

* :mod:`sbdlib.specs`: :class:`RunSpec`, :data:`EXPERIMENTS`, the course budgets, ``COURSE_ONLY``;
* :mod:`sbdlib.paths`: run names, checkpoint and results paths, ``data/`` and ``runs/``;
* :mod:`sbdlib.runs`: a configuration's runs trained as populations (:func:`train_population`,
  :func:`train_or_load`, :func:`try_runs`) and evaluated (:func:`evaluate_run`);
* :mod:`sbdlib.rows`: results rows, and a row back to its spec, checkpoint and model;
* :mod:`sbdlib.sweeps`: an experiment planned, run spec by spec (:func:`run_spec`,
  :func:`run_experiment`), and its GPU-hour estimate.
"""

from __future__ import annotations

from sbdlib.models import VAE, variant_options  # noqa: F401
from sbdlib.paths import (CHECKPOINT_DIR, DATA_DIR, REPO_DIR, RESULTS_DIR, RETRAIN_SUFFIX, RUNS_DIR,  # noqa: F401
                          _refuse_shipped, _slug, checkpoint_name, checkpoint_path, checkpoints_folder, config_name,
                          results_path, retrain_path, run_name)
from sbdlib.rows import check_row, load_run, model_key_of, result_row, row_checkpoint, row_spec  # noqa: F401
from sbdlib.runs import (CHECKPOINTS_PER_RUN, EVAL_SEED, MAX_POPULATION, TRY_COURSE_STEPS, TRY_EVAL_SIZE, TRY_STEPS,  # noqa: F401
                         build_vae, evaluate_run, scaled_dataset, train_or_load, train_population, try_runs, try_scale)
from sbdlib.scales import Scale  # noqa: F401
from sbdlib.specs import (BETAS, BLANK_FRACTION, COURSE_CONTROL_OF, COURSE_ONLY, DEFAULT_DATASET,  # noqa: F401
                          DEFAULT_EXPERIMENT, EXPERIMENTS, FACTOR_VAE_PAPER_SETTINGS, HOLE_SETS, HOLES,
                          LEAN_COURSE_BUDGET, LONG_SPRITES_BUDGET, SECOND_BUDGET_OF, SMALL_OBJECT_IMAGE_SIZE,
                          SPRITE_ABLATIONS, SPRITES_PAPER_STEPS, RunSpec, check_budget_scale, experiment_specs)
from sbdlib.sweeps import (PROTOTYPE_GPU_IMAGES_PER_SECOND, Plan, SpecRun, check_specs, gpu_hours_estimate,  # noqa: F401
                           parse_seeds, plan_experiment, prepare_storage, run_experiment, run_spec, shipped_or_run)
from sbdlib.training import History, train_many  # noqa: F401

if __name__ == "__main__":  # `python -m sbdlib.experiments ...`: the command line lives in sbdlib.cli
    from sbdlib.cli import main

    main()
