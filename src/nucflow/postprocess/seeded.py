"""Seeded watershed with a nucleus-centre detector (the NuSeT idea, without a region-proposal network).

NuSeT places one seed per detected nucleus (the centre of an RPN box) and cuts the U-Net mask by a
watershed. We have no detection head, so the centres come from a peak detector on the network's own
output:

1. mask = ``prob > threshold``, small objects removed and small holes filled (as ``published``).
2. centre score = Gaussian(sigma) smoothing of ``EDT(mask) * prob``: the distance to the mask edge
   (px), weighted by the network's confidence, so a low-confidence neck between two nuclei lowers
   the score there; smoothing flattens the ripples a jagged outline puts in the distance map.
3. markers = regional maxima of the score that stand at least ``h`` above every path to a higher
   maximum (``skimage.morphology.h_maxima``), each 8-connected maximum region one marker; a
   component without a marker gets one at its score maximum.
4. labels = ``watershed(-EDT(mask), markers, mask=mask)``, fragments below ``min_size`` dropped.

How it differs from :mod:`nucflow.postprocess.watershed`: the flooding step is the same; only the
markers differ. ``watershed`` takes every raw distance peak at least ``min_distance`` px apart (a
*spacing* rule, blind to how deep the valley between two peaks is, so elongated or ragged nuclei
over-split, and close nuclei whose centres are nearer than ``min_distance`` merge). ``seeded``
keeps a peak only if it is *prominent* by ``h`` (score units ~ px) on a smoothed,
probability-weighted distance map, so two nuclei are split when a real neck separates them,
whatever their spacing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import label as label_components
from skimage.morphology import h_maxima

from nucflow.errors import NucflowError
from nucflow.checks import check_prob
from nucflow.postprocess.threshold import (
    check_fraction,
    check_min_size,
    clean_mask,
    fill_unseeded,
)
from nucflow.postprocess.watershed import split_by_markers


@dataclass(frozen=True)
class SeededParams:
    """Parameters of :func:`seeded`.

    threshold: foreground where ``prob > threshold``.
    sigma: Gaussian smoothing of the centre score (px); 0 = none.
    h: minimum prominence of a centre peak (score units; EDT px times probability).
    min_size: objects with fewer pixels are removed, before and after the cut (px).
    min_hole_size: holes with fewer pixels are filled (px).
    watershed_line: leave a 1-px background line between touching objects.
    """

    threshold: float = 0.5
    sigma: float = 0.5
    h: float = 0.5
    min_size: int = 25
    min_hole_size: int = 25
    watershed_line: bool = False


def centre_score(prob: np.ndarray, mask: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(score, distance): smoothed ``EDT(mask) * prob`` and the raw EDT, both float64 (H, W), px."""
    distance = ndi.distance_transform_edt(mask)
    score = distance * prob
    if sigma > 0:
        score = ndi.gaussian_filter(score, sigma)
    score = np.where(mask, score, 0.0)
    return score, distance


def centre_markers(score: np.ndarray, components: np.ndarray, h: float) -> np.ndarray:
    """One marker per ``h``-prominent regional maximum of ``score`` inside the mask; int32 (H, W)."""
    # h_maxima on floats compares with a tolerance; round the score to a fixed grid so results
    # do not depend on the last bits of the Gaussian filter
    quantised = np.round(score, 6)
    peaks = h_maxima(quantised, h).astype(bool) & (components > 0)
    markers = label_components(peaks, connectivity=2).astype(np.int32)
    return fill_unseeded(markers, components, score)


def seeded(prob: np.ndarray, params: SeededParams = SeededParams()) -> np.ndarray:
    """Cut the binarised map at watershed lines between detected nucleus centres.

    prob: float (H, W) foreground probability in [0, 1].
    Returns uint32 (H, W) labels, 0 = background, ids 1..N consecutive.
    """
    prob = check_prob(prob)
    threshold = check_fraction(params.threshold, "threshold")
    min_size = check_min_size(params.min_size, "min_size")
    if not params.sigma >= 0:
        raise NucflowError(f"sigma: must be >= 0, got {params.sigma!r}")
    if not params.h > 0:
        raise NucflowError(f"h: must be > 0, got {params.h!r}")
    mask = clean_mask(prob > threshold, min_size, check_min_size(params.min_hole_size, "min_hole_size"))
    components = label_components(mask, connectivity=2)
    score, distance = centre_score(prob, mask, float(params.sigma))
    markers = centre_markers(score, components, float(params.h))
    return split_by_markers(-distance, markers, mask, min_size, bool(params.watershed_line))
