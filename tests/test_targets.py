"""Targets from instance labels: binary, 3-class boundaries and U-Net border weights (exact values)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.draw import disk

from nucflow.data.targets import (BACKGROUND, BOUNDARY, INTERIOR, binary_target, border_weight_map,
                                  border_weight_maps, class_balance_weights, three_class_target)
from nucflow.errors import NucflowError


def two_disks(shape=(40, 40), centres=((20, 13), (20, 26)), radius=7):
    labels = np.zeros(shape, np.int32)
    for i, centre in enumerate(centres, start=1):
        rr, cc = disk(centre, radius, shape=shape)
        labels[rr, cc] = i
    return labels


def brute_force_weights(labels, w0=10.0, sigma=5.0):
    """Reference: full-image distance transform per object, two smallest per pixel."""
    ids = [i for i in np.unique(labels) if i]
    distances = np.sort(np.stack([ndi.distance_transform_edt(labels != i) for i in ids]), axis=0)
    border = w0 * np.exp(-(distances[0] + distances[1]) ** 2 / (2 * sigma**2))
    border[labels > 0] = 0
    return class_balance_weights(labels) + border


def test_binary_target_marks_every_labelled_pixel():
    labels = np.array([[0, 3], [7, 0]], np.int32)
    np.testing.assert_array_equal(binary_target(labels), np.array([[0, 1], [1, 0]], np.float32))
    assert binary_target(labels).dtype == np.float32


def test_three_class_boundary_exactly_where_a_4_neighbour_differs():
    labels = two_disks(centres=((20, 13), (20, 26)), radius=7)  # centres 13 px apart: the disks touch
    assert (np.diff(labels, axis=1) == 1).sum() > 0 and ((labels[:, :-1] == 1) & (labels[:, 1:] == 2)).any()
    classes = three_class_target(labels)
    expected = np.where(labels > 0, INTERIOR, BACKGROUND)
    h, w = labels.shape
    for y in range(h):
        for x in range(w):
            if labels[y, x] == 0:
                continue
            for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                ny, nx = y + dy, x + dx
                if 0 <= ny < h and 0 <= nx < w and labels[ny, nx] != labels[y, x]:
                    expected[y, x] = BOUNDARY
    np.testing.assert_array_equal(classes, expected)
    # Each touching nucleus keeps its own boundary ring along the contact line.
    contact = (labels[:, :-1] == 1) & (labels[:, 1:] == 2)
    ys, xs = np.nonzero(contact)
    assert (classes[ys, xs] == BOUNDARY).all() and (classes[ys, xs + 1] == BOUNDARY).all()
    assert three_class_target(labels[None]).shape == (1, 40, 40)


def test_class_balance_weights_have_mean_one_and_inverse_frequency():
    labels = np.zeros((4, 4), np.int32)
    labels[0, 0] = 1  # 1 foreground pixel of 16
    weights = class_balance_weights(labels)
    assert weights[0, 0] == pytest.approx(16 / 2)
    assert weights[1, 1] == pytest.approx(16 / 30)
    assert weights.mean() == pytest.approx(1.0)
    np.testing.assert_array_equal(class_balance_weights(np.zeros((3, 3), np.int32)), np.ones((3, 3)))


def test_border_weight_exact_at_constructed_point():
    labels = np.zeros((30, 30), np.int32)
    labels[5:25, 10] = 1   # a bar in column 10
    labels[5:25, 14] = 2   # a bar in column 14
    weights = border_weight_map(labels, w0=10.0, sigma=5.0)
    wc = class_balance_weights(labels)[15, 12]
    # pixel (15, 12): 2 px to either bar, d1 + d2 = 4
    assert weights[15, 12] == pytest.approx(wc + 10.0 * np.exp(-16 / 50), rel=1e-6)
    # pixel (15, 11): 1 px to bar 1, 3 px to bar 2
    assert weights[15, 11] == pytest.approx(wc + 10.0 * np.exp(-16 / 50), rel=1e-6)
    # pixel (15, 20): 10 px and 6 px
    assert weights[15, 20] == pytest.approx(wc + 10.0 * np.exp(-256 / 50), rel=1e-6)
    # on an object: class weight only
    assert weights[15, 10] == pytest.approx(class_balance_weights(labels)[15, 10])


def test_border_weight_larger_between_close_disks_than_far_from_them():
    labels = two_disks(shape=(48, 64), centres=((24, 20), (24, 37)), radius=7)  # 3 px gap
    weights = border_weight_map(labels)
    gap_value = weights[24, 28]
    assert labels[24, 27:30].tolist() == [0, 0, 0]
    assert gap_value > weights[24, 60] + 5  # far from both nuclei, same class weight
    assert gap_value > weights[2, 28] + 5


def test_border_weight_matches_brute_force_and_single_object_has_no_border_term():
    rng = np.random.default_rng(3)
    labels = np.zeros((64, 64), np.int32)
    for i in range(1, 9):
        rr, cc = disk(tuple(rng.integers(5, 59, 2)), rng.integers(3, 7), shape=labels.shape)
        labels[rr, cc] = i
    np.testing.assert_allclose(border_weight_map(labels), brute_force_weights(labels), atol=2e-6)
    single = np.zeros((20, 20), np.int32)
    single[5:9, 5:9] = 4
    np.testing.assert_array_equal(border_weight_map(single), class_balance_weights(single))
    assert border_weight_maps(np.stack([labels, labels])).shape == (2, 64, 64)


def test_bad_labels_are_rejected():
    with pytest.raises(NucflowError, match="labels"):
        binary_target(np.zeros((3, 3), np.float32))
    with pytest.raises(NucflowError, match="negative"):
        border_weight_map(np.full((3, 3), -1, np.int32))
