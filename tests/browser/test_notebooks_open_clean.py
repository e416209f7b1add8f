"""Every notebook opened as a learner opens it: JupyterLab with autosave on, nothing run.

One JupyterLab serves byte-for-byte copies of all notebooks (not trusted, as after a
clone), with autosave every few seconds. One page opens each notebook in turn (its kernel
starts, as it does for a learner), waits past an autosave, then checks:

* the saved file is byte-identical to the committed one (so ``git status`` stays clean),
  also after an explicit File > Save: the committed form is the one JupyterLab writes;
* each widget output shows a picture (``image/png``), or for a finished progress bar its
  final count, never the widget's ``VBox(children=...`` text.
"""

from __future__ import annotations

import difflib
import re
import time
from pathlib import Path

import pytest

import labdriver

pytestmark = pytest.mark.browser

NOTEBOOKS = sorted(labdriver.NOTEBOOK_DIR.glob("*.ipynb"))
AUTOSAVE_INTERVAL_S = 2  # JupyterLab's setting is in seconds (default 120)
AUTOSAVE_WAIT_S = 2 * AUTOSAVE_INTERVAL_S + 1  # past at least one autosave after the kernel is up
SETTINGS = {"@jupyterlab/docmanager-extension/plugin": {"autosave": True, "autosaveInterval": AUTOSAVE_INTERVAL_S}}
PROGRESS_BAR = re.compile(r"(\d+)/(\d+) \[")  # tqdm's "2000/2000 [01:23<00:00, ...]"
DIFF_LINES = 30
OPEN_TIMEOUT_S = 180.0  # the app's first load and a kernel start; on a loaded 2-core machine either can take a minute


@pytest.fixture(scope="module")
def lab_page(browser):
    """One JupyterLab (autosave on, verbatim copies of every notebook) and one page showing it."""
    server = labdriver.LabServer(NOTEBOOKS, env={"SBDLIB_SCALE": "quick"}, verbatim=True, settings=SETTINGS)
    try:
        server.start()
    except labdriver.LabError as error:
        server.stop()
        pytest.fail(str(error), pytrace=False)
    page = browser.new_page()
    try:
        page.goto(server.lab_url(), wait_until="commit", timeout=labdriver.APP_TIMEOUT_S * 1000)
        yield server, page
    finally:
        page.close()
        server.stop()


def _difference(original: Path, saved: Path) -> str:
    """The first lines of a unified diff between the committed notebook and JupyterLab's save."""
    diff = difflib.unified_diff(original.read_text(encoding="utf-8").splitlines(),
                                saved.read_text(encoding="utf-8").splitlines(),
                                "committed", "saved by JupyterLab", lineterm="", n=1)
    lines = list(diff)
    more = f"\n... {len(lines) - DIFF_LINES} more diff lines" if len(lines) > DIFF_LINES else ""
    return "\n".join(lines[:DIFF_LINES]) + more


def _widget_problems(outputs: list[dict]) -> list[str]:
    """Widget outputs that do not show a picture (or, for a progress bar, its finished count)."""
    problems = []
    for out in outputs:
        where = f"cell {out['cell']}"
        if "children=(" in out["text"]:
            problems.append(f"{where}: shows the widget's repr: {out['text'][:80]!r}")
        elif out["mime"] == "image/png" and out["image"]:
            continue
        elif out["mime"] == "text/plain" and PROGRESS_BAR.search(out["text"]):
            done, total = PROGRESS_BAR.search(out["text"]).groups()
            if done != total:
                problems.append(f"{where}: a progress bar saved as {done}/{total}, not as it finished")
        else:
            problems.append(f"{where}: renders as {out['mime']} without an image: {out['text'][:80]!r}")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_opens_clean_and_shows_widget_pictures(lab_page, path, report):
    server, page = lab_page
    notebook = labdriver.NotebookPage(page, server, path.name)
    start = time.monotonic()
    notebook.open_in_app(timeout_s=OPEN_TIMEOUT_S)
    try:
        problems = _widget_problems(notebook.widget_outputs())
        deadline = time.monotonic() + AUTOSAVE_WAIT_S
        while time.monotonic() < deadline:  # an autosave writes what opening changed, if anything
            time.sleep(0.5)
        saved = server.root / path.name
        assert not notebook.is_dirty(), f"{path.name}: still unsaved {AUTOSAVE_WAIT_S} s after opening: autosave off?"
        unchanged = saved.read_bytes() == path.read_bytes()
        assert unchanged, (f"{path.name}: opening it in JupyterLab changed it (autosave); "
                           f"run `python -m sbdlib.course.notebook_format`:\n" + _difference(path, saved))
        notebook.save()
        unchanged = saved.read_bytes() == path.read_bytes()
        assert unchanged, f"{path.name}: File > Save writes another form than the committed one:\n" + _difference(path, saved)
        assert not problems, f"{path.name}, opened without running it:\n" + "\n".join(problems)
    finally:
        notebook.close()
    report(f"{path.name}: opened, autosaved and saved unchanged in {time.monotonic() - start:.0f} s")
