"""``nucflow tradeoff``: the precision / recall trade-off of the multi-scale merge (LipoPose).

    nucflow tradeoff --manifest M --prob-dir DIR --ids-file DIR/ids.txt --params DIR/postprocess.json \\
        --truth labels --run-id RUN --out tradeoff.csv

For every image it reads ``<prob-dir>/<image_id>_prob_scales.tif`` (one probability map per
inference scale), merges down through the confidence levels of the method's parameters
(:func:`nucflow.evaluation.tradeoff.multiscale_tradeoff`) and pools the object counts over the images:
one row per level, ``threshold, n_objects, tp, fp, fn, precision, recall, f1`` (one-to-one
matching at IoU >= 0.5) and the pooled pixel ``pixel_f1``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.errors import NucflowError
from nucflow.io import read_image, read_json, write_csv


def add_arguments(parser: argparse.ArgumentParser) -> None:
    inputs = parser.add_argument_group("inputs")
    inputs.add_argument("--manifest", required=True, type=Path, help="manifest.csv (ground truth)")
    inputs.add_argument("--prob-dir", required=True, type=Path, help="folder of <image_id>_prob_scales.tif")
    inputs.add_argument("--ids-file", required=True, type=Path, help="image ids, one per line")
    inputs.add_argument("--params", required=True, type=Path,
                        help="postprocess.json of the multiscale instances (method parameters)")
    inputs.add_argument("--truth", default="labels", choices=("labels", "labels_true"))
    inputs.add_argument("--run-id", default="", help="written on every row")
    parser.add_argument("--out", required=True, type=Path, help="trade-off table (CSV)")


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def pooled_tradeoff(per_image: list[pd.DataFrame]) -> pd.DataFrame:
    """Sum the per-image counts of each merge level and recompute the ratios."""
    table = pd.concat(per_image, ignore_index=True)
    sums = table.groupby("final_threshold", sort=False)[
        ["n_objects", "object_tp", "object_fp", "object_fn"]].sum()
    pixel = table.groupby("final_threshold", sort=False)["pixel_f1"].mean()
    rows = []
    for level, counts in sums.iterrows():
        tp, fp, fn = (int(counts[k]) for k in ("object_tp", "object_fp", "object_fn"))
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        rows.append({"threshold": float(level), "n_objects": int(counts["n_objects"]), "tp": tp, "fp": fp, "fn": fn,
                     "precision": precision, "recall": recall, "f1": _ratio(2 * tp, 2 * tp + fp + fn),
                     "pixel_f1_mean_over_images": float(pixel[level])})
    return pd.DataFrame(rows)


def run(args: argparse.Namespace) -> int:
    from nucflow.data.manifest import load_manifest
    from nucflow.evaluation.folder import read_truth
    from nucflow.evaluation.tradeoff import multiscale_tradeoff
    from nucflow.postprocess import MultiscaleParams

    settings = read_json(args.params)
    if not isinstance(settings, dict) or settings.get("method") != "multiscale":
        raise NucflowError(f"{args.params}: not the parameters of the multiscale method")
    params = MultiscaleParams(**{k: tuple(v) if isinstance(v, list) else v for k, v in settings["params"].items()})
    manifest = load_manifest(args.manifest, check_files=False)
    ids = [line.strip() for line in args.ids_file.read_text().splitlines() if line.strip()]
    if not ids:
        raise NucflowError(f"{args.ids_file}: no image ids")
    tables = []
    for image_id in ids:
        _, truth = read_truth(manifest, image_id, args.truth)
        prob_path = args.prob_dir / f"{image_id}_prob_scales.tif"
        if not prob_path.is_file():
            raise NucflowError(f"{prob_path}: multi-scale probability maps not found (predict with --scales)")
        probs = read_image(prob_path).astype(np.float64)
        try:
            tables.append(multiscale_tradeoff(probs, truth, params))
        except NucflowError as exc:
            raise NucflowError(f"{prob_path}: {exc}") from None
    table = pooled_tradeoff(tables)
    table.insert(0, "run_id", args.run_id)
    write_csv(args.out, table)
    print(table.to_string(index=False))
    return 0
