"""Rewrite notebooks into the exact form JupyterLab saves, so opening and autosaving one changes nothing.

JupyterLab (4.6, with ipykernel and ipywidgets 8) changes a notebook written by
``jupyter nbconvert --execute`` the moment it opens and autosaves it:

* ``metadata.kernelspec.display_name`` becomes the running kernel's ``"Python 3 (ipykernel)"``;
* every number goes through JavaScript, which has no integer type: a float with an integral
  value is written back as an integer (a slider's ``"max": 3.0`` becomes ``"max": 3``);
* consecutive stream outputs of one name (stdout, stderr) merge into one, and carriage
  returns and backspaces in them are applied (a text progress bar keeps its last state);
* the server writes the JSON with nbformat's layout: sorted keys, one-space indent,
  multi-line strings split into lists of lines, a final newline.

:func:`normalise` applies the same changes to a notebook's JSON (plus one JupyterLab does
not make: saved widget state keeps only the models some output uses). The result is a fixed
point: normalising it again, or opening and saving it in JupyterLab, changes nothing.

Run after executing notebooks (``make figures`` does)::

    python -m sbdlib.course.notebook_format            # rewrite notebooks/*.ipynb in place
    python -m sbdlib.course.notebook_format --check    # list notebooks that are not in that form (exit 1)

Not imported by ``import sbdlib``. Standard library only (nbformat's layout is reproduced, not
imported: loading nbformat's schema validator takes seconds); tests/test_notebook_format.py
checks the layout against nbformat itself.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
NBFORMAT_MINOR = 5  # JupyterLab 4 writes nbformat 4.5 (cell ids)
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
MODEL_REFERENCE = re.compile(r"^IPY_MODEL_(.+)$")  # how one widget model's state names another
JS_EXPONENT_LIMIT = 1e21  # JSON.stringify writes integral values below this without an exponent
LINE_SPLIT_MIMES = ("application/javascript", "image/svg+xml")  # besides text/*: stored as lists of lines
TRANSIENT_METADATA = ("signature", "orig_nbformat", "orig_nbformat_minor")  # nbformat never writes these
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "notebooks"


# ----------------------------------------------------------------------------- numbers


def integral_floats_to_int(value: Any) -> Any:
    """A JSON value as JavaScript writes it back: floats with an integral value become ints."""
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < JS_EXPONENT_LIMIT:
            return int(value)
        return value
    if isinstance(value, dict):
        return {key: integral_floats_to_int(item) for key, item in value.items()}
    if isinstance(value, list):
        return [integral_floats_to_int(item) for item in value]
    return value


# ----------------------------------------------------------------------------- streams


def _text(value: str | list[str]) -> str:
    """A notebook text field (a string or a list of lines) as one string."""
    return value if isinstance(value, str) else "".join(value)


def process_text(index: int, new: str, old: str = "") -> tuple[str, int]:
    """Write ``new`` into ``old`` at ``index`` as a terminal would: ``\\r``, ``\\b`` and ``\\n`` act.

    The same rules as JupyterLab's output area (``processText`` in @jupyterlab/outputarea),
    so a merged stream reads exactly as JupyterLab stores it.

    Returns:
        ``(text, index)``: the new text and the cursor position after writing.
    """
    if not any(ch in new for ch in "\b\r\n"):
        return old[:index] + new + old[index + len(new):], index + len(new)
    cursor, start = index, 0
    while True:
        match = re.compile(r"[\n\b\r]").search(new, start)
        sep = match.start() if match else -1
        part = new[start:] if sep == -1 else new[start:sep]
        old = old[:cursor] + part + old[cursor + len(part):]
        start, cursor = sep + 1, cursor + len(part)
        if sep == -1:
            return old, cursor
        char = new[sep]
        if char == "\b":
            if cursor > 0 and old[cursor - 1] != "\n":
                old = old[:cursor - 1] + old[cursor + 1:]
                cursor -= 1
        elif char == "\r":
            while cursor > 0 and old[cursor - 1] != "\n":
                cursor -= 1
        else:  # "\n" ends the text's last line, wherever the cursor is
            old += "\n"
            cursor = len(old)


def merge_streams(outputs: list[dict]) -> list[dict]:
    """Outputs as JupyterLab keeps them: consecutive streams of one name merged, ``\\r``/``\\b`` applied."""
    merged: list[dict] = []
    last_name, index = "", 0
    for output in outputs:
        if output.get("output_type") != "stream":
            merged.append(output)
            last_name = ""
            continue
        text = _text(output.get("text", ""))
        if merged and output.get("name") == last_name:
            previous = merged[-1]
            previous["text"], index = process_text(index, text, _text(previous["text"]))
            continue
        output = dict(output)
        output["text"], index = process_text(0, text)
        merged.append(output)
        last_name = output.get("name", "")
    return merged


# ----------------------------------------------------------------------------- widgets


def _referenced_models(value: Any, found: set[str]) -> None:
    """Add to ``found`` every widget model id ``value`` refers to (``IPY_MODEL_<id>`` or a widget view)."""
    if isinstance(value, str):
        match = MODEL_REFERENCE.match(value)
        if match:
            found.add(match.group(1))
    elif isinstance(value, dict):
        view = value.get(WIDGET_VIEW)
        if isinstance(view, dict) and isinstance(view.get("model_id"), str):
            found.add(view["model_id"])
        for item in value.values():
            _referenced_models(item, found)
    elif isinstance(value, list):
        for item in value:
            _referenced_models(item, found)


def used_widget_models(nb: dict) -> set[str]:
    """Ids of the saved widget models that some output shows, directly or through another model."""
    roots: set[str] = set()
    for cell in nb.get("cells", []):
        _referenced_models(cell.get("outputs", []), roots)
    state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    used, todo = set(), list(roots)
    while todo:
        model = todo.pop()
        if model in used or model not in state:
            continue
        used.add(model)
        children: set[str] = set()
        _referenced_models(state[model], children)
        todo.extend(children - used)
    return used


def prune_widget_state(nb: dict) -> None:
    """Drop saved widget models no output uses; drop ``metadata.widgets`` when none is left."""
    widgets = nb.get("metadata", {}).get("widgets")
    if widgets is None:
        return
    saved = widgets.get(WIDGET_STATE, {})
    used = used_widget_models(nb)
    saved["state"] = {key: value for key, value in saved.get("state", {}).items() if key in used}
    if not saved["state"]:
        del nb["metadata"]["widgets"]


# ----------------------------------------------------------------------------- notebooks


def normalise(nb: dict) -> dict:
    """A notebook's JSON (as ``json.load`` gives it) in the form JupyterLab saves; the input is not changed."""
    if not isinstance(nb, dict) or nb.get("nbformat") != 4:
        raise ValueError("expected a notebook in nbformat 4 (a dict with 'nbformat': 4); upgrade it with "
                         "`jupyter nbconvert --to notebook --inplace` first")
    nb = integral_floats_to_int(json.loads(json.dumps(nb)))
    nb["nbformat_minor"] = max(int(nb.get("nbformat_minor", 0)), NBFORMAT_MINOR)
    metadata = nb.setdefault("metadata", {})
    kernelspec = metadata.get("kernelspec")
    if kernelspec is None or kernelspec.get("name") == KERNELSPEC["name"]:
        metadata["kernelspec"] = dict(KERNELSPEC)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = merge_streams(cell.get("outputs", []))
    prune_widget_state(nb)
    return nb


def _split_mime_bundle(bundle: dict) -> None:
    """Text mime types (``text/*``, JavaScript, SVG) as lists of lines, as nbformat stores them."""
    for mime, value in bundle.items():
        if isinstance(value, list) and (mime.startswith("text/") or mime in LINE_SPLIT_MIMES):
            value = "".join(value)
        if isinstance(value, str) and (mime.startswith("text/") or mime in LINE_SPLIT_MIMES):
            bundle[mime] = value.splitlines(True)


def _split_lines(nb: dict) -> None:
    """Multi-line strings as lists of lines, where nbformat's writer splits them (the server's reader joins them)."""
    for cell in nb.get("cells", []):
        if "source" in cell:
            cell["source"] = _text(cell["source"]).splitlines(True)
        for attachment in (cell.get("attachments") or {}).values():
            _split_mime_bundle(attachment)
        for output in cell.get("outputs", []):
            if output.get("output_type") in ("execute_result", "display_data"):
                _split_mime_bundle(output.get("data", {}))
            elif output.get("output_type") == "stream" and "text" in output:
                output["text"] = _text(output["text"]).splitlines(True)


def dumps(nb: dict) -> str:
    """The file text Jupyter's server writes for ``nb``: nbformat's writer, without loading nbformat.

    Transient fields dropped (the trust signature, ``orig_nbformat``, cells' ``trusted``),
    multi-line strings split into lines, sorted keys, one-space indent, a final newline.
    """
    nb = json.loads(json.dumps(nb))
    for key in TRANSIENT_METADATA:
        nb.get("metadata", {}).pop(key, None)
    for cell in nb.get("cells", []):
        cell.get("metadata", {}).pop("trusted", None)
    _split_lines(nb)
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False, separators=(",", ": ")) + "\n"


def format_text(text: str) -> str:
    """The normalised file text of a notebook file's text."""
    return dumps(normalise(json.loads(text)))


def normalise_file(path: Path, *, write: bool = True) -> bool:
    """Normalise one notebook file in place (unless ``write`` is False); True if it was not in that form."""
    text = path.read_text(encoding="utf-8")
    formatted = format_text(text)
    if formatted == text:
        return False
    if write:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(formatted, encoding="utf-8")
        tmp.replace(path)
    return True


def main(argv: list[str] | None = None) -> int:
    """``python -m sbdlib.course.notebook_format [--check] [NOTEBOOK ...]`` (default: the course's notebooks/)."""
    parser = argparse.ArgumentParser(prog="python -m sbdlib.course.notebook_format",
                                     description="Rewrite notebooks into the form JupyterLab saves.")
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebook files (default: notebooks/*.ipynb)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook would change")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(DEFAULT_DIR.glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        parser.error(f"not a file: {', '.join(missing)}")
    changed = []
    for path in paths:
        try:
            if normalise_file(path, write=not args.check):
                changed.append(path)
        except (ValueError, json.JSONDecodeError) as error:
            parser.error(f"{path}: {error}")
    verb = "would change" if args.check else "normalised"
    for path in changed:
        print(f"{verb}: {path}")
    print(f"{len(changed)} of {len(paths)} notebooks {verb}" if changed else f"{len(paths)} notebooks already normalised")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
