"""Shared state of the fake SLURM commands: the job table, the call log, option parsing.

The fake cluster lives in plain files so that every command (a separate process) sees the same
jobs:

- ``$FAKE_SLURM_LOG``: JSON lines, one per ``sbatch``/``srun`` call (argv, job id, job script).
- ``$FAKE_SLURM_STATE`` (default: ``$FAKE_SLURM_LOG`` + ``.state``): ``next_id`` and one
  ``jobs/<id>.json`` per job with its name, partition, state and exit code.
- ``$FAKE_SLURM_PARTITIONS``: the partitions, ``name[*][:gpus[:model]]`` comma-separated, the
  default partition marked with ``*`` (default ``cpu*,gpu:4:a100``).
- ``$FAKE_SLURM_ACCOUNTS``: accounts the user may charge, comma-separated (default none).

Only the standard library is used, so any ``python3`` on PATH runs the commands.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PARTITIONS = "cpu*,gpu:4:a100"
FINAL_STATES = ("COMPLETED", "FAILED", "TIMEOUT", "CANCELLED")


class SlurmUsageError(Exception):
    """A call that real SLURM would reject: the message goes to stderr, the command exits 1."""


@dataclass(frozen=True)
class Partition:
    """One partition of the fake cluster: its name, GPUs per node and GPU model ('' if none)."""

    name: str
    is_default: bool
    gpus: int
    gpu_model: str


def partitions() -> list[Partition]:
    """The partitions named by ``$FAKE_SLURM_PARTITIONS``."""
    result = []
    for entry in os.environ.get("FAKE_SLURM_PARTITIONS", DEFAULT_PARTITIONS).split(","):
        parts = entry.strip().split(":")
        name = parts[0].rstrip("*")
        gpus = int(parts[1]) if len(parts) > 1 else 0
        result.append(Partition(name, parts[0].endswith("*"), gpus, parts[2] if len(parts) > 2 else ""))
    return result


def log_path() -> Path:
    try:
        return Path(os.environ["FAKE_SLURM_LOG"])
    except KeyError:
        raise SlurmUsageError("fake SLURM: set FAKE_SLURM_LOG to the call log's path") from None


def state_dir() -> Path:
    directory = Path(os.environ.get("FAKE_SLURM_STATE") or f"{log_path()}.state")
    (directory / "jobs").mkdir(parents=True, exist_ok=True)
    return directory


@contextlib.contextmanager
def locked():
    """Serialise read-modify-write of the state and the log across processes."""
    with open(state_dir() / "lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def append_log(record: dict) -> None:
    with locked(), open(log_path(), "a") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")


def new_job_id() -> str:
    counter = state_dir() / "next_id"
    with locked():
        job_id = int(counter.read_text()) if counter.exists() else 1000
        counter.write_text(str(job_id + 1))
    return str(job_id)


def job_file(job_id: str) -> Path:
    return state_dir() / "jobs" / f"{job_id}.json"


def write_job(job: dict) -> None:
    path = job_file(job["jobid"])
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(job, sort_keys=True))
    tmp.replace(path)


def update_job(job_id: str, **changes) -> dict:
    with locked():
        job = json.loads(job_file(job_id).read_text())
        job.update(changes)
        write_job(job)
    return job


def all_jobs() -> list[dict]:
    jobs = []
    for path in sorted(state_dir().glob("jobs/*.json"), key=lambda p: int(p.stem)):
        with contextlib.suppress(json.JSONDecodeError, FileNotFoundError):
            jobs.append(json.loads(path.read_text()))
    return jobs


def elapsed(job: dict) -> str:
    """Run time as SLURM prints it (``HH:MM:SS``)."""
    end = job.get("end_time") or time.time()
    seconds = int(end - job.get("start_time", end))
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def parse_minutes(text: str) -> float:
    """A SLURM time limit (``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``) in minutes."""
    if not re.fullmatch(r"(\d+-)?\d+(:\d+){0,2}", text):
        raise SlurmUsageError(f"sbatch: error: Invalid time limit specification: {text}")
    days, _, rest = text.rpartition("-")
    fields = [int(f) for f in rest.split(":")]
    if days:
        hours, minutes, seconds = (fields + [0, 0])[:3]
        return int(days) * 1440 + hours * 60 + minutes + seconds / 60
    if len(fields) == 3:
        return fields[0] * 60 + fields[1] + fields[2] / 60
    return fields[0] + (fields[1] / 60 if len(fields) == 2 else 0)


@dataclass(frozen=True)
class OptionTable:
    """Which options of a command take a value and which are flags; short names map to long."""

    valued: frozenset
    flags: frozenset
    short: dict


def parse_options(command: str, argv: list[str], table: OptionTable) -> tuple[dict, list[str]]:
    """Options up to the first positional argument -> ({long name: value or True}, the rest).

    Unknown options are an error, as a strict stand-in for SLURM that catches malformed calls.
    """
    options: dict = {}
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg.startswith("--"):
            name, has_value, value = arg[2:].partition("=")
        elif arg.startswith("-") and len(arg) > 1:
            if arg[1] not in table.short:
                raise SlurmUsageError(f"{command}: invalid option -- '{arg[1]}'")
            name, value = table.short[arg[1]], arg[2:]
            if name in table.flags and value:  # bundled flags: -nX == -n -X
                options[name] = True
                argv = argv[: index + 1] + [f"-{value}"] + argv[index + 1 :]
                index += 1
                continue
            has_value = bool(value)
        else:
            return options, argv[index:]
        if name in table.flags and not has_value:
            options[name] = True
        elif name in table.valued:
            if not has_value:
                index += 1
                if index == len(argv):
                    raise SlurmUsageError(f"{command}: option '--{name}' requires an argument")
                value = argv[index]
            options[name] = value
        else:
            raise SlurmUsageError(f"{command}: unrecognized option '{arg}'")
        index += 1
    return options, []


def run_command(command: str, handler, argv: list[str]) -> int:
    """Run one fake command; a usage error prints like SLURM and exits 1."""
    try:
        return handler(argv)
    except SlurmUsageError as error:
        print(error, file=sys.stderr)
        return 1
