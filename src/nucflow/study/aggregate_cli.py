"""``nucflow aggregate``: one arm's per-image / per-object / per-run tables from its runs' metrics."""

from __future__ import annotations

from pathlib import Path

from nucflow.errors import NucflowError
from nucflow.io import write_csv
from nucflow.study.aggregate import collect, collect_attribution, collect_tradeoffs
from nucflow.study.plan_table import read_plan


def _entry(text: str) -> tuple[str, str, str]:
    parts = text.split("/")
    if len(parts) != 3:
        raise NucflowError(f"entry {text!r}: expected RUN_ID/EVAL_SET/METHOD")
    return parts[0], parts[1], parts[2]


def add_arguments(parser) -> None:
    parser.add_argument("--plan", required=True, help="results/plan.csv")
    parser.add_argument("--entries", nargs="+", type=_entry, help="RUN_ID/EVAL_SET/METHOD ...")
    parser.add_argument("--arm", help="the arm being collected: an entry of another arm's run stands for the "
                                      "run of this arm that reuses it (plan column same_as)")
    parser.add_argument("--out-dir", help="folder for per_image.csv, per_object.csv, per_run.csv")
    tradeoff = parser.add_argument_group("multi-scale trade-off tables instead of metrics")
    tradeoff.add_argument("--tradeoffs", nargs="+", type=Path, help="tradeoff.csv files of nucflow tradeoff")
    tradeoff.add_argument("--out", type=Path, help="the collected table (CSV)")
    what = parser.add_argument_group("attribution instead of metrics")
    what.add_argument("--attribution", action="store_true",
                      help="collect the runs' attribution outputs (density, size bins, composition, artifacts)")
    what.add_argument("--label-noise", nargs="*", default=[], type=Path,
                      help="label-noise folders named <dataset>-s<seed> (with --attribution)")


def run(args) -> int:
    if args.tradeoffs:
        if not args.out:
            raise NucflowError("--tradeoffs needs --out")
        table = collect_tradeoffs(read_plan(args.plan), args.tradeoffs)
        write_csv(args.out, table)
        print(f"{args.out}: {table['run_id'].nunique()} runs, {len(table)} rows")
        return 0
    if not args.entries or not args.out_dir:
        raise NucflowError("--entries and --out-dir are required (or --tradeoffs and --out)")
    if args.attribution:
        tables = collect_attribution(read_plan(args.plan), args.entries, args.label_noise)
        out = Path(args.out_dir)
        for name, table in tables.items():
            write_csv(out / f"{name}.csv", table)
        print(f"{out}: {', '.join(sorted(tables))}")
        return 0
    tables = collect(read_plan(args.plan), args.entries, arm=args.arm)
    out = Path(args.out_dir)
    for name, table in tables.items():
        write_csv(out / f"{name}.csv", table)
    print(f"{out}: {len(tables['per_run'])} runs, {len(tables['per_image'])} image rows")
    return 0
