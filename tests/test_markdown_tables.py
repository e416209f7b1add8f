"""The repository's Markdown renders: every pipe table parses whole as a GitHub-flavoured table.

GitHub ends a table at the first blank line; the lines after it render as a paragraph of
pipes. The files are parsed with markdown-it-py (CommonMark with its GFM table rule) and
every line that looks like a table row must lie inside a parsed table.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("docs", "data", "sbdlib", "benchmarks")  # where the Markdown pages live, besides the README
NOTEBOOK_COUNT = len(list((ROOT / "notebooks").glob("*.ipynb")))


def markdown_files() -> list[Path]:
    """README.md and every .md file under the repository's page folders."""
    found = [ROOT / "README.md"] + [p for d in FOLDERS for p in sorted((ROOT / d).rglob("*.md"))]
    return [p for p in found if p.is_file()]


def parse(text: str) -> list:
    """markdown-it-py's block tokens of ``text`` (CommonMark plus the GFM table rule)."""
    return MarkdownIt("commonmark").enable("table").parse(text)


def tables(text: str) -> list[dict]:
    """Each parsed table: its line range (0-based), its header cells and its body rows (cell texts)."""
    found, current, row = [], None, None
    for tok in parse(text):
        if tok.type == "table_open":
            current = {"lines": range(*tok.map), "header": [], "rows": []}
        elif tok.type == "tr_open":
            row = []
        elif tok.type == "inline" and row is not None:
            row.append(tok.content)
        elif tok.type == "tr_close":
            if current["header"]:
                current["rows"].append(row)
            else:
                current["header"] = row
            row = None
        elif tok.type == "table_close":
            found.append(current)
            current = None
    return found


def rows_outside_tables(text: str) -> list[int]:
    """1-based numbers of lines that look like table rows (``| ... |``) but no table holds."""
    held = {n for t in tables(text) for n in t["lines"]}
    fenced = {n for tok in parse(text) if tok.type in ("fence", "code_block") for n in range(*tok.map)}
    return [n + 1 for n, line in enumerate(text.splitlines())
            if re.match(r"^\s*\|.*\|\s*$", line) and n not in held and n not in fenced]


def table_under(text: str, heading: str) -> dict:
    """The first table after the heading line ``heading`` (e.g. ``## Reproduction``)."""
    lines = text.splitlines()
    start = next((n for n, line in enumerate(lines) if line.strip() == heading), None)
    assert start is not None, f"no heading {heading!r}"
    following = [t for t in tables(text) if t["lines"].start > start]
    assert following, f"no table under {heading!r}"
    return following[0]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_table_row_is_inside_a_parsed_table(path: Path) -> None:
    stray = rows_outside_tables(path.read_text(encoding="utf-8"))
    assert not stray, (f"{path.relative_to(ROOT)}: lines {stray} look like table rows but render as text "
                       "(a blank line or a missing header separator splits the table)")


def test_reproduction_table_holds_every_numbered_row() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Reproduction\n", 1)[1].split("\n## ", 1)[0]
    written = [int(n) for n in re.findall(r"^\| (\d+) \|", section, flags=re.M)]  # every numbered row line
    table = table_under(text, "## Reproduction")
    parsed = [int(r[0]) for r in table["rows"] if r[0].strip().isdigit()]
    assert parsed == written == list(range(1, len(written) + 1)), \
        f"Reproduction rows written {written}, parsed into the table {parsed}"
    assert len(table["rows"]) == len(parsed), "every Reproduction row starts with its number"


def test_notebooks_table_lists_every_notebook() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = next(t for t in tables(text) if t["header"][0] == "notebook" and "Open in Colab" in str(t["rows"]))
    assert len(table["rows"]) == NOTEBOOK_COUNT == 13
    assert [r[0] for r in table["rows"]] == sorted(f"`{p.stem}`" for p in (ROOT / "notebooks").glob("*.ipynb"))


def test_a_blank_line_inside_a_table_is_caught() -> None:
    whole = "# t\n\n| # | a |\n|---|---|\n| 1 | x |\n| 2 | y |\n"
    assert rows_outside_tables(whole) == [] and len(tables(whole)[0]["rows"]) == 2
    split = whole.replace("| 2 |", "\n| 2 |")
    assert rows_outside_tables(split) == [7]
    no_separator = "| # | a |\n| 1 | x |\n"
    assert rows_outside_tables(no_separator) == [1, 2]
    fenced = "```\n| not | a table |\n```\n"
    assert rows_outside_tables(fenced) == []
