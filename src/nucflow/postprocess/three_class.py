"""Instances from a 3-class (background / interior / boundary) softmax output (the CLL paper's 3-class route).

Steps, for ``prob`` of shape (3, H, W) holding background, interior and boundary probabilities:

1. foreground = ``1 - prob[0] > foreground_threshold`` (interior or boundary more likely than not),
   holes smaller than ``min_hole_size`` px filled.
2. seeds = 4-connected components of ``prob[1] > interior_threshold`` inside the foreground, each
   eroded by a disk of radius ``seed_erosion`` px (0 = none; a seed that erodes away is kept
   un-eroded), seeds smaller than ``min_seed_size`` px dropped. Seeds are 4-connected so a thin
   diagonal boundary line still separates two nuclei.
3. labels = ``watershed(relief, seeds, mask=foreground)``, relief = the boundary probability
   (``relief="boundary"``) or minus the interior probability (``relief="interior"``), so objects
   grow from their interiors and meet on the predicted boundaries.
4. objects smaller than ``min_size`` px removed; ids renumbered.

Foreground regions that contain no seed (pure boundary blobs) stay background: without an
interior, the network did not see a nucleus there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import label as label_components
from skimage.morphology import disk, remove_small_holes

from nucflow.errors import NucflowError
from nucflow.checks import check_prob
from nucflow.postprocess.threshold import (
    check_fraction,
    check_min_size,
    remove_small_labels,
)
from nucflow.postprocess.watershed import split_by_markers

RELIEFS = ("boundary", "interior")


@dataclass(frozen=True)
class ThreeClassParams:
    """Parameters of :func:`three_class`.

    interior_threshold: seed pixels where interior probability > this.
    foreground_threshold: foreground where 1 - background probability > this.
    seed_erosion: radius (px) of the disk each seed is eroded by; 0 = no erosion.
    min_seed_size: seeds with fewer pixels are dropped (px).
    min_size: final objects with fewer pixels are removed (px).
    min_hole_size: foreground holes with fewer pixels are filled (px).
    relief: "boundary" (flood the boundary probability) or "interior" (flood minus interior probability).
    watershed_line: leave a 1-px background line between touching objects.
    """

    interior_threshold: float = 0.5
    foreground_threshold: float = 0.5
    seed_erosion: int = 0
    min_seed_size: int = 4
    min_size: int = 25
    min_hole_size: int = 25
    relief: str = "boundary"
    watershed_line: bool = False


def interior_seeds(interior: np.ndarray, foreground: np.ndarray, threshold: float,
                   erosion: int, min_seed_size: int) -> np.ndarray:
    """Seed labels: int32 (H, W), 4-connected components of ``interior > threshold`` in ``foreground``."""
    components = label_components((interior > threshold) & foreground, connectivity=1)
    if erosion > 0:
        footprint = disk(erosion)
        eroded = np.zeros_like(components)
        for index, region in enumerate(ndi.find_objects(components), start=1):
            if region is None:
                continue
            own = components[region] == index
            shrunk = ndi.binary_erosion(np.pad(own, erosion), structure=footprint)[erosion:-erosion, erosion:-erosion]
            eroded[region][shrunk if shrunk.any() else own] = index
        components = eroded
    return remove_small_labels(components, min_seed_size).astype(np.int32)


def three_class(prob: np.ndarray, params: ThreeClassParams = ThreeClassParams()) -> np.ndarray:
    """Instance labels from background / interior / boundary probabilities.

    prob: float (3, H, W), channels background, interior, boundary, each in [0, 1].
    Returns uint32 (H, W) labels, 0 = background, ids 1..N consecutive.
    """
    prob = check_prob(prob, ndim=3)
    if prob.shape[0] != 3:
        raise NucflowError(f"prob: 3-class map must have shape (3, H, W), got {prob.shape}")
    if params.relief not in RELIEFS:
        raise NucflowError(f"relief: must be one of {', '.join(RELIEFS)}, got {params.relief!r}")
    background, interior, boundary = prob
    foreground = (1.0 - background) > check_fraction(params.foreground_threshold, "foreground_threshold")
    min_hole_size = check_min_size(params.min_hole_size, "min_hole_size")
    if min_hole_size > 1:
        foreground = remove_small_holes(foreground, max_size=min_hole_size - 1, connectivity=1)
    seeds = interior_seeds(interior, foreground,
                           check_fraction(params.interior_threshold, "interior_threshold"),
                           check_min_size(params.seed_erosion, "seed_erosion"),
                           check_min_size(params.min_seed_size, "min_seed_size"))
    relief = boundary if params.relief == "boundary" else -interior
    return split_by_markers(relief, seeds, foreground, check_min_size(params.min_size, "min_size"),
                            bool(params.watershed_line))
