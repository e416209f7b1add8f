"""Tests of sbdlib.colab: every notebook starts with the generated Colab cell, the README's badges match."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from sbdlib import colab

NOTEBOOKS = sorted(colab.NOTEBOOK_DIR.glob("*.ipynb"))
FIX = "run `python -m sbdlib.colab` (make colab)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_first_code_cell_is_the_generated_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    cell = colab.first_code_cell(nb)
    assert cell is not None and cell.source == colab.setup_cell_source(), f"{path.name}: {FIX}"
    assert cell.outputs == [], f"{path.name}: outside Colab the setup cell must print nothing"
    assert sum(colab.CELL_MARKER in "".join(c.source) for c in nb.cells) == 1, f"{path.name}: one setup cell"


def test_readme_table_has_every_notebook_with_its_badge():
    text = colab.README.read_text()
    assert colab.render_readme(text, colab.notebook_names()) == text, f"README's notebook table: {FIX}"
    for path in NOTEBOOKS:
        assert f"| `{path.stem}` | {colab.badge(path.stem)} |" in text


def test_urls_come_from_repo_url(monkeypatch):
    monkeypatch.setattr(colab, "REPO_URL", "https://github.com/someone/a-fork.git")
    assert colab.github_repo() == ("someone", "a-fork")
    assert colab.colab_url("04_traversals") == (
        "https://colab.research.google.com/github/someone/a-fork/blob/main/notebooks/04_traversals.ipynb")
    assert colab.badge("04_traversals").startswith(f"[![Open in Colab]({colab.BADGE_IMAGE})](https://colab.")
    assert '"https://github.com/someone/a-fork.git"' in colab.setup_cell_source()
    for bad in ("http://github.com/a/b", "https://gitlab.com/a/b", "https://github.com/a"):
        monkeypatch.setattr(colab, "REPO_URL", bad)
        with pytest.raises(ValueError, match="REPO_URL"):
            colab.setup_cell_source()


def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def test_update_inserts_before_the_first_code_cell_and_is_idempotent():
    nb = _notebook(nbformat.v4.new_markdown_cell("# Title"), nbformat.v4.new_code_cell("x = 1"),
                   nbformat.v4.new_code_cell("x"))
    assert colab.update_notebook(nb)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code", "code"]
    assert nb.cells[1].source == colab.setup_cell_source() and nb.cells[2].source == "x = 1"
    saved = nbformat.writes(nb)
    assert not colab.update_notebook(nb) and nbformat.writes(nb) == saved
    nbformat.validate(nb)


def test_update_replaces_a_stale_setup_cell_and_drops_copies():
    stale = nbformat.v4.new_code_cell(colab.CELL_MARKER + "\nprint('old version')", execution_count=3,
                                      outputs=[nbformat.v4.new_output("stream", text="old version\n")])
    copy = nbformat.v4.new_code_cell(colab.CELL_MARKER + "\n")
    nb = _notebook(nbformat.v4.new_code_cell("import sbdlib"), stale, nbformat.v4.new_markdown_cell("text"), copy)
    assert colab.update_notebook(nb)
    assert [c.source for c in nb.cells] == [colab.setup_cell_source(), "import sbdlib", "text"]
    assert nb.cells[0].id == stale.id and nb.cells[0].outputs == [] and nb.cells[0].execution_count is None
    assert colab.update_notebook(_notebook(nbformat.v4.new_markdown_cell("only prose")))  # a cell even then


def test_setup_cell_does_nothing_outside_colab():
    result = subprocess.run([sys.executable, "-c", colab.setup_cell_source()], capture_output=True, text=True,
                            timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_setup_cell_in_colab_clones_installs_and_enables_widgets(monkeypatch):
    calls, enabled = [], []
    fake_colab = types.ModuleType("google.colab")
    fake_colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: enabled.append(True))
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", fake_colab)
    monkeypatch.setattr(subprocess, "run", lambda command, check: calls.append((command, check)))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(colab, "CLONE_DIR", str(Path("/nonexistent") / "sbd-course"))
    exec(colab.setup_cell_source(), {})
    clone, install = calls
    assert clone == (["git", "clone", "--depth", "1", "--branch", colab.BRANCH, colab.REPO_URL, colab.CLONE_DIR], True)
    assert install == ([sys.executable, "-m", "pip", "install", "--quiet", "-e", colab.CLONE_DIR], True)
    assert sys.path[0] == colab.CLONE_DIR and enabled == [True]


def test_render_readme_keeps_descriptions_and_text_outside_the_markers():
    text = (f"intro\n{colab.README_START}\n| notebook | what you do |\n|---|---|\n| `01_a` | first \\| one |\n"
            f"| `09_gone` | removed |\n{colab.README_END}\noutro\n")
    rendered = colab.render_readme(text, ["01_a", "02_b"])
    assert rendered.startswith(f"intro\n{colab.README_START}\n") and rendered.endswith(f"{colab.README_END}\noutro\n")
    assert f"| `01_a` | {colab.badge('01_a')} | first \\| one |" in rendered
    assert f"| `02_b` | {colab.badge('02_b')} |  |" in rendered and "09_gone" not in rendered
    assert colab.render_readme(rendered, ["01_a", "02_b"]) == rendered
    with pytest.raises(ValueError, match="README needs"):
        colab.render_readme("no markers here", ["01_a"])
