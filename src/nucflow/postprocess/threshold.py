"""The published post-processing, and the building blocks every other method shares.

``published`` is the route of Ali et al. 2021: binarise the foreground probability at 0.5, label
the connected foreground pixels with ``skimage.measure.label``, drop objects smaller than 25 px and
fill holes smaller than 25 px.

Connectivity: objects are 8-connected (``connectivity=2``, the ``measure.label`` default the paper
used); holes are 4-connected background regions (``connectivity=1``), the topological complement of
8-connected foreground, so a filled hole never joins two objects.

Binarisation is ``prob > threshold`` (strictly greater): a pixel at exactly 0.5 is background.

scikit-image 0.26 renamed the size arguments: ``remove_small_objects(max_size=k)`` removes objects
of *k pixels or fewer*, so "smaller than 25 px" is ``max_size=24``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import label as label_components
from skimage.morphology import remove_small_holes, remove_small_objects

from nucflow.checks import check_prob
from nucflow.errors import NucflowError

LABEL_DTYPE = np.uint32


def check_fraction(value: float, name: str, *, open_low: bool = False) -> float:
    """Check a threshold lies in [0, 1] (or (0, 1] with ``open_low``)."""
    value = float(value)
    if not np.isfinite(value) or value > 1.0 or value < 0.0 or (open_low and value == 0.0):
        interval = "(0, 1]" if open_low else "[0, 1]"
        raise NucflowError(f"{name}: must lie in {interval}, got {value:g}")
    return value


def check_min_size(value: int, name: str) -> int:
    if int(value) != value or value < 0:
        raise NucflowError(f"{name}: must be a non-negative integer, got {value!r}")
    return int(value)


def consecutive_labels(labels: np.ndarray) -> np.ndarray:
    """Renumber a label image to ids 1..N in order of first appearance (row-major); 0 stays 0.

    Returns uint32 (H, W).
    """
    labels = np.asarray(labels)
    ids = np.unique(labels[labels > 0])
    if ids.size == 0:
        return np.zeros(labels.shape, LABEL_DTYPE)
    # order by first occurrence in raster order, so ids do not depend on the labeller's numbering
    flat = labels.ravel()
    first = np.full(int(ids.max()) + 1, flat.size, dtype=np.int64)
    positions = np.flatnonzero(flat)
    np.minimum.at(first, flat[positions], positions)
    order = ids[np.argsort(first[ids], kind="stable")]
    lookup = np.zeros(int(ids.max()) + 1, dtype=LABEL_DTYPE)
    lookup[order] = np.arange(1, order.size + 1, dtype=LABEL_DTYPE)
    return lookup[labels]


def remove_small_labels(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Set objects with fewer than ``min_size`` pixels to 0 (works on labels, keeps touching ids apart)."""
    if min_size <= 1:
        return labels
    sizes = np.bincount(labels.ravel())
    small = sizes < min_size
    small[0] = False
    out = labels.copy()
    out[small[labels]] = 0
    return out


def clean_mask(mask: np.ndarray, min_object_size: int, min_hole_size: int,
               connectivity: int = 2) -> np.ndarray:
    """Remove foreground components smaller than ``min_object_size`` px (``connectivity``-connected)
    and fill 4-connected holes smaller than ``min_hole_size`` px. Bool (H, W) in and out."""
    mask = np.asarray(mask, dtype=bool)
    if min_object_size > 1:
        mask = remove_small_objects(mask, max_size=min_object_size - 1, connectivity=connectivity)
    if min_hole_size > 1:
        mask = remove_small_holes(mask, max_size=min_hole_size - 1, connectivity=1)
    return mask


def label_mask(mask: np.ndarray, connectivity: int = 2) -> np.ndarray:
    """Connected components of a bool (H, W) mask as consecutive uint32 labels."""
    return consecutive_labels(label_components(mask, connectivity=connectivity))


def fill_unseeded(markers: np.ndarray, components: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Give every component of ``components`` that holds no marker one marker at its ``score`` maximum.

    ``markers`` and ``components`` are int (H, W) label images; returns a new marker image whose
    added ids follow the existing ones. Keeps an object from vanishing when the detector misses it.
    """
    markers = markers.copy()
    n_components = int(components.max())
    if n_components == 0:
        return markers
    seeded = np.zeros(n_components + 1, bool)
    seeded[np.unique(components[markers > 0])] = True
    missing = [c for c in range(1, n_components + 1) if not seeded[c]]
    if not missing:
        return markers
    positions = ndi.maximum_position(score, components, missing)
    next_id = int(markers.max()) + 1
    for position in positions:
        markers[position] = next_id
        next_id += 1
    return markers


@dataclass(frozen=True)
class PublishedParams:
    """Parameters of :func:`published` (defaults as published by Ali et al. 2021).

    threshold: foreground where ``prob > threshold``.
    min_object_size: objects with fewer pixels are removed (px).
    min_hole_size: holes with fewer pixels are filled (px).
    connectivity: 1 (4-neighbours) or 2 (8-neighbours) for objects.
    """

    threshold: float = 0.5
    min_object_size: int = 25
    min_hole_size: int = 25
    connectivity: int = 2


def check_connectivity(value: int) -> int:
    if value not in (1, 2):
        raise NucflowError(f"connectivity: must be 1 or 2, got {value!r}")
    return int(value)


def published(prob: np.ndarray, params: PublishedParams = PublishedParams()) -> np.ndarray:
    """Threshold, label, remove small objects, fill small holes.

    prob: float (H, W) foreground probability in [0, 1].
    Returns uint32 (H, W) labels, 0 = background, ids 1..N consecutive.
    """
    prob = check_prob(prob)
    threshold = check_fraction(params.threshold, "threshold")
    connectivity = check_connectivity(params.connectivity)
    mask = clean_mask(prob > threshold, check_min_size(params.min_object_size, "min_object_size"),
                      check_min_size(params.min_hole_size, "min_hole_size"), connectivity)
    return label_mask(mask, connectivity)
