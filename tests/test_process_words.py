"""The course speaks of itself only: no words about how it was made (issue numbers, sessions, lent machines).

A reader of the README, the notebooks, the library's docstrings or the benchmarks cannot
know what "issue 10" or "this session" means; such lines must state the fact instead (what
was measured, on which machine, what is an estimate and from what).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROCESS_WORDS = re.compile(r"issue [0-9]|session|was lent|lent to", re.IGNORECASE)
TEXT_SOURCES = ("README.md", "sbdlib", "benchmarks")
NOTEBOOK_DIR = "notebooks"
TEXT_SUFFIXES = {".md", ".py", ".txt", ".toml", ".cfg", ".yml", ".yaml"}
SHOWN_MIMES = ("text/plain", "text/markdown", "text/html")  # outputs a reader sees as text


def _text_files() -> list[Path]:
    files = []
    for name in TEXT_SOURCES:
        path = ROOT / name
        files += [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in TEXT_SUFFIXES)
    return files


def _hits(where: str, text: str, line_sep: str = ":") -> list[str]:
    """``where:line: text`` for each line of ``text`` with a process word."""
    return [f"{where}{line_sep}{i}: {line.strip()}" for i, line in enumerate(text.splitlines(), 1)
            if PROCESS_WORDS.search(line)]


def _notebook_hits(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for c, cell in enumerate(nb["cells"]):
        texts = [("source", cell.get("source", ""))]
        for output in cell.get("outputs", []):
            texts.append(("output", output.get("text", "")))
            texts += [("output", output.get("data", {}).get(mime, "")) for mime in SHOWN_MIMES]
        for kind, text in texts:
            text = text if isinstance(text, str) else "".join(text)
            found += _hits(f"{path.relative_to(ROOT)} cell {c} ({kind})", text, line_sep=" line ")
    return found


def test_no_process_words_in_readme_library_benchmarks_or_notebooks():
    found = []
    for path in _text_files():
        found += _hits(str(path.relative_to(ROOT)), path.read_text(encoding="utf-8", errors="replace"))
    for path in sorted((ROOT / NOTEBOOK_DIR).glob("*.ipynb")):
        found += _notebook_hits(path)
    if found:
        pytest.fail("words about how the project was made, not about the course (state the fact instead):\n"
                    + "\n".join(found), pytrace=False)


def test_the_check_finds_what_it_should():
    assert _hits("x", "measured in issue 15\nfine line\nnone was lent to us\nthis Session") == [
        "x:1: measured in issue 15", "x:3: none was lent to us", "x:4: this Session"]
    assert _hits("x", "issues are tracked elsewhere; an issue-free line") == []
