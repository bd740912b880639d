"""``nucflow label``: ground truth made from the nuclear stain for an existing manifest, and its noise.

    nucflow label MANIFEST --labels-from classical --nucleus-diameter-um 12 --out DIR [--overwrite]
    nucflow label MANIFEST --compare-truth [--labels-from classical ...] [--table T.csv]
    nucflow label MANIFEST --compare-truth --truth labels --labels-from classical \
        --splits results/data/splits.json --split test          # a classical baseline on real data

The first writes a new data set (``DIR/manifest.csv`` with ``label_source`` set, the new label
TIFFs, ``DIR/label.json``; images stay where they are); see :mod:`nucflow.data.relabel`. The second
scores the manifest's labels and each ``--labels-from`` method against ``labels_true`` (pixel F1,
object F1 at IoU 0.5, merges / splits / missed per 100 nuclei), prints the table and writes it with
``--table``. With ``--truth labels`` the methods are scored against the manifest's own labels (hand-made
masks of a real data set), and ``--splits``/``--split`` keep only one split's images, so the
classical pipeline on the stain can stand beside a study's models on the same test images.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nucflow.errors import NucflowError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nucflow.labels.stain_labels import DEFAULT_DIAMETER_UM

    parser.add_argument("manifest", type=Path, help="manifest.csv (its labels may be empty; fluorescence needed)")
    how = parser.add_argument_group("how to make the labels")
    how.add_argument("--labels-from", action="append", default=[], metavar="classical|model:RUN",
                     help="classical (the tuned classical pipeline) or model:RUN (a trained fluorescence run "
                          "folder or export); with --compare-truth it may be repeated")
    how.add_argument("--nucleus-diameter-um", type=float, action="append", default=[],
                     help=f"expected nucleus diameter in µm for classical (default {DEFAULT_DIAMETER_UM:g}); "
                          "with --compare-truth it may be repeated, one classical row per diameter")
    how.add_argument("--device", default="cpu", help="device for model:RUN (default cpu)")
    out = parser.add_argument_group("output: a relabelled data set")
    out.add_argument("--out", type=Path, help="new data set folder (manifest.csv, <dataset>/labels/, label.json)")
    out.add_argument("--overwrite", action="store_true", help="replace a non-empty --out whole")
    compare = parser.add_argument_group("or: label noise against the exact truth (labels_true)")
    compare.add_argument("--compare-truth", action="store_true",
                         help="score the manifest's labels and each --labels-from method against labels_true")
    compare.add_argument("--table", type=Path, help="write the comparison as CSV here")
    compare.add_argument("--no-manifest-labels", action="store_true",
                         help="leave the manifest's own labels out of the comparison")
    compare.add_argument("--truth", choices=("labels_true", "labels"), default="labels_true",
                         help="what to score against: the exact truth of simulated data (default) or the "
                              "manifest's own labels (real data with masks; a classical baseline)")
    compare.add_argument("--splits", type=Path, help="splits.json of a study (nucflow split); with --split")
    compare.add_argument("--split", choices=("train", "val", "test"),
                         help="score only this split's images (needs --splits)")


def _labellers(args) -> list:
    from nucflow.labels.stain_labels import DEFAULT_DIAMETER_UM
    from nucflow.inference.stain_model import make_labeller

    diameters = args.nucleus_diameter_um or [DEFAULT_DIAMETER_UM]
    labellers = []
    for spec in args.labels_from:
        if spec.strip() == "classical":
            labellers += [make_labeller(spec, d, args.device) for d in diameters]
        else:
            labellers.append(make_labeller(spec, device=args.device))
    return labellers


def run(args: argparse.Namespace) -> int:
    if args.compare_truth:
        if args.out is not None:
            raise NucflowError("--compare-truth scores labels without writing a data set; leave out --out")
        return _compare(args)
    if args.out is None:
        raise NucflowError("give --out DIR (a relabelled data set) or --compare-truth")
    if len(args.labels_from) != 1 or len(args.nucleus_diameter_um) > 1:
        raise NucflowError("a relabelled data set takes one --labels-from and at most one --nucleus-diameter-um")
    from nucflow.data.relabel import relabel_manifest

    labeller = _labellers(args)[0]
    manifest = relabel_manifest(args.manifest, args.out, labeller, overwrite=args.overwrite)
    print(f"{args.out}: labels of {len(manifest.frame)} images made from the nuclear stain by "
          f"{labeller.source.text} (manifest column label_source)")
    print(manifest.summary())
    return 0


def _compare(args) -> int:
    import pandas as pd

    from nucflow.data.relabel import compare_with_truth, write_comparison

    labellers = _labellers(args)
    if not labellers and args.no_manifest_labels:
        raise NucflowError("nothing to compare: give --labels-from, or keep the manifest's labels")
    if (args.splits is None) != (args.split is None):
        raise NucflowError("--splits and --split go together: the splits.json and which split to score")
    image_ids = _split_ids(args.splits, args.split) if args.splits is not None else None
    if args.truth == "labels" and not labellers:
        raise NucflowError("--truth labels scores --labels-from methods against the manifest's labels; give one")
    table = compare_with_truth(args.manifest, labellers, include_given=not args.no_manifest_labels,
                               truth=args.truth, image_ids=image_ids)
    if args.table is not None:
        write_comparison(args.table, table)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(3).to_string(index=False))
    return 0


def _split_ids(path: Path, split: str) -> list[str]:
    """Image ids of one split, over every data set of a splits.json."""
    from nucflow.io import read_json

    splits = read_json(path)
    if not isinstance(splits, dict) or not all(isinstance(parts, dict) for parts in splits.values()):
        raise NucflowError(f"{path}: not a splits file (expected {{dataset: {{train: [...], val: [...], test: [...]}}}})")
    ids = [image_id for parts in splits.values() for image_id in parts.get(split, [])]
    if not ids:
        raise NucflowError(f"{path}: split {split!r} holds no images")
    return ids
