"""The one results format: one CSV per experiment, one row per trained model.

Every experiment the course ships writes its rows with :func:`write_results` and every
notebook reads them with :func:`read_results`; both check the columns, so a table with a
missing or unknown column fails with one error naming the file and the fix. Summaries
(:func:`summarize`) give the medians and ranges the README and notebook 06 quote.

Columns (:func:`columns`; ``COLUMNS`` is the same tuple): what was trained (``dataset``, ``decoder``, ``variant`` -- empty
for the paper's default architecture, else a name such as ``shuffled-coords``, --
``objective`` in ``vae`` / ``beta-vae`` / ``factorvae``, ``beta``, ``seed``), how (``scale``,
``image_size``, ``width``, ``likelihood``, ``steps``, ``batch_size``, ``lr``, ``device``,
``precision``), what it scored (``nll``, ``kl``, ``elbo`` in nats per image, ``latents_used``,
``mig``, ``factor_vae``, ``affine_r2`` -- empty for sets without x and y, ``num_active_dims``),
how it ended (``diverged``: 1 if a non-finite loss stopped it) and the time it took. The
scores' columns come from the metrics registry (:data:`sbdlib.metrics.METRICS`): a metric
registered there adds its columns here, optional, so tables written before it still read.
"""

from __future__ import annotations

import csv
import math
import os
import statistics
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from sbdlib.metrics import metric_columns
from sbdlib.training.checkpoints import write_atomically

RUN_COLUMNS = ("dataset", "decoder", "variant", "objective", "beta", "seed", "scale", "image_size", "width",
               "likelihood", "steps", "batch_size", "lr")  # what was trained, and how
END_COLUMNS = ("diverged", "train_seconds", "eval_seconds", "device", "precision")  # how it ended, and where
TEXT_COLUMNS = ("dataset", "decoder", "variant", "objective", "scale", "likelihood", "device", "precision")
OBJECTIVES = ("vae", "beta-vae", "factorvae")
DIGITS = 6  # decimals kept for measured values


def columns() -> tuple[str, ...]:
    """Every column of the format: the run's, each registered metric's (:data:`sbdlib.metrics.METRICS`), the end's."""
    return RUN_COLUMNS + tuple(c.name for c in metric_columns()) + END_COLUMNS


def required_columns() -> tuple[str, ...]:
    """The columns every table has (a metric registered later adds optional ones)."""
    optional = {c.name for c in metric_columns() if not c.required}
    return tuple(c for c in columns() if c not in optional)


def int_columns() -> tuple[str, ...]:
    """Integer columns: the run's counts, integer metrics and ``diverged``."""
    return ("seed", "image_size", "width", "steps", "batch_size",
            *(c.name for c in metric_columns() if c.kind is int), "diverged")


def __getattr__(name: str) -> tuple[str, ...]:
    """``COLUMNS``, ``INT_COLUMNS`` and ``FLOAT_COLUMNS`` as they are now (metrics can be registered later)."""
    if name == "COLUMNS":
        return columns()
    if name == "INT_COLUMNS":
        return int_columns()
    if name == "FLOAT_COLUMNS":
        return tuple(c for c in columns() if c not in TEXT_COLUMNS and c not in int_columns())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _cast(column: str, text: str, path: Path, line: int, ints: Sequence[str], texts: Sequence[str] = TEXT_COLUMNS
          ) -> Any:
    """One CSV cell as its column's type (empty = None)."""
    if text == "" or column in texts:
        return None if text == "" and column not in texts else text
    try:
        return int(text) if column in ints else float(text)
    except ValueError:
        kind = "an integer" if column in ints else "a number"
        raise ValueError(f"{path}, line {line}: column {column!r} must be {kind}, got {text!r}") from None


def _check_columns(found: Sequence[str], path: Path | str, cols: Sequence[str] | None = None,
                   required: Sequence[str] | None = None) -> None:
    """One error naming the file, the missing and the unknown columns, and the fix (default: the results format)."""
    missing = [c for c in (required_columns() if required is None else required) if c not in found]
    unknown = [c for c in found if c not in (columns() if cols is None else cols)]
    if missing or unknown:
        raise ValueError(f"{path} is not in the results format: missing columns {missing}, unknown columns "
                         f"{unknown}; regenerate it with `make results` (or write it with sbdlib.experiments.results.write_results)")


def read_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a results CSV: one dict per row, typed per column (empty cells are None).

    Raises:
        FileNotFoundError: No such file.
        ValueError: Missing or unknown columns, or a cell of the wrong type (file and line named).
    """
    return read_table(path, columns(), int_columns=int_columns(), text_columns=TEXT_COLUMNS,
                      required=required_columns())


def read_table(path: str | os.PathLike, cols: Sequence[str], *, int_columns: Sequence[str] = (),
               text_columns: Sequence[str] = (), required: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Read a CSV of the columns ``cols`` (``required``: those it must have, default all), typed per column.

    The results format is one such table; the object-centric runs of notebook 13 write another
    (:data:`sbdlib.experiments.object_runs.OBJECT_COLUMNS`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no results table at {path}; `make results` regenerates the shipped ones")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        _check_columns(reader.fieldnames or [], path, cols, cols if required is None else required)
        return [{c: _cast(c, row.get(c) or "", path, i + 2, int_columns, text_columns) for c in cols}
                for i, row in enumerate(reader)]


def _cell(value: Any) -> Any:
    """A value as written: None and NaN empty, floats rounded."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return round(value, DIGITS)
    return value


def write_results(rows: Iterable[Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """Write rows (each with the required columns, and no unknown one) to ``path`` atomically, replacing it.

    Every column of :func:`columns` is written; an optional one a row lacks stays empty.
    """
    rows = list(rows)
    cols = columns()
    for i, row in enumerate(rows):
        _check_columns(list(row), f"row {i} for {path}")
        if row["objective"] not in OBJECTIVES:
            raise ValueError(f"row {i} for {path}: objective must be one of {OBJECTIVES}, got {row['objective']!r}")
    return write_table(rows, path, cols)


def write_table(rows: Iterable[Mapping[str, Any]], path: str | os.PathLike, cols: Sequence[str]) -> Path:
    """Write rows as a CSV of the columns ``cols`` to ``path`` atomically (None and NaN as empty cells)."""
    rows = list(rows)
    for i, row in enumerate(rows):
        _check_columns(list(row), f"row {i} for {path}", cols, ())

    def write(f) -> None:
        writer = csv.DictWriter(f, fieldnames=list(cols))
        writer.writeheader()
        writer.writerows({c: _cell(row.get(c)) for c in cols} for row in rows)

    return write_atomically(path, write, mode="w")


def group_key(row: Mapping[str, Any], by: Sequence[str]) -> tuple:
    """The values of ``by`` in a row (a group of a summary)."""
    return tuple(row[c] for c in by)


def summarize(rows: Iterable[Mapping[str, Any]], metric: str, by: Sequence[str] = ("decoder",)
              ) -> dict[tuple, dict[str, Any]]:
    """Median, range and count of ``metric`` per group (rows with an empty value are skipped).

    Returns:
        ``{group: {"median", "min", "max", "n", "values"}}``, groups in first-seen order.
    """
    groups: dict[tuple, list[float]] = {}
    for row in rows:
        value = row[metric]
        groups.setdefault(group_key(row, by), [])
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            groups[group_key(row, by)].append(float(value))
    return {g: {"median": statistics.median(v) if v else math.nan, "min": min(v, default=math.nan),
                "max": max(v, default=math.nan), "n": len(v), "values": v} for g, v in groups.items()}


def median_range(summary: Mapping[str, Any], digits: int = 3) -> str:
    """``"0.159 (0.066-0.241)"``: a summary's median and range as text."""
    if not summary["n"]:
        return "n/a"
    return f"{summary['median']:.{digits}f} ({summary['min']:.{digits}f}-{summary['max']:.{digits}f})"


SUMMARY_METRICS = ("mig", "factor_vae", "latents_used", "affine_r2", "elbo")
ONE_DECIMAL = ("elbo", "nll", "kl", "latents_used")  # nats and latent counts; scores get three


def digits_of(metric: str) -> int:
    """Decimals a summary shows for a metric: one for nats and latent counts, three for scores."""
    return 1 if metric in ONE_DECIMAL else 3


def markdown_summary(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str] = SUMMARY_METRICS,
                     by: Sequence[str] = ("decoder",)) -> str:
    """A Markdown table: one line per group, ``median (min-max)`` of each metric over its seeds."""
    summaries = {m: summarize(rows, m, by) for m in metrics}
    groups = list(summaries[metrics[0]])
    lines = ["| " + " | ".join([*by, "seeds", *metrics]) + " |", "|" + "---|" * (len(by) + 1 + len(metrics))]
    for g in groups:
        seeds = sum(1 for r in rows if group_key(r, by) == g)
        cells = [median_range(summaries[m][g], digits_of(m)) for m in metrics]
        lines.append("| " + " | ".join([*map(str, g), str(seeds), *cells]) + " |")
    return "\n".join(lines)
