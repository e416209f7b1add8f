"""``python -m sbdlib.experiments.summary FILE.csv [--by decoder variant]``: a results table's medians and ranges.

The command line of :func:`sbdlib.experiments.results.markdown_summary`; it prints Markdown.
"""

from __future__ import annotations

import argparse
from typing import Sequence

from sbdlib.experiments.results import SUMMARY_METRICS, markdown_summary, read_results


def main(argv: Sequence[str] | None = None) -> None:
    """Print the medians and ranges over seeds of a results table, one line per group, as Markdown."""
    parser = argparse.ArgumentParser(prog="python -m sbdlib.experiments.summary", description=main.__doc__)
    parser.add_argument("path")
    parser.add_argument("--by", nargs="+", default=["decoder"])
    parser.add_argument("--metrics", nargs="+", default=list(SUMMARY_METRICS))
    args = parser.parse_args(argv)
    print(markdown_summary(read_results(args.path), args.metrics, args.by))


if __name__ == "__main__":
    main()
