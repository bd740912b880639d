"""``nucflow evaluate``: per-image, per-object and per-run tables of one run's predictions.

Ground truth comes from the manifest (column ``labels``, or ``labels_true`` for the exact truth
of simulated data); predictions from ``<pred-dir>/<image_id><pred-suffix>`` (instance labels) and,
optionally, ``<pred-dir>/<image_id><prob-suffix>`` (float probability map; with it, pixel metrics
score the binarised network output and RMSE is reported).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from nucflow.evaluation.folder import evaluate_folder, read_ids
from nucflow.io import write_csv, write_json


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


def run(args: argparse.Namespace) -> int:
    from nucflow.data.manifest import load_manifest

    manifest = load_manifest(args.manifest, check_files=False)
    ids = read_ids(args.ids_file, args.ids)
    result = evaluate_folder(manifest, ids, args.pred_dir, truth=args.truth, pred_suffix=args.pred_suffix,
                             prob_dir=args.prob_dir, prob_suffix=args.prob_suffix,
                             pixel_threshold=args.pixel_threshold, exclude_artifacts=args.exclude_artifacts,
                             run_id=args.run_id, pred_objects=args.out_pred_objects is not None,
                             manifest_label=str(args.manifest))
    write_csv(args.out_images, result.per_image)
    write_csv(args.out_objects, result.per_object)
    if args.out_pred_objects:
        write_csv(args.out_pred_objects, result.pred_objects)
    write_json(args.out_summary, result.summary)
    f1_objects = result.summary.get("object_f1_mean_over_images")
    f1_pixels = result.summary.get("f1_pooled")
    print(f"evaluated {len(ids)} images: object F1 {math.nan if f1_objects is None else f1_objects:.4f} "
          f"(mean over images), pixel F1 {math.nan if f1_pixels is None else f1_pixels:.4f} (pooled)")
    return 0
