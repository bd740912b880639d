"""CNN calibration of the simulator: U-Net at a fixed reference budget on fluorescence, on one
brightfield plane and on three planes, scored per cell line and pooled against the classical
``labels`` and against the exact ``labels_true``.

Reference budget (fits about 15 minutes on 2 CPU cores with precision ``auto``):

* data: the default config's simulation section with ``wells_per_line`` 12 for seven_lines
  (252 fields of 256 x 256 px: 168 train / 42 val / 42 test), seed 0;
* U-Net (batch norm) at width 0.25 on 128-px tiles, batch 8, Adam lr 2e-3 with the study's
  plateau schedule, 2 torch threads; 800 steps on fluorescence, 2000 on brightfield plane 4
  (2 µm from focus) and on planes 0, 4, 8; the best validation-loss weights are scored;
* test fields predicted whole, post-processed as published (threshold 0.5, components, 25 px).

Reported per line and pooled: pixel F1 (pooled over pixels), object F1 at IoU 0.5 and averaged over
0.5-0.95 (pooled counts), merges and splits per 100 true nuclei, and Pearson r of per-image pixel
F1 against the number of true nuclei. The calibration targets are checked at the end.

    nucflow bench calibrate [--steps-bf 2000] [--steps-fl 800] [--width 0.25] [--out DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from nucflow import cli
from nucflow.data.manifest import load_manifest
from nucflow.data.split import select
from nucflow.evaluation.tables import evaluate_image
from nucflow.inference.predict import InferenceSettings, load_run, predict_field
from nucflow.io import read_image, read_json
from nucflow.postprocess.registry import postprocess
from nucflow.precision import resolve
from nucflow.training.config import RunConfig
from nucflow.training.train import train

CONFIG = Path(__file__).resolve().parents[3] / "config" / "config.yaml"
INPUTS = {"fluorescence": ("fluorescence", None), "bf1": ("brightfield", "4"), "bf3": ("brightfield", "0,4,8")}
TARGETS = ("fluorescence pixel F1 >= 0.93 for every line (labels)",
           "bf1 pooled pixel F1 in [0.78, 0.87] and object F1 (0.5-0.95) in [0.40, 0.60] (labels)",
           "bf3 beats bf1 by >= 2 points of pooled pixel F1",
           "HepG2 the hardest line (lowest pixel F1) in fluorescence and bf1",
           "pixel F1 against nuclei per image: r < -0.3 (bf1)")


def _quiet(argv: list[str]) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        if cli.main(argv) != 0:
            raise RuntimeError(f"nucflow {' '.join(argv)} failed")


def make_data(root: Path, wells: int, tile: int, overrides: dict | None = None) -> Path:
    config = yaml.safe_load(CONFIG.read_text())
    simulation = config["simulation"]
    if overrides:
        simulation["instrument_overrides"] = {"A": overrides}
    simulation["datasets"] = {"seven_lines": {**simulation["datasets"]["seven_lines"], "wells_per_line": wells}}
    study = {"seed": 0, "simulation": simulation, "splits": config["splits"], "tiles": {"size": tile}}
    (root / "config.yaml").write_text(yaml.safe_dump(study))
    _quiet(["simulate", "--config", str(root / "config.yaml"), "--out", str(root / "sim"), "--workers", "2"])
    _quiet(["split", "--manifest", str(root / "sim" / "manifest.csv"), "--config", str(root / "config.yaml"),
            "--out", str(root / "splits.json")])
    return root / "sim" / "manifest.csv"


def train_input(root: Path, manifest: Path, name: str, tile: int, width: float, steps: int) -> Path:
    modality, planes = INPUTS[name]
    tiles = []
    for split in ("train", "val"):
        out = root / f"{name}-{split}.npz"
        _quiet(["tiles", "--manifest", str(manifest), "--splits", str(root / "splits.json"), "--dataset",
                "seven_lines", "--split", split, "--modality", modality, "--size", str(tile), "--out", str(out),
                *(["--planes", planes] if planes else [])])
        tiles.append(str(out))
    run_dir = root / f"run-{name}"
    config = RunConfig(run_id=f"calibrate-{name}", model="unet", in_channels=len(planes.split(",")) if planes else 1,
                       modality=modality, planes=tuple(int(p) for p in planes.split(",")) if planes else (),
                       train_tiles=(tiles[0],), val_tiles=(tiles[1],), batch_size=8, out_dir=str(run_dir),
                       width=width, model_options={"batch_norm": True}, lr=2e-3, max_epochs=max(1, steps // 100),
                       steps_per_epoch=100, val_max_tiles=96, lr_patience=3, stop_patience=6, seed=0,
                       accelerator="cpu")
    with contextlib.redirect_stderr(io.StringIO()):
        train(config, echo=False)
    return run_dir


def score(run_dir: Path, manifest_path: Path, splits: Path, name: str) -> pd.DataFrame:
    """One row per test image and truth column."""
    model, run = load_run(run_dir)
    chosen = resolve("auto", None, "cpu")
    settings = InferenceSettings(overlap=0.5, batch_size=8, autocast_dtype=torch.bfloat16 if chosen.autocast_bf16
                                 else None, channels_last=chosen.channels_last, precision=chosen.name)
    manifest = load_manifest(manifest_path, check_files=False)
    ids = select(read_json(splits), manifest.frame, "seven_lines", "test")
    rows = []
    for image_id in ids:
        raw = read_image(manifest.file(image_id, run.modality))
        prob = predict_field(model, run, raw, settings, tile=256)[0]
        labels = postprocess("published", prob)
        row = manifest.row(image_id)
        for truth in ("labels", "labels_true"):
            true = read_image(manifest.file(image_id, truth))
            rows.append(evaluate_image(true, labels, prob=prob, metadata={
                "input": name, "truth": truth, "image_id": image_id, "cell_line": row["cell_line"]}))
    return pd.DataFrame(rows)


def summarise(images: pd.DataFrame) -> pd.DataFrame:
    """Per input, truth and line (and 'pooled'): pooled pixel and object metrics, errors per 100."""
    rows = []
    for (name, truth), group in images.groupby(["input", "truth"], sort=False):
        for line, part in [*group.groupby("cell_line"), ("pooled", group)]:
            tp, fp, fn = (part[c].sum() for c in ("pixel_tp", "pixel_fp", "pixel_fn"))
            f1_at = {}
            for key in sorted(c[3:] for c in part.columns if c.startswith("tp_")):
                t, p, n = (part[f"{k}_{key}"].sum() for k in ("tp", "fp", "fn"))
                f1_at[key] = 2 * t / (2 * t + p + n) if (2 * t + p + n) else np.nan
            n_true = part["n_true"].sum()
            rows.append({"input": name, "truth": truth, "cell_line": line, "images": len(part),
                         "pixel_f1": 2 * tp / (2 * tp + fp + fn), "object_f1_50": f1_at[min(f1_at)],
                         "object_f1": float(np.mean(list(f1_at.values()))),
                         "merges_per_100": 100 * part["merges"].sum() / n_true,
                         "splits_per_100": 100 * part["splits"].sum() / n_true,
                         "r_f1_vs_nuclei": float(np.corrcoef(part["f1"], part["n_true"])[0, 1])
                         if line == "pooled" else np.nan})
    return pd.DataFrame(rows)


def check(table: pd.DataFrame) -> list[tuple[str, bool, str]]:
    t = table[table["truth"] == "labels"].set_index(["input", "cell_line"])
    lines = [l for l in t.loc["fluorescence"].index if l != "pooled"]
    fl = t.loc["fluorescence"].loc[lines, "pixel_f1"]
    bf1, bf3 = t.loc[("bf1", "pooled")], t.loc[("bf3", "pooled")]
    hardest = {n: t.loc[n].loc[lines, "pixel_f1"].idxmin() for n in ("fluorescence", "bf1")}
    return [
        (TARGETS[0], bool((fl >= 0.93).all()), f"min {fl.min():.3f} ({fl.idxmin()})"),
        (TARGETS[1], bool(0.78 <= bf1["pixel_f1"] <= 0.87 and 0.40 <= bf1["object_f1"] <= 0.60),
         f"pixel F1 {bf1['pixel_f1']:.3f}, object F1 {bf1['object_f1']:.3f}"),
        (TARGETS[2], bool(bf3["pixel_f1"] - bf1["pixel_f1"] >= 0.02),
         f"{100 * (bf3['pixel_f1'] - bf1['pixel_f1']):+.1f} points"),
        (TARGETS[3], all(h == "HepG2" for h in hardest.values()), f"hardest: {hardest}"),
        (TARGETS[4], bool(bf1["r_f1_vs_nuclei"] < -0.3), f"r = {bf1['r_f1_vs_nuclei']:.2f}"),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="nucflow bench calibrate")
    parser.add_argument("--wells", type=int, default=12)
    parser.add_argument("--tile", type=int, default=128)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--steps-fl", type=int, default=800)
    parser.add_argument("--steps-bf", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--inputs", default="fluorescence,bf1,bf3")
    parser.add_argument("--instrument", action="append", default=[], metavar="KEY=VALUE",
                        help="override one parameter of instrument A (e.g. nucleus_phase_per_um=0.14), repeatable")
    parser.add_argument("--out", type=Path, help="keep data, runs and tables here (default: a temporary folder)")
    args = parser.parse_args(argv or [])
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="nucflow-calibrate-") as tmp:
        root = args.out or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        overrides = {k: float(v) for k, v in (item.split("=", 1) for item in args.instrument)}
        manifest = make_data(root, args.wells, args.tile, overrides)
        print(f"data: {time.perf_counter() - start:.0f} s", flush=True)
        images = []
        for name in args.inputs.split(","):
            steps = args.steps_fl if name == "fluorescence" else args.steps_bf
            begin = time.perf_counter()
            run_dir = train_input(root, manifest, name, args.tile, args.width, steps)
            images.append(score(run_dir, manifest, root / "splits.json", name))
            print(f"{name}: trained and scored in {time.perf_counter() - begin:.0f} s", flush=True)
        images = pd.concat(images, ignore_index=True)
        table = summarise(images)
        if args.out:
            images.to_csv(root / "calibration_images.csv", index=False)
            table.to_csv(root / "calibration.csv", index=False)
    print(f"-- U-Net width {args.width}, {args.tile}-px tiles; steps: fluorescence {args.steps_fl}, brightfield "
          f"{args.steps_bf}; {time.perf_counter() - start:.0f} s in all")
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 200):
        print(table.to_string(index=False))
    if set(INPUTS) <= set(args.inputs.split(",")):
        for target, ok, detail in check(table):
            print(f"calibration {'PASS' if ok else 'MISS'}: {target}: {detail}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
