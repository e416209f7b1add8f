"""The exercise notebooks: each exercise is a skeleton, a check and a folded solution, and the notebook runs solved.

The notebooks as committed (skeletons unsolved) are executed by nbval in ``make test``; here each
``exercise`` cell is replaced by the code of the ``solution`` cell that follows it, the notebook is
run at ``quick`` scale, and every check must print "correct" (none "not attempted").
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
MIN_EXERCISES = 3  # notebooks 01-06 teach by doing; 07-12 hold one exercise or more each
# Notebook -> whether its exercises are required now (the others are checked once they have some).
EXERCISE_NOTEBOOKS = {"01_datasets": True, "02_spatial_broadcast": True, "03_training": True,
                      "04_traversals": True, "05_latent_geometry": True, "06_metrics": True,
                      "07_beta_sweep": True, "08_small_objects": True, "09_coordinates": True,
                      "10_sprites_ablations": True, "11_generalisation": True, "12_factorvae": True}
MIN_EXERCISES_OF = {name: (MIN_EXERCISES if name < "07" else 1) for name in EXERCISE_NOTEBOOKS}
SOLUTION = re.compile(r"<details><summary>Solution</summary>\s*```python\n(.*?)```\s*</details>", re.S)
CELL_TIMEOUT_S = 900
MINUTES = re.compile(r"⏱\s*(?:about\s*)?(\d+)\s*min")
README = NOTEBOOK_DIR.parent / "README.md"


def _tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


def exercises(nb) -> list[tuple[int, str]]:
    """``(index of the exercise cell, solution code)`` for every exercise; asserts the cells' layout."""
    found = []
    for i, cell in enumerate(nb.cells):
        if "exercise" not in _tags(cell):
            continue
        where = f"exercise cell {i}"
        assert cell.cell_type == "code" and "raise NotImplementedError" in cell.source, f"{where}: a skeleton raising NotImplementedError"
        assert '"""' in cell.source, f"{where}: the skeleton has a docstring with the shapes"
        statement = nb.cells[i - 1]
        assert statement.cell_type == "markdown" and "⏱" in statement.source, f"{where}: a statement with its time before it"
        check, solution = nb.cells[i + 1], nb.cells[i + 2]
        assert check.cell_type == "code" and "exercises.check_" in check.source, f"{where}: a check cell after it"
        assert solution.cell_type == "markdown" and "solution" in _tags(solution), f"{where}: then a solution cell"
        match = SOLUTION.search(solution.source)
        assert match, f"{where}: the solution is a ```python block inside <details><summary>Solution</summary>"
        found.append((i, match.group(1)))
    return found


def _notebooks() -> list[Path]:
    return [NOTEBOOK_DIR / f"{name}.ipynb" for name in EXERCISE_NOTEBOOKS if (NOTEBOOK_DIR / f"{name}.ipynb").exists()]


def _found(path: Path):
    nb = nbformat.read(path, as_version=4)
    found = exercises(nb)
    if not found and not EXERCISE_NOTEBOOKS[path.stem]:
        pytest.skip(f"{path.name} has no exercises yet")
    return nb, found


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.stem)
def test_exercises_have_skeleton_check_and_solution(path):
    _, found = _found(path)
    least = MIN_EXERCISES_OF[path.stem]
    assert len(found) >= least, f"{path.name}: {len(found)} exercises, at least {least} expected"


def test_every_notebook_has_a_checked_exercise():
    """Every numbered notebook of the course calls at least one exercises.check_ checker."""
    notebooks = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    assert notebooks
    missing = [p.name for p in notebooks
               if not any(c.cell_type == "code" and "exercises.check_" in c.source
                          for c in nbformat.read(p, as_version=4).cells)]
    assert not missing, f"notebooks without an exercise check: {missing}"


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.stem)
def test_readme_states_the_exercises_and_their_time(path):
    nb, found = _found(path)
    minutes = sum(int(MINUTES.search(nb.cells[i - 1].source).group(1)) for i, _ in found)
    section = README.read_text(encoding="utf-8").split("## How to take the course", 1)[1].split("\n## ", 1)[0]
    row = next((line for line in section.splitlines() if line.startswith(f"| `{path.stem}` |")), "")
    count = f"{len(found)} exercise{'s' if len(found) != 1 else ''}, about {minutes} min"
    assert count in row, f"README, How to take the course: the row of {path.stem} should say '{count}'"


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.stem)
def test_notebook_runs_solved(path, monkeypatch):
    from nbclient import NotebookClient

    nb, found = _found(path)
    for i, solution in found:
        nb.cells[i].source = solution
    checks = [i + 1 for i, _ in found]
    monkeypatch.setenv("SBDLIB_SCALE", "quick")
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).execute()
    text = {i: "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in c.get("outputs", []))
            for i, c in enumerate(nb.cells) if c.cell_type == "code"}
    unattempted = [i for i, t in text.items() if "not attempted" in t]
    assert not unattempted, f"{path.name}: solved, yet 'not attempted' in cells {unattempted}"
    wrong = [i for i in checks if "correct:" not in text[i]]
    assert not wrong, f"{path.name}: checks without 'correct:' in cells {wrong}: {[text[i] for i in wrong]}"
