"""Fake ``sacct``, ``squeue``, ``sinfo``, ``scontrol``, ``sacctmgr`` and ``sshare``.

They answer from the fake job table in the formats the SLURM executor plugin parses:
``sacct -X --parsable2 --noheader --format=JobIdRaw,State --name RUN`` gives ``ID|STATE`` lines,
``squeue --format='%i|%T' --states=all --noheader --name RUN`` likewise. Unknown fields and options
are errors, so a changed query in the plugin shows up as a failing test rather than a hang.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import sys

import slurmstate as state
from slurmstate import OptionTable, SlurmUsageError

SACCT_OPTIONS = OptionTable(
    valued=frozenset({"format", "name", "jobs", "starttime", "endtime", "clusters", "user", "state"}),
    flags=frozenset({"parsable2", "parsable", "noheader", "allocations", "allusers"}),
    short={"o": "format", "j": "jobs", "S": "starttime", "E": "endtime", "M": "clusters", "u": "user",
           "s": "state", "P": "parsable2", "p": "parsable", "n": "noheader", "X": "allocations", "a": "allusers"},
)
SQUEUE_OPTIONS = OptionTable(
    valued=frozenset({"format", "name", "jobs", "user", "states", "partition", "clusters"}),
    flags=frozenset({"noheader", "all"}),
    short={"o": "format", "n": "name", "j": "jobs", "u": "user", "t": "states", "p": "partition",
           "M": "clusters", "h": "noheader", "a": "all"},
)
SINFO_OPTIONS = OptionTable(
    valued=frozenset({"format", "partition", "clusters"}),
    flags=frozenset({"noheader", "summarize"}),
    short={"o": "format", "p": "partition", "M": "clusters", "h": "noheader", "s": "summarize"},
)
SHORT_STATES = {"PENDING": "PD", "RUNNING": "R", "COMPLETED": "CD", "FAILED": "F", "TIMEOUT": "TO",
                "CANCELLED": "CA"}
SACCT_FIELDS = {
    "jobid": lambda job: job["jobid"],
    "jobidraw": lambda job: job["jobid"],
    "jobname": lambda job: job["name"],
    "state": lambda job: job["state"],
    "exitcode": lambda job: job["exit_code"],
    "partition": lambda job: job["partition"],
    "account": lambda job: job["account"],
    "comment": lambda job: job["comment"],
    "reason": lambda job: "None",
    "nodelist": lambda job: "fakenode1" if job["state"] != "PENDING" else "None assigned",
    "elapsed": state.elapsed,
    "alloccpus": lambda job: str(job["cpus"]),
    "reqmem": lambda job: str(job["mem"]),
    "timelimit": lambda job: str(job["time_limit_min"] or "UNLIMITED"),
}
SQUEUE_CODES = {
    "i": lambda job: job["jobid"], "j": lambda job: job["name"], "T": lambda job: job["state"],
    "t": lambda job: SHORT_STATES[job["state"]], "P": lambda job: job["partition"],
    "u": lambda job: getpass.getuser(), "M": state.elapsed, "D": lambda job: "1",
    "R": lambda job: "fakenode1" if job["state"] == "RUNNING" else "None", "C": lambda job: str(job["cpus"]),
    "a": lambda job: job["account"], "k": lambda job: job["comment"],
    "b": lambda job: f"gres/gpu:{job['gpus']}" if job["gpus"] else "N/A",
}
SQUEUE_HEADERS = {"i": "JOBID", "j": "NAME", "T": "STATE", "t": "ST", "P": "PARTITION", "u": "USER",
                  "M": "TIME", "D": "NODES", "R": "NODELIST(REASON)", "C": "CPUS", "a": "ACCOUNT",
                  "k": "COMMENT", "b": "TRES_PER_NODE"}


def csv_set(value) -> set[str]:
    return {item for item in str(value).split(",") if item} if value else set()


def sacct(argv: list[str]) -> int:
    # positional arguments are ignored: the plugin's account guess passes "| tail -1" as arguments
    options, _ = state.parse_options("sacct", argv, SACCT_OPTIONS)
    spec = options.get("format", "JobID,JobName,Partition,Account,AllocCPUS,State,ExitCode")
    fields = []
    for item in str(spec).split(","):
        name, _, width = item.partition("%")
        if name.lower() not in SACCT_FIELDS:
            raise SlurmUsageError(f"sacct: error: Invalid field requested: \"{name}\"")
        fields.append((name, int(width) if width.isdigit() else 10))
    wanted_ids, wanted_names = csv_set(options.get("jobs")), csv_set(options.get("name"))
    wanted_states = {s.upper() for s in csv_set(options.get("state"))}
    jobs = [job for job in state.all_jobs()
            if (not wanted_ids or job["jobid"] in wanted_ids)  # "ID.step" matches nothing: no steps
            and (not wanted_names or job["name"] in wanted_names)
            and (not wanted_states or job["state"] in wanted_states)]
    rows = [[SACCT_FIELDS[name.lower()](job) for name, _ in fields] for job in jobs]
    if options.get("parsable2") or options.get("parsable"):
        end = "|" if options.get("parsable") and not options.get("parsable2") else ""
        if not options.get("noheader"):
            print("|".join(name for name, _ in fields) + end)
        for row in rows:
            print("|".join(row) + end)
        return 0
    if not options.get("noheader"):
        print(" ".join(f"{name[:w]:>{w}}" for name, w in fields))
        print(" ".join("-" * w for _, w in fields))
    for row in rows:
        print(" ".join(f"{value if len(value) <= w else value[: w - 1] + '+':>{w}}"
                       for value, (_, w) in zip(row, fields)))
    return 0


def squeue(argv: list[str]) -> int:
    options, _ = state.parse_options("squeue", argv, SQUEUE_OPTIONS)
    spec = str(options.get("format", "%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R"))
    pieces = re.split(r"(%\.?-?\d*[A-Za-z])", spec)
    for piece in pieces[1::2]:
        if piece[-1] not in SQUEUE_CODES:
            raise SlurmUsageError(f"squeue: error: Invalid job format specification: {piece}")
    states = {s.upper() for s in csv_set(options.get("states"))}
    wanted_ids, wanted_names = csv_set(options.get("jobs")), csv_set(options.get("name"))
    jobs = [job for job in state.all_jobs()
            if ("ALL" in states or (job["state"] in states if states else job["state"] not in state.FINAL_STATES))
            and (not wanted_ids or job["jobid"] in wanted_ids)
            and (not wanted_names or job["name"] in wanted_names)]

    def render(values):
        return "".join(values(piece) if i % 2 else piece for i, piece in enumerate(pieces))

    if not options.get("noheader"):
        print(render(lambda piece: SQUEUE_HEADERS[piece[-1]]))
    for job in jobs:
        print(render(lambda piece: SQUEUE_CODES[piece[-1]](job)))
    return 0


def sinfo(argv: list[str]) -> int:
    options, _ = state.parse_options("sinfo", argv, SINFO_OPTIONS)
    codes = {
        "P": ("PARTITION", lambda p: p.name + ("*" if p.is_default else "")), "a": ("AVAIL", lambda p: "up"),
        "l": ("TIMELIMIT", lambda p: "infinite"), "D": ("NODES", lambda p: "1"), "t": ("STATE", lambda p: "idle"),
        "N": ("NODELIST", lambda p: "fakenode1"), "c": ("CPUS", lambda p: os.environ.get("FAKE_SLURM_CPUS_PER_NODE", "64")),
        "G": ("GRES", lambda p: f"gpu:{p.gpu_model + ':' if p.gpu_model else ''}{p.gpus}" if p.gpus else "(null)"),
    }
    spec = str(options.get("format", "%9P %.5a %.10l %.6D %.6t %N"))
    pieces = re.split(r"(%\.?-?\d*[A-Za-z])", spec)
    for piece in pieces[1::2]:
        if piece[-1] not in codes:
            raise SlurmUsageError(f"sinfo: error: Invalid node format specification: {piece}")

    def render(value_of):
        return "".join(value_of(piece) if i % 2 else piece for i, piece in enumerate(pieces))

    if not options.get("noheader"):
        print(render(lambda piece: codes[piece[-1]][0]))
    for partition in state.partitions():
        if options.get("partition") in (None, partition.name):
            print(render(lambda piece: codes[piece[-1]][1](partition)))
    return 0


def scontrol(argv: list[str]) -> int:
    if argv[:2] == ["show", "config"]:
        print("Configuration data as of fake SLURM")
        for key, value in (("ClusterName", "fake"), ("MaxArraySize", "1001"),
                           ("MinJobAge", f"{os.environ.get('FAKE_SLURM_MIN_JOB_AGE', '300')} sec"),
                           ("SLURM_VERSION", "23.02.0")):
            print(f"{key:<24}= {value}")
        return 0
    if argv[:2] == ["show", "partition"]:
        for p in state.partitions():
            if len(argv) < 3 or argv[2] == p.name:
                gres = f",gres/gpu={p.gpus}" if p.gpus else ""
                print(f"PartitionName={p.name}\n   Default={'YES' if p.is_default else 'NO'} MaxNodes=1 "
                      f"MaxTime=UNLIMITED State=UP TotalCPUs=64 TotalNodes=1\n"
                      f"   TRES=cpu=64,mem=256000M,node=1,billing=64{gres}\n")
        return 0
    if argv[:2] == ["show", "job"] and len(argv) == 3:
        if not state.job_file(argv[2]).exists():
            raise SlurmUsageError("slurm_load_jobs error: Invalid job id specified")
        job = json.loads(state.job_file(argv[2]).read_text())
        print(f"JobId={job['jobid']} JobName={job['name']}\n   JobState={job['state']} "
              f"Partition={job['partition']} ExitCode={job['exit_code']}")
        return 0
    raise SlurmUsageError(f"scontrol: error: the fake scontrol does not implement: {' '.join(argv)}")


def accounts(argv: list[str]) -> int:
    """``sacctmgr ... list user`` and ``sshare -U``: the accounts in ``$FAKE_SLURM_ACCOUNTS``."""
    for account in filter(None, os.environ.get("FAKE_SLURM_ACCOUNTS", "").split(",")):
        print(account)
    return 0
