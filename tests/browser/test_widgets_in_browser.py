"""The course's live widgets as a person meets them: JupyterLab in headless Chromium, quick mode.

Each test opens a notebook (a copy; see conftest.py), runs Run > Run All Cells, waits for
the kernel, then checks one explorer: no error output and no "Error displaying widget",
every control labelled (visible, not clipped), and moving a control really changes the
pixels of the image it drives. The SBD slider's in-page latency is printed in the summary.
"""

from __future__ import annotations

import re
import statistics

import pytest

import labdriver

pytestmark = pytest.mark.browser

LATENCY_REPEATS = 10
LATENT_LABEL = re.compile(r"^z\d+ \(\u03c3\u00b2=\d+\.\d\d\)$")  # "z3 (σ²=0.02)"


def _check_clean(notebook: labdriver.NotebookPage) -> None:
    """No error output in the notebook and no widget that failed to render."""
    assert notebook.state()["errors"] == []
    assert notebook.widget_errors() == []


def _check_image_changes(notebook, move, container, css: str) -> None:
    """``move()`` (a user action) must give the ``css`` image inside ``container`` a new src and new pixels."""
    image = container.locator(css).first
    before_src, before = image.get_attribute("src"), notebook.pixels(image)
    move()
    notebook.wait_for_new_src(container, css, before_src)
    after = notebook.pixels(container.locator(css).first)
    assert (after["width"], after["height"]) == (before["width"], before["height"])
    assert after["digest"] != before["digest"], "new image src, but the same pixels"


def _open_explorer(open_notebook, name: str, find, control_css: str, labels):
    """Open notebook ``name``, Run All Cells, check it is clean, find its explorer and check the labels.

    Args:
        find: ``notebook -> locator`` of the explorer widget.
        control_css: The explorer's labelled controls (sliders or dropdowns).
        labels: The controls' label texts, a list, or a regex every one of (at least two) matches.

    Returns:
        ``(notebook, explorer, controls, seconds the run took)``.
    """
    notebook = open_notebook(name)
    seconds = notebook.run_all()
    _check_clean(notebook)
    explorer = find(notebook)
    assert explorer.count() == 1, f"{name}: expected one explorer widget, found {explorer.count()}"
    controls = explorer.locator(control_css)
    texts = controls.locator(":scope > .widget-label").all_inner_texts()
    if isinstance(labels, re.Pattern):
        assert len(texts) >= 2 and all(labels.match(text) for text in texts), texts
    else:
        assert texts == list(labels)
    assert notebook.label_problems(controls) == []
    return notebook, explorer, controls, seconds


def test_latent_explorer_sbd_slider(open_notebook, report):
    # The explorer's Spatial Broadcast column: its name, its decoded image, one slider per latent.
    notebook, column, sliders, seconds = _open_explorer(
        open_notebook, "04_traversals.ipynb", lambda nb: nb.explorer_column("Spatial Broadcast"),
        ":scope > .widget-slider", LATENT_LABEL)
    image = ":scope > .widget-image"
    _check_image_changes(notebook, lambda: notebook.move_slider(sliders.first), column, image)
    latencies = notebook.slider_latencies(sliders.first, column.locator(image), LATENCY_REPEATS)
    _check_clean(notebook)
    report(f"04_traversals (quick scale): Run All Cells {seconds:.0f} s; SBD slider move -> new image in the page: "
           f"median {statistics.median(latencies):.0f} ms over {len(latencies)} moves "
           f"(min {min(latencies):.0f}, max {max(latencies):.0f})")


def test_factor_explorer_slider(open_notebook):
    from sbdlib.data import ColoredSprites  # the dataset notebook 01's explorer shows

    notebook, explorer, _, _ = _open_explorer(
        open_notebook, "01_datasets.ipynb",
        lambda nb: nb.page.locator(".widget-vbox:has(> .widget-hbox .widget-slider):has(> .widget-hbox > .widget-image)"),
        ".widget-slider", ColoredSprites().factor_names)
    x_slider = explorer.locator(".widget-slider:has(> .widget-label:text-is('x'))")
    _check_image_changes(notebook, lambda: notebook.move_slider(x_slider), explorer, ".widget-image")
    assert "x = " in explorer.locator(".widget-html").first.inner_text()
    _check_clean(notebook)


def test_geometry_explorer_dropdown(open_notebook):
    notebook, explorer, _, _ = _open_explorer(
        open_notebook, "05_latent_geometry.ipynb",
        lambda nb: nb.page.locator(".widget-vbox:has(> .widget-hbox > .widget-dropdown):has(> .widget-output)"),
        ".widget-dropdown", ["factor A", "factor B", "latent (horizontal)", "latent (vertical)"])
    vertical = explorer.locator(".widget-dropdown:has(> .widget-label:text-is('latent (vertical)')) select")
    _check_image_changes(notebook, lambda: vertical.select_option(label="rank 3"), explorer.locator(".widget-output"),
                         "img")
    _check_clean(notebook)
