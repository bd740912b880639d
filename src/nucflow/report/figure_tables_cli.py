"""``nucflow figure-tables``: the bootstrap intervals every figure draws, as tables.

Writes ``<results>/tables/figures/<figure stem>/<name>.csv`` for each figure whose result tables
exist (see :mod:`nucflow.report.figure_tables` for what each table holds); ``nucflow figures``
then only reads them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nucflow.checks import check_results_folder
from nucflow.report.figure_tables import BUILDERS, write_figure_tables
from nucflow.results.catalog import CATALOG


def add_arguments(parser: argparse.ArgumentParser) -> None:
    inputs = parser.add_argument_group("inputs")
    inputs.add_argument("--results", type=Path, default=Path("results"),
                        help="results folder holding tables/ and attribution/ (default: results)")
    selection = parser.add_argument_group("selection")
    selection.add_argument("--only", nargs="+", metavar="NAME", choices=sorted(CATALOG),
                           help=f"only these figures' tables (figures with intervals: {', '.join(BUILDERS)}; "
                                "the others have none and are passed over)")
    statistics = parser.add_argument_group("statistics")
    statistics.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default: 1000)")


def run(args: argparse.Namespace) -> int:
    results = check_results_folder(args.results, args.n_boot)
    written = write_figure_tables(results, args.only, n_boot=args.n_boot)
    for path in written:
        print(f"wrote {path}")
    if not written:
        print(f"{results}: no figure with intervals has its result tables yet; nothing written")
    return 0
