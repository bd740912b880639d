"""``nucflow tiles``: one normalised tile set for a (data set, split, modality, planes, subset)."""

from __future__ import annotations

from nucflow.data.manifest import load_manifest
from nucflow.data.split import select
from nucflow.data.tiles import make_tiles, save_tiles
from nucflow.errors import NucflowError
from nucflow.io import read_json
from nucflow.study.layout import PlaneSet


def _int_list(text: str) -> list[int]:
    return list(PlaneSet.parse_option(text).planes)


def add_arguments(parser) -> None:
    io = parser.add_argument_group("input and output")
    io.add_argument("--manifest", required=True, help="manifest.csv")
    io.add_argument("--splits", required=True, help="splits.json written by 'nucflow split'")
    io.add_argument("--out", required=True, help="tile set to write (.npz)")
    which = parser.add_argument_group("which images")
    which.add_argument("--dataset", required=True, help="data set name, e.g. seven_lines")
    which.add_argument("--split", default="train", choices=("train", "val", "test"), help="default: train")
    which.add_argument("--lines", nargs="+", help="only these cell lines")
    which.add_argument("--exclude-lines", nargs="+", help="all cell lines but these")
    which.add_argument("--n", type=int, help="the nested subset of the first N training images")
    which.add_argument("--fold", type=int, help="the fold's split (splits.json with folds, splits.folds > 1)")
    inp = parser.add_argument_group("network input")
    inp.add_argument("--modality", required=True, choices=("fluorescence", "brightfield"))
    inp.add_argument("--planes", type=_int_list, help="brightfield planes in input order, e.g. 4 or 0,4,8 (repeats allowed)")
    inp.add_argument("--size", type=int, help="tile edge in px (default: the config schema's tiles.size, as published)")
    inp.add_argument("--overlap", type=float, help="overlap fraction between neighbouring tiles (default: tiles.overlap)")
    inp.add_argument("--normalisation", choices=("percentile", "foreground"), help="default: normalisation.method")
    inp.add_argument("--percentiles", type=float, nargs=2, metavar=("LOW", "HIGH"),
                     help="default: normalisation.percentiles")


#: option -> (config section, key) whose schema default it takes when not given
SCHEMA_OPTIONS = {"size": ("tiles", "size"), "overlap": ("tiles", "overlap"),
                  "normalisation": ("normalisation", "method"), "percentiles": ("normalisation", "percentiles")}


def fill_schema_defaults(args) -> None:
    """Options left out take the config schema's default (the workflow always passes them)."""
    from nucflow.config import fill_option_defaults

    fill_option_defaults(args, SCHEMA_OPTIONS)


def run(args) -> int:
    if args.modality == "fluorescence" and args.planes:
        raise NucflowError("--planes applies to brightfield input only")
    manifest = load_manifest(args.manifest, check_files=False)
    ids = select(read_json(args.splits), manifest.frame, args.dataset, args.split,
                 lines=args.lines, exclude_lines=args.exclude_lines, n=args.n, fold=args.fold)
    fill_schema_defaults(args)
    tiles = make_tiles(manifest, ids, args.modality, args.planes, size=args.size, overlap=args.overlap,
                       normalisation=args.normalisation, percentiles=tuple(args.percentiles), dataset=args.dataset)
    save_tiles(args.out, tiles)
    print(f"{args.out}: {len(tiles)} tiles of {tiles.images.shape[1:]} from {len(ids)} images")
    return 0
