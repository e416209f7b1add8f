"""The course's experiments: named runs, trained as populations, evaluated into one results format.

A *run* is one trained model: a :class:`RunSpec` (dataset, decoder, variant, beta) and a
seed at a scale, named e.g. ``circles-xy_sbd_s0_course``. An *experiment* is a list of
specs (:data:`EXPERIMENTS`), trained for seeds ``0..N-1`` -- one population per spec
(:func:`sbdlib.training.train_many`) -- and evaluated into one results table
(:mod:`sbdlib.experiments.results`).

Where things live:

* ``data/`` holds the **shipped** artefacts (course-scale checkpoints and result tables).
  Notebooks only read it; ``make results`` (``python -m sbdlib.experiments ... --ship``) is
  the one command that regenerates it.
* ``runs/`` (git-ignored) holds what a reader trains: a notebook that retrains writes there,
  so ``git status`` stays clean after any notebook at any scale.

The package presents the names of the five modules a notebook needs (``from sbdlib.experiments
import RunSpec, train_or_load``); each is defined in one of them:

* :mod:`sbdlib.experiments.specs`: :class:`RunSpec`, :data:`EXPERIMENTS`, the course budgets, ``COURSE_ONLY``;
* :mod:`sbdlib.experiments.paths`: run names, checkpoint and results paths, ``data/`` and ``runs/``;
* :mod:`sbdlib.experiments.runs`: a configuration's runs trained as populations (:func:`train_population`,
  :func:`train_or_load`, :func:`try_runs`) and evaluated (:func:`evaluate_run`);
* :mod:`sbdlib.experiments.rows`: results rows, and a row back to its spec, checkpoint and model;
* :mod:`sbdlib.experiments.sweeps`: an experiment planned, run spec by spec (:func:`run_spec`,
  :func:`run_experiment`), and its GPU-hour estimate.

The other modules of the package are imported from themselves (the package does not load them):
the results format (:mod:`~sbdlib.experiments.results`) and its summary command
(:mod:`~sbdlib.experiments.summary`),
the evaluation noise (:mod:`~sbdlib.experiments.noise`), the paper's numbers and the reproduction
rows (:mod:`~sbdlib.experiments.paper`, :mod:`~sbdlib.experiments.reproduction`), notebook 13's
runs (:mod:`~sbdlib.experiments.object_runs`, :mod:`~sbdlib.experiments.object_rows`), the Try it
cells (:mod:`~sbdlib.experiments.tries`), where a sweep's checkpoints live
(:mod:`~sbdlib.experiments.storage`), the Ray runner (:mod:`~sbdlib.experiments.distributed`) and
the command lines (:mod:`~sbdlib.experiments.cli`; ``python -m sbdlib.experiments``).
"""

from sbdlib.experiments.paths import (CHECKPOINT_DIR, DATA_DIR, REPO_DIR, RESULTS_DIR, RETRAIN_SUFFIX, RUNS_DIR,
                                      checkpoint_name, checkpoint_path, checkpoints_folder, config_name, results_path,
                                      retrain_path, run_name)
from sbdlib.experiments.rows import check_row, load_run, result_row, row_checkpoint, row_spec
from sbdlib.experiments.runs import (CHECKPOINTS_PER_RUN, EVAL_SEED, MAX_POPULATION, TRY_COURSE_STEPS, TRY_EVAL_SIZE,
                                     TRY_STEPS, build_vae, evaluate_run, scaled_dataset, train_or_load,
                                     train_population, try_runs, try_scale)
from sbdlib.experiments.specs import (BETAS, BLANK_FRACTION, COURSE_CONTROL_OF, COURSE_ONLY, DEFAULT_DATASET,
                                      DEFAULT_EXPERIMENT, EXPERIMENTS, FACTOR_VAE_PAPER_SETTINGS, HOLE_SETS, HOLES,
                                      LEAN_COURSE_BUDGET, LONG_SPRITES_BUDGET, SECOND_BUDGET_OF,
                                      SMALL_OBJECT_IMAGE_SIZE, SPRITE_ABLATIONS, SPRITES_PAPER_STEPS, RunSpec,
                                      check_budget_scale, experiment_specs)
from sbdlib.experiments.sweeps import (PROTOTYPE_GPU_IMAGES_PER_SECOND, Plan, SpecRun, check_specs, gpu_hours_estimate,
                                       parse_seeds, plan_experiment, prepare_storage, run_experiment, run_spec,
                                       shipped_or_run)
