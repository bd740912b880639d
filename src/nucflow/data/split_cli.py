"""``nucflow split``: write splits.json from a manifest and the config's fractions and seed."""

from __future__ import annotations

from nucflow.config import load_config
from nucflow.data.manifest import load_manifest
from nucflow.data.split import make_splits
from nucflow.io import write_json


def add_arguments(parser) -> None:
    io = parser.add_argument_group("input and output")
    io.add_argument("--manifest", required=True, help="manifest.csv")
    io.add_argument("--out", required=True, help="splits.json to write")
    how = parser.add_argument_group("how to split")
    how.add_argument("--config", help="study config (its splits.fractions and seed are used)")
    how.add_argument("--seed", type=int, help="override the config's seed")


def run(args) -> int:
    config = load_config(args.config) if args.config else {}
    if not args.config:
        from nucflow.config import validate_config

        config = validate_config({})
    seed = args.seed if args.seed is not None else config["seed"]
    manifest = load_manifest(args.manifest, check_files=False)
    splits = make_splits(manifest.frame, config["splits"]["fractions"], seed, config["splits"]["order_by"],
                         config["splits"].get("group_by"), config["splits"].get("folds", 1))
    write_json(args.out, splits)
    for dataset, entry in splits.items():
        for fold, parts in enumerate(entry.get("folds", [entry])):
            name = f"{dataset} fold {fold}" if "folds" in entry else dataset
            print(f"{name}: " + ", ".join(f"{k} {len(parts[k])}" for k in ("train", "val", "test")))
    return 0
