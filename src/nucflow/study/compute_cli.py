"""``nucflow compute``: where the study's time went (per job, per rule, headline shares)."""

from __future__ import annotations

import argparse
from pathlib import Path

from nucflow.io import write_csv, write_json
from nucflow.study.compute import job_table, rule_table, shares


def add_arguments(parser: argparse.ArgumentParser) -> None:
    inputs = parser.add_argument_group("input")
    inputs.add_argument("--results", default="results", type=Path, help="results folder (benchmarks/, runs/)")
    inputs.add_argument("--logs", default="logs", type=Path, help="the workflow's logs folder")
    outputs = parser.add_argument_group("output")
    outputs.add_argument("--out", required=True, type=Path, help="folder for jobs.csv, rules.csv, summary.json")


def run(args: argparse.Namespace) -> int:
    jobs = job_table(args.results, args.logs)
    write_csv(args.out / "jobs.csv", jobs)
    write_csv(args.out / "rules.csv", rule_table(jobs))
    summary = shares(jobs)
    write_json(args.out / "summary.json", summary)
    print(f"{args.out}: {summary['jobs']} jobs, {summary['cpu_s']:.0f} CPU s, "
          f"{100 * summary['optimisation_share_of_job_seconds']:.1f}% of job-seconds in optimisation steps, "
          f"{100 * summary['startup_share_of_wall']:.1f}% of wall time in start-up")
    return 0
