"""``nucflow evaluate``: per-image, per-object and per-run tables of one run's predictions.

Ground truth comes from the manifest (column ``labels``, or ``labels_true`` for the exact truth
of simulated data); predictions from ``<pred-dir>/<image_id><pred-suffix>`` (instance labels) and,
optionally, ``<pred-dir>/<image_id><prob-suffix>`` (float probability map; with it, pixel metrics
score the binarised network output and RMSE is reported).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.errors import NucflowError
from nucflow.evaluation.tables import evaluate_image, per_image_table, per_object_table, per_pred_object_table, summary
from nucflow.evaluation.validate import check_labels, check_mask, foreground_probability
from nucflow.io import read_image, write_csv, write_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    inputs = parser.add_argument_group("inputs")
    inputs.add_argument("--manifest", required=True, type=Path,
                        help="manifest.csv of the data set (paths in it are relative to its folder)")
    inputs.add_argument("--pred-dir", required=True, type=Path,
                        help="folder holding <image_id><pred-suffix> label images (and optional probability maps)")
    inputs.add_argument("--truth", choices=("labels", "labels_true"), default="labels",
                        help="manifest column used as ground truth (default: labels)")
    inputs.add_argument("--pred-suffix", default="_labels.tif",
                        help="file name ending of predicted label images (default: _labels.tif)")
    inputs.add_argument("--prob-dir", type=Path, default=None,
                        help="folder of the probability maps when they are not in --pred-dir "
                             "(the workflow keeps them apart); a missing map is then an error")
    inputs.add_argument("--prob-suffix", default="_prob.tif",
                        help="file name ending of probability maps; used when present (default: _prob.tif)")

    selection = parser.add_argument_group("images to evaluate (one of)")
    which = selection.add_mutually_exclusive_group(required=True)
    which.add_argument("--ids-file", type=Path,
                       help="text file with one image id per line (# comments allowed), or a JSON list")
    which.add_argument("--ids", nargs="+", metavar="ID", help="image ids")

    scoring = parser.add_argument_group("scoring")
    scoring.add_argument("--pixel-threshold", type=float, default=0.5,
                         help="probability above which a pixel is foreground for pixel metrics (default: 0.5)")
    scoring.add_argument("--exclude-artifacts", action="store_true",
                         help="count pixel metrics only outside the manifest's artifact masks")

    outputs = parser.add_argument_group("outputs")
    outputs.add_argument("--out-images", required=True, type=Path, help="per-image table (CSV)")
    outputs.add_argument("--out-objects", required=True, type=Path, help="per-object table (CSV)")
    outputs.add_argument("--out-pred-objects", type=Path,
                         help="shape of every predicted object (CSV; compares instance methods)")
    outputs.add_argument("--out-summary", required=True, type=Path, help="per-run summary (JSON)")
    outputs.add_argument("--run-id", default=None, help="run id written into every row and the summary")


def read_ids(ids_file: Path | None, ids: list[str] | None) -> list[str]:
    """Image ids from ``--ids`` or an ids file (one per line, or a JSON list of strings)."""
    if ids is not None:
        chosen = [str(i) for i in ids]
    else:
        if not ids_file.is_file():
            raise NucflowError(f"{ids_file}: ids file not found")
        text = ids_file.read_text()
        if ids_file.suffix.lower() == ".json":
            try:
                chosen = json.loads(text)
            except json.JSONDecodeError as exc:
                raise NucflowError(f"{ids_file}: invalid JSON ({exc})") from None
            if not isinstance(chosen, list) or not all(isinstance(i, (str, int)) for i in chosen):
                raise NucflowError(f"{ids_file}: expected a JSON list of image ids")
            chosen = [str(i) for i in chosen]
        else:
            chosen = [line.split("#", 1)[0].strip() for line in text.splitlines()]
            chosen = [line for line in chosen if line]
    if not chosen:
        raise NucflowError(f"{ids_file or '--ids'}: no image ids given")
    duplicates = sorted({i for i in chosen if chosen.count(i) > 1})
    if duplicates:
        raise NucflowError(f"{ids_file or '--ids'}: duplicate image ids {', '.join(duplicates[:5])}")
    return chosen


def read_truth(manifest, image_id: str, column: str) -> tuple[Path, np.ndarray]:
    """(path, checked instance labels) of an image's ground truth column (``labels`` / ``labels_true``)."""
    path = manifest.file(image_id, column)
    if path is None:
        raise NucflowError(f"{manifest.path}: image {image_id!r} has no {column} file")
    return path, check_labels(read_image(path), str(path))


def _load_manifest(path: Path):
    from nucflow.data.manifest import load_manifest

    return load_manifest(path, check_files=False)


def _cell(row: pd.Series, column: str):
    value = row.get(column)
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    return value


def _pixel_size(manifest_path: Path, image_id: str, value) -> float | None:
    if value is None:
        return None
    try:
        size = float(value)
    except (TypeError, ValueError):
        size = math.nan
    if not (math.isfinite(size) and size > 0):
        raise NucflowError(f"{manifest_path}: image {image_id!r}, column pixel_size_um: not a positive number ({value!r})")
    return size


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (float, np.floating)) and not math.isfinite(float(value)):
        return None
    return value


def run(args: argparse.Namespace) -> int:
    manifest = _load_manifest(args.manifest)
    ids = read_ids(args.ids_file, args.ids)
    if not args.pred_dir.is_dir():
        raise NucflowError(f"{args.pred_dir}: prediction folder not found")
    if not 0.0 <= args.pixel_threshold < 1.0:
        raise NucflowError(f"--pixel-threshold: must be in [0, 1), got {args.pixel_threshold}")

    image_rows, object_tables, pred_tables = [], [], []
    for image_id in ids:
        row = manifest.row(image_id)
        truth_path, labels_true = read_truth(manifest, image_id, args.truth)
        pred_path = args.pred_dir / f"{image_id}{args.pred_suffix}"
        if not pred_path.is_file():
            raise NucflowError(f"{pred_path}: prediction not found for image {image_id!r}")
        labels_pred = check_labels(read_image(pred_path), str(pred_path))
        prob_path = (args.prob_dir or args.pred_dir) / f"{image_id}{args.prob_suffix}"
        if args.prob_dir is not None and not prob_path.is_file():
            raise NucflowError(f"{prob_path}: probability map not found")
        prob = foreground_probability(read_image(prob_path), str(prob_path)) if prob_path.is_file() else None
        valid = None
        if args.exclude_artifacts:
            artifact_path = manifest.file(image_id, "artifacts")
            if artifact_path is not None:
                valid = ~check_mask(read_image(artifact_path) != 0, str(artifact_path))
        for name, array in ((str(pred_path), labels_pred), (str(prob_path), prob), ("artifacts", valid)):
            if array is not None and array.shape != labels_true.shape:
                raise NucflowError(f"{name} vs {truth_path}: shape mismatch {array.shape} vs {labels_true.shape}")

        pixel_size = _pixel_size(manifest.path, image_id, _cell(row, "pixel_size_um"))
        metadata = {"run_id": args.run_id, "image_id": image_id,
                    "dataset": _cell(row, "dataset"), "cell_line": _cell(row, "cell_line")}
        image_rows.append(evaluate_image(labels_true, labels_pred, prob=prob, valid=valid,
                                         pixel_size_um=pixel_size,
                                         metadata=metadata, pixel_threshold=args.pixel_threshold))
        if args.out_pred_objects:
            pred_tables.append(per_pred_object_table(labels_pred, metadata=metadata, pixel_size_um=pixel_size))
        object_tables.append(per_object_table(labels_true, labels_pred, metadata=metadata,
                                              pixel_size_um=pixel_size))

    per_image = per_image_table(image_rows)
    per_object = pd.concat(object_tables, ignore_index=True)
    run_summary = summary(per_image, {"run_id": args.run_id, "truth": args.truth,
                                      "pred_dir": str(args.pred_dir), "manifest": str(manifest.path)})
    write_csv(args.out_images, per_image)
    write_csv(args.out_objects, per_object)
    if args.out_pred_objects:
        write_csv(args.out_pred_objects, pd.concat(pred_tables, ignore_index=True))
    write_json(args.out_summary, _json_safe(run_summary))
    print(f"evaluated {len(ids)} images: object F1 {run_summary.get('object_f1_mean_over_images', math.nan):.4f} "
          f"(mean over images), pixel F1 {run_summary.get('f1_pooled', math.nan):.4f} (pooled)")
    return 0
