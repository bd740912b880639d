"""``nucflow baseline``: StarDist trained from scratch on a study's images, as a baseline.

    nucflow baseline train --manifest M --splits S --dataset seven_lines --out DIR [--epochs 40]
    nucflow baseline train --tiles TRAIN.npz --val-tiles VAL.npz --out DIR   (the workflow's baselines arm)
    nucflow baseline predict --model DIR --manifest M (--eval-set seven_lines:test --splits S | all images)
        --out DIR [--rescale]
    nucflow evaluate --manifest M --pred-dir DIR --ids-file DIR/ids.txt --out-dir ...
    nucflow baseline table --baselines JSON --out-dir DIR   (the arm's result tables)

``train`` and ``predict`` need the optional extra ``nucflow[baselines]`` (TensorFlow, StarDist);
without it they stop with one line saying so. ``table`` needs neither.
"""

from __future__ import annotations

from pathlib import Path

from nucflow.errors import NucflowError
from nucflow.io import read_json


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="what", required=True)
    train = sub.add_parser("train", help="train StarDist2D from scratch on tile sets, or on a data set's "
                                          "train/val fluorescence images")
    tiles = train.add_argument_group("from tile sets (nucflow tiles)")
    tiles.add_argument("--tiles", type=Path, help="training tile set (.npz)")
    tiles.add_argument("--val-tiles", type=Path, help="validation tile set (.npz)")
    fields = train.add_argument_group("from whole fluorescence fields")
    fields.add_argument("--manifest", type=Path, help="manifest.csv")
    fields.add_argument("--splits", type=Path, help="splits.json of nucflow split")
    fields.add_argument("--dataset", help="data set whose train and val images it learns from")
    train.add_argument("--out", required=True, type=Path, help="model folder to write (must not exist yet)")
    train.add_argument("--epochs", type=int, default=40, help="default: 40")
    train.add_argument("--steps-per-epoch", type=int, default=100, help="default: 100")
    train.add_argument("--batch-size", type=int, default=4, help="default: 4")
    train.add_argument("--patch", type=int, default=None,
                       help="training patch side in px (default: the tile side, or 128 on whole fields)")
    train.add_argument("--seed", type=int, default=0)
    predict = sub.add_parser("predict", help="instance labels of manifest images (<image_id>_labels.tif)")
    predict.add_argument("--model", required=True, type=Path, help="model folder of nucflow baseline train")
    predict.add_argument("--manifest", required=True, type=Path, help="manifest.csv of the images")
    predict.add_argument("--eval-set", help="dataset:split[:Line+Line] (with --splits); default: every image")
    predict.add_argument("--splits", type=Path, help="splits.json, with --eval-set")
    predict.add_argument("--out", required=True, type=Path, help="folder for the label images and ids.txt")
    predict.add_argument("--rescale", action="store_true",
                         help="bring each image to the training pixel size first (images from another source)")
    table = sub.add_parser("table", help="the baselines arm's result tables (per image, per object)")
    table.add_argument("--baselines", required=True,
                       help="JSON {baseline_id: its table columns (arm, dataset, modality, model, eval_set, ...)}")
    table.add_argument("--root", type=Path, default=Path("."), help="folder the results/ paths are relative to")
    table.add_argument("--out-dir", required=True, type=Path, help="results/tables/baselines")


def run(args) -> int:
    if args.what == "table":
        import json

        from nucflow.study.baseline_table import write_tables

        written = write_tables(json.loads(args.baselines), args.out_dir, args.root)
        print(f"{args.out_dir}: {', '.join(f'{k} ({n} rows)' for k, n in written.items())}")
        return 0
    if args.what == "train":
        return _train(args)
    return _predict(args)


def _train(args) -> int:
    from nucflow.baselines import stardist

    if args.out.exists():
        raise NucflowError(f"{args.out}: already exists; give a new folder (a model is never overwritten)")
    settings = dict(epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size,
                    seed=args.seed)
    from_tiles = args.tiles is not None or args.val_tiles is not None
    from_fields = any(v is not None for v in (args.manifest, args.splits, args.dataset))
    if from_tiles == from_fields or (from_tiles and None in (args.tiles, args.val_tiles)) or (
            from_fields and None in (args.manifest, args.splits, args.dataset)):
        raise NucflowError("give either --tiles and --val-tiles, or --manifest, --splits and --dataset")
    if from_tiles:
        if args.patch is not None:
            settings["patch"] = args.patch
        record = stardist.train_from_tiles(args.tiles, args.val_tiles, args.out, **settings)
    else:
        from nucflow.data.manifest import load_manifest
        from nucflow.data.split import select

        manifest = load_manifest(args.manifest, check_files=False)
        splits = read_json(args.splits)
        train_ids = select(splits, manifest.frame, args.dataset, "train")
        val_ids = select(splits, manifest.frame, args.dataset, "val")
        record = stardist.train_from_manifest(manifest, train_ids, val_ids, args.out, patch=args.patch or 128,
                                              data_label=f"{args.manifest} {args.dataset} train/val", **settings)
    print(f"{args.out}: StarDist trained on {record['train_images']} images in {record['train_seconds']} s; "
          f"thresholds {record['thresholds']}")
    return 0


def _predict(args) -> int:
    from nucflow.baselines import stardist
    from nucflow.data.manifest import load_manifest

    manifest = load_manifest(args.manifest, check_files=False)
    if bool(args.eval_set) != bool(args.splits):
        raise NucflowError("--eval-set and --splits go together")
    if args.eval_set:
        from nucflow.study.layout import EvalSet  # torch-free, unlike nucflow.inference

        ids = EvalSet.parse(args.eval_set).image_ids(read_json(args.splits), manifest.frame)
    else:
        modality = stardist.model_record(args.model).get("modality", "fluorescence")
        ids = [i for i in manifest.frame["image_id"].astype(str) if manifest.file(i, modality) is not None]
    result = stardist.predict(args.model, manifest, ids, args.out, rescale=args.rescale)
    print(f"{args.out}: {result['images']} label images in {result['seconds']} s")
    return 0
