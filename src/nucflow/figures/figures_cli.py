"""``nucflow figures``: draw every registered figure whose inputs exist, and write summary.md.

Figures read only result tables under ``--results``; one whose inputs are missing (its arm is
switched off or not run yet) is skipped with a one-line note. Each figure is written as
``<out>/<NN>_<name>.png`` and ``.pdf``; the summary goes to ``<results>/summary.md``.

Figures are drawn into a staging folder beside ``<out>`` and moved into ``<out>`` only when every
requested figure was drawn: a run that fails part-way leaves the figures already there as they were.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from nucflow.checks import check_results_folder
from nucflow.figures.registry import FIGURES
from nucflow.report.summary import write_summary
from nucflow.io import ensure_dir, staging_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    inputs = parser.add_argument_group("inputs")
    inputs.add_argument("--results", type=Path, default=Path("results"),
                        help="results folder holding tables/, benchmarks/, lr_find/, attribution/ (default: results)")
    outputs = parser.add_argument_group("outputs")
    outputs.add_argument("--out", type=Path, default=None,
                         help="folder for the figures (default: <results>/figures)")
    outputs.add_argument("--summary", type=Path, default=None,
                         help="path of the generated summary (default: <results>/summary.md)")
    outputs.add_argument("--no-summary", action="store_true", help="do not write the summary")
    outputs.add_argument("--reference", type=Path, default=None,
                         help="folder of a reference result (its claims.csv and summary.md, e.g. docs/reference): "
                              "the summary shows its verdict beside each claim")
    selection = parser.add_argument_group("selection")
    selection.add_argument("--only", nargs="+", metavar="NAME", choices=sorted(FIGURES),
                           help=f"draw only these figures (from: {', '.join(FIGURES)})")
    statistics = parser.add_argument_group("statistics")
    statistics.add_argument("--n-boot", type=int, default=1000,
                            help="bootstrap resamples for the summary's CIs (default: 1000)")
    statistics.add_argument("--seed", type=int, default=0, help="seed of the summary's bootstrap (default: 0)")


def draw(results: Path, out_dir: Path, names: list[str] | None = None) -> dict[str, list[Path] | str]:
    """Draw the named figures (default: all); returns name -> written paths or the skip reason."""
    outcome: dict[str, list[Path] | str] = {}
    for name in names or list(FIGURES):
        spec = FIGURES[name]
        lacking = spec.missing(results)
        if lacking:
            outcome[name] = f"missing {', '.join(lacking)}"
            continue
        paths = spec.function(results, out_dir)
        outcome[name] = paths if paths is not None else "inputs incomplete"
    return outcome


def draw_staged(results: Path, out_dir: Path, names: list[str] | None = None) -> dict[str, list[Path] | str]:
    """:func:`draw` into a staging folder, then move every file into ``out_dir``; if any figure
    fails, nothing in ``out_dir`` changes (the staging folder is removed and the error raised)."""
    out_dir = ensure_dir(out_dir)
    staging = staging_dir(out_dir, "drawing")
    try:
        outcome = draw(results, staging, names)
        for name, paths in outcome.items():
            if isinstance(paths, str):
                continue
            moved = []
            for path in paths:
                target = out_dir / Path(path).relative_to(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
                moved.append(target)
            outcome[name] = moved
        return outcome
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    results = check_results_folder(args.results, args.n_boot)
    out_dir = args.out or results / "figures"
    for name, outcome in draw_staged(results, out_dir, args.only).items():
        stem = FIGURES[name].stem
        if isinstance(outcome, str):
            print(f"skipped {stem}: {outcome}")
        else:
            print(f"wrote {', '.join(str(p) for p in outcome)}")
    if not args.no_summary:
        path = write_summary(results, args.summary or results / "summary.md", n_boot=args.n_boot, seed=args.seed,
                             reference=args.reference)
        print(f"wrote {path}")
    return 0
