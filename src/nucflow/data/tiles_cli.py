"""``nucflow tiles``: one normalised tile set for a (data set, split, modality, planes, subset)."""

from __future__ import annotations

from nucflow.data.manifest import load_manifest
from nucflow.data.split import select
from nucflow.data.tiles import make_tiles, save_tiles
from nucflow.errors import NucflowError
from nucflow.io import read_json


def _int_list(text: str) -> list[int]:
    try:
        return [int(p) for p in text.split(",") if p != ""]
    except ValueError:
        raise NucflowError(f"--planes {text!r}: expected comma-separated plane numbers, e.g. 0,4,8") from None


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
    inp = parser.add_argument_group("network input")
    inp.add_argument("--modality", required=True, choices=("fluorescence", "brightfield"))
    inp.add_argument("--planes", type=_int_list, help="brightfield planes in input order, e.g. 4 or 0,4,8 (repeats allowed)")
    inp.add_argument("--size", type=int, default=288, help="tile edge in px (default 288, as published)")
    inp.add_argument("--overlap", type=float, default=0.0, help="overlap fraction between neighbouring tiles")
    inp.add_argument("--normalisation", default="percentile", choices=("percentile", "foreground"))
    inp.add_argument("--percentiles", type=float, nargs=2, default=(1.0, 99.8), metavar=("LOW", "HIGH"))


def run(args) -> int:
    if args.modality == "fluorescence" and args.planes:
        raise NucflowError("--planes applies to brightfield input only")
    manifest = load_manifest(args.manifest, check_files=False)
    ids = select(read_json(args.splits), manifest.frame, args.dataset, args.split,
                 lines=args.lines, exclude_lines=args.exclude_lines, n=args.n)
    tiles = make_tiles(manifest, ids, args.modality, args.planes, size=args.size, overlap=args.overlap,
                       normalisation=args.normalisation, percentiles=tuple(args.percentiles), dataset=args.dataset)
    save_tiles(args.out, tiles)
    print(f"{args.out}: {len(tiles)} tiles of {tiles.images.shape[1:]} from {len(ids)} images")
    return 0
