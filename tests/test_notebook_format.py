"""Notebooks are committed in the form JupyterLab saves (sbdlib.course.notebook_format), so opening one changes nothing.

The browser suite (tests/browser/test_notebooks_open_clean.py) checks the same against a real
JupyterLab with autosave on; these tests are fast and need no browser.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sbdlib.course import notebook_format as nf

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_is_in_the_form_jupyterlab_saves(path):
    text = path.read_text(encoding="utf-8")
    normalised = nf.format_text(text) == text
    assert normalised, (
        f"{path.name} is not in the form JupyterLab saves; run `python -m sbdlib.course.notebook_format` after executing it")


def _notebook(cells, widgets=None, kernelspec=None):
    nb = {"cells": cells, "metadata": {"kernelspec": kernelspec or {"display_name": "Python 3", "language": "python",
                                                                     "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 4}
    if widgets is not None:
        nb["metadata"]["widgets"] = {nf.WIDGET_STATE: {"state": widgets, "version_major": 2, "version_minor": 0}}
    return nb


def _code(outputs, source="x = 1"):
    return {"cell_type": "code", "execution_count": 1, "id": "c1", "metadata": {}, "outputs": outputs, "source": source}


def _view(model_id):
    return {"output_type": "display_data", "metadata": {},
            "data": {"text/plain": "a widget", nf.WIDGET_VIEW: {"model_id": model_id, "version_major": 2,
                                                                "version_minor": 0}}}


def _model(name, **state):
    return {"model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0", "model_name": name,
            "state": state}


def test_kernelspec_and_integral_floats_as_jupyterlab_writes_them():
    nb = nf.normalise(_notebook([_code([_view("a")])],
                                widgets={"a": _model("FloatSliderModel", max=3.0, min=-3.0, step=0.05)}))
    assert nb["metadata"]["kernelspec"]["display_name"] == "Python 3 (ipykernel)"
    state = nb["metadata"]["widgets"][nf.WIDGET_STATE]["state"]["a"]["state"]
    assert state == {"max": 3, "min": -3, "step": 0.05}
    assert type(state["max"]) is int and type(state["step"]) is float
    assert nb["nbformat_minor"] == 5
    assert nf.integral_floats_to_int([1e21, -0.0, float("nan")])[0] == 1e21  # JavaScript writes 1e+21: a float


def test_another_kernel_keeps_its_kernelspec():
    spec = {"display_name": "R", "language": "R", "name": "ir"}
    assert nf.normalise(_notebook([], kernelspec=spec))["metadata"]["kernelspec"] == spec


def test_streams_merge_and_carriage_returns_apply_as_in_jupyterlab():
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": ["step 1\r", "step 2\r"]},
        {"output_type": "stream", "name": "stdout", "text": "step 3\ndone\n"},
        {"output_type": "stream", "name": "stderr", "text": "warning\n"},
        {"output_type": "stream", "name": "stderr", "text": "ab\bc\n"},
        {"output_type": "execute_result", "data": {"text/plain": "1"}, "metadata": {}, "execution_count": 1},
        {"output_type": "stream", "name": "stdout", "text": "after\n"},
    ]
    merged = nf.merge_streams(outputs)
    assert [o["output_type"] for o in merged] == ["stream", "stream", "execute_result", "stream"]
    assert merged[0]["text"] == "step 3\ndone\n"
    assert merged[1]["text"] == "warning\nac\n"
    assert merged[3]["text"] == "after\n"
    assert outputs[0]["text"] == ["step 1\r", "step 2\r"]  # the input is not changed


def test_process_text_overwrites_the_current_line_only():
    assert nf.process_text(0, "10%\r20%\r30%") == ("30%", 3)
    assert nf.process_text(0, "a\nlong line\rshort") == ("a\nshortline", 7)
    assert nf.process_text(0, "plain") == ("plain", 5)


def test_unused_widget_models_are_dropped_used_ones_and_their_children_kept():
    widgets = {
        "box": _model("VBoxModel", children=["IPY_MODEL_slider", "IPY_MODEL_out"], layout="IPY_MODEL_layout"),
        "slider": _model("FloatSliderModel", style="IPY_MODEL_style"),
        "style": _model("SliderStyleModel"),
        "layout": _model("LayoutModel"),
        "out": _model("OutputModel", outputs=[_view("inner")]),
        "inner": _model("ImageModel"),
        "orphan": _model("VBoxModel", children=["IPY_MODEL_orphan_child"]),
        "orphan_child": _model("FloatSliderModel"),
    }
    nb = nf.normalise(_notebook([_code([_view("box")])], widgets=widgets))
    kept = nb["metadata"]["widgets"][nf.WIDGET_STATE]["state"]
    assert set(kept) == {"box", "slider", "style", "layout", "out", "inner"}
    nb = nf.normalise(_notebook([_code([])], widgets={"orphan": widgets["orphan"]}))
    assert "widgets" not in nb["metadata"]


def test_normalising_twice_changes_nothing_and_the_file_layout_is_nbformats():
    stream = {"output_type": "stream", "name": "stdout", "text": "a\rb\n"}
    nb = _notebook([_code([stream, _view("a")], source="x = 1\ny = 2")], widgets={"a": _model("IntSliderModel", value=2.0)})
    once = nf.dumps(nf.normalise(nb))
    assert nf.format_text(once) == once
    assert once.endswith("}\n") and '\n "cells": [\n' in once  # one-space indent, sorted keys, final newline
    assert json.loads(once)["cells"][0]["source"] == ["x = 1\n", "y = 2"]


def test_bad_input_is_one_line():
    with pytest.raises(ValueError, match="nbformat 4"):
        nf.normalise({"nbformat": 3, "worksheets": []})


def test_cli_check_and_rewrite(tmp_path):
    path = tmp_path / "a.ipynb"
    path.write_text(json.dumps(_notebook([_code([])])))
    run = [sys.executable, "-m", "sbdlib.course.notebook_format"]
    check = subprocess.run(run + ["--check", str(path)], capture_output=True, text=True, cwd=ROOT)
    assert check.returncode == 1 and "would change" in check.stdout
    assert subprocess.run(run + [str(path)], capture_output=True, text=True, cwd=ROOT).returncode == 0
    again = subprocess.run(run + ["--check", str(path)], capture_output=True, text=True, cwd=ROOT)
    assert again.returncode == 0 and "already normalised" in again.stdout
    missing = subprocess.run(run + [str(tmp_path / "nope.ipynb")], capture_output=True, text=True, cwd=ROOT)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr and "not a file" in missing.stderr


@pytest.mark.parametrize("path", NOTEBOOKS[:3], ids=[p.stem for p in NOTEBOOKS[:3]])
def test_layout_is_what_jupyters_server_writes(path):
    # The server reads a notebook with nbformat (joining lines) and writes it back with nbformat.
    import nbformat

    formatted = nf.format_text(path.read_text(encoding="utf-8"))
    served = nbformat.writes(nbformat.reads(formatted, as_version=nbformat.NO_CONVERT), version=nbformat.NO_CONVERT)
    assert served + ("" if served.endswith("\n") else "\n") == formatted
