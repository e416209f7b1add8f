"""What every committed notebook carries: executed outputs in order, its measured time, a link to the Reproduction table."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_committed_executed_in_order(path):
    nb = nbformat.read(path, as_version=4)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code" and c.execution_count is not None]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(counts) >= len(code) - 1, f"{path.name}: execute it top to bottom (make figures) before committing"
    assert counts == sorted(counts) and len(set(counts)) == len(counts), f"{path.name}: counts out of order"
    assert not any(o.get("output_type") == "error" for c in code for o in c.outputs), f"{path.name}: an error output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_states_its_time_and_links_the_reproduction_table(path):
    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "markdown")
    assert re.search(r"\*Time on a 2-core CPU \(measured", first.source), f"{path.name}: the measured time line"
    assert "README.md#reproduction" in "".join(c.source for c in nb.cells), f"{path.name}: link the Reproduction table"
