"""``nucflow train``: train one run from its run.json, or resume it, or re-export a finished one.

With several devices Lightning's DDP launcher runs this same command once more per extra device
(``LOCAL_RANK`` >= 1); those processes train their share and exit quietly."""

from __future__ import annotations

import argparse
import sys

from nucflow.training.config import RunConfig, set_threads
from nucflow.training.train import quiet_lightning, train  # torch: counted as start-up


def add_arguments(parser: argparse.ArgumentParser) -> None:
    io = parser.add_argument_group("input")
    io.add_argument("--run", required=True, help="run.json of the run (its out_dir receives every output)")
    folder = parser.add_argument_group("run folder")
    folder.add_argument("--fresh-if-changed", action="store_true",
                        help="if out_dir holds a run with other settings or input files, move its "
                             "training state to out_dir/previous/<time>/ and train afresh (the workflow "
                             "passes this; default: refuse)")
    override = parser.add_argument_group("overrides (do not change what is learned)")
    override.add_argument("--max-epochs", type=int,
                          help="upper bound on epochs (extends a run that hit its limit)")
    override.add_argument("--accelerator", choices=("auto", "cpu", "gpu"), help="where to train: auto (CUDA when available), cpu or gpu")
    override.add_argument("--devices", type=int,
                          help="devices to train on (GPUs, or CPU processes); more than one trains with DDP, "
                               "splitting each batch over them")
    override.add_argument("--strategy", choices=("auto", "ddp", "ddp_spawn", "ddp_fork"),
                          help="Lightning strategy (auto: ddp on several devices)")
    override.add_argument("--logger", choices=("csv", "tensorboard"),
                          help="csv: log.csv only; tensorboard: also a TensorBoard log in the run folder")
    override.add_argument("--num-workers", type=int, help="DataLoader worker processes")
    override.add_argument("--threads", type=int,
                          help="CPU threads for torch (match the Snakemake rule's threads; default: torch's)")
    override.add_argument("--quiet", action="store_true", help="no per-epoch line on stderr")


def run(args: argparse.Namespace) -> int:
    config = RunConfig.from_json(args.run)
    changes = {key: value for key in ("max_epochs", "accelerator", "num_workers", "devices", "strategy", "logger")
               if (value := getattr(args, key)) is not None}
    if changes:
        config = RunConfig.from_dict({**config.to_dict(), **changes}, source=args.run)
    set_threads(args.threads)
    quiet_lightning(sys.stderr.isatty())
    result = train(config, echo=not args.quiet, fresh_if_changed=args.fresh_if_changed)
    if result is None:  # one of the extra processes of a multi-device run: the first one reports
        return 0
    print(f"{result.run_id}: {result.epochs_run} epochs, best val_loss {result.best_val_loss:.5g} "
          f"at epoch {result.best_epoch}, {result.tiles_per_second} tiles/s -> {config.out_dir}")
    return 0
