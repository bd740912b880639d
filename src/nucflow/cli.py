"""The ``nucflow`` command line: one subcommand per pipeline step; every Snakemake rule calls one.

Subcommands are registered in :data:`COMMANDS` as ``name -> (module, summary)``. The module is only
imported when its subcommand runs, so ``nucflow validate`` does not pay for importing torch. A
command's module is named after it, ``nucflow.<package>.<command>_cli`` (``-`` becomes ``_``), and
only parses, calls its package and writes; it provides ``add_arguments(parser)`` (grouped by purpose
with ``parser.add_argument_group``) and ``run(args) -> int``.

User errors (:class:`nucflow.errors.NucflowError`) are printed as one line, ``nucflow <cmd>: error:
...``, with exit status 2 and no traceback. ``NUCFLOW_DEBUG=1`` shows the traceback.

A ``nucflow`` process whose command succeeds ends with one line on stderr (so in its rule's log), ``nucflow <cmd>:
start-up S s, work W s``: start-up is the time from the process start (interpreter, imports,
argument parsing) until the command's ``run`` begins, work the rest. ``nucflow.study.compute``
reads these lines to tell how much of the study's time is start-up.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from nucflow import __version__
from nucflow.errors import NucflowError

COMMANDS: dict[str, tuple[str, str]] = {
    # data
    "simulate": ("nucflow.simulator.simulate_cli", "write the simulated study data set and its manifest"),
    "import": ("nucflow.data.import_cli", "convert Cellpose/StarDist folders, Opera Phenix exports, OME-Zarr plates or the ndev sample into a checked data set"),
    "label": ("nucflow.labels.label_cli", "make a manifest's labels from the nuclear stain (classical or a model); their noise against the truth"),
    "validate": ("nucflow.data.validate_cli", "check a manifest and every file it names"),
    "split": ("nucflow.data.split_cli", "write seeded, stratified train/val/test splits (splits.json)"),
    "tiles": ("nucflow.data.tiles_cli", "cut normalised training tiles for one data set / modality / subset"),
    "augment": ("nucflow.data.augment_cli", "add the five published flip/rotation copies to a tile set"),
    "overview": ("nucflow.data.overview_cli", "draw the data overview figure from a manifest"),
    "plan": ("nucflow.study.plan_cli", "expand the config into the table of training runs"),
    "run-config": ("nucflow.study.run_config_cli", "check one run's settings and write its run.json"),
    "choose": ("nucflow.study.choose_cli", "choices made on validation results: smoothing factor, next focal plane"),
    # models and training
    "models": ("nucflow.models.models_cli", "table of parameters, MACs and forward time per model"),
    "train": ("nucflow.training.train_cli", "train (or resume) one run from its run.json"),
    "lr-find": ("nucflow.training.lr_find_cli", "learning-rate range test; writes the curve and the chosen rate"),
    "frem-search": ("nucflow.training.frem_search_cli", "TPE search (optuna) of FREM's channels and factor on validation; resumable"),
    "predict": ("nucflow.inference.predict_cli", "probability maps of a trained run on manifest images"),
    "export": ("nucflow.inference.export_cli", "a trained run as TorchScript + JSON sidecar (+ bioimage.io description)"),
    # evaluation
    "postprocess": ("nucflow.postprocess.postprocess_cli", "turn probability maps into instance labels"),
    "evaluate": ("nucflow.evaluation.evaluate_cli", "pixel and object metrics per image, per object and per run"),
    "tradeoff": ("nucflow.evaluation.tradeoff_cli", "precision/recall of the multi-scale merge at each confidence level"),
    "aggregate": ("nucflow.study.aggregate_cli", "one arm's result tables from its runs' metrics"),
    "compute": ("nucflow.study.compute_cli", "where the study's time went: start-up, work and optimisation steps per job and rule"),
    "bench": ("nucflow.bench.bench_cli", "speed and size benchmarks (make bench runs them all)"),
    "figure-tables": ("nucflow.report.figure_tables_cli", "the bootstrap intervals every figure draws, as tables"),
    "figures": ("nucflow.figures.figures_cli", "draw the study figures and results/summary.md from the result tables"),
    "attribute": ("nucflow.attribution.attribute_cli", "density/size, label-noise, artifact and error-composition analyses"),
    "baseline": ("nucflow.baselines.baseline_cli", "StarDist trained on the study's images, as a baseline (optional extra)"),
}


def _top_parser() -> argparse.ArgumentParser:
    width = max(len(n) for n in COMMANDS)
    listing = "\n".join(f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="nucflow",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Nucleus segmentation study pipeline. Run 'nucflow COMMAND --help' for a command's options.",
        epilog=f"commands:\n{listing}",
        usage="nucflow [-h] [--version] COMMAND [options]",
    )
    parser.add_argument("--version", action="version", version=f"nucflow {__version__}")
    return parser


def build_parser(command: str) -> argparse.ArgumentParser:
    """The parser of one subcommand (imports its module)."""
    module_name, summary = COMMANDS[command]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"nucflow {command}", description=summary)
    module.add_arguments(parser)
    parser.set_defaults(_run=module.run)
    return parser


def process_started() -> float | None:
    """This process's start in seconds since boot (Linux ``/proc``; ``None`` elsewhere)."""
    try:
        ticks = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def seconds_since(started: float | None) -> float | None:
    """Seconds from ``started`` (seconds since boot, as :func:`process_started` gives) until now."""
    if started is None:
        return None
    try:
        uptime = float(open("/proc/uptime").read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, uptime - started)


def process_seconds() -> float | None:
    """Seconds since this process started (Linux ``/proc``; ``None`` elsewhere)."""
    return seconds_since(process_started())


def serve_worker(argv: list[str]) -> None:
    """The job worker's process (started by :class:`nucflow.worker.Worker` with ``SOCKET
    [PARENT_PID]``): import the command modules once, then run commands for the workflow's jobs."""
    from nucflow import worker

    modules = tuple(module for name, (module, _) in COMMANDS.items() if name not in worker.NOT_PRELOADED)
    worker.serve(argv[0], main, preload=(*worker.PRELOAD, *modules),
                 parent=int(argv[1]) if len(argv) > 1 else None)


def main(argv: list[str] | None = None, *, started: float | None = None) -> int:
    """Run one command. ``argv`` defaults to the process's arguments; only then (a real
    ``nucflow`` process, not a call from Python) is the timing line printed, and the command runs
    in the workflow's job worker when there is one (:mod:`nucflow.worker`). The worker calls this
    with ``started``, its client process's start (seconds since boot), and gets the timing line."""
    timed = argv is None or started is not None
    if argv is None:
        argv = sys.argv[1:]
        if argv and argv[0] in COMMANDS and os.environ.get("NUCFLOW_WORKER"):
            from nucflow import worker
            status = worker.delegate(argv, started=process_started())
            if status is not None:
                return status
    argv = list(argv)
    top = _top_parser()
    if not argv or argv[0] in ("-h", "--help", "--version"):
        top.parse_args(argv or ["--help"])
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        top.error(f"unknown command {command!r}; choose from: {', '.join(COMMANDS)}")
    try:
        parser = build_parser(command)
        args = parser.parse_args(rest)
        clock = process_seconds if started is None else lambda: seconds_since(started)
        startup = clock() if timed else None
        status = int(args._run(args) or 0)
        if startup is not None and status == 0 and os.environ.get("LOCAL_RANK", "0") == "0":
            # (the extra processes of a multi-device run share the job's log: one timing line per job)
            work = (clock() or startup) - startup
            print(f"nucflow {command}: start-up {startup:.2f} s, work {work:.2f} s", file=sys.stderr)
        return status
    except NucflowError as exc:
        if os.environ.get("NUCFLOW_DEBUG"):
            raise
        print(f"nucflow {command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nucflow {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
