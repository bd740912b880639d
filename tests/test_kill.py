"""A small study killed with SIGKILL inside a training job and inside an evaluation job, then
rerun as the README says (``snakemake --unlock``, then the same command; the default profile
reruns incomplete jobs), ends with the same result tables as an uninterrupted run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
CONFIG = ROOT / "tests" / "configs" / "kill.yaml"
RUN = "model_comparison-unet-fl-seven_lines-s0"
TABLES = ("per_image", "per_object", "per_pred_object", "per_run")
TARGET = "results/tables/model_comparison/per_run.csv"
#: columns that hold times, which differ between any two runs
TIMING = ("seconds", "train_seconds", "wall_seconds")

pytestmark = [pytest.mark.workflow, pytest.mark.slow]


def command(workdir: Path, *args: str, config: Path = CONFIG) -> list[str]:
    return [str(SNAKEMAKE), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
            "--workflow-profile", str(ROOT / "profiles" / "default"), "--configfile", str(config),
            "--cores", "2", *args]


def start(workdir: Path, *args: str, config: Path = CONFIG) -> subprocess.Popen:
    """snakemake in a process group of its own (its jobs included); output in workdir/snakemake-<n>.out."""
    workdir.mkdir(exist_ok=True)
    out = workdir / f"snakemake-{len(list(workdir.glob('snakemake-*.out')))}.out"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    with open(out, "w") as handle:
        return subprocess.Popen(command(workdir, *args, config=config), stdout=handle, stderr=subprocess.STDOUT, env=env,
                                cwd=workdir, start_new_session=True)


def finish(process: subprocess.Popen, workdir: Path, timeout: float = 300) -> None:
    if process.wait(timeout) != 0:
        out = max(workdir.glob("snakemake-*.out"), key=lambda p: int(p.stem.split("-")[1]))
        pytest.fail(f"snakemake {' '.join(process.args[len(command(workdir)):])} failed:\n{out.read_text()[-3000:]}")


def run(workdir: Path, *args: str) -> None:
    finish(start(workdir, *args), workdir)


def kill_when(process: subprocess.Popen, ready, timeout: float = 120) -> None:
    """SIGKILL snakemake and its running jobs as soon as ``ready()`` is true."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            pytest.fail("the kill point was never reached (snakemake ended or timed out first)")
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    while True:  # until no process of the group (a job) is left
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)


def tables(workdir: Path) -> dict[str, pd.DataFrame]:
    found = {}
    for name in TABLES:
        frame = pd.read_csv(workdir / f"results/tables/model_comparison/{name}.csv")
        frame = frame.drop(columns=[c for c in frame.columns if c in TIMING])
        text = frame.select_dtypes("str").columns  # paths such as `manifest` name the folder
        frame[text] = frame[text].apply(lambda column: column.str.replace(str(workdir), "WORKDIR"))
        found[name] = frame
    return found


def run_log(workdir: Path) -> pd.DataFrame:
    return pd.read_csv(workdir / "results" / "runs" / RUN / "log.csv").drop(columns="train_seconds")


def test_killed_study_reruns_to_the_same_tables(tmp_path):
    prepared = tmp_path / "prepared"                  # data, tiles and run.json, shared by both
    run(prepared, TARGET, "--omit-from", "train")
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    for copy in (reference, killed):
        shutil.copytree(prepared, copy, symlinks=True)
    uninterrupted = start(reference, TARGET)

    run_dir = killed / "results" / "runs" / RUN
    study = start(killed, TARGET)                     # 1. kill inside training, after its first epoch
    kill_when(study, lambda: (run_dir / "checkpoints" / "last.ckpt").is_file())
    assert not (run_dir / "train_done.json").exists(), "the kill came after training had finished"
    run(killed, "--unlock")
    evaluation = killed / "results" / "runs" / RUN / "metrics" / "seven_lines-test" / "published"
    study = start(killed, TARGET)                     # 2. kill inside the evaluation job
    kill_when(study, lambda: (killed / f"logs/evaluate/{RUN}/seven_lines-test/published.log").is_file())
    assert not (evaluation / "summary.json").exists(), "the kill came after evaluation had finished"
    run(killed, "--unlock")
    finish(uninterrupted, reference)
    expected, expected_log = tables(reference), run_log(reference)
    assert '"resumed": false' in (reference / "results" / "runs" / RUN / "train_done.json").read_text()
    # meanwhile, in the finished reference study, a config edit retrains the run afresh
    changed = tmp_path / "changed.yaml"
    changed.write_text(CONFIG.read_text().replace("lr: 1.0e-3", "lr: 2.0e-3"))
    retrain = start(reference, f"results/runs/{RUN}/model.pt", config=changed)
    run(killed, TARGET)                               # 3. as the README says: the same command again

    assert '"resumed": true' in (run_dir / "train_done.json").read_text()
    pd.testing.assert_frame_equal(run_log(killed), expected_log, check_exact=True, obj="log.csv")
    got = tables(killed)
    for name in TABLES:
        assert len(expected[name]) > 0, name
        pd.testing.assert_frame_equal(got[name], expected[name], check_exact=True, obj=name)

    finish(retrain, reference)
    folder = reference / "results" / "runs" / RUN
    (previous,) = (folder / "previous").iterdir()
    assert '"lr": 0.001' in (previous / "run.json").read_text() and (previous / "checkpoints" / "best.ckpt").is_file()
    assert '"lr": 0.002' in (folder / "run.json").read_text()
    assert '"resumed": false' in (folder / "train_done.json").read_text()
    assert f"lr changed since the earlier run in this folder; moved its training state to results/runs/{RUN}/previous/" \
        in (reference / "logs" / "train" / f"{RUN}.log").read_text()
