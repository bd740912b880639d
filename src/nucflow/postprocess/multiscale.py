"""Multi-scale merge (LipoPose, Basu et al., Algorithm 1), for probability maps.

The inference code predicts the image at several input scales and resizes each probability map back
to the original size; this module merges them:

1. binarise each map: ``prob_s > binarise_threshold``;
2. confidence = mean of the S binary masks, float (H, W) in {0, 1/S, ..., 1} (the paper's
   "averaging approach");
3. take the 8-connected objects of ``confidence >= start_threshold``; then, for each lower
   threshold t in ``thresholds`` (descending), add every object of ``confidence >= t`` that shares
   no pixel with the objects already taken (the paper's "IoU != 0" test is exactly "shares a pixel").

Because the masks are nested (``conf >= t`` contains ``conf >= t'`` for t < t'), a low-confidence
object that grows out of an object already taken is skipped as a whole: taken objects keep the
extent they had at the threshold where they entered. Thresholds must be > 0 (``conf >= 0`` is the
whole image); the paper's "0%" corresponds to t = 1/S here (present at one scale at least).
Objects below ``min_size`` px are not taken at any level.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from nucflow.errors import NucflowError
from nucflow.checks import check_prob
from nucflow.postprocess.threshold import (
    LABEL_DTYPE,
    check_fraction,
    check_min_size,
    consecutive_labels,
    label_mask,
    remove_small_labels,
)


@dataclass(frozen=True)
class MultiscaleParams:
    """Parameters of :func:`multiscale`.

    binarise_threshold: each scale's foreground is ``prob > binarise_threshold``.
    start_threshold: confidence level whose objects are taken first (fraction of scales, (0, 1]).
    thresholds: lower confidence levels, merged in descending order (each in (0, start_threshold)).
    min_size: objects with fewer pixels are never taken (px).
    """

    binarise_threshold: float = 0.5
    start_threshold: float = 1.0
    thresholds: tuple[float, ...] = (0.6, 0.3)
    min_size: int = 25


def stack_probs(probs) -> np.ndarray:
    """Check and stack per-scale maps: a sequence of float (H, W) or an array (S, H, W) -> (S, H, W)."""
    if isinstance(probs, np.ndarray) and probs.ndim == 3:
        maps = list(probs)
    elif isinstance(probs, (list, tuple)):
        maps = list(probs)
    else:
        raise NucflowError("probs: expected a list of (H, W) maps or an (S, H, W) array, "
                           f"got {type(probs).__name__} {getattr(probs, 'shape', '')}")
    if not maps:
        raise NucflowError("probs: no probability maps given")
    checked = [check_prob(p, name=f"probs[{i}]") for i, p in enumerate(maps)]
    shapes = {p.shape for p in checked}
    if len(shapes) != 1:
        raise NucflowError(f"probs: all scales must share one (H, W) shape, got {sorted(shapes)}")
    return np.stack(checked)


def confidence_map(probs, binarise_threshold: float = 0.5) -> np.ndarray:
    """Fraction of scales calling each pixel foreground: float64 (H, W) in [0, 1]."""
    stack = stack_probs(probs)
    threshold = check_fraction(binarise_threshold, "binarise_threshold")
    return (stack > threshold).mean(axis=0)


def merge_levels(confidence: np.ndarray, levels: Sequence[float],
                 min_size: int) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(level, labels)`` after merging each level in turn (levels in descending order).

    confidence: float (H, W) in [0, 1]. labels: uint32 (H, W), consecutive ids, objects in the
    order they were taken (earlier levels first).
    """
    taken = np.zeros(confidence.shape, np.int64)
    n_taken = 0
    for level in levels:
        candidates = remove_small_labels(label_mask(confidence >= level, connectivity=2), min_size)
        n_candidates = int(candidates.max())
        if n_candidates:
            overlapping = np.zeros(n_candidates + 1, bool)
            overlapping[np.unique(candidates[(taken > 0) & (candidates > 0)])] = True
            overlapping[0] = True
            present = np.zeros(n_candidates + 1, bool)
            present[np.unique(candidates)] = True  # remove_small_labels leaves gaps in the ids
            new_ids = np.flatnonzero(present & ~overlapping)
            lookup = np.zeros(n_candidates + 1, np.int64)
            lookup[new_ids] = np.arange(n_taken + 1, n_taken + 1 + new_ids.size)
            added = lookup[candidates]
            taken = np.where(added > 0, added, taken)
            n_taken += new_ids.size
        yield float(level), taken.astype(LABEL_DTYPE)


def merge_schedule(params: MultiscaleParams) -> list[float]:
    """The confidence levels in merge order: start threshold, then the lower ones, descending."""
    start = check_fraction(params.start_threshold, "start_threshold", open_low=True)
    lower = [check_fraction(t, "thresholds", open_low=True) for t in params.thresholds]
    if any(t >= start for t in lower):
        raise NucflowError(f"thresholds: each must be below start_threshold={start:g}, got {list(lower)}")
    if len(set(lower)) != len(lower):
        raise NucflowError(f"thresholds: repeated value in {list(lower)}")
    return [start, *sorted(lower, reverse=True)]


def multiscale(probs, params: MultiscaleParams = MultiscaleParams()) -> np.ndarray:
    """Merge probability maps predicted at several scales into one label image.

    probs: list of S float (H, W) maps in [0, 1] (or an (S, H, W) array), each already resized to
    the original image size. Returns uint32 (H, W) labels, 0 = background, ids 1..N consecutive.
    """
    confidence = confidence_map(probs, params.binarise_threshold)
    levels = merge_schedule(params)
    labels = np.zeros(confidence.shape, LABEL_DTYPE)
    for _, labels in merge_levels(confidence, levels, check_min_size(params.min_size, "min_size")):
        pass
    return consecutive_labels(labels)
