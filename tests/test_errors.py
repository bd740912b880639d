"""Error counts (Ali merges/splits/missed, NuSeT object metrics) on constructed label images."""

import math

import numpy as np
import pytest
from skimage.draw import disk

from nucflow.evaluation import ErrorThresholds, error_counts, error_curve, touching_pairs


def two_touching_disks():
    labels = np.zeros((40, 60), np.int32)
    for object_id, column in ((1, 15), (2, 34)):
        rr, cc = disk((20, column), 10, shape=labels.shape)
        labels[rr, cc] = object_id
    return labels


def test_merge_of_touching_disks():
    truth = two_touching_disks()
    result = error_counts(truth, (truth > 0).astype(np.int32) * 4)
    assert (result.merges, result.splits, result.missed) == (1, 0, 2)
    assert (result.correct_detections, result.incorrect_detections) == (0, 1)
    assert (result.merge_errors, result.split_errors, result.catastrophes) == (1, 0, 0)
    assert (result.missed_detections, result.gained_detections) == (0, 0)
    # each disk lies fully inside the prediction: no NuSeT false negative; the prediction's best
    # overlap ratio is 305 / 610 = 0.5 < 0.7: one false positive, divided by the 2 true nuclei
    assert (result.nuset_fn, result.nuset_fp, result.fn_rate, result.fp_rate) == (0, 1, 0.0, 0.5)
    assert (result.touching_pairs, result.touching_pairs_separated, result.touching_separated) == (1, 0, 0.0)


def test_perfect_prediction():
    truth = two_touching_disks()
    result = error_counts(truth, truth * 3)
    assert (result.merges, result.splits, result.missed) == (0, 0, 0)
    assert (result.correct_detections, result.incorrect_detections) == (2, 0)
    assert result.touching_separated == 1.0 and result.fn_rate == result.fp_rate == 0.0


def test_split_disk():
    truth = np.zeros((30, 30), np.int32)
    rr, cc = disk((15, 15), 10, shape=truth.shape)
    truth[rr, cc] = 1
    split = truth.copy()
    split[:, 16:] *= 2
    result = error_counts(truth, split)
    assert (result.merges, result.splits, result.missed) == (0, 1, 1)
    assert (result.split_errors, result.merge_errors, result.correct_detections) == (1, 0, 0)
    assert (result.nuset_fn, result.nuset_fp) == (1, 0)  # best part covers 162/305 < 0.7 of the nucleus


def test_catastrophe_missed_and_gained():
    truth = np.zeros((40, 80), np.int32)
    truth[0:20, 0:10], truth[0:20, 10:20] = 1, 2  # left/right halves of a 20x20 square
    truth[30:38, 30:38] = 3  # nothing predicted here
    pred = np.zeros_like(truth)
    pred[0:10, 0:20], pred[10:20, 0:20] = 1, 2  # top/bottom halves: every pair IoU 1/3
    pred[30:38, 60:68] = 3  # nothing true here
    result = error_counts(truth, pred)
    assert (result.catastrophes, result.merge_errors, result.split_errors) == (1, 0, 0)
    assert (result.missed_detections, result.gained_detections, result.correct_detections) == (1, 1, 0)
    assert (result.merges, result.splits, result.missed) == (2, 2, 3)


def test_nuset_overlap_ratio_is_inclusive_at_point_seven():
    truth = np.zeros((12, 12), np.int32)
    truth[1:11, 1:11] = 1
    covers_70 = np.zeros_like(truth)
    covers_70[1:11, 1:8] = 1  # 70 of 100 true pixels
    covers_60 = np.zeros_like(truth)
    covers_60[1:11, 1:7] = 1
    assert error_counts(truth, covers_70).nuset_fn == 0
    assert error_counts(truth, covers_60).nuset_fn == 1
    assert error_counts(truth, covers_60, ErrorThresholds(nuset_overlap=0.6)).nuset_fn == 0


def test_missed_threshold_and_empty_images():
    truth = two_touching_disks()
    empty = np.zeros_like(truth)
    nothing_found = error_counts(truth, empty)
    assert (nothing_found.missed, nothing_found.missed_detections, nothing_found.fn_rate) == (2, 2, 1.0)
    assert nothing_found.touching_pairs == 1 and nothing_found.touching_separated == 0.0
    no_truth = error_counts(empty, truth)
    assert (no_truth.gained_detections, no_truth.nuset_fp) == (2, 2)
    assert math.isnan(no_truth.fn_rate) and math.isnan(no_truth.fp_rate)
    assert math.isnan(no_truth.touching_separated)


def test_touching_pairs_uses_8_connectivity():
    labels = np.zeros((5, 5), np.int32)
    labels[1, 1], labels[2, 2], labels[4, 4], labels[0, 4] = 5, 9, 7, 8
    assert touching_pairs(labels).tolist() == [[5, 9]]


def test_error_curve_over_pixel_thresholds():
    truth = np.zeros((40, 60), np.int32)
    for object_id, column in ((1, 15), (2, 37)):  # disks end at column 24 and start at 28
        rr, cc = disk((20, column), 10, shape=truth.shape)
        truth[rr, cc] = object_id
    prob = np.where(truth > 0, 0.9, 0.0).astype(np.float32)
    prob[18:23, 25:28] = 0.4  # a bridge across the gap, above 0.3 and below 0.5
    curve = error_curve(truth, prob, [0.3, 0.5, 0.95])
    assert curve.columns.tolist() == ["threshold", "merges", "splits", "missed", "n_true", "n_pred"]
    assert curve.merges.tolist() == [1, 0, 0]
    assert curve.missed.tolist() == [2, 0, 2]
    assert curve.n_pred.tolist() == [1, 2, 0]
    custom = error_curve(truth, prob, [0.5], postprocess=lambda p, t: (p > t).astype(np.int32))
    assert custom.merges.tolist() == [1]  # one id for everything above threshold


def test_error_curve_rejects_bad_probability():
    from nucflow.errors import NucflowError

    with pytest.raises(NucflowError, match="prob"):
        error_curve(two_touching_disks(), np.full((40, 60), 2.0), [0.5])
