"""Where the study's time goes (nucflow.study.compute, `nucflow compute`) and the CLI's timing line."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from nucflow import cli
from nucflow.study.compute import job_table, read_timings, rule_table, shares

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def bench(path, wall, cpu, rss="100.5"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{wall}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n")


def log(path, *lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))


@pytest.fixture
def study(tmp_path):
    """Two train jobs, one predict job and an evaluate job whose log reports no timing."""
    results, logs = tmp_path / "results", tmp_path / "logs"
    for run, wall, cpu, epochs in (("r1", 20.0, 19.0, (5.0, 7.0)), ("r2", 10.0, 9.5, (4.0,))):
        bench(results / "benchmarks" / "train" / f"{run}.tsv", wall, cpu)
        log(logs / "train" / f"{run}.log", "some output", f"nucflow train: start-up 4.00 s, work {wall - 4:.2f} s")
        run_dir = results / "runs" / run
        run_dir.mkdir(parents=True)
        pd.DataFrame({"epoch": range(len(epochs)), "train_seconds": epochs}).to_csv(run_dir / "log.csv", index=False)
    bench(results / "benchmarks" / "predict" / "r1" / "seven_lines-test.tsv", 3.0, 2.5, rss="NA")
    log(logs / "predict" / "r1" / "seven_lines-test.log", "nucflow predict: start-up 1.25 s, work 1.50 s")
    bench(results / "benchmarks" / "attribute" / "r1" / "x" / "published.tsv", 2.0, 2.0)
    log(logs / "attribute" / "r1" / "x" / "published.log", "nucflow attribute: start-up 0.50 s, work 0.25 s",
        "nucflow attribute: start-up 0.40 s, work 0.75 s")
    bench(results / "benchmarks" / "evaluate" / "r1" / "x" / "published.tsv", 1.0, 1.0)
    return results, logs


def test_read_timings_takes_every_command_line(tmp_path):
    path = tmp_path / "a.log"
    log(path, "nucflow evaluate: start-up 0.61 s, work 2.10 s", "noise nucflow evaluate: start-up 9 s",
        "nucflow run-config: start-up 0.10 s, work 0.00 s")
    assert read_timings(path) == [("evaluate", 0.61, 2.10), ("run-config", 0.10, 0.0)]
    assert read_timings(tmp_path / "missing.log") == []


def test_job_table_joins_benchmarks_logs_and_run_logs(study):
    jobs = job_table(*study).set_index(["rule", "key"])
    assert jobs.loc[("train", "r1"), ["wall_s", "cpu_s", "startup_s", "work_s", "optimisation_s"]].tolist() == \
        [20.0, 19.0, 4.0, 16.0, 12.0]
    assert jobs.loc[("train", "r2"), "optimisation_s"] == 4.0
    predict = jobs.loc[("predict", "r1/seven_lines-test")]
    assert (predict["run_id"], predict["startup_s"], predict["optimisation_s"]) == ("", 1.25, 0.0)
    assert math.isnan(predict["max_rss_mb"])
    attribute = jobs.loc[("attribute", "r1/x/published")]
    assert attribute["commands"] == 2 and attribute["startup_s"] == pytest.approx(0.9)
    assert math.isnan(jobs.loc[("evaluate", "r1/x/published"), "startup_s"])


def test_worker_usage_adds_the_childs_cpu_and_memory(study):
    """A command the job worker ran: its benchmark saw only the waiting process, so the log's
    worker lines give the CPU seconds (added) and the peak memory (the larger one)."""
    results, logs = study
    bench(results / "benchmarks" / "predict" / "r2" / "seven_lines-test.tsv", 3.0, 0.05, rss="20.0")
    log(logs / "predict" / "r2" / "seven_lines-test.log", "nucflow predict: start-up 0.08 s, work 2.80 s",
        "nucflow worker: cpu 2.75 s, max RSS 412 MB", "nucflow worker: noise", "nucflow worker: cpu 0.20 s, max RSS 380 MB")
    jobs = job_table(*study).set_index(["rule", "key"])
    row = jobs.loc[("predict", "r2/seven_lines-test")]
    assert row["cpu_s"] == pytest.approx(3.0) and row["max_rss_mb"] == 412.0 and row["startup_s"] == 0.08
    assert jobs.loc[("train", "r1"), "cpu_s"] == 19.0  # no worker lines: the benchmark's


def test_a_run_id_with_a_dot_finds_its_log(study):
    """Regression: smoothing (ls0.2) and focal-plane (p0.8) run ids lost their log, so their jobs had
    no timing and no worker CPU in the compute table."""
    results, logs = study
    run = "smoothing-unet-bf-seven_lines-ls0.2-s0"
    bench(results / "benchmarks" / "train" / f"{run}.tsv", 30.0, 0.05)
    log(logs / "train" / f"{run}.log", "nucflow train: start-up 0.08 s, work 29.50 s",
        "nucflow worker: cpu 28.00 s, max RSS 580 MB")
    log(logs / "train" / "smoothing-unet-bf-seven_lines-ls0.log", "nucflow train: start-up 9.00 s, work 1.00 s")
    row = job_table(*study).set_index(["rule", "key"]).loc[("train", run)]
    assert (row["commands"], row["startup_s"], row["work_s"]) == (1, 0.08, 29.5)
    assert row["cpu_s"] == pytest.approx(28.05) and row["max_rss_mb"] == 580.0


def test_rule_table_and_shares(study):
    jobs = job_table(*study)
    rules = rule_table(jobs).set_index("rule")
    assert rules.loc["train", ["jobs", "wall_s", "cpu_s", "optimisation_s"]].tolist() == [2, 30.0, 28.5, 16.0]
    assert rules.loc["train", "optimisation_share_of_wall"] == pytest.approx(16.0 / 30.0)
    assert rules.loc["train", "mean_startup_s"] == 4.0
    assert rules.loc["predict", "startup_share_of_wall"] == pytest.approx(1.25 / 3.0)
    assert rules.index[0] == "train"  # largest wall first
    total = shares(jobs)
    assert total["cpu_s"] == 34.0 and total["optimisation_s"] == 16.0
    assert total["wall_s"] == 36.0
    assert total["optimisation_share_of_job_seconds"] == pytest.approx(16.0 / 36.0)
    assert (total["worst_nontraining_rule"], total["worst_nontraining_mean_startup_s"]) == ("predict", 1.25)


def test_compute_command_writes_tables(study, tmp_path, capsys):
    results, logs = study
    out = results / "tables" / "compute"
    assert cli.main(["compute", "--results", str(results), "--logs", str(logs), "--out", str(out)]) == 0
    assert len(pd.read_csv(out / "jobs.csv")) == 5
    assert set(pd.read_csv(out / "rules.csv")["rule"]) == {"train", "predict", "attribute", "evaluate"}
    assert json.loads((out / "summary.json").read_text())["optimisation_s"] == 16.0
    assert capsys.readouterr().err == ""  # called from Python: no timing line


def test_a_nucflow_process_ends_with_its_timing_line_only_when_it_succeeds(study, tmp_path):
    results, logs = study
    nucflow = Path(sys.executable).with_name("nucflow")
    ok = subprocess.run([str(nucflow), "compute", "--results", str(results), "--logs", str(logs),
                         "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert ok.returncode == 0
    (command, startup, work), = read_timings_text(ok.stderr)
    assert command == "compute" and 0 < startup < 30 and 0 <= work < 30
    failed = subprocess.run([str(nucflow), "compute", "--results", str(tmp_path), "--out", str(tmp_path / "o")],
                            capture_output=True, text=True)
    assert failed.returncode == 2 and "start-up" not in failed.stderr


def read_timings_text(text):
    path = Path(tempfile.mkdtemp()) / "x.log"
    path.write_text(text)
    return read_timings(path)


def test_compute_without_benchmarks_is_one_line(tmp_path, capsys):
    assert cli.main(["compute", "--results", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == \
        f"nucflow compute: error: {tmp_path}/benchmarks: no benchmark files (has the workflow run?)"


def test_bench_is_a_nucflow_command_that_names_its_benchmarks(capsys):
    """``nucflow bench NAME`` picks benchmarks by name; a name that matches none is one line that
    lists the benchmarks (and runs nothing)."""
    from nucflow.cli import main

    assert main(["bench", "no_such_benchmark"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("nucflow bench: error: no benchmark is named like no_such_benchmark; the benchmarks are ")
    assert "calibrate" in error and "cluster" in error and "\n" not in error


def test_every_command_module_is_named_after_its_command():
    """One naming rule: ``nucflow X-Y`` lives in ``nucflow.<package>.X_Y_cli``."""
    for command, (module, _) in cli.COMMANDS.items():
        package, name = module.rsplit(".", 1)
        assert package.startswith("nucflow.") and package.count(".") == 1, module
        assert name == f"{command.replace('-', '_')}_cli", (command, module)
        assert (Path(cli.__file__).parent / package.split(".")[1] / f"{name}.py").is_file(), module
