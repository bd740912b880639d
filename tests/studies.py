"""Running the workflow from the tests: the one helper that calls snakemake with the default profile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
SMOKE = ROOT / "config" / "smoke.yaml"


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """snakemake on the smoke config in ``workdir`` (default profile, 2 cores; a later ``--configfile``
    in ``args`` overrides it); a failure names its job logs."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    command = [str(SNAKEMAKE), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--workflow-profile", str(ROOT / "profiles" / "default"),
               "--configfile", str(SMOKE), "--cores", "2", *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir)
    if check and result.returncode != 0:
        logs = "\n".join(f"--- {p}\n{p.read_text()[-2000:]}" for p in sorted((workdir / "logs").rglob("*.log"))
                         if "rror" in p.read_text())
        pytest.fail(f"snakemake {' '.join(args)} failed:\n{result.stderr[-4000:]}\n{logs}")
    return result
