"""Where the default study's time went, from a finished ``make run`` (``results/`` and ``logs/``):
per rule, jobs, wall and CPU seconds, start-up (mean and worst per job, share of wall time) and
optimisation-step seconds; then the share of all CPU seconds spent in optimisation steps.

    nucflow bench study [--results results] [--logs logs]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from nucflow.study.compute import job_table, rule_table, shares


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="nucflow bench study")
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--logs", type=Path, default=Path("logs"))
    args = parser.parse_args(argv or [])
    if not (args.results / "benchmarks").is_dir():
        print(f"{args.results}/benchmarks: not found; run the default study first (make run)")
        return
    jobs = job_table(args.results, args.logs)
    table = rule_table(jobs)
    columns = ["rule", "jobs", "wall_s", "cpu_s", "mean_wall_s", "mean_startup_s", "max_startup_s",
               "startup_share_of_wall", "optimisation_s", "optimisation_share_of_wall"]
    with pd.option_context("display.float_format", "{:.2f}".format, "display.width", 200):
        print(table[columns].to_string(index=False))
    total = shares(jobs)
    print(f"study_jobs: {total['jobs']}")
    print(f"study_cpu_seconds: {total['cpu_s']:.0f} (wall seconds summed over jobs: {total['wall_s']:.0f})")
    print(f"study_optimisation_share_of_job_seconds: {100 * total['optimisation_share_of_job_seconds']:.1f}% "
          f"({total['optimisation_s']:.0f} s in training and fine-tuning steps)")
    print(f"study_startup_share_of_wall: {100 * total['startup_share_of_wall']:.1f}%")
    print(f"study_worst_nontraining_startup: {total['worst_nontraining_rule']} "
          f"{total['worst_nontraining_mean_startup_s']:.2f} s per job (mean)")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
