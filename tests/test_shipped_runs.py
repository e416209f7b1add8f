"""Every shipped run loads through today's code, and a sample re-evaluates to its results row.

The settings of every row are checked against its checkpoint in tests/test_results.py
(``check_row``); here the first row of each shipped table is loaded (its spec found by
lookup, its VAE rebuilt from the stored config) and evaluated again at the row's scale,
which must give the table's numbers within the drift of the CPU's kernels.

Tolerances from measured drift
------------------------------
The last digits of an evaluation depend on which kernels PyTorch picks for the CPU (its own
vectorised kernels: ``ATEN_CPU_CAPABILITY``; oneDNN's convolutions and matrix products:
``ONEDNN_MAX_CPU_ISA``) and on the thread count (summation order). The rows were written on
the course's 2-core AVX2 CPU. Re-evaluated unrounded on a 2-core Intel Xeon with AVX-512 BF16
and AMX (fp32, torch 2.14.1), the first row of each of the ten tables under each kernel set,
with ``benchmarks/kernel_drift.py``. The largest deviation from the shipped (6-decimal) values
over the ten tables, relative for NLL, KL and ELBO, absolute for the others; latents used and
active dimensions did not change under any set:

=====================================================  =======  =======  =======  =======  ==========  ========
kernel set                                             NLL      KL       ELBO     MIG      FactorVAE   affine
                                                                                                       R^2
=====================================================  =======  =======  =======  =======  ==========  ========
default (AVX-512 / AMX)                                3.9e-8   2.0e-7   1.4e-8   4.6e-7   0           4.8e-7
``ATEN_CPU_CAPABILITY=avx2``                           3.9e-8   2.0e-7   1.4e-8   4.6e-7   0           4.8e-7
``ONEDNN_MAX_CPU_ISA=AVX2``                            2.2e-8   1.1e-7   1.2e-8   1.5e-5   0           4.7e-7
``ATEN_CPU_CAPABILITY=default``                        5.3e-8   2.0e-7   2.4e-8   1.5e-5   0           4.8e-7
``ONEDNN_MAX_CPU_ISA=SSE41``                           1.7e-8   1.0e-7   1.8e-8   1.7e-6   0           4.7e-7
the two above together (``make test``'s 2nd run)       2.1e-8   1.0e-7   2.1e-8   1.5e-5   0           4.7e-7
default kernels, evaluation seed + 1 (a real change,   1.1e-2   1.1e-2   1.0e-2   7.1e-3   6.6e-2      4.8e-7
which must fail)
=====================================================  =======  =======  =======  =======  ==========  ========

The MIG of 1.5e-5 is small-objects' first row (MIG bins the latents, so it moves most); the KL of
2.0e-7 is sprites-ablations'. An affine R^2 below 5e-7 is the CSV's rounding. Earlier, ``make
test`` reported KL 2.2e-7 relative on the same row when both values were rounded to 6 decimals,
the largest deviation seen. The script repeats this measurement and prints the table
(6.5 minutes for all of it on that machine); ``make test`` runs this module a second time under
``ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41`` (the Makefile says why).

The tolerances sit far above the drift and below a real change. A real change is what
another evaluation seed does to the same model: ``data/results/eval-noise/`` holds 4
course-scale models each under 8 evaluation seeds, 28 changes from the shipped seed. The
smallest of them moved NLL by 4.0e-5 relative, ELBO by 7.9e-5, KL by 3.5e-4 and MIG by 5.3e-5
absolute (the typical ones: 1e-3 to 8e-3); KL alone catches all 28.
:func:`test_another_evaluation_seed_falls_outside_the_tolerances` evaluates one model live
under another seed and checks that NLL, KL, ELBO and MIG each fail.

* NLL, KL, ELBO: relative 1e-5, 45x the largest drift measured (2.2e-7), 4x below the
  smallest change another evaluation seed made (35x for KL).
* MIG: absolute 1e-4, 6.7x the largest drift (1.5e-5; MIG bins the latents, so it moves
  most), below all but the smallest evaluation-seed change.
* FactorVAE score: absolute 2.5e-3, one vote of the 500 of the course scale (0.002) and the
  rounding: a drift that flips one majority vote passes, two do not. It did not move in any
  kernel set measured.
* affine R^2: absolute 1e-4 (a fixed grid, no sample; it did not move).
* latents used, active dimensions: exact (integers; they did not move).

Each comparison also allows the half unit of the 6th decimal that the CSV rounds away.
"""

import math

import pytest

from sbdlib import experiments
from sbdlib.metrics import metric_columns
from sbdlib.experiments.results import DIGITS, read_results
from sbdlib.scales import scale

TABLES = sorted(p.name for p in experiments.RESULTS_DIR.glob("*.csv"))
RELATIVE = {"nll": 1e-5, "kl": 1e-5, "elbo": 1e-5}  # of the shipped value
ABSOLUTE = {"mig": 1e-4, "factor_vae": 2.5e-3, "affine_r2": 1e-4, "latents_used": 0.0, "num_active_dims": 0.0}
ROUNDING = 0.5 * 10**-DIGITS  # what the CSV's rounding to DIGITS decimals may hide
REGRESSION_TABLE = "circles-xy_course.csv"  # the cheapest table to evaluate again
MUST_CATCH = ("nll", "kl", "elbo", "mig")  # what another evaluation seed moves past the tolerance for this model


def tolerance(metric: str, shipped: float) -> float:
    """How far a re-evaluation may lie from ``shipped`` in ``metric`` (kernel drift + rounding)."""
    if metric in RELATIVE:
        return RELATIVE[metric] * abs(shipped) + ROUNDING
    if metric in ABSOLUTE:
        return ABSOLUTE[metric] + ROUNDING
    raise KeyError(f"no kernel-drift tolerance for metric {metric!r}: add one to tests/test_shipped_runs.py")


def mismatches(row: dict, metrics: dict) -> dict[str, tuple[float, float, float]]:
    """Per metric outside its tolerance: (shipped, evaluated again, tolerance)."""
    out = {}
    for column in (c.name for c in metric_columns()):
        shipped, again = row[column], metrics[column]
        if shipped is None:
            if not (again is None or math.isnan(again)):
                out[column] = (math.nan, again, 0.0)
        elif not abs(again - shipped) <= tolerance(column, shipped):
            out[column] = (shipped, again, tolerance(column, shipped))
    return out


def evaluate_first_row(table: str, seed: int = experiments.EVAL_SEED) -> tuple[dict, dict]:
    """The first row of ``table`` and the metrics of its run evaluated again at ``seed``."""
    row = read_results(experiments.RESULTS_DIR / table)[0]
    spec = experiments.row_spec(row)
    vae = experiments.load_run(row, device="cpu")  # checks the row's settings against the checkpoint
    return row, experiments.evaluate_run(vae, spec, scale(row["scale"]), seed=seed)


@pytest.mark.parametrize("table", TABLES)
def test_first_row_of_each_shipped_table_reproduces(table):
    row, metrics = evaluate_first_row(table)
    assert not mismatches(row, metrics), f"{table}: (shipped, again, tolerance) {mismatches(row, metrics)}"


def test_another_evaluation_seed_falls_outside_the_tolerances():
    """The tolerances can fail: the same model on another held-out sample is caught in every ELBO term and MIG."""
    row, metrics = evaluate_first_row(REGRESSION_TABLE, seed=experiments.EVAL_SEED + 1)
    caught = mismatches(row, metrics)
    assert set(MUST_CATCH) <= set(caught), f"another evaluation seed passed as the shipped one in {set(MUST_CATCH) - set(caught)}"


def test_every_metric_has_a_tolerance_and_one_kind():
    names = {c.name for c in metric_columns()}
    assert names <= set(RELATIVE) | set(ABSOLUTE) and not set(RELATIVE) & set(ABSOLUTE)
    assert tolerance("nll", 50.0) == pytest.approx(5e-4 + ROUNDING) and tolerance("latents_used", 3) == ROUNDING
    with pytest.raises(KeyError, match="no kernel-drift tolerance"):
        tolerance("code_norm", 1.0)
