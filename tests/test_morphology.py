"""Morphology: exact values on a rectangle, a disk and a single pixel; unit columns."""

import math

import numpy as np
import pytest
from skimage.draw import disk

from nucflow.errors import NucflowError
from nucflow.evaluation import object_morphology


def shapes():
    labels = np.zeros((40, 60), np.int32)
    labels[5:15, 5:25] = 4  # 10 x 20 rectangle
    rr, cc = disk((25, 40), 10, shape=labels.shape)
    labels[rr, cc] = 9  # 305-pixel disk
    labels[35, 5] = 12  # single pixel
    return labels


def test_pixel_units_exact():
    table = object_morphology(shapes())
    assert table.columns.tolist() == ["object_id", "area_px2", "perimeter_px", "equivalent_radius_px",
                                      "circularity", "solidity", "eccentricity", "shape_index"]
    rect, circle, dot = (table.iloc[i] for i in range(3))
    assert table.object_id.tolist() == [4, 9, 12]
    assert rect.area_px2 == 200 and rect.solidity == 1.0
    assert rect.perimeter_px == 56.0  # skimage's boundary estimate: 2 * (9 + 19)
    assert rect.circularity == pytest.approx(4 * math.pi * 200 / 56**2)
    assert rect.shape_index == pytest.approx(56 / math.sqrt(200))
    assert rect.equivalent_radius_px == pytest.approx(math.sqrt(200 / math.pi))
    # second moments of a 10 x 20 pixel grid: variances (20^2 - 1)/12 and (10^2 - 1)/12
    assert rect.eccentricity == pytest.approx(math.sqrt(1 - 99 / 399))
    assert circle.area_px2 == 305 and circle.eccentricity == pytest.approx(0.0, abs=1e-9)
    assert 0.95 < circle.circularity < 1.0
    assert circle.shape_index == pytest.approx(2 * math.sqrt(math.pi), rel=0.02)
    assert dot.area_px2 == 1 and math.isnan(dot.circularity) and math.isnan(dot.shape_index)


def test_micrometre_units_scale_sizes_only():
    in_px = object_morphology(shapes())
    in_um = object_morphology(shapes(), pixel_size_um=0.5)
    assert in_um.columns.tolist() == ["object_id", "area_um2", "perimeter_um", "equivalent_radius_um",
                                      "circularity", "solidity", "eccentricity", "shape_index"]
    assert np.allclose(in_um.area_um2, in_px.area_px2 * 0.25)
    assert np.allclose(in_um.perimeter_um, in_px.perimeter_px * 0.5)
    assert np.allclose(in_um.equivalent_radius_um, in_px.equivalent_radius_px * 0.5)
    assert in_um.circularity.equals(in_px.circularity)


def test_empty_image_and_bad_inputs():
    assert len(object_morphology(np.zeros((8, 8), np.uint16))) == 0
    with pytest.raises(NucflowError, match="float labels"):
        object_morphology(np.zeros((8, 8), np.float32))
    with pytest.raises(NucflowError, match="pixel_size_um"):
        object_morphology(shapes(), pixel_size_um=0.0)
