"""``nucflow plan --config C [--out results/plan.csv]``: print and write the table of runs."""

from __future__ import annotations

from nucflow.config import load_config
from nucflow.io import write_csv
from nucflow.study.plan import plan


def add_arguments(parser) -> None:
    parser.add_argument("--config", required=True, help="study config (YAML)")
    parser.add_argument("--out", help="CSV to write (e.g. results/plan.csv)")
    parser.add_argument("--arm", help="only the runs of this arm")


def run(args) -> int:
    table = plan(load_config(args.config))
    if args.arm:
        table = table[table["arm"] == args.arm]
    if args.out:
        write_csv(args.out, table)
    with_counts = table.groupby("arm").size().to_dict()
    print(table[["run_id", "model", "modality", "dataset", "seed"]].to_string(index=False))
    print(f"{len(table)} runs: " + ", ".join(f"{arm} {n}" for arm, n in with_counts.items()))
    return 0
