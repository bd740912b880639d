"""Pixel-level metrics: confusion counts per image, poolable over a data set, and the ratios.

Counts are kept as integers (:class:`PixelCounts`) so that a data set can be scored both ways
(Vasinkova et al. 2024): the mean of per-image metrics, and the metric of the pooled counts
(``sum(counts_per_image)``, then :func:`pixel_metrics`). Images with few or no nuclei weigh the
same as dense ones in the first and almost nothing in the second.

Conventions for ratios whose denominator is zero (written down because every choice is arbitrary
and results must not change silently):

* A ratio about one class (precision, recall, F1/Dice and IoU of the foreground; specificity and
  IoU of the background) that is 0/0 means neither the truth nor the prediction contains a pixel
  of that class among the counted pixels. It is then **1.0** (perfect agreement on an absent
  class), e.g. an empty prediction of an empty image has F1 = 1. When only one side is empty the
  numerator is 0 and the ratio is 0.0 (e.g. precision of an empty prediction against a non-empty
  truth is 0).
* When no pixel is counted at all (``valid`` all False) every metric is NaN.

``f1`` and ``dice`` are the same number for binary masks (2TP / (2TP + FP + FN)); both keys are
kept because papers use both names. ``mean_iu`` is the mean of the foreground and background IoU
(NuSeT's "mean I.U."). ``balanced_accuracy`` is the mean of recall and specificity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nucflow.checks import check_prob
from nucflow.evaluation.validate import as_foreground, check_mask, check_same_shape

PIXEL_METRIC_NAMES = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "iou", "mean_iu", "dice")


@dataclass(frozen=True)
class PixelCounts:
    """Pixel confusion counts of a binary segmentation (foreground = positive class).

    ``a + b`` adds the counts (pooling over images); ``sum(list_of_counts)`` works too.
    """

    tp: int
    fp: int
    fn: int
    tn: int

    def __add__(self, other: "PixelCounts") -> "PixelCounts":
        if not isinstance(other, PixelCounts):
            return NotImplemented
        return PixelCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    def __radd__(self, other):
        if isinstance(other, int) and other == 0:  # lets builtin sum() start from 0
            return self
        return NotImplemented

    @property
    def n_pixels(self) -> int:
        """Number of counted pixels."""
        return self.tp + self.fp + self.fn + self.tn


def pixel_counts(truth, pred, valid=None) -> PixelCounts:
    """Confusion counts of a predicted foreground mask against the true one.

    Args:
        truth: (H, W) bool / 0-1 / integer label array; nonzero = foreground.
        pred: (H, W) same kinds; nonzero = foreground. A float array is accepted only if all its
            values are exactly 0 or 1 (binarise probability maps first).
        valid: optional (H, W) bool mask; only pixels where it is True are counted (e.g. outside
            annotated artifact regions).

    Returns:
        :class:`PixelCounts` of Python ints.

    Raises:
        NucflowError: shapes differ, or an input is not a mask.
    """
    truth_fg = as_foreground(truth, "truth")
    pred_fg = as_foreground(pred, "pred")
    check_same_shape(truth_fg, pred_fg, "truth", "pred")
    if valid is not None:
        valid = check_mask(valid, "valid")
        check_same_shape(truth_fg, valid, "truth", "valid")
        truth_fg = truth_fg[valid]
        pred_fg = pred_fg[valid]
    n = int(truth_fg.size)
    n_truth = int(np.count_nonzero(truth_fg))
    n_pred = int(np.count_nonzero(pred_fg))
    tp = int(np.count_nonzero(truth_fg & pred_fg))
    fp = n_pred - tp
    fn = n_truth - tp
    return PixelCounts(tp=tp, fp=fp, fn=fn, tn=n - tp - fp - fn)


def _ratio(numerator: int, denominator: int, other_side: int = 0) -> float:
    """numerator / denominator; a 0/0 is 1.0 when ``other_side`` (the pixel count of the class on
    the side the denominator does not cover) is 0 too, else 0.0 (see the module docstring)."""
    if denominator:
        return numerator / denominator
    return 1.0 if other_side == 0 else 0.0


def pixel_metrics(counts: PixelCounts) -> dict[str, float]:
    """Ratios of one set of counts.

    Returns:
        dict with keys ``accuracy, balanced_accuracy, precision, recall, f1, iou, mean_iu, dice``
        (floats in [0, 1]; all NaN when ``counts`` holds no pixel). 0/0 conventions are in the
        module docstring.
    """
    tp, fp, fn, tn = counts.tp, counts.fp, counts.fn, counts.tn
    if counts.n_pixels == 0:
        return {name: math.nan for name in PIXEL_METRIC_NAMES}
    precision = _ratio(tp, tp + fp, other_side=fn)  # no predicted foreground: 1 only if no true one
    recall = _ratio(tp, tp + fn, other_side=fp)  # no true foreground: 1 only if none predicted
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    iou_fg = _ratio(tp, tp + fp + fn)
    specificity = _ratio(tn, tn + fp, other_side=fn)  # background as the positive class
    iou_bg = _ratio(tn, tn + fp + fn)
    return {
        "accuracy": (tp + tn) / counts.n_pixels,
        "balanced_accuracy": (recall + specificity) / 2.0,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "iou": iou_fg,
        "mean_iu": (iou_fg + iou_bg) / 2.0,
        "dice": f1,
    }


def rmse_prob(truth, prob, valid=None) -> float:
    """Root mean square difference between a probability map and the binary truth.

    Args:
        truth: (H, W) bool / 0-1 / label array; nonzero = foreground (1.0), else 0.0.
        prob: (H, W) float probability map, finite, within [0, 1].
        valid: optional (H, W) bool mask of pixels to include.

    Returns:
        RMSE (unitless, in [0, 1]); NaN when no pixel is counted. Accumulated in float64.
    """
    total, count = squared_error_sum(truth, prob, valid)
    return math.nan if count == 0 else math.sqrt(total / count)


def squared_error_sum(truth, prob, valid=None) -> tuple[float, int]:
    """Sum of squared differences and the pixel count behind :func:`rmse_prob`, for pooling RMSE
    over a data set (pooled RMSE = sqrt(sum of sums / sum of counts))."""
    truth_fg = as_foreground(truth, "truth")
    prob = check_prob(prob, "prob", allow_empty=True)
    check_same_shape(truth_fg, prob, "truth", "prob")
    if valid is not None:
        valid = check_mask(valid, "valid")
        check_same_shape(truth_fg, valid, "truth", "valid")
        truth_fg, prob = truth_fg[valid], prob[valid]
    diff = prob.astype(np.float64) - truth_fg
    return float(np.dot(diff.ravel(), diff.ravel())), int(truth_fg.size)
