"""Training targets derived from instance labels: binary masks, 3-class maps and border weights.

All functions take instance labels (int, 0 = background, one positive id per nucleus) of one tile
``(H, W)`` or of a stack ``(N, H, W)`` and are pure.

* :func:`binary_target` -- float32 foreground mask (1 on nuclei, 0 elsewhere).
* :func:`three_class_target` -- int64 class per pixel: 0 background, 1 interior, 2 boundary. The
  boundary is ``skimage.segmentation.find_boundaries(labels, mode="inner")`` (4-connectivity): the
  object pixels that have a 4-neighbour with a different label (background or another nucleus).
  Pixels on the image border count as boundary only if such a neighbour lies inside the image.
* :func:`border_weight_map` -- the U-Net weight map (Ronneberger et al. 2015, used by NuSeT)
  ``w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))**2 / (2 sigma**2))``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries

from nucflow.errors import NucflowError

BACKGROUND, INTERIOR, BOUNDARY = 0, 1, 2
THREE_CLASS_NAMES = ("background", "interior", "boundary")


def _check_labels(labels: np.ndarray, ndim: tuple[int, ...]) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim not in ndim or not np.issubdtype(labels.dtype, np.integer):
        raise NucflowError(f"labels: expected an integer array with {' or '.join(map(str, ndim))} "
                           f"dimensions, got {labels.dtype} with shape {labels.shape}")
    if labels.size and labels.min() < 0:
        raise NucflowError("labels: negative label ids are not allowed (0 = background)")
    return labels


def binary_target(labels: np.ndarray) -> np.ndarray:
    """Foreground mask of ``labels`` (..., H, W) as float32 of the same shape (1.0 = nucleus)."""
    labels = _check_labels(labels, (2, 3))
    return (labels > 0).astype(np.float32)


def three_class_target(labels: np.ndarray) -> np.ndarray:
    """Background (0) / interior (1) / boundary (2) map of ``labels`` (..., H, W) as int64.

    Boundary: object pixels with a 4-neighbour of another label (``find_boundaries`` mode
    ``"inner"``), so two touching nuclei each keep their own one-pixel boundary ring.
    """
    labels = _check_labels(labels, (2, 3))
    if labels.ndim == 3:
        return np.stack([three_class_target(tile) for tile in labels]) if len(labels) else \
            np.zeros(labels.shape, np.int64)
    classes = (labels > 0).astype(np.int64)  # interior for now
    classes[find_boundaries(labels, connectivity=1, mode="inner")] = BOUNDARY
    return classes


def class_balance_weights(labels: np.ndarray) -> np.ndarray:
    """``w_c`` of one tile (H, W) as float32: each class (background / nucleus) weighted by the
    inverse of its pixel frequency, ``w_c = P / (2 * n_c)`` for ``P`` pixels and ``n_c`` pixels of
    class ``c``, so the tile mean of ``w_c`` is 1. A tile with a single class gets weight 1."""
    labels = _check_labels(labels, (2,))
    foreground = labels > 0
    n_pixels, n_fg = foreground.size, int(foreground.sum())
    weights = np.ones(labels.shape, np.float32)
    if 0 < n_fg < n_pixels:
        weights[foreground] = n_pixels / (2.0 * n_fg)
        weights[~foreground] = n_pixels / (2.0 * (n_pixels - n_fg))
    return weights


def border_weight_map(labels: np.ndarray, w0: float = 10.0, sigma: float = 5.0,
                      tolerance: float = 1e-6) -> np.ndarray:
    """U-Net border weights of one tile: ``w_c(x) + w0 * exp(-(d1 + d2)**2 / (2 sigma**2))``.

    Args:
        labels: (H, W) instance labels, 0 = background.
        w0: peak of the border term (10, as in U-Net and NuSeT).
        sigma: width of the border term in pixels (5 px). NuSeT writes "sigma^2 = 5 pixels"; the
            U-Net paper and this default use sigma = 5 px.
        tolerance: border terms below this are dropped (see below); the map is exact up to it.

    Returns: float32 (H, W). ``d1``/``d2`` are the Euclidean distances (pixel centres, px) from a
    background pixel to the nearest pixel of the nearest and second-nearest nucleus. The border
    term is applied to background pixels only (inside a nucleus ``d1 = 0`` and the gap it is meant
    to emphasise does not exist) and needs at least two nuclei. ``w_c`` is
    :func:`class_balance_weights`.

    Cost: one distance transform per nucleus, each restricted to the nucleus's bounding box grown
    by ``r = sigma * sqrt(2 ln(w0 / tolerance))``: a nucleus farther than ``r`` from a pixel can
    only contribute ``w0 exp(-r**2 / (2 sigma**2)) = tolerance`` or less there.
    """
    labels = _check_labels(labels, (2,))
    if not w0 >= 0 or not sigma > 0 or not tolerance > 0:
        raise NucflowError(f"border weights: need w0 >= 0, sigma > 0, tolerance > 0; got "
                           f"w0={w0}, sigma={sigma}, tolerance={tolerance}")
    weights = class_balance_weights(labels)
    if w0 == 0:
        return weights
    reach = sigma * math.sqrt(2.0 * math.log(max(w0 / tolerance, 1.0 + 1e-12)))
    margin = int(math.ceil(reach))
    d1 = np.full(labels.shape, np.inf, np.float64)
    d2 = np.full(labels.shape, np.inf, np.float64)
    height, width = labels.shape
    for object_id, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        rows = slice(max(box[0].start - margin, 0), min(box[0].stop + margin, height))
        cols = slice(max(box[1].start - margin, 0), min(box[1].stop + margin, width))
        # The nucleus lies wholly inside the window, so distances within it are exact.
        distance = ndi.distance_transform_edt(labels[rows, cols] != object_id)
        near1, near2 = d1[rows, cols], d2[rows, cols]
        closer = distance < near1
        near2[:] = np.where(closer, near1, np.minimum(near2, distance))
        near1[:] = np.where(closer, distance, near1)
    gap = d1 + d2
    border = w0 * np.exp(-np.square(gap) / (2.0 * sigma**2))  # inf (fewer than 2 nuclei) -> 0
    border[labels > 0] = 0.0
    return (weights + border).astype(np.float32)


def border_weight_maps(labels: np.ndarray, w0: float = 10.0, sigma: float = 5.0) -> np.ndarray:
    """:func:`border_weight_map` of every tile of ``labels`` (N, H, W); float32 (N, H, W)."""
    labels = _check_labels(labels, (3,))
    out = np.empty(labels.shape, np.float32)
    for i, tile in enumerate(labels):
        out[i] = border_weight_map(tile, w0=w0, sigma=sigma)
    return out
