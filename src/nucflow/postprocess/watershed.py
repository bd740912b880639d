"""Distance-transform watershed on the binarised 2-class output (the CLL paper's 2-class route).

Steps: ``prob > threshold`` -> remove small objects / fill small holes (as ``published``) ->
Euclidean distance transform of the mask -> local maxima of the distance
(``skimage.feature.peak_local_max`` with ``min_distance``, restricted to each connected component)
as markers -> ``skimage.segmentation.watershed(-distance, markers, mask=mask)`` -> drop fragments
smaller than ``min_size`` and renumber.

Markers: peaks that touch each other (a plateau of equal distance) are merged into one marker
(8-connected), and a component in which no peak was found gets one marker at its distance maximum,
so no foreground object is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.measure import label as label_components
from skimage.segmentation import watershed as skimage_watershed

from nucflow.checks import check_prob
from nucflow.postprocess.threshold import (
    check_fraction,
    check_min_size,
    clean_mask,
    consecutive_labels,
    fill_unseeded,
    remove_small_labels,
)


@dataclass(frozen=True)
class WatershedParams:
    """Parameters of :func:`watershed`.

    threshold: foreground where ``prob > threshold``.
    min_distance: minimum separation of two markers (px); also the half-width of the peak footprint.
    min_size: objects (before and after the cut) with fewer pixels are removed (px).
    min_hole_size: holes with fewer pixels are filled before the distance transform (px).
    watershed_line: leave a 1-px background line between touching objects (as the CLL paper shows).
    """

    threshold: float = 0.5
    min_distance: int = 5
    min_size: int = 25
    min_hole_size: int = 25
    watershed_line: bool = False


def distance_markers(distance: np.ndarray, components: np.ndarray, min_distance: int) -> np.ndarray:
    """Markers at local maxima of ``distance`` (float (H, W), px) inside each component.

    components: int (H, W) connected-component labels of the mask. Returns int32 (H, W) markers.
    """
    peaks = peak_local_max(distance, min_distance=max(1, int(min_distance)), labels=components,
                           exclude_border=False)
    peak_mask = np.zeros(distance.shape, bool)
    peak_mask[tuple(peaks.T)] = True
    markers = label_components(peak_mask, connectivity=2).astype(np.int32)
    return fill_unseeded(markers, components, distance)


def split_by_markers(relief: np.ndarray, markers: np.ndarray, mask: np.ndarray, min_size: int,
                     watershed_line: bool = False) -> np.ndarray:
    """Flood ``relief`` (float (H, W), low = object centre) from ``markers`` within ``mask``.

    Returns uint32 (H, W) consecutive labels with objects smaller than ``min_size`` px removed.
    """
    labels = skimage_watershed(relief, markers, mask=mask, watershed_line=watershed_line)
    return consecutive_labels(remove_small_labels(labels, min_size))


def watershed(prob: np.ndarray, params: WatershedParams = WatershedParams()) -> np.ndarray:
    """Split touching nuclei of a 2-class probability map by a distance-transform watershed.

    prob: float (H, W) foreground probability in [0, 1].
    Returns uint32 (H, W) labels, 0 = background, ids 1..N consecutive.
    """
    prob = check_prob(prob)
    threshold = check_fraction(params.threshold, "threshold")
    min_size = check_min_size(params.min_size, "min_size")
    min_distance = check_min_size(params.min_distance, "min_distance")
    mask = clean_mask(prob > threshold, min_size, check_min_size(params.min_hole_size, "min_hole_size"))
    components = label_components(mask, connectivity=2)
    distance = ndi.distance_transform_edt(mask)
    markers = distance_markers(distance, components, min_distance)
    return split_by_markers(-distance, markers, mask, min_size, bool(params.watershed_line))
