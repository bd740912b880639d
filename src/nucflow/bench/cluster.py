"""Cluster jobs of the published study: how many jobs the paper config's DAG has, and how many of
them reach SLURM as separate submissions with the SLURM profile's bundling (each run's training,
prediction, post-processing, evaluation and attribution in one job; tile jobs ten at a time)
against one submission per job.

Both counts come from ``snakemake -n`` on ``config/paper.yaml`` (focal-plane rounds 2-9 are decided
at run time and not in the DAG yet): "unbundled" counts every job that is not a local rule;
"bundled" counts the group jobs of a dry run with the SLURM profile plus the jobs outside groups
that are not local rules.

    nucflow bench cluster [--config config/paper.yaml]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
TOP_JOB = re.compile(r"^(?:rule|checkpoint|localrule|localcheckpoint) (\w+):$", re.MULTILINE)
ANY_JOB = re.compile(r"^\s*(?:rule|checkpoint|localrule|localcheckpoint) (\w+):$", re.MULTILINE)
GROUP_JOB = re.compile(r"Group job (\S+) \(jobs in lexicogr\. order\):")


def local_rules() -> set[str]:
    """Rules declared ``localrule: True`` in the Snakefile and workflow/rules/*.smk."""
    names = {"all"}
    for path in [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]:
        blocks = re.split(r"\n(?=(?:rule|checkpoint) \w+:)", path.read_text())
        for block in blocks:
            match = re.match(r"(?:rule|checkpoint) (\w+):", block)
            if match and re.search(r"^\s+localrule: True", block, re.MULTILINE):
                names.add(match.group(1))
    return names


def dry_run(config: Path, workdir: Path, profile: bool) -> str:
    command = [str(SNAKEMAKE), "-n", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(config)]
    if profile:
        command += ["--workflow-profile", str(ROOT / "profiles" / "slurm")]
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
    if result.returncode != 0:
        raise RuntimeError(f"snakemake -n failed: {result.stderr[-2000:]}")
    return result.stdout + result.stderr


def counts(config: Path) -> dict:
    local = local_rules()
    with tempfile.TemporaryDirectory(prefix="nucflow-dag-") as tmp:
        plain = dry_run(config, Path(tmp), profile=False)
        bundled = dry_run(config, Path(tmp), profile=True)
    jobs = Counter(ANY_JOB.findall(plain))
    top_level = Counter(TOP_JOB.findall(bundled))  # group members are indented, so not matched
    groups = Counter(name.split("-")[0] if name.startswith("run-") else name for name in GROUP_JOB.findall(bundled))
    return {"jobs": sum(jobs.values()), "local": sum(n for r, n in jobs.items() if r in local),
            "unbundled": sum(n for r, n in jobs.items() if r not in local),
            "bundled": sum(groups.values()) + sum(n for r, n in top_level.items() if r not in local),
            "groups": dict(groups), "per_rule": dict(jobs)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="nucflow bench cluster")
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "paper.yaml")
    args = parser.parse_args(argv or [])
    result = counts(args.config.resolve())
    print(f"-- {args.config.name}: {result['jobs']} jobs in the DAG, {result['local']} of them local rules")
    print("   per rule: " + ", ".join(f"{rule} {n}" for rule, n in sorted(result["per_rule"].items())))
    print("   group jobs: " + ", ".join(f"{name} {n}" for name, n in sorted(result["groups"].items())))
    print(f"cluster_submissions_unbundled: {result['unbundled']}")
    print(f"cluster_submissions_bundled: {result['bundled']} ({result['unbundled'] / result['bundled']:.1f}x fewer)")


if __name__ == "__main__":
    main(sys.argv[1:])
