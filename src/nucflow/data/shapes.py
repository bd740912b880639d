"""Shape rules shared by manifest validation, tiling, prediction and the config check.

* :func:`plane_axis` -- which axis of a 3-D array holds the focal planes. Axes named by the file's
  metadata (OME-XML or ImageJ: ``Z``, ``C``, ``T``, ...) are trusted; a plain TIFF names its axes
  only by position (tifffile reports them as ``Q``), so there the axis whose length is the expected
  plane count wins. A (128, 128, 9) stack of 9 planes is therefore read planes-last instead of as
  128 planes of 128 x 9 px; when neither rule decides, the caller gets an error listing the axes.
* :func:`check_min_size` -- an image must be at least ``min(MIN_SIDE_PX, tile)`` px on each side:
  a 2 x 2 px "image" holds no nucleus, yet thresholding it gives one object covering it.
* :func:`max_tile_size` / :func:`check_tile_fits` -- a tile may be larger than the image (it is
  reflect-padded) but padding must stay less than half of the tile's pixels; beyond that most of
  every tile is mirrored copies, and a tile set balloons (4 images of 256 px at tile 2048: 0.5 GB).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from nucflow.errors import NucflowError

#: smallest image side (px) anything is segmented or tiled at (unless the training tile is smaller)
MIN_SIDE_PX = 16
#: axis letters that say nothing about what an axis holds (tifffile: Q unknown, I sequence)
UNNAMED_AXES = "QI"


def plane_axis(shape: Sequence[int], axes: str, n_planes: int | None, name: str) -> int:
    """Index (0 or 2) of the plane axis of a 3-D array of ``shape`` with tifffile ``axes``.

    Args:
        shape: the array's shape, 3 values (singleton axes already dropped).
        axes: one letter per axis as tifffile reports them (``ZYX`` from OME/ImageJ metadata,
            ``QYX`` for a plain TIFF, whose Y and X are then only the last two positions).
        n_planes: the plane count expected (the manifest's ``n_planes``, the model's planes), or
            None when unknown.
        name: the file, for messages.

    Named axes decide first (the one that is neither Y nor X). For unnamed axes the first or last
    axis whose length is ``n_planes`` holds the planes; when none has that length, the first axis
    does if it is the shortest (a stack with a different plane count, reported by the caller), and
    otherwise nothing can be told and NucflowError lists the axes found.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3:
        raise NucflowError(f"{name}: expected a (planes, H, W) stack, got shape {shape}")
    axes = axes if len(axes) == 3 else "Q" * 3
    others = [i for i, a in enumerate(axes) if a not in "YX"]
    if len(others) == 1 and axes[others[0]] not in UNNAMED_AXES:
        return others[0]
    found = f"shape {shape} (axes {axes}, planes unnamed)"
    if n_planes is not None:
        matches = [i for i in (0, 2) if shape[i] == n_planes]
        if len(matches) == 1:
            return matches[0]
        if len(matches) == 2:
            raise NucflowError(f"{name}: cannot tell which axis holds the {n_planes} planes: {found}; "
                               "save it as OME-TIFF with named axes")
    if shape[0] < min(shape[1:]):
        return 0
    expected = f"{n_planes} planes" if n_planes is not None else "the planes"
    raise NucflowError(f"{name}: cannot tell which axis holds {expected}: {found}; give a planes-first "
                       "(planes, H, W) stack or an OME-TIFF with named axes")


def min_side(tile: int | None = None) -> int:
    """The smallest acceptable image side (px): :data:`MIN_SIDE_PX`, or the training tile if smaller."""
    return MIN_SIDE_PX if tile is None else min(MIN_SIDE_PX, int(tile))


def check_min_size(shape: Sequence[int], name: str, tile: int | None = None) -> None:
    """Refuse an image whose (H, W) -- the last two values of ``shape`` -- is below :func:`min_side`."""
    height, width = (int(s) for s in tuple(shape)[-2:])
    smallest = min_side(tile)
    if min(height, width) < smallest:
        raise NucflowError(f"{name}: image of {height} x {width} px is too small to segment (each side must "
                           f"be at least {smallest} px)")


def _real_fraction(size: int, height: int, width: int) -> float:
    return min(size, height) * min(size, width) / float(size * size)


def max_tile_size(height: int, width: int) -> int:
    """The largest tile edge (px) of which at least half the pixels lie inside a (height, width) image."""
    largest = max(height, width)
    upper = max(largest, math.isqrt(2 * height * width) + 1, 2 * min(height, width) + 1)
    return max(s for s in range(1, upper + 1) if _real_fraction(s, height, width) >= 0.5)


def check_tile_fits(size: int, height: int, width: int, where: str, what: str = "images") -> None:
    """Refuse a tile ``size`` (px) that would be more than half reflect padding on an image of
    (height, width) px; ``where`` starts the message (e.g. ``tiles.size 2048``), ``what`` names the
    images (e.g. ``images of data set lncap``)."""
    if _real_fraction(int(size), int(height), int(width)) < 0.5:
        raise NucflowError(f"{where}: larger than the {height} x {width} px {what} (more than half of each "
                           f"tile would be padding); use at most {max_tile_size(height, width)} px")
