"""Object matching: exact tp/fp/fn on drawn shapes, exact IoU ties, optimal assignment, original
ids, edge cases, input checks, and parity with stardist.matching on random label images."""

import numpy as np
import pytest
from skimage.draw import disk

from nucflow.errors import NucflowError
from nucflow.evaluation import DEFAULT_THRESHOLDS, match, match_objects, object_f1

stardist_matching = pytest.importorskip("stardist.matching")


def two_touching_disks():
    """Two 305-pixel disks (radius 10) whose edges touch, ids 1 and 2, in a (40, 60) image."""
    labels = np.zeros((40, 60), np.int32)
    for object_id, column in ((1, 15), (2, 34)):
        rr, cc = disk((20, column), 10, shape=labels.shape)
        labels[rr, cc] = object_id
    return labels


def counts(table):
    return [tuple(int(v) for v in row) for row in table[["tp", "fp", "fn"]].to_numpy()]


def test_default_thresholds():
    assert DEFAULT_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def test_merged_prediction_exact_counts():
    truth = two_touching_disks()
    merged = (truth > 0).astype(np.int32)  # one object = both disks; IoU with each is exactly 0.5
    table = match_objects(truth, merged)
    assert list(table.columns) == ["threshold", "tp", "fp", "fn", "precision", "recall", "f1",
                                   "mean_matched_iou", "panoptic_quality", "n_true", "n_pred"]
    assert counts(table) == [(1, 0, 1)] + [(0, 1, 2)] * 9
    first = table.iloc[0]
    assert first.mean_matched_iou == 0.5 and first.f1 == pytest.approx(2 / 3)
    assert first.panoptic_quality == pytest.approx(0.5 / 1.5)
    assert object_f1(table) == pytest.approx(2 / 3 / 10)


def test_split_prediction_exact_counts():
    truth = np.zeros((30, 30), np.int32)
    rr, cc = disk((15, 15), 10, shape=truth.shape)
    truth[rr, cc] = 1
    split = truth.copy()
    split[:, 16:] *= 2  # id 1: 162 of 305 px (IoU 0.531), id 2: 143 px (IoU 0.469)
    table = match_objects(truth, split)
    assert [np.count_nonzero(split == i) for i in (1, 2)] == [162, 143]
    assert counts(table) == [(1, 1, 0)] + [(0, 2, 1)] * 9


@pytest.mark.parametrize("width, threshold", [(5, 0.5), (11, 0.55), (14, 0.7), (19, 0.95)])
def test_iou_exactly_at_threshold_is_a_match(width, threshold):
    truth = np.zeros((12, 24), np.uint16)
    truth[1:11, 1:21] = 1  # 10 x 20 = 200 px
    pred = np.zeros_like(truth)
    pred[1:11, 1:1 + width] = 9  # 10 * width px inside: IoU = width / 20 exactly
    if threshold == 0.5:
        pred[:] = 0
        pred[1:11, 1:11] = 9  # 100 / 200
    assert match(truth, pred, threshold).tp == 1
    assert match(truth, pred, round(threshold + 0.05, 2)).tp == 0
    reference = stardist_matching.matching(truth, pred, thresh=threshold)
    assert reference.tp == 1


def test_optimal_assignment_beats_greedy_below_one_half():
    # columns: G1=[0,10) G2=[10,30); P1=[4,20) P2=[24,40)
    truth = np.zeros((4, 40), np.int32)
    truth[:, 0:10], truth[:, 10:30] = 1, 2
    pred = np.zeros_like(truth)
    pred[:, 4:20], pred[:, 24:40] = 1, 2
    # IoU: G1-P1 6/20 = 0.3, G2-P1 10/30 = 0.333, G2-P2 6/30 = 0.2 (exactly the threshold)
    # greedy by IoU takes G2-P1 first and then nothing fits: 1 match. The optimum is 2.
    result = match(truth, pred, 0.2)
    assert result.tp == 2
    assert sorted(zip(result.true_ids.tolist(), result.pred_ids.tolist())) == [(1, 1), (2, 2)]
    assert stardist_matching.matching(truth, pred, thresh=0.2).tp == 2


def test_non_consecutive_ids_are_reported_as_given():
    truth = np.zeros((30, 90), np.int32)
    pred = np.zeros((30, 90), np.int64)
    for index, (true_id, pred_id) in enumerate(((3, 2**40), (17, 5), (1000, 77))):
        truth[5:25, 5 + 30 * index:25 + 30 * index] = true_id
        pred[6:25, 5 + 30 * index:25 + 30 * index] = pred_id  # IoU 0.95
    result = match(truth, pred, 0.9)
    assert (result.tp, result.fp, result.fn) == (3, 0, 0)
    assert result.true_ids.tolist() == [3, 17, 1000]
    assert result.pred_ids.tolist() == [2**40, 5, 77]
    assert np.allclose(result.ious, 0.95)
    assert result.pairs().columns.tolist() == ["true_id", "pred_id", "iou"]


def test_empty_images_follow_stardist():
    truth = two_touching_disks()
    empty = np.zeros_like(truth)
    no_pred = match_objects(truth, empty)
    assert counts(no_pred) == [(0, 0, 2)] * 10 and no_pred.f1.eq(0).all()
    no_truth = match_objects(empty, truth)
    assert counts(no_truth) == [(0, 2, 0)] * 10 and no_truth.f1.eq(0).all()
    nothing = match_objects(empty, empty)
    assert counts(nothing) == [(0, 0, 0)] * 10
    # StarDist's convention: F1 = 0 when TP = 0, also when both images are empty
    assert nothing.f1.eq(0).all() and object_f1(nothing) == 0.0
    reference = stardist_matching.matching(empty, empty, thresh=0.5)
    assert (reference.tp, reference.fp, reference.fn, reference.f1) == (0, 0, 0, 0)


@pytest.mark.parametrize("truth, pred, message", [
    (np.zeros((4, 4), np.float32), np.zeros((4, 4), np.int32), "labels_true: float labels"),
    (np.zeros((4, 4), np.int32), np.zeros((4, 5), np.int32), r"shape mismatch \(4,4\) vs \(4,5\)"),
    (np.zeros((4, 4), np.int32), -np.ones((4, 4), np.int32), "labels_pred: negative"),
    (np.zeros((4, 4), bool), np.zeros((4, 4), np.int32), "boolean mask"),
])
def test_invalid_labels_raise(truth, pred, message):
    with pytest.raises(NucflowError, match=message):
        match_objects(truth, pred)


def random_scene(seed, shape=(96, 96), n=18):
    rng = np.random.default_rng(seed)
    truth = np.zeros(shape, np.int32)
    pred = np.zeros(shape, np.int32)
    for index in range(n):
        centre, radius = rng.uniform(0, shape[0], 2), rng.uniform(3, 9)
        rr, cc = disk(centre, radius, shape=shape)
        truth[rr, cc] = index + 1
        rr, cc = disk(centre + rng.normal(0, 2.5, 2), radius * rng.uniform(0.6, 1.4), shape=shape)
        pred[rr, cc] = 3 * index + 2
    return truth, pred


@pytest.mark.parametrize("seed", range(8))
def test_parity_with_stardist(seed):
    truth, pred = random_scene(seed)
    table = match_objects(truth, pred)
    reference = stardist_matching.matching(truth, pred, thresh=list(DEFAULT_THRESHOLDS))
    for row, ref in zip(table.itertuples(), reference):
        assert (row.tp, row.fp, row.fn) == (ref.tp, ref.fp, ref.fn), row.threshold
        assert row.mean_matched_iou == pytest.approx(ref.mean_matched_score, abs=1e-6)
        assert row.f1 == pytest.approx(ref.f1)
    for threshold in (0.1, 0.25, 0.4):  # conflicts only arise below 0.5
        mine, ref = match(truth, pred, threshold), stardist_matching.matching(truth, pred, thresh=threshold)
        assert (mine.tp, mine.fp, mine.fn) == (ref.tp, ref.fp, ref.fn), threshold
