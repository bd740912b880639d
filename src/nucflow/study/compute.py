"""Where the study's time goes: per job, wall and CPU seconds, start-up, work and optimisation steps.

Sources (all written by the workflow):

* ``results/benchmarks/<rule>/<key>.tsv`` — Snakemake's benchmark of each job: ``s`` (wall
  seconds) and ``cpu_time`` (user + system CPU seconds of the job's processes);
* ``logs/<rule>/<key>.log`` — the job's log; every ``nucflow`` command that succeeds ends with
  ``nucflow <cmd>: start-up S s, work W s`` (see :mod:`nucflow.cli`), and a job may run several.
  A command run by the job worker (:mod:`nucflow.worker`) adds ``nucflow worker: cpu C s, max RSS
  M MB``: the benchmark sees only the waiting process, so these CPU seconds are added to the
  benchmark's and this peak memory stands beside the benchmark's;
* ``results/runs/<run_id>/log.csv`` — ``train_seconds`` per epoch: time inside optimisation steps
  (forward, backward, optimiser) of training and fine-tuning jobs.

:func:`job_table` gives one row per job; :func:`rule_table` sums it per rule; :func:`shares` gives
the headline numbers (share of CPU seconds in optimisation steps, start-up per job). Torch-free.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from nucflow.errors import NucflowError

TIMING = re.compile(r"^nucflow (?P<command>[a-z-]+): start-up (?P<startup>[0-9.]+) s, work (?P<work>[0-9.]+) s$",
                    re.MULTILINE)
WORKER = re.compile(r"^nucflow worker: cpu (?P<cpu>[0-9.]+) s, max RSS (?P<rss>[0-9.]+) MB$", re.MULTILINE)
#: Rules whose jobs run optimisation steps (their log.csv has train_seconds).
TRAINING_RULES = ("train", "finetune")
JOB_COLUMNS = ["rule", "key", "run_id", "wall_s", "cpu_s", "max_rss_mb", "commands", "startup_s", "work_s",
               "optimisation_s"]


def _number(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def benchmark_rule(parts: tuple[str, ...]) -> str:
    """The rule of a benchmark file from its path below ``benchmarks/``.

    ``train/<run>.tsv`` -> train; ``plan.tsv`` -> plan; the ``data`` folder holds one fixed-name
    file per rule (``data/split.tsv`` -> split); ``tiles/.../<selection>.aug.tsv`` -> augment.
    """
    if len(parts) == 1:
        return Path(parts[0]).stem
    if parts[0] == "data":
        return Path(parts[-1]).stem
    if parts[0] == "tiles" and parts[-1].endswith(".aug.tsv"):
        return "augment"
    return parts[0]


def read_timings(log: Path) -> list[tuple[str, float, float]]:
    """(command, start-up s, work s) of every nucflow command a job log reports (empty if none)."""
    if not log.is_file():
        return []
    text = log.read_text(errors="replace")
    return [(m["command"], float(m["startup"]), float(m["work"])) for m in TIMING.finditer(text)]


def read_worker_usage(log: Path) -> list[tuple[float, float]]:
    """(CPU s, max RSS MB) of every command a job log says the job worker ran (empty if none)."""
    if not log.is_file():
        return []
    return [(float(m["cpu"]), float(m["rss"])) for m in WORKER.finditer(log.read_text(errors="replace"))]


def optimisation_seconds(run_dir: Path) -> float:
    """Seconds inside optimisation steps of a run (sum of ``train_seconds`` in its log.csv)."""
    log = run_dir / "log.csv"
    if not log.is_file():
        return math.nan
    table = pd.read_csv(log)
    if "train_seconds" not in table:
        raise NucflowError(f"{log}: no train_seconds column")
    return float(pd.to_numeric(table["train_seconds"], errors="coerce").sum())


def job_table(results: str | Path = "results", logs: str | Path = "logs") -> pd.DataFrame:
    """One row per benchmarked job: :data:`JOB_COLUMNS`.

    ``key`` is the benchmark path below the rule (``<run_id>/<eval_set>`` …), ``run_id`` the run of
    a training job (else ""), ``commands`` how many nucflow commands reported a timing,
    ``startup_s`` / ``work_s`` their sums (NaN when none reported), ``optimisation_s`` the run's
    optimisation-step seconds for train / finetune jobs (else 0).
    """
    results, logs = Path(results), Path(logs)
    root = results / "benchmarks"
    if not root.is_dir():
        raise NucflowError(f"{root}: no benchmark files (has the workflow run?)")
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        relative = path.relative_to(root).with_suffix("")
        rule, key = benchmark_rule(path.relative_to(root).parts), "/".join(relative.parts[1:])
        bench = pd.read_csv(path, sep="\t").apply(pd.to_numeric, errors="coerce")
        # not with_suffix: run ids hold dots (ls0.2, p0.8), which a second suffix swap would cut
        log = logs / relative.parent / f"{relative.name}.log"
        timings, usage = read_timings(log), read_worker_usage(log)
        run_id = key if rule in TRAINING_RULES else ""
        cpu = _number(bench["cpu_time"].mean()) if "cpu_time" in bench else math.nan
        rss = _number(bench["max_rss"].max()) if "max_rss" in bench else math.nan
        if usage:
            cpu = (0.0 if math.isnan(cpu) else cpu) + sum(u[0] for u in usage)
            rss = max([u[1] for u in usage] + ([] if math.isnan(rss) else [rss]))
        rows.append({
            "rule": rule, "key": key, "run_id": run_id,
            "wall_s": _number(bench["s"].mean()) if "s" in bench else math.nan,
            "cpu_s": cpu,
            "max_rss_mb": rss,
            "commands": len(timings),
            "startup_s": sum(t[1] for t in timings) if timings else math.nan,
            "work_s": sum(t[2] for t in timings) if timings else math.nan,
            "optimisation_s": optimisation_seconds(results / "runs" / run_id) if run_id else 0.0,
        })
    return pd.DataFrame(rows, columns=JOB_COLUMNS)


def rule_table(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per rule: jobs, wall and CPU seconds (sum and mean), start-up (sum, mean, max per job, share of
    wall), optimisation seconds and their share of the rule's wall seconds; largest wall first."""
    grouped = jobs.groupby("rule")
    table = pd.DataFrame({
        "jobs": grouped.size(),
        "wall_s": grouped["wall_s"].sum(),
        "cpu_s": grouped["cpu_s"].sum(),
        "mean_wall_s": grouped["wall_s"].mean(),
        "startup_s": grouped["startup_s"].sum(min_count=1),
        "mean_startup_s": grouped["startup_s"].mean(),
        "max_startup_s": grouped["startup_s"].max(),
        "optimisation_s": grouped["optimisation_s"].sum(),
    })
    table["startup_share_of_wall"] = table["startup_s"] / table["wall_s"]
    table["optimisation_share_of_wall"] = table["optimisation_s"] / table["wall_s"]
    return table.sort_values("wall_s", ascending=False).reset_index()


def shares(jobs: pd.DataFrame) -> dict[str, float]:
    """Headline numbers: job-seconds (wall seconds summed over jobs), optimisation seconds and their
    share of job-seconds, start-up seconds and their share, and the largest mean start-up of a rule
    that does not train.

    Every job of the study runs one thread, so a job's wall seconds are the CPU seconds it holds a
    core for (waiting on a busy machine included). Snakemake's ``cpu_time`` is reported too but not
    used for the share: it samples the job's processes and undercounts (a CPU-bound training job
    of 42 s wall showed 21 s).
    """
    cpu, wall = float(jobs["cpu_s"].sum()), float(jobs["wall_s"].sum())
    optimisation = float(jobs["optimisation_s"].sum())
    startup = float(jobs["startup_s"].sum())
    others = jobs[~jobs["rule"].isin(TRAINING_RULES + ("lr_find",))]
    per_rule = others.groupby("rule")["startup_s"].mean().dropna()
    return {"jobs": len(jobs), "cpu_s": cpu, "wall_s": wall, "optimisation_s": optimisation,
            "optimisation_share_of_job_seconds": optimisation / wall if wall else math.nan,
            "startup_s": startup, "startup_share_of_wall": startup / wall if wall else math.nan,
            "worst_nontraining_rule": str(per_rule.idxmax()) if len(per_rule) else "",
            "worst_nontraining_mean_startup_s": float(per_rule.max()) if len(per_rule) else math.nan}
