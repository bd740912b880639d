"""nucflow.checks: the one probability-map check that post-processing and evaluation share."""

from __future__ import annotations

import numpy as np
import pytest

from nucflow.checks import check_prob
from nucflow.errors import NucflowError


@pytest.mark.parametrize("prob, message", [
    (np.full((2, 2), 1.5), r"^m.tif: probability values outside \[0, 1\] \(min 1.5, max 1.5\)$"),
    (np.full((2, 2), np.nan), r"^m.tif: probability map holds NaN or infinite values$"),
    (np.ones((2, 2), np.uint8), r"^m.tif: probability map must be floating point, got dtype uint8$"),
    (np.zeros((1, 2, 2)), r"^m.tif: expected a 2-D probability map, got shape \(1, 2, 2\)$"),
    (np.zeros((0, 0)), r"^m.tif: probability map is empty$"),
])
def test_bad_maps_are_one_line_naming_the_input(prob, message):
    with pytest.raises(NucflowError, match=message):
        check_prob(prob, "m.tif")


def test_empty_maps_pass_where_allowed_and_good_maps_are_returned_uncopied():
    empty = np.zeros((0, 0))
    assert check_prob(empty, allow_empty=True) is empty
    good = np.array([[0.0, 1.0]], np.float32)
    assert check_prob(good) is good
    assert check_prob(np.zeros((3, 2, 2)), ndim=3).shape == (3, 2, 2)


def test_results_folder_check_names_the_folder_and_the_resamples(tmp_path):
    from nucflow.checks import check_results_folder

    assert check_results_folder(str(tmp_path)) == tmp_path
    assert check_results_folder(tmp_path, n_boot=1) == tmp_path
    with pytest.raises(NucflowError, match=r"^.*nope: results folder not found$"):
        check_results_folder(tmp_path / "nope", n_boot=10)
    with pytest.raises(NucflowError, match=r"^--n-boot: must be >= 1, got 0$"):
        check_results_folder(tmp_path, n_boot=0)
