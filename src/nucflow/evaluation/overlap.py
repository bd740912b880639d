"""Sparse overlap between two instance label images: the contingency table every object metric
starts from.

Only pairs of objects that share at least one pixel are stored, so memory and time grow with the
number of pixels and overlapping pairs, never with ``n_true * n_pred``. Label ids need not be
consecutive: they are mapped to indices internally and the original ids are kept for reporting.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from nucflow.evaluation.validate import check_labels, check_same_shape

# Above this many (n_true + 1) * (n_pred + 1) cells the pair table is built by sorting instead of
# a dense bincount (memory of the dense table: 8 bytes per cell).
_DENSE_PAIR_LIMIT = 20_000_000
# Label ids up to this value are looked up through a table instead of np.unique (a sort).
_LOOKUP_ID_LIMIT = 50_000_000


@dataclass(frozen=True, eq=False)
class Overlap:
    """Pixel overlap of every pair of touching objects.

    Attributes:
        true_ids: (n_true,) original ids of the ground-truth objects, ascending.
        pred_ids: (n_pred,) original ids of the predicted objects, ascending.
        true_area: (n_true,) int64 object areas in pixels.
        pred_area: (n_pred,) int64 object areas in pixels.
        pair_true: (n_pairs,) int64 index into ``true_ids`` of each overlapping pair.
        pair_pred: (n_pairs,) int64 index into ``pred_ids``.
        pair_intersection: (n_pairs,) int64 shared pixels (always >= 1).

    Pairs are sorted by (pair_true, pair_pred).
    """

    true_ids: np.ndarray
    pred_ids: np.ndarray
    true_area: np.ndarray
    pred_area: np.ndarray
    pair_true: np.ndarray
    pair_pred: np.ndarray
    pair_intersection: np.ndarray

    @property
    def n_true(self) -> int:
        return int(self.true_ids.size)

    @property
    def n_pred(self) -> int:
        return int(self.pred_ids.size)

    @property
    def pair_union(self) -> np.ndarray:
        """(n_pairs,) int64 union of each pair in pixels."""
        return self.true_area[self.pair_true] + self.pred_area[self.pair_pred] - self.pair_intersection

    @property
    def pair_iou(self) -> np.ndarray:
        """(n_pairs,) float64 intersection over union of each pair."""
        return self.pair_intersection / self.pair_union

    def pairs_at_least(self, numerator: np.ndarray, denominator: np.ndarray, threshold: float) -> np.ndarray:
        """Boolean (n_pairs,) mask of ``numerator / denominator >= threshold``, compared exactly.

        The threshold is read as the decimal it prints as (0.55 -> 11/20) and the comparison is
        done in integers, so a ratio that equals the threshold on the pixel grid counts.
        """
        num, den = exact_fraction(threshold)
        return numerator * den >= denominator * num

    def iou_at_least(self, threshold: float) -> np.ndarray:
        """Boolean (n_pairs,) mask of pairs with IoU >= threshold (exact, see :meth:`pairs_at_least`)."""
        return self.pairs_at_least(self.pair_intersection, self.pair_union, threshold)


def exact_fraction(value: float) -> tuple[int, int]:
    """``value`` as (numerator, denominator) of the decimal it prints as, denominator <= 10**9."""
    fraction = Fraction(repr(float(value)))
    if fraction.denominator > 10**9:
        fraction = fraction.limit_denominator(10**9)
    return fraction.numerator, fraction.denominator


def _ids_and_lookup(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Object ids (ascending, without 0), their areas, and an id -> index+1 lookup table.

    The lookup table is None when ids are too large for one; callers then use searchsorted.
    """
    flat = labels.ravel()
    max_id = int(flat.max()) if flat.size else 0
    if max_id <= _LOOKUP_ID_LIMIT:
        if flat.dtype == np.uint64:  # bincount refuses uint64 (no safe cast to intp)
            flat = flat.astype(np.intp)
        counts = np.bincount(flat, minlength=max_id + 1) if flat.size else np.zeros(1, np.int64)
        ids = np.flatnonzero(counts[1:]) + 1
        lookup = np.zeros(max_id + 1, dtype=np.int64)
        lookup[ids] = np.arange(1, ids.size + 1)
        return ids.astype(np.int64), counts[ids].astype(np.int64), lookup
    ids, counts = np.unique(flat, return_counts=True)
    keep = ids != 0
    return ids[keep].astype(np.int64), counts[keep].astype(np.int64), None


def _indices(values: np.ndarray, ids: np.ndarray, lookup: np.ndarray | None) -> np.ndarray:
    """0-based index into ``ids`` of each (nonzero) label value."""
    if lookup is not None:
        return lookup[values] - 1
    return np.searchsorted(ids, values.astype(np.int64))


def compute_overlap(labels_true, labels_pred, *, names: tuple[str, str] = ("labels_true", "labels_pred")) -> Overlap:
    """Sparse contingency table of two instance label images.

    Args:
        labels_true: (H, W) non-negative integer labels; 0 is background.
        labels_pred: (H, W) same.
        names: how to call the two arrays in error messages (argument names or file paths).

    Returns:
        :class:`Overlap`.

    Raises:
        NucflowError: invalid label images or different shapes.
    """
    labels_true = check_labels(labels_true, names[0])
    labels_pred = check_labels(labels_pred, names[1])
    check_same_shape(labels_true, labels_pred, names[0], names[1])

    true_ids, true_area, true_lookup = _ids_and_lookup(labels_true)
    pred_ids, pred_area, pred_lookup = _ids_and_lookup(labels_pred)

    both = (labels_true != 0) & (labels_pred != 0)
    t_idx = _indices(labels_true[both], true_ids, true_lookup)
    p_idx = _indices(labels_pred[both], pred_ids, pred_lookup)
    n_pred = pred_ids.size
    combined = t_idx * n_pred + p_idx
    if true_ids.size * n_pred <= _DENSE_PAIR_LIMIT:
        table = np.bincount(combined, minlength=true_ids.size * n_pred) if combined.size else np.zeros(0, np.int64)
        keys = np.flatnonzero(table)
        counts = table[keys]
    else:
        keys, counts = np.unique(combined, return_counts=True)
    pair_true, pair_pred = np.divmod(keys, n_pred) if n_pred else (keys, keys)
    return Overlap(
        true_ids=true_ids,
        pred_ids=pred_ids,
        true_area=true_area,
        pred_area=pred_area,
        pair_true=pair_true.astype(np.int64),
        pair_pred=pair_pred.astype(np.int64),
        pair_intersection=counts.astype(np.int64),
    )


def best_pred_per_true(overlap: Overlap, by: str = "intersection") -> tuple[np.ndarray, np.ndarray]:
    """For every true object, the predicted object it overlaps most.

    Args:
        overlap: the contingency table.
        by: ``"intersection"`` (most shared pixels) or ``"iou"``. Ties go to the smaller pred id.

    Returns:
        (pred_index, value): two (n_true,) arrays; pred_index is -1 and value 0 where a true
        object overlaps no prediction. value is the intersection (int64) or IoU (float64).
    """
    if by == "intersection":
        score = overlap.pair_intersection
        best_value = np.zeros(overlap.n_true, dtype=np.int64)
    elif by == "iou":
        score = overlap.pair_iou
        best_value = np.zeros(overlap.n_true, dtype=np.float64)
    else:
        raise ValueError(f"by must be 'intersection' or 'iou', got {by!r}")
    best_index = np.full(overlap.n_true, -1, dtype=np.int64)
    if score.size:
        # Sort by true index, then descending score, then ascending pred index; take each first row.
        order = np.lexsort((overlap.pair_pred, -score, overlap.pair_true))
        first = np.ones(order.size, dtype=bool)
        first[1:] = overlap.pair_true[order][1:] != overlap.pair_true[order][:-1]
        rows = order[first]
        best_index[overlap.pair_true[rows]] = overlap.pair_pred[rows]
        best_value[overlap.pair_true[rows]] = score[rows]
    return best_index, best_value
