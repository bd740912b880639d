"""Pixel metrics: exact counts and ratios on hand-made arrays, 0/0 conventions, pooling, RMSE."""

import math

import numpy as np
import pytest

from nucflow.errors import NucflowError
from nucflow.evaluation.pixel import PixelCounts, pixel_counts, pixel_metrics, rmse_prob, squared_error_sum

TRUTH = np.array([[1, 1, 0, 0],
                  [1, 1, 0, 0],
                  [0, 0, 0, 0]], dtype=np.uint8)
PRED = np.array([[1, 0, 0, 0],
                 [1, 1, 1, 1],
                 [0, 0, 0, 0]], dtype=bool)


def test_counts_and_metrics_exact():
    counts = pixel_counts(TRUTH, PRED)
    assert counts == PixelCounts(tp=3, fp=2, fn=1, tn=6)
    m = pixel_metrics(counts)
    assert m["accuracy"] == pytest.approx(9 / 12)
    assert m["precision"] == pytest.approx(3 / 5)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(6 / 9) == m["dice"]
    assert m["iou"] == pytest.approx(3 / 6)
    assert m["mean_iu"] == pytest.approx((3 / 6 + 6 / 9) / 2)
    assert m["balanced_accuracy"] == pytest.approx((3 / 4 + 6 / 8) / 2)


def test_label_images_count_nonzero_as_foreground():
    labels = TRUTH.astype(np.int32) * 7
    labels[0, 0] = 3
    assert pixel_counts(labels, PRED) == pixel_counts(TRUTH, PRED)


def test_valid_mask_restricts_counting():
    valid = np.ones(TRUTH.shape, bool)
    valid[1, 2:] = False  # drop the two false positives
    assert pixel_counts(TRUTH, PRED, valid) == PixelCounts(tp=3, fp=0, fn=1, tn=6)


def test_zero_division_conventions():
    empty = np.zeros((3, 3), bool)
    some = empty.copy()
    some[1, 1] = True
    both_empty = pixel_metrics(pixel_counts(empty, empty))
    assert both_empty["f1"] == both_empty["precision"] == both_empty["recall"] == both_empty["iou"] == 1.0
    assert both_empty["mean_iu"] == 1.0 and both_empty["balanced_accuracy"] == 1.0
    missed = pixel_metrics(pixel_counts(some, empty))
    assert (missed["precision"], missed["recall"], missed["f1"], missed["iou"]) == (0.0, 0.0, 0.0, 0.0)
    spurious = pixel_metrics(pixel_counts(empty, some))
    assert (spurious["precision"], spurious["recall"], spurious["f1"]) == (0.0, 0.0, 0.0)
    nothing_counted = pixel_metrics(pixel_counts(some, some, np.zeros((3, 3), bool)))
    assert all(math.isnan(v) for v in nothing_counted.values())


def test_pooled_differs_from_mean_over_images():
    # image A: small nucleus, half found; image B: big nucleus, fully found
    truth_a = np.zeros((10, 10), bool); truth_a[0, :2] = True
    pred_a = np.zeros((10, 10), bool); pred_a[0, 0] = True
    truth_b = np.zeros((10, 10), bool); truth_b[:8, :8] = True
    counts_a, counts_b = pixel_counts(truth_a, pred_a), pixel_counts(truth_b, truth_b)
    per_image_mean = (pixel_metrics(counts_a)["f1"] + pixel_metrics(counts_b)["f1"]) / 2
    pooled = pixel_metrics(counts_a + counts_b)["f1"]
    assert per_image_mean == pytest.approx((2 / 3 + 1.0) / 2)
    assert pooled == pytest.approx(2 * 65 / (2 * 65 + 1))
    assert sum([counts_a, counts_b]) == counts_a + counts_b == PixelCounts(65, 0, 1, 134)


def test_rmse_exact():
    truth = np.array([[1, 0], [0, 1]], np.uint8)
    prob = np.array([[0.5, 0.0], [0.5, 1.0]], np.float32)
    assert rmse_prob(truth, prob) == pytest.approx(math.sqrt(0.5 / 4))
    assert rmse_prob(truth, prob, np.array([[False, True], [True, True]])) == pytest.approx(math.sqrt(0.25 / 3))
    assert squared_error_sum(truth, prob) == (pytest.approx(0.5), 4)


@pytest.mark.parametrize("truth, pred, message", [
    (np.zeros((4, 4), bool), np.zeros((4, 5), bool), r"shape mismatch \(4,4\) vs \(4,5\)"),
    (np.zeros((4, 4), bool), np.full((4, 4), 0.3), "binarise"),
    (np.zeros((4, 4), np.int16) - 1, np.zeros((4, 4), bool), "negative"),
    (np.zeros((4,), bool), np.zeros((4,), bool), "2-D"),
])
def test_invalid_masks_raise(truth, pred, message):
    with pytest.raises(NucflowError, match=message):
        pixel_counts(truth, pred)


@pytest.mark.parametrize("prob, message", [
    (np.full((2, 2), 1.5), r"outside \[0, 1\]"),
    (np.full((2, 2), np.nan), "NaN"),
    (np.ones((2, 2), np.uint8), "must be float"),
])
def test_invalid_probability_raises(prob, message):
    with pytest.raises(NucflowError, match=message):
        rmse_prob(np.zeros((2, 2), bool), prob)
