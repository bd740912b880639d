"""``nucflow simulate``: write the simulated study data set, its manifest and simulation.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from nucflow.config import load_config
from nucflow.simulator.simulate import SimulationConfig, simulate
from nucflow.errors import NucflowError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    inputs = parser.add_argument_group("input")
    inputs.add_argument("--config", required=True, type=Path,
                        help="study config YAML; its 'simulation' section is used")
    outputs = parser.add_argument_group("output")
    outputs.add_argument("--out", required=True, type=Path,
                         help="output folder: manifest.csv, simulation.json and one folder per data set")
    choice = parser.add_argument_group("what to simulate")
    choice.add_argument("--seed", type=int, default=None,
                        help="data seed (overrides simulation.seed; the training seed is separate)")
    choice.add_argument("--datasets", nargs="+", default=None, metavar="NAME",
                        help="simulate only these data sets (default: all in simulation.datasets)")
    compute = parser.add_argument_group("compute")
    compute.add_argument("--workers", type=int, default=1,
                         help="processes to simulate fields in parallel (output bytes do not change)")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.seed is not None and args.seed < 0:
        raise NucflowError(f"--seed: must be a non-negative integer, got {args.seed}")
    sim = SimulationConfig.from_dict(config["simulation"], seed=args.seed).select(args.datasets)
    manifest = simulate(sim, args.out, workers=args.workers)
    counts = manifest.groupby("dataset", sort=False).size()
    summary = ", ".join(f"{name}: {n} fields" for name, n in counts.items())
    print(f"wrote {args.out / 'manifest.csv'} ({summary}; seed {sim.seed})")
    return 0
