"""The SLURM profile, driven through the real snakemake-executor-plugin-slurm against fake SLURM
commands (tests/fake_slurm/): what each rule asks the cluster for, and that the run completes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAKE_SLURM = ROOT / "tests" / "fake_slurm"
PROFILE = ROOT / "profiles" / "slurm"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
#: the extensions arm's baseline: one run post-processed four ways, so its job holds a training,
#: a prediction and four post-processing and evaluation jobs that could run side by side
RUN_ID = "ablation-unet-plain-bf-seven_lines-s0"
METHODS = ("published", "watershed", "seeded", "multiscale")
FINETUNED = "transfer-unet-bf-loloA549-ft-target+source-n1-s0"
# `make test`: the session's smoke study, copied, reruns one job of each family that goes to the
# cluster with its own resources: a CPU rule (overview), a run's group job (train, predict,
# postprocess, evaluate) and lr_find. The whole smoke study through the fake cluster, data rules,
# tile bundles and fine-tuning included, is `make slurm-smoke`.
TARGETS = ("results/data/overview.png", f"results/runs/{RUN_ID}/model.pt",
           *(f"results/runs/{RUN_ID}/metrics/seven_lines-test/{method}/per_image.csv" for method in METHODS),
           "results/lr_find/unet-brightfield/lr.json")
#: what the copy loses so that TARGETS are made again (and nothing else)
RERUN = ("results/data/overview.png", "results/data/overview.pdf", f"results/runs/{RUN_ID}",
         "results/lr_find/unet-brightfield")
# What is submitted: overview alone, lr_find, and one job per run ("run": the rules' group
# run-{run_id}: training, predict, postprocess, evaluate).
SUBMITTED_RULES = {"overview", "lr_find", "run"}
#: the full smoke study also submits the data rules one by one and the tile jobs bundled (group
#: "tiles"), besides the arms' table and figure rules
DATA_RULES = {"simulate", "validate_manifest", "split", "overview", "tiles"}
GPU_RULES = {"run", "lr_find"}
#: GPU rules that are jobs of their own (not part of a run's group)
SEPARATE_GPU_RULES = {"lr_find", "choose_method", "baseline_train", "baseline_predict"}
#: the rules that use the GPU (the others of a run's job ask for its partition but no GPU)
TORCH_RULES = {"train", "finetune", "predict", "lr_find", "choose_method", "baseline_train", "baseline_predict"}
#: the rules whose GPUs are the devices one run trains on (training.devices)
TRAINING_RULES = {"train", "finetune", "baseline_train"}
#: every rule that may run inside a run's job, and so asks for the GPU partition
RUN_RULES = {"train", "finetune", "predict", "postprocess", "evaluate", "multiscale_tradeoff", "attribute_run"}
# Non-default names everywhere, so the test proves that the profile's one place of settings is used.
CLUSTER = {"NUCFLOW_SLURM_CPU_PARTITION": "compute", "NUCFLOW_SLURM_GPU_PARTITION": "gpu_a100",
           "NUCFLOW_SLURM_GPU_MODEL": "a100", "NUCFLOW_SLURM_ACCOUNT": "nucflow_lab",
           "FAKE_SLURM_PARTITIONS": "compute*,gpu_a100:4:a100", "FAKE_SLURM_ACCOUNTS": "nucflow_lab"}
SBATCH_FLAGS = {"--parsable", "--requeue", "--no-requeue"}


def fake_cluster_env(log: Path, **settings: str) -> dict:
    """The environment of a login node whose SLURM commands are the fakes (and nothing of a real one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "NUCFLOW_SLURM_"))}
    env["PATH"] = os.pathsep.join([str(FAKE_SLURM), str(SNAKEMAKE.parent), os.environ["PATH"]])
    env["FAKE_SLURM_LOG"] = str(log)
    env.update(settings)
    return env


def calls(log: Path, command: str) -> list[dict]:
    return [r for r in map(json.loads, log.read_text().splitlines()) if r["command"] == command]


def options_of(argv: list[str]) -> dict:
    """sbatch/srun argv -> {option: value}; an independent reading of what the plugin passed."""
    options, args = {}, iter(argv[1:])
    for arg in args:
        if not arg.startswith("-"):
            break
        if "=" in arg:
            key, value = arg.split("=", 1)
        elif arg in SBATCH_FLAGS or (arg.startswith("-") and not arg.startswith("--") and len(arg) > 2):
            key, value = (arg, True) if arg.startswith("--") else (arg[:2], arg[2:])
        else:
            key, value = arg, next(args)
        options[key] = value
    return options


def rule_of(sbatch_options: dict) -> str:
    """The rule (or group) name from the plugin's job comment: rule_<name>[_wildcards_<values>];
    a run's group job run-<run_id> counts as "run"."""
    name = group_of(sbatch_options)
    if name.startswith("run-"):
        return "run"
    return name


def group_of(sbatch_options: dict) -> str:
    """The rule, or the group id of a group job (the plugin names those <group>_<rule>_<rule>...)."""
    name = sbatch_options["--comment"].removeprefix("rule_").split("_wildcards_")[0]
    rules = RUN_RULES | {"tiles", "augment"}
    while suffix := next((f"_{rule}" for rule in rules if name.endswith(f"_{rule}")), None):
        name = name.removesuffix(suffix)  # whole rule names: multiscale_tradeoff holds an underscore
    return name


def slurm_command(workdir: Path, *targets: str) -> list[str]:
    return [str(SNAKEMAKE), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
            "--workflow-profile", str(PROFILE), "--configfile", str(ROOT / "config" / "smoke.yaml"),
            "--jobs", "2", "--latency-wait", "5", "--seconds-between-status-checks", "1",
            "--slurm-init-seconds-before-status-checks", "1", *targets]


@pytest.fixture(scope="module")
def slurm_run(pristine_smoke_study, tmp_path_factory):
    """A copy of the smoke study that reruns TARGETS' jobs through the plugin; (workdir, log, seconds)."""
    workdir = tmp_path_factory.mktemp("slurm")
    shutil.copytree(pristine_smoke_study, workdir, symlinks=True, dirs_exist_ok=True)  # mtimes kept: the rest is up to date
    for name in RERUN:
        path = workdir / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    log = workdir.parent / f"{workdir.name}_calls.jsonl"
    # FAKE_SLURM_SYNC: each job has finished when sbatch returns, so the plugin's status checks
    # (which back off by 10 s whenever nothing finished) never wait on a running job.
    env = fake_cluster_env(log, FAKE_SLURM_SYNC="1", **CLUSTER)
    start = time.monotonic()
    result = subprocess.run(slurm_command(workdir, *TARGETS), capture_output=True, text=True, env=env, cwd=workdir)
    seconds = time.monotonic() - start
    if result.returncode != 0:
        logs = "\n".join(f"--- {p}\n{p.read_text()[-1500:]}" for p in sorted(workdir.rglob("*.log"))
                         if "rror" in p.read_text())
        pytest.fail(f"snakemake with the SLURM profile failed:\n{result.stderr[-4000:]}\n{logs}")
    return workdir, log, seconds


@pytest.mark.slow
@pytest.mark.workflow
def test_run_completes_with_every_job_submitted_through_sbatch(slurm_run):
    workdir, log, seconds = slurm_run
    print(f"SLURM-profile run through the fake cluster: {seconds:.1f} s")
    for target in TARGETS:
        assert (workdir / target).stat().st_size > 0, target
    submitted = [options_of(call["argv"]) for call in calls(log, "sbatch")]
    assert {rule_of(options) for options in submitted} == SUBMITTED_RULES  # local rules stay local
    # every job ended COMPLETED in the fake accounting
    jobs = [json.loads(p.read_text()) for p in Path(f"{log}.state", "jobs").glob("*.json")]
    assert len(jobs) == len(submitted) and {job["state"] for job in jobs} == {"COMPLETED"}
    # the plugin wraps a jobstep snakemake, which runs each rule of the job through srun inside the allocation
    steps = calls(log, "srun")
    assert {c["jobid"] for c in steps} == {c["jobid"] for c in calls(log, "sbatch")}
    # the run's job is one allocation for its four rules
    (run_job,) = [c["jobid"] for c in calls(log, "sbatch") if rule_of(options_of(c["argv"])) == "run"]
    targets = " ".join(" ".join(c["argv"]) for c in steps if c["jobid"] == run_job)
    assert all(f"{rule}:" in targets for rule in ("train", "predict", "postprocess", "evaluate")), targets


@pytest.mark.slow
@pytest.mark.workflow
def test_gpu_rules_ask_for_a_gpu_on_the_gpu_partition(slurm_run):
    _, log, _ = slurm_run
    gpu_jobs = [(c["jobid"], options_of(c["argv"])) for c in calls(log, "sbatch")
                if rule_of(options_of(c["argv"])) in GPU_RULES]
    per_rule = {}
    for _, options in gpu_jobs:
        per_rule.setdefault(rule_of(options), []).append(options)
    # one job per run (train, predict, then four post-processing methods and their evaluations); one lr_find
    assert {rule: len(jobs) for rule, jobs in per_rule.items()} == {"run": 1, "lr_find": 1}
    assert group_of(per_rule["run"][0]) == f"run-{RUN_ID}"
    # memory: the largest of the group's jobs (config training.mem_mb); time: the sum over the jobs
    # in series (train 240 + predict 60 + postprocess 30 + evaluate 30); one GPU although four
    # post-processing jobs may run side by side (regression: they each counted a GPU, and the
    # job asked for five, more than the partition's nodes have)
    limits = {f"run-{RUN_ID}": ("8000", "360"), "lr_find": ("8000", "60")}
    for rule, jobs in per_rule.items():
        for options in jobs:
            assert options["-p"] == "gpu_a100" and options["--gpus"] == "a100:1", (rule, options)
            assert options["-A"] == "nucflow_lab" and (options["--mem"], options["-t"]) == limits[group_of(options)], \
                (rule, options)
            assert "--gres" not in options and "--ntasks" not in options, (rule, options)
    for job_id, _ in gpu_jobs:
        steps = [options_of(c["argv"]) for c in calls(log, "srun") if c["jobid"] == job_id]
        assert steps and all(step["--gpus"] == "1" for step in steps)


@pytest.mark.slow
@pytest.mark.workflow
def test_a_run_on_two_devices_asks_for_two_gpus_and_trains_with_ddp(pristine_smoke_study, tmp_path):
    """training.devices: 2 -> the run's train job asks the cluster for two GPUs (and its job no more),
    and trains with DDP on two processes inside the one-task job (CPU here, as the fake nodes have no GPU)."""
    workdir = tmp_path / "study"
    shutil.copytree(pristine_smoke_study, workdir, symlinks=True)
    shutil.rmtree(workdir / "results" / "runs" / RUN_ID)
    log = tmp_path / "calls.jsonl"
    env = fake_cluster_env(log, FAKE_SLURM_SYNC="1", **CLUSTER)
    target = f"results/runs/{RUN_ID}/model.pt"
    (tmp_path / "devices.yaml").write_text("training: {devices: 2}\n")
    command = slurm_command(workdir, target)  # the devices file goes on top of the smoke config
    command.insert(command.index(str(ROOT / "config" / "smoke.yaml")) + 1, str(tmp_path / "devices.yaml"))
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    (train,) = [options_of(c["argv"]) for c in calls(log, "sbatch")]  # the run's group job: train alone
    assert group_of(train) == f"run-{RUN_ID}" and train["--gpus"] == "a100:2" and train["-p"] == "gpu_a100", train
    done = json.loads((workdir / "results" / "runs" / RUN_ID / "train_done.json").read_text())
    assert done["devices"] == 2 and json.loads((workdir / "results" / "runs" / RUN_ID / "run.json").read_text())[
        "devices"] == 2


@pytest.mark.slow
@pytest.mark.workflow
def test_cpu_rules_ask_for_no_gpu_on_the_cpu_partition(slurm_run):
    _, log, _ = slurm_run
    cpu_jobs = [(c["jobid"], options_of(c["argv"])) for c in calls(log, "sbatch")
                if rule_of(options_of(c["argv"])) not in GPU_RULES]
    assert cpu_jobs and {rule_of(options) for _, options in cpu_jobs} == SUBMITTED_RULES - GPU_RULES
    for _, options in cpu_jobs:
        assert options["-p"] == "compute" and options["-A"] == "nucflow_lab" and options["--ntasks"] == "1"
        assert not any(key in options for key in ("--gpus", "--gres")), options
    assert {rule_of(options): options["--cpus-per-task"] for _, options in cpu_jobs} == {"overview": "1"}
    cpu_job_ids = {job_id for job_id, _ in cpu_jobs}
    assert not any("--gpus" in options_of(c["argv"]) for c in calls(log, "srun") if c["jobid"] in cpu_job_ids)


@pytest.mark.cluster
def test_full_smoke_study_through_the_fake_cluster(tmp_path):
    """Every job of the smoke study (rule all) through the plugin: ~180 jobs, each a jobstep snakemake,
    so it takes several times the local smoke run and is not part of `make test` (`make slurm-smoke`)."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    log = tmp_path / "calls.jsonl"
    env = fake_cluster_env(log, FAKE_SLURM_SYNC="1", **CLUSTER)
    start = time.monotonic()
    result = subprocess.run(slurm_command(workdir), capture_output=True, text=True, env=env, cwd=workdir)
    seconds = time.monotonic() - start
    assert result.returncode == 0, result.stderr[-4000:]
    submitted = [options_of(call["argv"]) for call in calls(log, "sbatch")]
    per_rule = {}
    for options in submitted:
        per_rule[rule_of(options)] = per_rule.get(rule_of(options), 0) + 1
    print(f"full smoke study through the fake cluster: {len(submitted)} jobs submitted in {seconds:.0f} s; "
          + ", ".join(f"{rule} {n}" for rule, n in sorted(per_rule.items())))
    assert SUBMITTED_RULES | DATA_RULES <= set(per_rule)
    jobs = [json.loads(p.read_text()) for p in Path(f"{log}.state", "jobs").glob("*.json")]
    assert len(jobs) == len(submitted) and {job["state"] for job in jobs} == {"COMPLETED"}
    for options in submitted:
        wants_gpu = rule_of(options) in GPU_RULES
        assert (options["-p"] == "gpu_a100") == wants_gpu and ("--gpus" in options) == wants_gpu, options
    threads = {}
    for options in submitted:
        if rule_of(options) in DATA_RULES:
            threads.setdefault(rule_of(options), set()).add(int(options["--cpus-per-task"]))
    # the bundled tile jobs run side by side on up to `cores` (8) CPUs (a smaller bundle asks for fewer)
    assert {rule: max(cpus) for rule, cpus in threads.items()} == \
        {"simulate": 8, "validate_manifest": 2, "split": 1, "overview": 1, "tiles": 8}
    assert {group_of(options) for options in submitted} >= {f"run-{RUN_ID}", f"run-{FINETUNED}"}
    figures = sorted((workdir / "results" / "figures").glob("*.png"))
    assert len(figures) >= 13 and (workdir / "results" / "summary.md").stat().st_size > 0


def profile_arguments(env: dict) -> dict:
    """The profile as snakemake reads it (yte with the environment) -> {option: value}."""
    from snakemake.profiles import ProfileConfigFileParser

    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        with open(PROFILE / "config.yaml") as stream:
            return dict(ProfileConfigFileParser().parse(stream))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_profile_defaults_and_the_one_place_to_override_them():
    plain = profile_arguments({})
    assert plain["executor"] == "slurm" and plain["configfile"] == "config/config.yaml"
    assert "retries" not in plain  # per rule
    assert plain["default-resources"] == ["slurm_partition=cpu", "mem_mb=2000", "runtime=30"]
    # only the torch rules count a GPU: a group sums the GPUs of its jobs that could run side by side;
    # train and finetune ask for what the rule declares (training.devices), so the profile sets none
    assert sorted(plain["set-resources"]) == sorted(
        [f"{rule}:{setting}" for rule in RUN_RULES | SEPARATE_GPU_RULES for setting in ("slurm_partition=gpu",)]
        + [f"{rule}:gpu={int(rule in TORCH_RULES)}" for rule in (RUN_RULES | SEPARATE_GPU_RULES) - TRAINING_RULES])
    assert plain["groups"] == ["tiles=tiles", "augment=tiles"] and plain["group-components"] == ["tiles=10"]
    tuned = profile_arguments(CLUSTER)
    assert tuned["default-resources"] == ["slurm_partition=compute", "mem_mb=2000", "runtime=30",
                                          "slurm_account=nucflow_lab"]
    assert {"train:gpu_model=a100", "predict:gpu_model=a100", "train:slurm_partition=gpu_a100"} <= set(
        tuned["set-resources"])


class MockJob:
    """What the plugin's submit-string builder reads from a job: resources (dict and attributes), threads."""

    class Resources(dict):
        __getattr__ = dict.__getitem__

    def __init__(self, threads: int, **resources):
        self.threads, self.resources = threads, self.Resources(resources)


def test_gres_mode_submits_gres_only_and_the_cluster_accepts_it(tmp_path):
    """Clusters that refuse --gpus take NUCFLOW_SLURM_GPU_GRES; the plugin then sends --gres alone."""
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    entries = profile_arguments({"NUCFLOW_SLURM_GPU_GRES": "gpu:a100:1"})["set-resources"]
    train = dict(entry.removeprefix("train:").split("=", 1) for entry in entries if entry.startswith("train:"))
    assert train == {"slurm_partition": "gpu", "gres": "gpu:a100:1", "gpu": "0"}
    job = MockJob(threads=1, mem_mb=8000, runtime=240, gres=train["gres"], gpu=int(train["gpu"]))
    params = {"run_uuid": "run1", "slurm_logfile": tmp_path / "%j.log", "comment_str": "rule_train",
              "account": "", "partition": f" -p {train['slurm_partition']}", "workdir": str(tmp_path)}
    call = get_submit_command(job, params) + set_gres_string(job)
    options = options_of(call.split())
    assert options["--gres"] == "gpu:a100:1" and "--gpus" not in options and options["-p"] == "gpu"
    env = fake_cluster_env(tmp_path / "calls.jsonl", FAKE_SLURM_SYNC="1")
    submitted = subprocess.run(call.split() + ["--wrap", "true"], capture_output=True, text=True, env=env)
    assert submitted.returncode == 0, submitted.stderr
    job_state = json.loads((tmp_path / "calls.jsonl.state" / "jobs" / f"{submitted.stdout.strip()}.json").read_text())
    assert (job_state["state"], job_state["gpus"], job_state["gpu_model"]) == ("COMPLETED", 1, "a100")


def test_fake_slurm_answers_in_the_formats_the_plugin_parses(tmp_path, monkeypatch):
    """Background jobs move RUNNING -> COMPLETED / FAILED in the plugin's own sacct and squeue queries."""
    from snakemake_executor_plugin_slurm.job_status_query import (
        query_job_status, query_job_status_sacct, query_job_status_squeue)

    log = tmp_path / "calls.jsonl"
    env = fake_cluster_env(log)

    def sbatch(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["sbatch", "--parsable", "--job-name", "run1", *args], capture_output=True,
                              text=True, env=env, cwd=tmp_path)

    ok = sbatch("-p", "cpu", "--wrap", "sleep 1; srun -n1 --cpus-per-task=1 --nodes=1 echo done").stdout.strip()
    bad = sbatch("-p", "gpu", "--gpus=1", "--wrap", "exit 3").stdout.strip()
    refused = sbatch("-p", "cpu", "--gpus=1", "--wrap", "true")
    assert refused.returncode == 1 and "Requested node configuration is not available" in refused.stderr

    monkeypatch.setenv("PATH", env["PATH"])  # the plugin's query runs with this process's environment
    monkeypatch.setenv("FAKE_SLURM_LOG", str(log))

    def status(query) -> dict:
        return asyncio.run(query_job_status(query("run1"), logging.getLogger("test")))[0]

    assert status(query_job_status_sacct)[ok] in ("PENDING", "RUNNING")
    deadline = time.monotonic() + 20
    while status(query_job_status_sacct)[ok] != "COMPLETED" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status(query_job_status_sacct) == {ok: "COMPLETED", bad: "FAILED"}
    assert status(query_job_status_squeue) == {ok: "COMPLETED", bad: "FAILED"}
    assert (tmp_path / f"slurm-{ok}.out").read_text() == "done\n"


def documented_cluster_commands() -> list[tuple[str, str]]:
    """(file, command) of every snakemake command line in the docs that names the SLURM profile."""
    files = [ROOT / "README.md", ROOT / "profiles/slurm/README.md", *sorted((ROOT / "config").glob("*.yaml")),
             *sorted((ROOT / "docs").glob("*.md"))]
    found = []
    for path in files:
        for line in path.read_text().splitlines():
            start = line.find("snakemake ")
            if start >= 0 and "profiles/slurm" in line:
                command = line[start:].split("`")[0].strip()
                found.append((str(path.relative_to(ROOT)), command))
    return found


def test_every_documented_cluster_command_resolves_to_the_cluster_settings(monkeypatch):
    """Regression: `--profile profiles/slurm` left the workflow profile profiles/default loaded, and
    it won key by key (2 cores, keep-going off). Every documented command must resolve to the
    cluster profile's settings."""
    import shlex

    from snakemake.cli import parse_args

    monkeypatch.chdir(ROOT)
    commands = documented_cluster_commands()
    assert {file for file, _ in commands} >= {"README.md", "profiles/slurm/README.md", "config/paper.yaml"}
    for file, command in commands:
        _, args = parse_args(shlex.split(command)[1:] + ["--dry-run"])
        assert (args.executor, args.cores, args.keep_going, args.jobs) == ("slurm", 8, True, 100), (file, command)
