"""``nucflow augment --in TILES --out TILES``: add the five published flip/rotation copies."""

from __future__ import annotations

from nucflow.data.augment import TRANSFORMS, augment
from nucflow.data.tiles import load_tiles, save_tiles


def add_arguments(parser) -> None:
    io = parser.add_argument_group("input and output")
    io.add_argument("--in", dest="inp", required=True, help="tile set (.npz) from 'nucflow tiles'")
    io.add_argument("--out", required=True, help="augmented tile set to write (.npz)")
    how = parser.add_argument_group("augmentation")
    how.add_argument("--transforms", nargs="+", default=list(TRANSFORMS), choices=list(TRANSFORMS),
                     help="copies to add (default: all five, as published)")


def run(args) -> int:
    tiles = augment(load_tiles(args.inp), tuple(args.transforms))
    save_tiles(args.out, tiles)
    print(f"{args.out}: {len(tiles)} tiles")
    return 0
