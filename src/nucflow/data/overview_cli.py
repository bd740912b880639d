"""``nucflow overview``: draw the data overview figure (PNG and PDF) from a manifest."""

from __future__ import annotations

import argparse
from pathlib import Path

from nucflow.data.overview import draw_overview


def add_arguments(parser: argparse.ArgumentParser) -> None:
    inputs = parser.add_argument_group("input")
    inputs.add_argument("--manifest", required=True, type=Path,
                        help="manifest.csv (paths inside it are relative to it)")
    outputs = parser.add_argument_group("output")
    outputs.add_argument("--out", required=True, type=Path,
                         help="figure path ending in .png; a PDF with the same stem is written too")
    choice = parser.add_argument_group("choice of fields")
    choice.add_argument("--seed", type=int, default=0,
                        help="seed for picking the field shown per cell line (default 0)")


def run(args: argparse.Namespace) -> int:
    png, pdf = draw_overview(args.manifest, args.out, seed=args.seed)
    print(f"wrote {png} and {pdf}")
    return 0
