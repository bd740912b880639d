"""Object matching: one-to-one assignment of predicted to true objects by IoU.

Definitions (identical counts to ``stardist.matching.matching(..., criterion='iou')``):

* A pair is a *candidate* at threshold ``t`` when IoU >= t. IoU is compared exactly in integers
  (``t`` read as the decimal it prints, e.g. 0.55 = 11/20), so an IoU of exactly ``t`` on the pixel
  grid counts. (StarDist compares float32 values; the two agree except for objects so large
  (about 10^6 pixels) that float32 rounding reaches the gap between IoU and t.)
* TP(t) is the size of a maximum one-to-one matching among candidates; among maximum matchings the
  one with the largest IoU sum is reported (the same objective as StarDist's cost
  ``-(iou >= t) - iou / (2 n)``). For t > 0.5 every object has at most one candidate, and at
  t = 0.5 conflicts only form stars of equal IoU, so the result is the greedy one; for t < 0.5
  conflicting groups are solved with ``scipy.optimize.linear_sum_assignment``, one connected group
  of candidates at a time.
* FP = n_pred - TP, FN = n_true - TP. precision = TP/(TP+FP), recall = TP/(TP+FN),
  F1 = 2TP/(2TP+FP+FN), each **0 when TP = 0** (StarDist's convention, so an empty prediction of an
  empty image scores F1 = 0, not 1; such images are usually excluded or reported with n_true).
  mean_matched_iou is the mean IoU of the TP pairs (0 when TP = 0); panoptic_quality is the IoU
  sum over TP + FP/2 + FN/2 (0 when that is 0).
* Object F1 is the mean of F1 over thresholds 0.50, 0.55, ..., 0.95.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from nucflow.evaluation.overlap import Overlap, compute_overlap

DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))

MATCH_COLUMNS = ("threshold", "tp", "fp", "fn", "precision", "recall", "f1", "mean_matched_iou",
                 "panoptic_quality", "n_true", "n_pred")


@dataclass(frozen=True, eq=False)
class Matching:
    """Result of matching at one IoU threshold.

    Attributes:
        threshold: the IoU threshold t (pairs with IoU >= t may match).
        n_true, n_pred: number of objects in the truth and the prediction.
        true_ids, pred_ids: (tp,) original label ids of the matched pairs, sorted by true id.
        ious: (tp,) float64 IoU of each matched pair.
    """

    threshold: float
    n_true: int
    n_pred: int
    true_ids: np.ndarray
    pred_ids: np.ndarray
    ious: np.ndarray

    @property
    def tp(self) -> int:
        return int(self.ious.size)

    @property
    def fp(self) -> int:
        return self.n_pred - self.tp

    @property
    def fn(self) -> int:
        return self.n_true - self.tp

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp else 0.0

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0

    @property
    def mean_matched_iou(self) -> float:
        return float(self.ious.mean()) if self.tp else 0.0

    @property
    def panoptic_quality(self) -> float:
        denominator = self.tp + self.fp / 2 + self.fn / 2
        return float(self.ious.sum()) / denominator if denominator else 0.0

    def as_row(self) -> dict[str, float | int]:
        """The scalar fields as one table row (keys = :data:`MATCH_COLUMNS`)."""
        return {name: getattr(self, name) for name in MATCH_COLUMNS}

    def pairs(self) -> pd.DataFrame:
        """Matched pairs as a table: columns ``true_id, pred_id, iou``."""
        return pd.DataFrame({"true_id": self.true_ids, "pred_id": self.pred_ids, "iou": self.ious})


def assign(overlap: Overlap, candidate: np.ndarray) -> np.ndarray:
    """Maximum one-to-one matching among candidate pairs, maximising the IoU sum among those.

    Args:
        overlap: the contingency table.
        candidate: (n_pairs,) bool mask of pairs allowed to match.

    Returns:
        Sorted int64 indices into the overlap's pair arrays of the matched pairs.
    """
    cand = np.flatnonzero(candidate)
    if cand.size == 0:
        return cand.astype(np.int64)
    ct, cp = overlap.pair_true[cand], overlap.pair_pred[cand]
    deg_true = np.bincount(ct, minlength=overlap.n_true)
    deg_pred = np.bincount(cp, minlength=overlap.n_pred)
    alone = (deg_true[ct] == 1) & (deg_pred[cp] == 1)  # an isolated edge is always matched
    chosen = [cand[alone]]
    conflict = cand[~alone]
    if conflict.size:
        chosen.append(_assign_conflicts(overlap, conflict))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def _assign_conflicts(overlap: Overlap, pairs: np.ndarray) -> np.ndarray:
    """Solve each connected group of conflicting candidate pairs with linear_sum_assignment."""
    n_true, n_pred = overlap.n_true, overlap.n_pred
    rows, cols = overlap.pair_true[pairs], overlap.pair_pred[pairs]
    graph = coo_matrix((np.ones(pairs.size), (rows, n_true + cols)), shape=(n_true + n_pred,) * 2)
    _, component = connected_components(graph, directed=False)
    iou = overlap.pair_iou[pairs]
    edge_group = component[rows]
    chosen = []
    for group in np.unique(edge_group):
        in_group = np.flatnonzero(edge_group == group)
        group_rows, row_pos = np.unique(rows[in_group], return_inverse=True)
        group_cols, col_pos = np.unique(cols[in_group], return_inverse=True)
        size = min(group_rows.size, group_cols.size)
        # Cardinality first (each match -1), then the IoU sum (< 1/2 in total) as tie-breaker.
        cost = np.zeros((group_rows.size, group_cols.size))
        cost[row_pos, col_pos] = -1.0 - iou[in_group] / (2 * size)
        edge_at = np.full(cost.shape, -1, dtype=np.int64)
        edge_at[row_pos, col_pos] = pairs[in_group]
        r, c = linear_sum_assignment(cost)
        picked = edge_at[r, c]
        chosen.append(picked[picked >= 0])
    return np.concatenate(chosen)


def match_overlap(overlap: Overlap, threshold: float) -> Matching:
    """:func:`match` on a precomputed :class:`Overlap` (reuse it across thresholds)."""
    threshold = float(threshold)
    picked = assign(overlap, overlap.iou_at_least(threshold))
    return Matching(
        threshold=threshold,
        n_true=overlap.n_true,
        n_pred=overlap.n_pred,
        true_ids=overlap.true_ids[overlap.pair_true[picked]],
        pred_ids=overlap.pred_ids[overlap.pair_pred[picked]],
        ious=overlap.pair_iou[picked].astype(np.float64),
    )


def match(labels_true, labels_pred, threshold: float = 0.5) -> Matching:
    """Match true and predicted objects one-to-one at one IoU threshold.

    Args:
        labels_true: (H, W) non-negative integer instance labels (0 = background).
        labels_pred: (H, W) same; ids need not be consecutive nor agree with labels_true.
        threshold: IoU threshold t in (0, 1]; pairs with IoU >= t may match.

    Returns:
        :class:`Matching` with the matched pairs (original ids and IoU) and the counts.

    Example:
        >>> y = np.zeros((10, 10), np.uint16); y[2:6, 2:6] = 7
        >>> m = match(y, np.roll(y, 1, axis=0), 0.5)
        >>> (m.tp, m.fp, m.fn, m.true_ids.tolist(), m.pred_ids.tolist(), round(float(m.ious[0]), 2))
        (1, 0, 0, [7], [7], 0.6)
    """
    return match_overlap(compute_overlap(labels_true, labels_pred), threshold)


def matching_table(overlap: Overlap, thresholds=DEFAULT_THRESHOLDS) -> pd.DataFrame:
    """One row per threshold (columns :data:`MATCH_COLUMNS`) from a precomputed overlap."""
    rows = [match_overlap(overlap, t).as_row() for t in thresholds]
    return pd.DataFrame(rows, columns=list(MATCH_COLUMNS))


def match_objects(labels_true, labels_pred, thresholds=DEFAULT_THRESHOLDS) -> pd.DataFrame:
    """Object detection counts and scores at each IoU threshold.

    Args:
        labels_true: (H, W) non-negative integer instance labels (0 = background).
        labels_pred: (H, W) same.
        thresholds: IoU thresholds; default 0.50, 0.55, ..., 0.95.

    Returns:
        DataFrame, one row per threshold, columns ``threshold, tp, fp, fn, precision, recall, f1,
        mean_matched_iou, panoptic_quality, n_true, n_pred`` (conventions in the module docstring).
    """
    return matching_table(compute_overlap(labels_true, labels_pred), thresholds)


def object_f1(table: pd.DataFrame) -> float:
    """Object F1: the mean of the ``f1`` column over the thresholds of a :func:`match_objects` table."""
    return float(table["f1"].mean())
