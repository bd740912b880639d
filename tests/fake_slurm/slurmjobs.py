"""Fake ``sbatch``, ``srun`` and ``scancel``: submit, run and cancel jobs on this machine.

``sbatch`` validates the request against the fake partitions (unknown partition, GPUs on a
partition without GPUs, an impossible CPU count or a bad time limit are rejected as SLURM would),
logs argv and job script, and starts the job in a detached background runner (or runs it before
returning when ``FAKE_SLURM_SYNC=1``). The runner executes the script in the job's working
directory with SLURM's job variables set, writes stdout and stderr to ``--output``, enforces the
time limit, and records COMPLETED, FAILED (non-zero exit), TIMEOUT or CANCELLED.
``srun`` checks that it runs inside a job and that its GPUs fit the job's, logs, and execs the
command. Run as a script (``python slurmjobs.py run-job ID``) this module is the runner.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import slurmstate as state
from slurmstate import OptionTable, SlurmUsageError

SBATCH_OPTIONS = OptionTable(
    valued=frozenset({
        "job-name", "output", "error", "comment", "account", "partition", "time", "mem", "mem-per-cpu",
        "ntasks", "ntasks-per-gpu", "ntasks-per-node", "cpus-per-task", "cpus-per-gpu", "constraint", "qos",
        "nodes", "clusters", "gres", "gpus", "chdir", "export", "array", "reservation", "exclude",
        "dependency", "wrap",
    }),
    flags=frozenset({"parsable", "requeue", "no-requeue", "exclusive", "hold"}),
    short={"J": "job-name", "o": "output", "e": "error", "A": "account", "p": "partition", "t": "time",
           "n": "ntasks", "c": "cpus-per-task", "C": "constraint", "N": "nodes", "M": "clusters",
           "D": "chdir", "a": "array", "G": "gpus", "q": "qos"},
)
SRUN_OPTIONS = OptionTable(
    valued=frozenset({
        "ntasks", "cpus-per-task", "gpus", "nodes", "cpu-bind", "jobid", "job-name", "mem", "mem-per-cpu",
        "partition", "time", "export", "gres", "ntasks-per-node", "ntasks-per-gpu", "cpus-per-gpu",
        "output", "error", "chdir", "account", "constraint",
    }),
    flags=frozenset({"exclusive", "overlap", "exact"}),
    short={"n": "ntasks", "c": "cpus-per-task", "G": "gpus", "N": "nodes", "J": "job-name", "p": "partition",
           "t": "time", "o": "output", "e": "error", "D": "chdir", "A": "account", "C": "constraint"},
)
UNAVAILABLE = "sbatch: error: Batch job submission failed: Requested node configuration is not available"


def positive_int(command: str, name: str, value: str) -> int:
    if not re.fullmatch(r"\d+", str(value)) or int(value) < 1:
        raise SlurmUsageError(f"{command}: error: Invalid numeric value \"{value}\" for --{name}.")
    return int(value)


def requested_gpus(command: str, options: dict) -> tuple[int, str]:
    """(GPU count, GPU model or '') from ``--gpus=[model:]n`` and ``--gres=gpu[:model][:n]``."""
    count, model = 0, ""
    if "gpus" in options:
        *kind, number = str(options["gpus"]).split(":")
        if len(kind) > 1:
            raise SlurmUsageError(f"{command}: error: Invalid --gpus specification: {options['gpus']}")
        count, model = positive_int(command, "gpus", number), (kind[0] if kind else "")
    for item in filter(None, str(options.get("gres", "")).split(",")):
        name, *rest = item.split(":")
        if name != "gpu":
            continue
        if rest and re.fullmatch(r"\d+", rest[-1]):
            count += positive_int(command, "gres", rest[-1])
            rest = rest[:-1]
        else:
            count += 1
        model = rest[0] if rest else model
    return count, model


def validate_request(options: dict) -> dict:
    """The job's resources as SLURM would grant them, or a SlurmUsageError like SLURM's."""
    known = {p.name: p for p in state.partitions()}
    name = options.get("partition") or next((p.name for p in known.values() if p.is_default), "")
    if name not in known:
        raise SlurmUsageError("sbatch: error: Batch job submission failed: Invalid partition name specified")
    partition = known[name]
    accounts = [a for a in os.environ.get("FAKE_SLURM_ACCOUNTS", "").split(",") if a]
    if "account" in options and accounts and options["account"] not in accounts:
        raise SlurmUsageError("sbatch: error: Batch job submission failed: "
                              "Invalid account or account/partition combination specified")
    gpus, model = requested_gpus("sbatch", options)
    if gpus > partition.gpus or (model and model != partition.gpu_model):
        raise SlurmUsageError(UNAVAILABLE)
    cpus = positive_int("sbatch", "cpus-per-task", options.get("cpus-per-task", "1"))
    if cpus > int(os.environ.get("FAKE_SLURM_CPUS_PER_NODE", "64")):
        raise SlurmUsageError(f"sbatch: error: CPU count per node can not be satisfied\n{UNAVAILABLE}")
    for key in ("mem", "mem-per-cpu"):
        if key in options and not re.fullmatch(r"\d+[KMGT]?", str(options[key])):
            raise SlurmUsageError(f"sbatch: error: Invalid --{key} specification")
    for key in ("ntasks", "nodes", "ntasks-per-gpu", "cpus-per-gpu"):
        if key in options:
            positive_int("sbatch", key, options[key])
    if "array" in options:
        raise SlurmUsageError("sbatch: error: the fake SLURM does not implement job arrays (--array)")
    limit = state.parse_minutes(str(options["time"])) if "time" in options else None
    return {"partition": name, "gpus": gpus, "gpu_model": model, "cpus": cpus, "time_limit_min": limit}


def job_script(options: dict, rest: list[str]) -> str:
    if "wrap" in options:
        if rest:
            raise SlurmUsageError("sbatch: error: script arguments not permitted with --wrap option")
        return f"#!/bin/sh\n# This script was created by sbatch --wrap.\n\n{options['wrap']}\n"
    text = sys.stdin.read() if not rest or rest[0] in ("-", "/dev/stdin") else Path(rest[0]).read_text()
    if not text.startswith("#!"):
        raise SlurmUsageError("sbatch: error: This does not look like a batch script.  The first\n"
                              "sbatch: error: line must start with #! followed by the path to an interpreter.")
    return text


def sbatch(argv: list[str]) -> int:
    options, rest = state.parse_options("sbatch", argv, SBATCH_OPTIONS)
    granted = validate_request(options)
    script = job_script(options, rest)
    job_id = state.new_job_id()
    workdir = str(Path(options.get("chdir", os.getcwd())).resolve())
    name = options.get("job-name") or (Path(rest[0]).name if rest and "wrap" not in options else "wrap")
    output = str(options.get("output", "slurm-%j.out"))
    output = output.replace("%j", job_id).replace("%x", name).replace("%u", getpass.getuser())
    script_path = state.state_dir() / "jobs" / f"{job_id}.sh"
    script_path.write_text(script)
    state.append_log({"command": "sbatch", "jobid": job_id, "argv": ["sbatch", *argv], "script": script,
                      "cwd": os.getcwd()})
    with state.locked():
        state.write_job({
            "jobid": job_id, "name": name, "comment": options.get("comment", ""),
            "account": options.get("account", ""), "state": "PENDING", "exit_code": "0:0",
            "submit_time": time.time(), "workdir": workdir, "output": str(Path(workdir, output)),
            "script": str(script_path), "mem": options.get("mem", ""), **granted,
        })
    env = job_environment(options, job_id, name, granted)
    runner = [sys.executable, str(Path(__file__).resolve()), "run-job", job_id]
    if os.environ.get("FAKE_SLURM_SYNC") == "1":
        subprocess.run(runner, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    else:  # detached: sbatch returns at once and its pipes close, as with real SLURM
        subprocess.Popen(runner, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    print(job_id if options.get("parsable") else f"Submitted batch job {job_id}")
    return 0


def job_environment(options: dict, job_id: str, name: str, granted: dict) -> dict:
    """The job's environment: the submitter's (``--export=ALL``, the default) plus SLURM's variables."""
    export = str(options.get("export", "ALL"))
    env = dict(os.environ) if export.split(",")[0] == "ALL" else {"PATH": os.environ.get("PATH", "")}
    env.update({
        "SLURM_JOB_ID": job_id, "SLURM_JOBID": job_id, "SLURM_JOB_NAME": name,
        "SLURM_JOB_PARTITION": granted["partition"], "SLURM_SUBMIT_DIR": os.getcwd(),
        "SLURM_CPUS_PER_TASK": str(granted["cpus"]), "SLURM_NTASKS": str(options.get("ntasks", 1)),
        "SLURM_JOB_NUM_NODES": "1", "SLURM_NODELIST": "fakenode1", "SLURM_CLUSTER_NAME": "fake",
    })
    if options.get("account"):
        env["SLURM_JOB_ACCOUNT"] = options["account"]
    if granted["gpus"]:
        env["SLURM_GPUS"] = f"{granted['gpu_model']}:{granted['gpus']}" if granted["gpu_model"] else str(granted["gpus"])
    return env


def run_job(job_id: str) -> int:
    """The runner: execute one job's script and record how it ended."""
    with state.locked():
        job = json.loads(state.job_file(job_id).read_text())
        if job["state"] == "CANCELLED":  # cancelled while pending
            return 0
        job.update(state="RUNNING", start_time=time.time())
        state.write_job(job)
    try:
        log = open(job["output"], "ab")
    except OSError:  # SLURM fails a job whose output file cannot be opened
        state.update_job(job_id, state="FAILED", exit_code="1:0", end_time=time.time())
        return 1
    with log:
        child = subprocess.Popen(["/bin/sh", job["script"]], cwd=job["workdir"], stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=log, start_new_session=True)
        state.update_job(job_id, pid=child.pid)
        limit = job["time_limit_min"]
        try:
            code = child.wait(timeout=limit * 60 if limit else None)
            final = "COMPLETED" if code == 0 else "FAILED"
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            code, final = child.wait(), "TIMEOUT"
    with state.locked():
        current = state.job_file(job_id)
        job = json.loads(current.read_text())
        if job["state"] != "CANCELLED":
            job.update(state=final, exit_code=f"{max(code, 0)}:{max(-code, 0)}", end_time=time.time())
            state.write_job(job)
    return 0


def srun(argv: list[str]) -> int:
    options, command = state.parse_options("srun", argv, SRUN_OPTIONS)
    job_id = os.environ.get("SLURM_JOB_ID")
    if not job_id or not state.job_file(job_id).exists():
        raise SlurmUsageError("srun: error: the fake srun runs only inside a job started by the fake sbatch")
    if not command:
        raise SlurmUsageError("srun: fatal: No command given to execute.")
    job = json.loads(state.job_file(job_id).read_text())
    gpus, _ = requested_gpus("srun", options)
    if gpus > job["gpus"]:
        raise SlurmUsageError(f"srun: error: Unable to create step for job {job_id}: "
                              "Requested node configuration is not available")
    state.append_log({"command": "srun", "jobid": job_id, "argv": ["srun", *argv]})
    sys.stdout.flush()
    os.execvp(command[0], command)


def scancel(argv: list[str]) -> int:
    job_ids = [a for a in argv if not a.startswith("-")]
    for job_id in job_ids:
        if not state.job_file(job_id).exists():
            print(f"scancel: error: Kill job error on job id {job_id}: Invalid job id specified", file=sys.stderr)
            continue
        with state.locked():
            job = json.loads(state.job_file(job_id).read_text())
            if job["state"] in state.FINAL_STATES:
                print(f"scancel: error: Kill job error on job id {job_id}: "
                      "Job/step already completing or completed", file=sys.stderr)
                continue
            job.update(state="CANCELLED", exit_code="0:15", end_time=time.time())
            state.write_job(job)
        if job.get("pid"):
            try:
                os.killpg(job["pid"], signal.SIGTERM)
            except ProcessLookupError:
                pass
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["run-job"]:
    sys.exit(run_job(sys.argv[2]))
