"""The published augmentation: five extra copies of every tile (Ali et al. 2021).

Horizontal flip, vertical flip, and rotations by 90°, 180° and 270°, applied identically to the
image (N, C, S, S) and the labels (N, S, S). The augmented set is a file of its own, so Snakemake
tracks it as an input like any other.
"""

from __future__ import annotations

import numpy as np

from nucflow.data.tiles import TileSet
from nucflow.errors import NucflowError

# name -> function on arrays whose last two axes are (y, x)
TRANSFORMS = {
    "hflip": lambda a: a[..., :, ::-1],
    "vflip": lambda a: a[..., ::-1, :],
    "rot90": lambda a: np.rot90(a, 1, axes=(-2, -1)),
    "rot180": lambda a: np.rot90(a, 2, axes=(-2, -1)),
    "rot270": lambda a: np.rot90(a, 3, axes=(-2, -1)),
}


def augment(tiles: TileSet, transforms: tuple[str, ...] = tuple(TRANSFORMS)) -> TileSet:
    """Original tiles followed by one transformed copy per transform (6N tiles by default)."""
    unknown = [t for t in transforms if t not in TRANSFORMS]
    if unknown:
        raise NucflowError(f"unknown augmentation {unknown[0]!r}; choose from {', '.join(TRANSFORMS)}")
    if tiles.images.shape[-1] != tiles.images.shape[-2] and any(t.startswith("rot") for t in transforms):
        raise NucflowError("rotations by 90° need square tiles")
    images = [tiles.images] + [TRANSFORMS[t](tiles.images) for t in transforms]
    labels = [tiles.labels] + [TRANSFORMS[t](tiles.labels) for t in transforms]
    meta = dict(tiles.meta, augmentation=["identity", *transforms])
    return TileSet(np.ascontiguousarray(np.concatenate(images)), np.ascontiguousarray(np.concatenate(labels)),
                   np.tile(tiles.image_ids, len(transforms) + 1), meta)
