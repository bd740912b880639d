"""``nucflow lr-find``: learning-rate range test of a run; writes curve.csv, curve.png and lr.json."""

from __future__ import annotations

import argparse
import sys

from nucflow.training.config import RunConfig, set_threads
from nucflow.training.lr_find import find_lr, write_lr_outputs  # torch: counted as start-up
from nucflow.training.train import quiet_lightning


def add_arguments(parser: argparse.ArgumentParser) -> None:
    io = parser.add_argument_group("input and output")
    io.add_argument("--run", required=True, help="run.json giving model, loss, tiles, batch size and seed")
    io.add_argument("--out-dir", required=True, help="folder for curve.csv, curve.png and lr.json")
    sweep = parser.add_argument_group("sweep")
    sweep.add_argument("--min-lr", type=float, default=1e-10,
                       help="first learning rate (default 1e-10, as published)")
    sweep.add_argument("--max-lr", type=float, default=10.0,
                       help="last learning rate (default 10, as published)")
    sweep.add_argument("--num-steps", type=int, default=100,
                       help="training steps, one per rate (default 100)")
    sweep.add_argument("--threads", type=int,
                       help="CPU threads for torch (match the Snakemake rule's threads; default: torch's)")
    sweep.add_argument("--accelerator", choices=("auto", "cpu", "gpu"), help="override the run's accelerator")


def run(args: argparse.Namespace) -> int:
    config = RunConfig.from_json(args.run)
    if args.accelerator:
        config = RunConfig.from_dict({**config.to_dict(), "accelerator": args.accelerator}, source=args.run)
    set_threads(args.threads)
    quiet_lightning(sys.stderr.isatty())
    result = find_lr(config, args.min_lr, args.max_lr, args.num_steps, work_dir=args.out_dir)
    paths = write_lr_outputs(result, args.out_dir, config.run_id)
    print(f"{config.run_id}: chosen lr {result.lr:.3g} "
          f"(tuner suggestion {result.tuner_suggestion}) -> {paths['lr']}")
    return 0
