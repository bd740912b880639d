"""``nucflow choose {smoothing,focal-round,focal-greedy}``: choices made from validation results.

    nucflow choose smoothing --plan-config results/config/study.json --summaries S... --out best.json
    nucflow choose focal-round --round K --summaries S... --out DIR       (DIR/choice.json)
    nucflow choose focal-greedy --rounds DIR... --out greedy.csv
"""

from __future__ import annotations

from pathlib import Path

from nucflow.io import read_json, write_csv, write_json
from nucflow.study.layout import FocalGroup


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="what", required=True)
    smoothing = sub.add_parser("smoothing", help="best label-smoothing factor per model")
    smoothing.add_argument("--plan-config", required=True, help="study config (results/config/study.json)")
    smoothing.add_argument("--summaries", nargs="+", required=True, type=Path, help="validation summary.json files")
    smoothing.add_argument("--out", required=True, help="best.json to write")
    focal = sub.add_parser("focal-round", help="the plane one greedy round adds")
    focal.add_argument("--round", type=int, required=True)
    focal.add_argument("--summaries", nargs="+", required=True, type=Path, help="validation summary.json files")
    focal.add_argument("--out", required=True, type=Path, help="folder for choice.json")
    greedy = sub.add_parser("focal-greedy", help="the rounds' choices as one table")
    greedy.add_argument("--rounds", nargs="+", required=True, type=Path, help="round folders (choice.json)")
    greedy.add_argument("--out", required=True, help="greedy.csv to write")


def run(args) -> int:
    from nucflow.study import choose

    if args.what == "smoothing":
        from nucflow.config import load_config
        from nucflow.study.plan import plan_runs

        runs = {r.run_id: (r.model, r.smoothing) for r in plan_runs(load_config(args.plan_config))
                if r.arm == "smoothing"}
        best = choose.best_smoothing(args.summaries, runs)
        write_json(args.out, best)
        print(", ".join(f"{m}: {f:g}" for m, f in best.items()))
    elif args.what == "focal-round":
        choice = choose.focal_round(args.round, args.summaries)
        write_json(args.out / "choice.json", choice)
        print(f"round {args.round}: plane {choice['added_plane']} (order {choice['order']}, {choice['metric']} {choice['score']})")
    else:
        choices = []
        for folder in args.rounds:
            path = folder / "choice.json"
            choices.append(read_json(path))
            FocalGroup.round_of(folder)
        table = choose.focal_greedy(choices)
        write_csv(args.out, table)
        print(table.to_string(index=False))
    return 0
