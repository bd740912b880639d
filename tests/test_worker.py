"""The job worker (nucflow.worker): commands it runs behave as in their own process, a command
runs itself when there is no worker for it, and no child outlives its client or its worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nucflow import worker

NUCFLOW = Path(sys.executable).with_name("nucflow")
#: A worker whose entry point is a test double: `sleep PIDFILE` writes its pid and sleeps,
#: `exit N` prints its argv and returns N.
TOY_SERVER = """
import os, sys, time
from pathlib import Path
from nucflow.worker import serve

def entry(argv, started=None):
    if argv[0] == "sleep":
        Path(argv[1] + ".part").write_text(str(os.getpid()))
        os.replace(argv[1] + ".part", argv[1])  # whole or absent: the test reads it as soon as it exists
        time.sleep(120)
    print("ran", *argv, "in", os.getcwd(), os.environ.get("TOY", ""))
    return int(argv[1])

serve(sys.argv[1], preload=(), entry=entry)
"""
CLIENT = "import sys; from nucflow.worker import delegate; print('status', delegate(sys.argv[1:], None))"


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie no longer runs
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def toy_worker(tmp_path):
    socket_path = tmp_path / "socket"
    server = subprocess.Popen([sys.executable, "-c", TOY_SERVER, str(socket_path)])
    assert wait_for(socket_path.exists), "the worker never opened its socket"
    yield socket_path, server
    server.kill()
    server.wait()


def client(socket_path, *argv, cwd=None, **env):
    return subprocess.Popen([sys.executable, "-c", CLIENT, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=cwd, env={**os.environ, worker.ENV: str(socket_path), **env})


def sleeping_command(socket_path, tmp_path):
    """A client whose command sleeps in the worker: (the client process, the command's pid)."""
    pidfile = tmp_path / "pid"
    waiting = client(socket_path, "sleep", str(pidfile))
    assert wait_for(pidfile.exists)
    return waiting, int(pidfile.read_text())


def test_a_command_runs_in_the_worker_with_the_clients_streams_directory_and_environment(toy_worker, tmp_path):
    socket_path, _ = toy_worker
    done = client(socket_path, "exit", "3", cwd=tmp_path, TOY="from-the-client")
    out, err = done.communicate(timeout=30)
    assert done.returncode == 0
    assert out.splitlines() == [f"ran exit 3 in {tmp_path} from-the-client", "status 3"]
    assert err.startswith("nucflow worker: cpu ") and err.rstrip().endswith(" MB")


def test_without_a_worker_the_command_runs_itself(tmp_path, monkeypatch):
    monkeypatch.setenv(worker.ENV, str(tmp_path / "no-socket"))
    assert worker.delegate(["validate"], None) is None
    monkeypatch.setenv(worker.ENV, worker.OFF)
    assert worker.delegate(["validate"], None) is None
    monkeypatch.setenv(worker.ENV, worker.ON)  # asked for, but the run did not start one
    assert worker.delegate(["validate"], None) is None
    monkeypatch.delenv(worker.ENV)
    assert worker.delegate(["validate"], None) is None


def test_a_run_starts_its_worker_from_min_jobs_on_or_when_asked(monkeypatch):
    monkeypatch.delenv(worker.ENV, raising=False)
    assert [worker.wanted(n) for n in (0, worker.MIN_JOBS - 1, worker.MIN_JOBS, None)] == [False, False, True, True]
    monkeypatch.setenv(worker.ENV, worker.ON)
    assert worker.wanted(1) and worker.wanted(0)
    monkeypatch.setenv(worker.ENV, worker.OFF)
    assert not worker.wanted(1000) and not worker.wanted(None)
    started = worker.Worker()
    started.start(jobs=1000)  # off: nothing starts
    assert started.process is None


def test_another_python_installation_is_refused(toy_worker, monkeypatch):
    socket_path, _ = toy_worker
    monkeypatch.setenv(worker.ENV, str(socket_path))
    monkeypatch.setattr(worker, "_prefix", lambda: "/some/conda/env")
    assert worker.delegate(["exit", "0"], None) is None


def test_a_killed_client_takes_its_command_with_it(toy_worker, tmp_path):
    socket_path, server = toy_worker
    waiting, child = sleeping_command(socket_path, tmp_path)
    waiting.kill()
    waiting.wait()
    assert wait_for(lambda: not alive(child), timeout=5), "the command outlived its client"
    assert server.poll() is None  # the worker itself goes on
    again = client(socket_path, "exit", "0")
    assert again.communicate(timeout=30)[0].endswith("status 0\n")


def test_a_dead_worker_takes_its_commands_and_the_client_says_so(toy_worker, tmp_path):
    socket_path, server = toy_worker
    waiting, child = sleeping_command(socket_path, tmp_path)
    server.send_signal(signal.SIGKILL)
    out, err = waiting.communicate(timeout=30)
    assert out.strip() == "status 1" and "the job worker" in err and "stopped before the command finished" in err
    assert wait_for(lambda: not alive(child), timeout=5), "the command outlived its worker"


def test_the_worker_leaves_when_the_workflow_is_gone(tmp_path):
    """A worker whose parent (Snakemake) was killed without stopping it exits and removes its socket."""
    socket_path = tmp_path / "socket"
    parent = subprocess.Popen([sys.executable, "-c", "import os, subprocess, sys, time; "
                               f"subprocess.Popen([sys.executable, '-c', {TOY_SERVER!r}, {str(socket_path)!r}]); "
                               "time.sleep(120)"])
    try:
        assert wait_for(socket_path.exists)
        parent.kill()
        parent.wait()
        assert wait_for(lambda: not socket_path.exists(), timeout=5), "the worker outlived the workflow"
    finally:
        parent.kill()


def test_nucflow_commands_give_the_same_output_through_the_real_worker(tmp_path):
    """The real worker (torch and the command modules preloaded): a command's output, one-line
    error and exit status are those of its own process; Worker.stop leaves no process behind."""
    handle = worker.Worker()
    before = os.environ.get(worker.ENV)
    handle.start()
    try:
        socket_path = Path(os.environ[worker.ENV])
        assert wait_for(socket_path.exists, timeout=60)
        env = dict(os.environ)
        runs = {}
        for mode in ("worker", "process"):
            env[worker.ENV] = str(socket_path) if mode == "worker" else worker.OFF
            runs[mode] = [subprocess.run([str(NUCFLOW), *argv], capture_output=True, text=True, env=env, cwd=tmp_path)
                          for argv in (["plan", "--help"], ["split", "--manifest", "missing.csv", "--out", "s.json"])]
        for through, alone in zip(runs["worker"], runs["process"]):
            assert (through.returncode, through.stdout) == (alone.returncode, alone.stdout)
            assert [line for line in through.stderr.splitlines() if not line.startswith("nucflow worker:")] == \
                alone.stderr.splitlines()
        assert runs["worker"][1].returncode == 2
        assert runs["worker"][1].stderr.startswith("nucflow split: error: missing.csv")
        assert "nucflow worker: cpu" in runs["worker"][0].stderr and "nucflow worker" not in runs["process"][0].stderr
    finally:
        server = handle.process
        handle.stop()
        if before is not None:
            os.environ[worker.ENV] = before
    assert server.poll() is not None and not Path(handle.folder or socket_path.parent).exists()


def test_without_pidfds_there_is_no_worker_and_commands_run_themselves(tmp_path, monkeypatch, capsys):
    """On a kernel older than Linux 5.3 (or off Linux) the worker could not kill exactly its own
    children, so it does not serve: no socket, and every command falls back to its own process."""
    monkeypatch.delattr(os, "pidfd_open")
    socket_path = tmp_path / "socket"
    worker.serve(str(socket_path), preload=("a_module_that_does_not_exist",), entry=lambda argv, started=None: 0)
    assert not socket_path.exists() and "every command starts its own process" in capsys.readouterr().err
    monkeypatch.setenv(worker.ENV, str(socket_path))
    assert worker.delegate(["validate"], None) is None
