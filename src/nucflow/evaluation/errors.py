"""Object error counts: merges, splits and missed nuclei (Ali et al. 2021), NuSeT's object metrics
(Yang et al. 2020), and how the counts change with the pixel classification threshold.

Definitions (thresholds are fields of :class:`ErrorThresholds`, all comparisons ``>=``
done exactly in integers):

Ali et al.
    * merge: a predicted object with IoU >= ``merge_iou`` (0.1) to more than one true object;
      ``merges`` counts such predicted objects.
    * split: a true object with IoU >= ``split_iou`` (0.1) to more than one predicted object;
      ``splits`` counts such true objects.
    * missed: a true object with no predicted object at IoU >= ``missed_iou`` (0.6).

NuSeT (Yang et al. 2020), whose object classification follows DeepCell (Moen et al. 2019):
    * correct detections: true/predicted pairs matched one-to-one at IoU >= ``correct_iou`` (0.6;
      DeepCell's default cost cutoff of 0.4 means IoU > 0.6), plus pairs of still-unmatched
      objects that are linked only to each other (see below). ``incorrect_detections`` =
      n_pred - correct_detections.
    * The still-unmatched objects form a bipartite graph: a true and a predicted object are linked
      when their IoU >= ``link_iou`` (0.1) or one has more than half of its pixels inside the
      other (DeepCell's rule for small objects swallowed by large ones). Each connected group
      with 1 true and >= 2 predicted objects is one ``split_errors``; >= 2 true and 1 predicted is
      one ``merge_errors``; >= 2 of each is one ``catastrophes``; a lone true object is a
      ``missed_detections``, a lone predicted one a ``gained_detections``.
    * false-negative rate: share of true objects whose best overlap ratio |T ∩ P| / |T| over all
      predictions is < ``nuset_overlap`` (0.7). false-positive rate: number of predicted objects
      whose best |T ∩ P| / |P| over all true objects is < 0.7, divided by the number of **true**
      objects (NuSeT's formula). Both NaN when there is no true object; the counts
      (``nuset_fn``, ``nuset_fp``) are kept so data-set rates are sum / sum.
    * touching nuclei separated: a touching pair is two true objects with 8-connected adjacent
      pixels. Each true object's partner is the predicted object sharing most pixels with it,
      if that covers >= ``separation_overlap`` (0.5) of the true object. A pair is separated when
      both have partners and the partners differ. ``touching_separated`` = separated / touching
      pairs (NaN when no pair touches).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from skimage.measure import label as label_components

from nucflow.evaluation.matching import assign
from nucflow.evaluation.overlap import Overlap, best_pred_per_true, compute_overlap
from nucflow.checks import check_prob
from nucflow.evaluation.validate import check_labels, check_same_shape


@dataclass(frozen=True)
class ErrorThresholds:
    """Overlap thresholds of the error definitions (module docstring); all inclusive (>=)."""

    merge_iou: float = 0.1
    split_iou: float = 0.1
    missed_iou: float = 0.6
    correct_iou: float = 0.6
    link_iou: float = 0.1
    nuset_overlap: float = 0.7
    separation_overlap: float = 0.5


@dataclass(frozen=True)
class ErrorCounts:
    """Object error counts of one image (definitions in the module docstring)."""

    n_true: int
    n_pred: int
    merges: int
    splits: int
    missed: int
    correct_detections: int
    incorrect_detections: int
    split_errors: int
    merge_errors: int
    catastrophes: int
    missed_detections: int
    gained_detections: int
    nuset_fn: int
    nuset_fp: int
    fn_rate: float
    fp_rate: float
    touching_pairs: int
    touching_pairs_separated: int
    touching_separated: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def touching_pairs(labels) -> np.ndarray:
    """Pairs of objects that touch: some pixel of one is an 8-neighbour of a pixel of the other.

    Args:
        labels: (H, W) non-negative integer instance labels.

    Returns:
        (n_pairs, 2) int64 array of original ids (smaller id first), rows sorted, unique.
    """
    labels = check_labels(labels, "labels")
    found = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :]),
                 (labels[:-1, :-1], labels[1:, 1:]), (labels[:-1, 1:], labels[1:, :-1])):
        differ = (a != b) & (a != 0) & (b != 0)
        if differ.any():
            x, y = a[differ].astype(np.int64), b[differ].astype(np.int64)
            found.append(np.stack([np.minimum(x, y), np.maximum(x, y)], axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(found), axis=0)


def _ali_counts(overlap: Overlap, limits: ErrorThresholds) -> tuple[int, int, int]:
    merge_pairs = overlap.iou_at_least(limits.merge_iou)
    split_pairs = overlap.iou_at_least(limits.split_iou)
    near = overlap.iou_at_least(limits.missed_iou)
    merges = int(np.count_nonzero(np.bincount(overlap.pair_pred[merge_pairs], minlength=overlap.n_pred) > 1))
    splits = int(np.count_nonzero(np.bincount(overlap.pair_true[split_pairs], minlength=overlap.n_true) > 1))
    missed = overlap.n_true - int(np.unique(overlap.pair_true[near]).size)
    return merges, splits, missed


def _deepcell_classes(overlap: Overlap, limits: ErrorThresholds) -> dict[str, int]:
    """Correct detections and split / merge / catastrophe groups among unmatched objects."""
    n_true, n_pred = overlap.n_true, overlap.n_pred
    matched = assign(overlap, overlap.iou_at_least(limits.correct_iou))
    true_free = np.ones(n_true, dtype=bool)
    pred_free = np.ones(n_pred, dtype=bool)
    true_free[overlap.pair_true[matched]] = False
    pred_free[overlap.pair_pred[matched]] = False

    inter = overlap.pair_intersection
    contained = (2 * inter > overlap.true_area[overlap.pair_true]) | (2 * inter > overlap.pred_area[overlap.pair_pred])
    link = (overlap.iou_at_least(limits.link_iou) | contained)
    link &= true_free[overlap.pair_true] & pred_free[overlap.pair_pred]
    rows, cols = overlap.pair_true[link], overlap.pair_pred[link]
    graph = coo_matrix((np.ones(rows.size), (rows, n_true + cols)), shape=(n_true + n_pred,) * 2)
    _, group = connected_components(graph, directed=False)
    free_true_groups = group[:n_true][true_free]
    free_pred_groups = group[n_true:][pred_free]
    n_groups = int(group.max()) + 1 if group.size else 0
    true_per_group = np.bincount(free_true_groups, minlength=n_groups)
    pred_per_group = np.bincount(free_pred_groups, minlength=n_groups)
    weak_pairs = int(np.count_nonzero((true_per_group == 1) & (pred_per_group == 1)))
    correct = int(matched.size) + weak_pairs
    return {
        "correct_detections": correct,
        "incorrect_detections": n_pred - correct,
        "split_errors": int(np.count_nonzero((true_per_group == 1) & (pred_per_group > 1))),
        "merge_errors": int(np.count_nonzero((true_per_group > 1) & (pred_per_group == 1))),
        "catastrophes": int(np.count_nonzero((true_per_group > 1) & (pred_per_group > 1))),
        "missed_detections": int(np.count_nonzero((true_per_group == 1) & (pred_per_group == 0))),
        "gained_detections": int(np.count_nonzero((true_per_group == 0) & (pred_per_group == 1))),
    }


def _best_ratio_below(intersection: np.ndarray, owner: np.ndarray, area: np.ndarray, overlap: Overlap,
                      threshold: float) -> int:
    """Number of objects whose largest intersection / own area is below threshold."""
    best = np.zeros(area.size, dtype=np.int64)
    np.maximum.at(best, owner, intersection)
    return int(np.count_nonzero(~overlap.pairs_at_least(best, area, threshold)))


def _separation(labels_true: np.ndarray, overlap: Overlap, limits: ErrorThresholds) -> tuple[int, int]:
    pairs = touching_pairs(labels_true)
    if pairs.shape[0] == 0:
        return 0, 0
    partner, shared = best_pred_per_true(overlap, by="intersection")
    enough = overlap.pairs_at_least(shared, overlap.true_area, limits.separation_overlap)
    partner = np.where(enough & (partner >= 0), partner, -1)
    a = partner[np.searchsorted(overlap.true_ids, pairs[:, 0])]
    b = partner[np.searchsorted(overlap.true_ids, pairs[:, 1])]
    return int(pairs.shape[0]), int(np.count_nonzero((a >= 0) & (b >= 0) & (a != b)))


def error_counts(labels_true, labels_pred, limits: ErrorThresholds = ErrorThresholds(), *,
                 overlap: Overlap | None = None) -> ErrorCounts:
    """All object error counts of one image.

    Args:
        labels_true: (H, W) non-negative integer instance labels (0 = background).
        labels_pred: (H, W) same.
        limits: overlap thresholds of the definitions.
        overlap: the precomputed contingency of these two images, to avoid recomputing it.

    Returns:
        :class:`ErrorCounts`.
    """
    labels_true = check_labels(labels_true, "labels_true")
    if overlap is None:
        overlap = compute_overlap(labels_true, labels_pred)
    merges, splits, missed = _ali_counts(overlap, limits)
    deepcell = _deepcell_classes(overlap, limits)
    nuset_fn = _best_ratio_below(overlap.pair_intersection, overlap.pair_true, overlap.true_area, overlap,
                                 limits.nuset_overlap)
    nuset_fp = _best_ratio_below(overlap.pair_intersection, overlap.pair_pred, overlap.pred_area, overlap,
                                 limits.nuset_overlap)
    n_touching, n_separated = _separation(labels_true, overlap, limits)
    n_true = overlap.n_true
    return ErrorCounts(
        n_true=n_true,
        n_pred=overlap.n_pred,
        merges=merges,
        splits=splits,
        missed=missed,
        **deepcell,
        nuset_fn=nuset_fn,
        nuset_fp=nuset_fp,
        fn_rate=nuset_fn / n_true if n_true else float("nan"),
        fp_rate=nuset_fp / n_true if n_true else float("nan"),
        touching_pairs=n_touching,
        touching_pairs_separated=n_separated,
        touching_separated=n_separated / n_touching if n_touching else float("nan"),
    )


def threshold_and_label(prob: np.ndarray, threshold: float) -> np.ndarray:
    """Default probability -> labels step of :func:`error_curve`: pixels with prob > threshold,
    8-connected components, int32 labels."""
    return label_components(prob > threshold, connectivity=2).astype(np.int32)


def error_curve(labels_true, prob, thresholds, postprocess: Callable[[np.ndarray, float], np.ndarray] | None = None,
                limits: ErrorThresholds = ErrorThresholds()) -> pd.DataFrame:
    """Merges, splits and missed nuclei as the pixel classification threshold varies.

    Args:
        labels_true: (H, W) non-negative integer instance labels.
        prob: (H, W) float probability map in [0, 1].
        thresholds: pixel classification thresholds to try.
        postprocess: ``f(prob, threshold) -> (H, W) integer labels``; default
            :func:`threshold_and_label`.
        limits: overlap thresholds of the error definitions.

    Returns:
        DataFrame, one row per threshold: ``threshold, merges, splits, missed, n_true, n_pred``.
    """
    labels_true = check_labels(labels_true, "labels_true")
    prob = check_prob(prob, "prob", allow_empty=True)
    check_same_shape(labels_true, prob, "labels_true", "prob")
    postprocess = postprocess or threshold_and_label
    rows = []
    for threshold in thresholds:
        labels_pred = postprocess(prob, float(threshold))
        overlap = compute_overlap(labels_true, labels_pred, names=("labels_true", "postprocess(prob)"))
        merges, splits, missed = _ali_counts(overlap, limits)
        rows.append({"threshold": float(threshold), "merges": merges, "splits": splits, "missed": missed,
                     "n_true": overlap.n_true, "n_pred": overlap.n_pred})
    return pd.DataFrame(rows, columns=["threshold", "merges", "splits", "missed", "n_true", "n_pred"])
