"""``nucflow models``: a table of parameters, MACs per tile and forward time for each model.

By default every registered model is listed; a model whose module is not available is skipped
with a note on stderr. Naming it with ``--models`` makes its absence an error.
See :mod:`nucflow.models.summary` for what each column counts.
"""

from __future__ import annotations

import argparse
import sys

from nucflow.errors import NucflowError
from nucflow.io import write_csv
from nucflow.models.registry import model_class, model_names
from nucflow.models.summary import ppunet_size_line, summarize, summary_table, with_ppunet_ratio


def add_arguments(parser: argparse.ArgumentParser) -> None:
    models = parser.add_argument_group("models")
    models.add_argument("--models", nargs="+", metavar="NAME", default=None,
                        help=f"models to list (default: every registered one, {', '.join(model_names())}; "
                             "unavailable ones are then skipped)")
    models.add_argument("--width", type=float, default=1.0,
                        help="filter-count multiplier; 1.0 is the published size (default: 1.0)")
    models.add_argument("--in-channels", type=int, default=1,
                        help="input channels, i.e. focal planes (default: 1)")
    measure = parser.add_argument_group("measurement")
    measure.add_argument("--size", type=int, default=288,
                         help="tile side length in pixels for MACs and timing (default: 288)")
    measure.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                         help="device for the forward timing (default: cpu)")
    measure.add_argument("--repeats", type=int, default=3,
                         help="timed forward passes; the median is reported (default: 3)")
    output = parser.add_argument_group("output")
    output.add_argument("--out", default=None, metavar="CSV",
                        help="also write the table to this CSV file")


def _available(names: list[str], explicit: bool) -> list[str]:
    available = []
    for name in names:
        try:
            model_class(name)
        except NucflowError as exc:
            if explicit:
                raise
            print(f"nucflow models: skipping {name}: {exc}", file=sys.stderr)
            continue
        available.append(name)
    return available


def run(args: argparse.Namespace) -> int:
    explicit = args.models is not None
    names = _available(list(args.models) if explicit else list(model_names()), explicit)
    if args.in_channels < 1:
        raise NucflowError(f"--in-channels: must be >= 1, got {args.in_channels}")
    if not args.width > 0:
        raise NucflowError(f"--width: must be > 0, got {args.width}")
    rows = [summarize(name, width=args.width, in_channels=args.in_channels, size=args.size,
                      device=args.device, repeats=args.repeats) for name in names]
    table = with_ppunet_ratio(summary_table(rows))
    print(table.to_string(index=False))
    if ppunet_size_line(table):
        print(ppunet_size_line(table))
    if args.out:
        write_csv(args.out, table)
    return 0
