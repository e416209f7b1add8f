"""Tests of sbdlib.course.colab: every notebook starts with the generated Colab cell, the README's badges match."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from sbdlib.course import colab

NOTEBOOKS = sorted(colab.NOTEBOOK_DIR.glob("*.ipynb"))
FIX = "run `python -m sbdlib.course.colab` (make colab)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_first_code_cell_is_the_generated_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    cell = colab.first_code_cell(nb)
    assert cell is not None and cell.source == colab.setup_cell_source(), f"{path.name}: {FIX}"
    assert cell.outputs == [], f"{path.name}: outside Colab the setup cell must print nothing"
    assert sum(colab.CELL_MARKER in "".join(c.source) for c in nb.cells) == 1, f"{path.name}: one setup cell"


def test_readme_table_has_every_notebook_with_its_badge():
    text = colab.README.read_text()
    assert colab.readme_with_badges(text, colab.notebook_names()) == text, f"README's notebook table: {FIX}"
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


def test_readme_with_badges_keeps_descriptions_and_text_outside_the_markers():
    text = (f"intro\n{colab.README_START}\n| notebook | what you do |\n|---|---|\n| `01_a` | first \\| one |\n"
            f"| `09_gone` | removed |\n{colab.README_END}\noutro\n")
    rendered = colab.readme_with_badges(text, ["01_a", "02_b"])
    assert rendered.startswith(f"intro\n{colab.README_START}\n") and rendered.endswith(f"{colab.README_END}\noutro\n")
    assert f"| `01_a` | {colab.badge('01_a')} | first \\| one |" in rendered
    assert f"| `02_b` | {colab.badge('02_b')} |  |" in rendered and "09_gone" not in rendered
    assert colab.readme_with_badges(rendered, ["01_a", "02_b"]) == rendered
    with pytest.raises(ValueError, match="README needs"):
        colab.readme_with_badges("no markers here", ["01_a"])


# ----------------------------------------------------------------------------- Colab, simulated

STAND_IN = '''"""A stand-in for Colab's google.colab: only what the setup cell uses."""
import types

enabled = []
output = types.SimpleNamespace(enable_custom_widget_manager=lambda: enabled.append(True))
'''

DRIVER = '''import json, sys
import google.colab  # Colab's kernel has imported it before the first cell runs

exec(compile(open(sys.argv[1]).read(), "colab-setup-cell", "exec"), {"__name__": "__main__"})

import sbdlib
from sbdlib.data import Circles
from sbdlib.figures.widgets import factor_explorer

explorer = factor_explorer(Circles("xy"))
title, (sliders, image) = explorer.children[0], explorer.children[1].children
before = bytes(image.value)
sliders.children[0].value = sliders.children[0].max  # move the x slider to its end: the picture is redrawn
print(json.dumps(dict(sbdlib=sbdlib.__file__, widget_manager=google.colab.enabled, png=before[:4].hex(),
                      redrawn=bytes(image.value) != before, title=title.value,
                      view="application/vnd.jupyter.widget-view+json" in explorer._repr_mimebundle_())))
'''


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _listing(directory: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime for p in directory.iterdir()}


@pytest.mark.skipif(not (colab.ROOT / ".git").exists(), reason="needs the course as a git clone")
def test_setup_cell_in_a_fresh_colab_like_environment(tmp_path):
    try:
        _run_setup_cell_in_fresh_environment(tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)  # a full clone and a virtual environment: 400 MB


def _run_setup_cell_in_fresh_environment(tmp_path: Path) -> None:
    """A notebook's setup cell, verbatim but for the URL and the clone folder, in a fresh virtual
    environment that, like Colab, already has PyTorch and the other dependencies (this
    environment's site-packages, visible through a .pth file) but not sbdlib, with a
    stand-in ``google.colab``: it clones, pip-installs (from PyPI only the build backend),
    imports sbdlib from the clone and draws a widget."""
    import sysconfig

    # The repository to clone: this checkout's commit (with uncommitted changes to tracked files) as branch main.
    commit = _git("stash", "create", cwd=colab.ROOT) or _git("rev-parse", "HEAD", cwd=colab.ROOT)
    origin = tmp_path / "origin"
    _git("clone", "--quiet", "--shared", "--no-checkout", str(colab.ROOT), str(origin), cwd=tmp_path)
    _git("update-ref", f"refs/heads/{colab.BRANCH}", commit, cwd=origin)
    clone = tmp_path / "content" / "sbd-course"

    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    cell = colab.first_code_cell(nb).source
    url, clone_dir = json.dumps(colab.REPO_URL), json.dumps(colab.CLONE_DIR)
    assert cell.count(url) == 1 and cell.count(clone_dir) >= 3
    cell = cell.replace(url, json.dumps(origin.as_uri())).replace(clone_dir, json.dumps(str(clone)))
    (tmp_path / "cell.py").write_text(cell)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    ours = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    (site / "preinstalled.pth").write_text("\n".join(ours) + "\n")  # torch & co.; not sbdlib (no .pth runs there)
    before = {d: _listing(Path(d)) for d in ours}

    stand_in = tmp_path / "stand-in" / "google" / "colab"
    stand_in.mkdir(parents=True)
    (stand_in / "__init__.py").write_text(STAND_IN)
    (tmp_path / "driver.py").write_text(DRIVER)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PIP_"))}
    env.update(PYTHONPATH=str(tmp_path / "stand-in"), MPLBACKEND="Agg", PIP_DISABLE_PIP_VERSION_CHECK="1")
    result = subprocess.run([python, str(tmp_path / "driver.py"), str(tmp_path / "cell.py")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(seen["sbdlib"]).is_relative_to(clone), seen["sbdlib"]
    assert seen["widget_manager"] == [True] and seen["view"] and seen["redrawn"]
    assert seen["png"] == b"\x89PNG".hex() and "circles" in seen["title"].lower()
    assert _git("rev-parse", "HEAD", cwd=clone) == commit

    # After a runtime restart, sbdlib still imports from the clone: pip installed it into the new environment.
    env.pop("PYTHONPATH")
    again = subprocess.run([python, "-c", "import sbdlib; print(sbdlib.__file__)"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and Path(again.stdout.strip()).is_relative_to(clone), again.stderr[-2000:]
    assert {d: _listing(Path(d)) for d in ours} == before  # this environment was not touched
