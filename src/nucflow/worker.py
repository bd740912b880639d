"""The job worker: one process that has imported torch and the pipeline once, and forks a copy
of itself for each ``nucflow`` command that a local workflow job runs.

A local study runs a few hundred short jobs, and each used to start a Python interpreter and
import torch, numpy, pandas and scikit-image anew: about 2 s per torch job and 0.5–0.8 s per
evaluation job, often more than the work itself. When the workflow runs locally it starts a
worker (``onstart`` in ``workflow/rules/common.smk``) and puts the worker's socket path in
``NUCFLOW_WORKER``. A ``nucflow`` process that finds the variable sends its arguments, working
directory, environment and standard streams to the worker and waits; the worker forks, the child
runs the command exactly as the process would have, and the process exits with the child's
status. Each command still runs in a process of its own (a fork), so no state passes from one
command to the next, and results are byte-identical with and without the worker.

Safety rules:

* No worker, a refused connection or a different Python installation (the worker compares
  ``sys.prefix``, so jobs in their own conda environments run in those) means the command runs
  in its own process as before. ``NUCFLOW_WORKER=off`` turns the worker off.
* If the waiting process dies (Snakemake cancels the job, or the whole study is killed), the
  worker kills the command's child at once. If the worker dies, its children die with it
  (``PR_SET_PDEATHSIG``), and the waiting process fails with a one-line error.
* If Snakemake goes away without stopping it, the worker notices within half a second, kills its
  children and exits.
* Snakemake's benchmark sees only the waiting process, so the waiting process writes the child's
  CPU seconds and peak memory to the job log (``nucflow worker: cpu C s, max RSS M MB``), where
  :mod:`nucflow.study.compute` reads them.

This module imports only the standard library: the waiting side must stay cheap.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

ENV = "NUCFLOW_WORKER"
OFF = "off"
#: NUCFLOW_WORKER=on: start the worker however few jobs the run has.
ON = "on"
#: The fewest jobs for which a run starts its worker. Its imports take about 5 s of one core, and
#: the jobs that begin meanwhile start their own processes, so a run of one or two jobs cannot gain
#: from it; from a chain of a few it does (train, predict, postprocess, evaluate and aggregate of
#: one run: 8.4 s with the worker, 12.0-13.6 s without).
MIN_JOBS = 3
#: Imported once by the worker; a command whose module is not listed still runs (it imports it).
PRELOAD = ("torch", "torch._dynamo", "pytorch_lightning", "numpy", "pandas", "scipy.ndimage",
           "skimage.measure", "skimage.morphology", "skimage.segmentation", "tifffile")
#: Commands the worker does not preload (rare, or not torch jobs); they still run through it.
#: The worker process's program: the CLI's server entry (socket path and parent pid as arguments).
SERVER_MAIN = "import sys; from nucflow.cli import serve_worker; serve_worker(sys.argv[1:])"
NOT_PRELOADED = ("figures", "bench", "export", "import", "models")
#: The worker's own thread settings: no BLAS or OpenMP threads before a fork (each command sets
#: its torch threads itself, and a job's environment is restored in the child).
SERVER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_HEADER = struct.Struct("!I")
_PR_SET_PDEATHSIG = 1


def _prefix() -> str:
    return os.path.realpath(sys.prefix)


# ----------------------------------------------------------------------------- waiting side


def delegate(argv: list[str], started: float | None) -> int | None:
    """Run ``nucflow argv`` in the worker named by ``NUCFLOW_WORKER`` and return its exit status;
    ``None`` when there is no worker to run it (the caller then runs the command itself)."""
    path = os.environ.get(ENV, "")
    if not path or path in (OFF, ON) or _launches_processes(argv):
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except OSError:
        connection.close()
        return None
    try:
        request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "started": started,
                              "prefix": _prefix()}).encode()
        socket.send_fds(connection, [_HEADER.pack(len(request))], [0, 1, 2])
        connection.sendall(request)
        answer = _read_line(connection)
    except OSError:
        answer = None
    finally:
        connection.close()
    if answer is None:
        print(f"nucflow {argv[0] if argv else ''}: error: the job worker ({path}) stopped before the command "
              "finished; run the job again", file=sys.stderr)
        return 1
    reply = json.loads(answer)
    if reply.get("refused"):
        return None
    print(f"nucflow worker: cpu {reply['cpu_s']:.2f} s, max RSS {reply['max_rss_mb']:.0f} MB", file=sys.stderr)
    return int(reply["status"])


def _launches_processes(argv: list[str]) -> bool:
    """Whether the command runs in processes of its own that Lightning's DDP launcher starts: a
    process it started (``LOCAL_RANK``), or ``train`` of a run on several devices (by
    ``--devices`` or its run.json), whose launcher reruns the command line of the process it runs
    in -- which, in the worker's child, would be the worker's. Such commands bypass the worker, and
    so do ``baseline train`` and ``baseline predict`` (TensorFlow, in a process of their own)."""
    if "LOCAL_RANK" in os.environ:
        return True
    if argv[:1] == ["baseline"] and argv[1:2] != ["table"]:
        return True  # TensorFlow: not to be started in a fork of a process that has imported torch
    if not argv or argv[0] != "train":
        return False
    options = dict(zip(argv[1:], argv[2:]))
    if "--devices" in options:
        return options["--devices"] != "1"
    try:
        with open(options.get("--run", ""), encoding="utf-8") as handle:
            return int(json.load(handle).get("devices", 1)) > 1
    except (OSError, ValueError, TypeError, AttributeError):
        return False  # the command itself reports an unreadable run.json


def _read_line(connection: socket.socket) -> bytes | None:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data


def _recv_exact(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the client closed the connection")
        data += chunk
    return data


# ----------------------------------------------------------------------------- worker side


class _Server:
    def __init__(self, path: str, entry):
        self.path, self.entry = path, entry
        self.children: dict[int, tuple[int, socket.socket]] = {}  # pid -> (pidfd, connection)
        self.lock = threading.RLock()  # re-entrant: the SIGTERM handler may run inside a locked section
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    def serve(self) -> None:
        staging = f"{self.path}.{os.getpid()}"
        self.listener.bind(staging)
        self.listener.listen(64)
        os.rename(staging, self.path)  # the socket appears only once the worker can answer
        while True:
            connection, _ = self.listener.accept()
            self.accept(connection)

    def accept(self, connection: socket.socket) -> None:
        fds: list[int] = []
        try:
            header, fds, _, _ = socket.recv_fds(connection, _HEADER.size, 3)
            if len(header) != _HEADER.size or len(fds) != 3:
                raise ValueError("malformed request")
            request = json.loads(_recv_exact(connection, _HEADER.unpack(header)[0]))
            if request.get("prefix") != _prefix():  # another Python installation: it runs there
                raise ValueError("another Python installation")
            sys.stdout.flush()
            sys.stderr.flush()
            with self.lock:
                pid = os.fork()
                if pid == 0:
                    self._child(request, fds, connection)  # never returns
                self.children[pid] = (os.pidfd_open(pid), connection)  # supported: serve() checked
        except (OSError, ValueError, ConnectionError) as exc:  # the client runs the command itself
            try:
                connection.sendall(json.dumps({"refused": True, "why": str(exc)}).encode() + b"\n")
            except OSError:
                pass
            connection.close()
            return
        finally:
            for fd in fds:
                os.close(fd)
        threading.Thread(target=self._attend, args=(pid,), daemon=True).start()

    def _child(self, request: dict, fds: list[int], connection: socket.socket) -> None:
        status = 1
        try:
            worker = os.getppid()
            _die_with_parent()
            if os.getppid() != worker:
                os._exit(1)
            self.listener.close()
            connection.close()
            for pidfd, other in self.children.values():
                os.close(pidfd)
                other.close()
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            tempfile.tempdir = None  # found again from the job's TMPDIR
            sys.argv = ["nucflow", *request["argv"]]
            status = int(self.entry(request["argv"], started=request.get("started")) or 0)
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001 - the child must always reach os._exit
            import traceback
            traceback.print_exc()
            status = 1
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(status)

    def _attend(self, pid: int) -> None:
        """Wait for the child to end or its client to go (the client sends nothing after its
        request, so a readable connection means it closed); a child whose client went is killed."""
        pidfd, connection = self.children[pid]
        ready, _, _ = select.select([pidfd, connection], [], [])
        with self.lock:
            if pidfd not in ready:
                _kill(pidfd)
            del self.children[pid]
        _, code, usage = os.wait4(pid, 0)
        os.close(pidfd)
        status = os.waitstatus_to_exitcode(code)
        reply = {"status": status if status >= 0 else 128 - status,
                 "cpu_s": usage.ru_utime + usage.ru_stime, "max_rss_mb": usage.ru_maxrss / 1024}
        try:
            connection.sendall(json.dumps(reply).encode() + b"\n")
        except OSError:
            pass
        finally:
            connection.close()

    def shutdown(self) -> None:
        with self.lock:
            for pidfd, _ in self.children.values():
                _kill(pidfd)
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os._exit(0)


def _kill(pidfd: int) -> None:
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except ProcessLookupError:  # already ended
        pass


def _supported() -> bool:
    """Whether this system has what the worker needs to kill exactly its own children (pidfds)."""
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    return True


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent (the worker) dies; a no-op elsewhere."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def serve(path: str, entry, preload=PRELOAD, parent: int | None = None) -> None:
    """Import ``preload``, then answer requests on the socket ``path`` by calling
    ``entry(argv, started=...)`` until SIGTERM or until the process ``parent`` (default: this
    process's parent) is gone. The worker's process runs :func:`nucflow.cli.serve_worker`, which
    passes the CLI's ``main`` and its command modules: this module does not import the CLI."""
    if not _supported():
        print("nucflow worker: this system cannot watch child processes (Linux 5.3 pidfds); every command "
              "starts its own process", file=sys.stderr)
        return
    for module in preload:
        importlib.import_module(module)
    server = _Server(path, entry)
    parent = os.getppid() if parent is None else parent
    signal.signal(signal.SIGTERM, lambda *_: server.shutdown())

    def watchdog() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        server.shutdown()

    threading.Thread(target=watchdog, daemon=True).start()
    server.serve()


def wanted(jobs: int | None) -> bool:
    """Whether a run of ``jobs`` jobs gets a worker: not with NUCFLOW_WORKER=off, always with
    NUCFLOW_WORKER=on, else from :data:`MIN_JOBS` jobs on (or when the count is unknown)."""
    setting = os.environ.get(ENV, "")
    if setting in (OFF, ON):
        return setting == ON
    return jobs is None or jobs >= MIN_JOBS


class Worker:
    """The workflow's handle on its worker: :meth:`start` in ``onstart``, :meth:`stop` in
    ``onsuccess`` and ``onerror``. Starting does not wait for the imports: commands that begin
    before the worker is ready run in their own processes."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.folder: str | None = None

    def start(self, jobs: int | None = None) -> None:
        """Start the worker for a run of ``jobs`` jobs (unknown: start), unless :func:`wanted` says no."""
        if self.process is not None or not wanted(jobs):
            return
        self.folder = tempfile.mkdtemp(prefix="nucflow-worker-")
        path = os.path.join(self.folder, "socket")
        env = {**os.environ, **SERVER_ENV}
        env.pop(ENV, None)
        self.process = subprocess.Popen([sys.executable, "-P", "-c", SERVER_MAIN, path, str(os.getpid())],
                                        stdin=subprocess.DEVNULL, env=env)
        os.environ[ENV] = path

    def stop(self) -> None:
        if self.process is None:
            return
        os.environ.pop(ENV, None)
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
        self.process = None

