"""Accuracy parity of precision ``auto`` against fp32: the same short training of each model, from
the same seeds, in both precisions; the difference must lie within the spread between seeds.

What runs: the default config's simulated seven-line data (``config/config.yaml``, simulation seed
0), fluorescence tiles of 64 px, each of the five models at the demo width 0.125 and batch sizes,
120 optimisation steps (6 epochs of 20), validation on 48 tiles per epoch, learning rate 2e-3 —
the default study's training of these models at the time of writing — in ``32-true`` and in
``auto``, seeds 0, 1 and 2. Reported per model: final-epoch validation loss and pixel F1 per precision
and seed, the fp32-vs-auto difference per seed, and the seed spread (range over the
seeds) per precision. ``within spread`` holds when every fp32-vs-auto difference is at most the
larger seed spread.

    nucflow bench parity [--models unet,ppunet] [--seeds 0,1] [--steps 20] [--epochs 6]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
from pathlib import Path

import pandas as pd
import torch

from nucflow import cli
from nucflow.models.registry import entry
from nucflow.training.config import RunConfig
from nucflow.training.train import train

CONFIG = Path(__file__).resolve().parents[3] / "config" / "config.yaml"
DEMO_OPTIONS = {"unet": {"batch_norm": True}, "unetpp": {"batch_norm": True, "dropout": 0.0}}


def _quiet(argv: list[str]) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        if cli.main(argv) != 0:
            raise RuntimeError(f"nucflow {' '.join(argv)} failed")


def make_tiles(root: Path, config: Path) -> tuple[str, str]:
    """Simulate seven_lines, split it and cut fluorescence train / val tiles (64 px)."""
    _quiet(["simulate", "--config", str(config), "--out", str(root / "sim"), "--datasets", "seven_lines"])
    manifest = str(root / "sim" / "manifest.csv")
    _quiet(["split", "--manifest", manifest, "--config", str(config), "--out", str(root / "splits.json")])
    paths = []
    for split in ("train", "val"):
        out = root / f"{split}.npz"
        _quiet(["tiles", "--manifest", manifest, "--splits", str(root / "splits.json"), "--dataset", "seven_lines",
                "--split", split, "--modality", "fluorescence", "--size", "64", "--out", str(out)])
        paths.append(str(out))
    return paths[0], paths[1]


def one_run(model: str, precision: str, seed: int, tiles: tuple[str, str], out: Path, steps: int,
            epochs: int) -> dict:
    config = RunConfig(run_id=f"{model}-{precision}-s{seed}", model=model, in_channels=1, modality="fluorescence",
                       train_tiles=(tiles[0],), val_tiles=(tiles[1],), batch_size=entry(model).demo_batch_size,
                       out_dir=str(out), width=0.125, model_options=DEMO_OPTIONS.get(model, {}), lr=2e-3,
                       max_epochs=epochs, steps_per_epoch=steps, val_max_tiles=48, lr_patience=2,
                       stop_patience=4, seed=seed, precision=precision, accelerator="cpu")
    with contextlib.redirect_stderr(io.StringIO()):
        done = train(config, echo=False)
    log = pd.read_csv(out / "log.csv")
    return {"model": model, "precision": done.precision, "seed": seed, "val_loss": float(log["val_loss"].iloc[-1]),
            "val_f1": float(log["val_f1"].iloc[-1]), "tiles_per_s": done.tiles_per_second}


def verdict(runs: pd.DataFrame) -> pd.DataFrame:
    """Per model and metric: largest |fp32 - auto| over seeds against the largest seed spread."""
    rows = []
    for model, group in runs.groupby("model", sort=False):
        for metric in ("val_loss", "val_f1"):
            table = group.pivot(index="seed", columns="kind", values=metric)
            gap = float((table["fp32"] - table["auto"]).abs().max())
            spread = float(max(table["fp32"].max() - table["fp32"].min(), table["auto"].max() - table["auto"].min()))
            rows.append({"model": model, "metric": metric, "fp32_mean": round(table["fp32"].mean(), 4),
                         "auto_mean": round(table["auto"].mean(), 4), "max_gap": round(gap, 4),
                         "seed_spread": round(spread, 4), "within_spread": gap <= spread})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="nucflow bench parity")
    parser.add_argument("--models", default="unet,unetpp,deeplabv3plus,tiramisu,ppunet")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=20, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--config", type=Path, default=CONFIG, help="config whose simulation section makes the data")
    args = parser.parse_args(argv or [])
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory(prefix="nucflow-parity-") as tmp:
        root = Path(tmp)
        tiles = make_tiles(root, args.config)
        for model in args.models.split(","):
            for seed in map(int, args.seeds.split(",")):
                for kind, precision in (("fp32", "32-true"), ("auto", "auto")):
                    row = one_run(model, precision, seed, tiles, root / f"{model}-{kind}-{seed}", args.steps,
                                  args.epochs)
                    rows.append({"kind": kind, **row})
                    print(f"  {model:<14} {kind:<4} ({row['precision']}) seed {seed}: val_loss {row['val_loss']:.4f}, "
                          f"val_f1 {row['val_f1']:.4f}, {row['tiles_per_s']} tiles/s", flush=True)
    runs = pd.DataFrame(rows)
    table = verdict(runs)
    print(f"-- parity, fluorescence, width 0.125, 64 px, {args.epochs} x {args.steps} steps, seeds {args.seeds}")
    print(table.to_string(index=False))
    print(f"parity within seed spread: {int(table['within_spread'].sum())} of {len(table)} (model, metric) pairs")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
