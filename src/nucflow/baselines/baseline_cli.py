"""``nucflow baseline``: StarDist trained from scratch on a study's images, as a baseline.

    nucflow baseline train --manifest M --splits S --dataset seven_lines --out DIR [--epochs 40]
    nucflow baseline predict --model DIR --manifest M (--eval-set seven_lines:test --splits S | all images)
        --out DIR [--rescale]
    nucflow evaluate --manifest M --pred-dir DIR --ids-file DIR/ids.txt --out-dir ...

Needs the optional extra ``nucflow[baselines]`` (TensorFlow, StarDist); without it each
subcommand stops with one line saying so.
"""

from __future__ import annotations

from pathlib import Path

from nucflow.errors import NucflowError
from nucflow.io import read_json


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="what", required=True)
    train = sub.add_parser("train", help="train StarDist2D from scratch on a data set's train/val fluorescence images")
    train.add_argument("--manifest", required=True, type=Path, help="manifest.csv")
    train.add_argument("--splits", required=True, type=Path, help="splits.json of nucflow split")
    train.add_argument("--dataset", required=True, help="data set whose train and val images it learns from")
    train.add_argument("--out", required=True, type=Path, help="model folder to write (must not exist yet)")
    train.add_argument("--epochs", type=int, default=40, help="default: 40")
    train.add_argument("--steps-per-epoch", type=int, default=100, help="default: 100")
    train.add_argument("--batch-size", type=int, default=4, help="default: 4")
    train.add_argument("--patch", type=int, default=128, help="training patch side in px (default: 128)")
    train.add_argument("--seed", type=int, default=0)
    predict = sub.add_parser("predict", help="instance labels of manifest images (<image_id>_labels.tif)")
    predict.add_argument("--model", required=True, type=Path, help="model folder of nucflow baseline train")
    predict.add_argument("--manifest", required=True, type=Path, help="manifest.csv of the images")
    predict.add_argument("--eval-set", help="dataset:split[:Line+Line] (with --splits); default: every image")
    predict.add_argument("--splits", type=Path, help="splits.json, with --eval-set")
    predict.add_argument("--out", required=True, type=Path, help="folder for the label images and ids.txt")
    predict.add_argument("--rescale", action="store_true",
                         help="bring each image to the training pixel size first (images from another source)")


def run(args) -> int:
    from nucflow.baselines import stardist
    from nucflow.data.manifest import load_manifest
    from nucflow.data.split import select

    manifest = load_manifest(args.manifest, check_files=False)
    if args.what == "train":
        if args.out.exists():
            raise NucflowError(f"{args.out}: already exists; give a new folder (a model is never overwritten)")
        splits = read_json(args.splits)
        frame = manifest.frame
        train_ids = select(splits, frame, args.dataset, "train")
        val_ids = select(splits, frame, args.dataset, "val")
        record = stardist.train(manifest, train_ids, val_ids, args.out, epochs=args.epochs,
                                steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size, patch=args.patch,
                                seed=args.seed, data_label=f"{args.manifest} {args.dataset} train/val")
        print(f"{args.out}: StarDist trained on {record['train_images']} images in {record['train_seconds']} s; "
              f"thresholds {record['thresholds']}")
        return 0
    if bool(args.eval_set) != bool(args.splits):
        raise NucflowError("--eval-set and --splits go together")
    if args.eval_set:
        from nucflow.inference.predict_cli import eval_set_ids

        ids = eval_set_ids(read_json(args.splits), manifest.frame, args.eval_set)
    else:
        ids = [i for i in manifest.frame["image_id"].astype(str) if manifest.file(i, "fluorescence") is not None]
    result = stardist.predict(args.model, manifest, ids, args.out, rescale=args.rescale)
    print(f"{args.out}: {result['images']} label images in {result['seconds']} s")
    return 0
