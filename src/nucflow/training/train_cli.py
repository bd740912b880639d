"""``nucflow train``: train one run from its run.json, or resume it, or re-export a finished one."""

from __future__ import annotations

import argparse

from nucflow.training.config import RunConfig, set_threads
from nucflow.training.train import train  # torch: counted as start-up


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
    override.add_argument("--num-workers", type=int, help="DataLoader worker processes")
    override.add_argument("--threads", type=int,
                          help="CPU threads for torch (match the Snakemake rule's threads; default: torch's)")
    override.add_argument("--quiet", action="store_true", help="no per-epoch line on stderr")


def run(args: argparse.Namespace) -> int:
    config = RunConfig.from_json(args.run)
    changes = {key: value for key, value in (("max_epochs", args.max_epochs), ("accelerator", args.accelerator),
                                             ("num_workers", args.num_workers)) if value is not None}
    if changes:
        config = RunConfig.from_dict({**config.to_dict(), **changes}, source=args.run)
    set_threads(args.threads)
    result = train(config, echo=not args.quiet, fresh_if_changed=args.fresh_if_changed)
    print(f"{result.run_id}: {result.epochs_run} epochs, best val_loss {result.best_val_loss:.5g} "
          f"at epoch {result.best_epoch}, {result.tiles_per_second} tiles/s -> {config.out_dir}")
    return 0
