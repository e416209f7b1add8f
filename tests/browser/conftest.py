"""Fixtures of the browser suite: one JupyterLab and one headless Chromium for the session.

Without Chromium or Playwright every test here is skipped, and the summary says in one
line how to install what is missing. A failing test leaves a screenshot of its page
and the server log's tail in ``tests/browser/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import pytest

import labdriver

HERE = Path(__file__).resolve().parent
SCREENSHOT_DIR = HERE / "screenshots"
SERVED_NOTEBOOKS = ("01_datasets.ipynb", "04_traversals.ipynb", "05_latent_geometry.ipynb")
SERVER_ENV = {"SBDLIB_SCALE": "quick"}  # the kernels run the notebooks in quick mode, whatever the caller's scale

_measurements: list[str] = []  # lines for the summary (pytest_terminal_summary)
_skipped: list[str] = []  # the one line saying why the suite was skipped


def pytest_collection_modifyitems(config, items):
    reason = labdriver.missing_requirement()
    if reason is None:
        return
    mine = [item for item in items if HERE in Path(str(item.fspath)).resolve().parents]
    for item in mine:
        item.add_marker(pytest.mark.skip(reason=reason))
    if mine:
        _skipped.append(f"{len(mine)} browser tests skipped: {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def pytest_terminal_summary(terminalreporter):
    for line in _skipped:
        terminalreporter.write_line(line, yellow=True, bold=True)
    if _measurements:
        terminalreporter.section("browser measurements")
        for line in _measurements:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def report():
    """``report(line)``: print ``line`` in the run's summary (whatever pytest's capture setting)."""
    return _measurements.append


def _digests(paths):
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}


@pytest.fixture(scope="session")
def lab_server():
    """JupyterLab serving copies of the notebooks the tests open; always stopped at the end."""
    originals = [labdriver.NOTEBOOK_DIR / name for name in SERVED_NOTEBOOKS]
    before = _digests(originals)
    server = labdriver.LabServer(originals, env=SERVER_ENV)
    try:
        server.start()
    except labdriver.LabError as error:
        server.stop()
        pytest.fail(str(error), pytrace=False)
    yield server
    server.stop()
    assert _digests(originals) == before, "a browser test changed a notebook of the checkout"


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (a Playwright BrowserContext) with a fresh profile; closed at the end."""
    from playwright.sync_api import sync_playwright

    profile = Path(tempfile.mkdtemp(prefix="sbd-chromium-"))
    playwright = sync_playwright().start()
    try:
        context = labdriver.launch_browser(playwright, profile)
    except Exception as error:
        playwright.stop()
        shutil.rmtree(profile, ignore_errors=True)
        pytest.fail(f"chromium did not start: {error}".splitlines()[0], pytrace=False)
    yield context
    context.close()
    playwright.stop()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def open_notebook(request, lab_server, browser):
    """``open_notebook(name)``: a :class:`labdriver.NotebookPage` on a new page, its kernel idle.

    After the test the page closes and the kernels shut down; on failure a screenshot and
    the server log's tail are saved first.
    """
    pages = []

    def open_(name: str) -> labdriver.NotebookPage:
        page = browser.new_page()
        notebook = labdriver.NotebookPage(page, lab_server, name)
        pages.append(notebook)
        notebook.open()
        return notebook

    yield open_
    failed = any(getattr(request.node, f"rep_{when}", None) is not None and getattr(request.node, f"rep_{when}").failed
                 for when in ("setup", "call"))
    for notebook in pages:
        if failed:
            SCREENSHOT_DIR.mkdir(exist_ok=True)
            stem = SCREENSHOT_DIR / f"{request.node.name}-{Path(notebook.name).stem}"
            try:
                notebook.page.screenshot(path=f"{stem}.png", full_page=True, timeout=15_000)
            except Exception as error:  # a crashed page: the log still helps
                print(f"no screenshot of {notebook.name}: {error}")
            stem.with_suffix(".log").write_text("\n".join(lab_server.log_lines(200)) + "\n")
            print(f"screenshot and server log: {stem}.png, {stem}.log")
        notebook.page.close()
    lab_server.shutdown_sessions()
