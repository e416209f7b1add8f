"""Every shipped run loads through today's code, and a sample re-evaluates to its results row.

The settings of every row are checked against its checkpoint in tests/test_results.py
(``check_row``); here the first row of each shipped table is loaded (its spec found by
lookup, its VAE rebuilt from the stored config) and evaluated again at the row's scale,
which must give the table's numbers to the digits the CSV keeps.
"""

import math

import pytest

from sbdlib import experiments
from sbdlib.metrics import metric_columns
from sbdlib.results import DIGITS, read_results
from sbdlib.scales import scale

TABLES = sorted(p.name for p in experiments.RESULTS_DIR.glob("*.csv"))


@pytest.mark.parametrize("table", TABLES)
def test_first_row_of_each_shipped_table_reproduces(table):
    row = read_results(experiments.RESULTS_DIR / table)[0]
    spec = experiments.row_spec(row)
    vae = experiments.load_run(row, device="cpu")  # checks the row's settings against the checkpoint
    metrics = experiments.evaluate_run(vae, spec, scale(row["scale"]))
    for column in (c.name for c in metric_columns()):
        shipped, again = row[column], metrics[column]
        if shipped is None:
            assert again is None or math.isnan(again), column
        else:
            assert round(again, DIGITS) == pytest.approx(shipped, abs=2 * 10**-DIGITS), (table, column)
