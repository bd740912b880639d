"""Post-processing methods on drawn disks: exact object counts, sizes and error messages."""

from __future__ import annotations

import json

import numpy as np
import pytest
from skimage.segmentation import find_boundaries

from nucflow.cli import main as nucflow_main
from nucflow.errors import NucflowError
from nucflow.io import read_image, write_tiff
from nucflow.postprocess import (
    MultiscaleParams,
    PublishedParams,
    ThreeClassParams,
    WatershedParams,
    make_params,
    multiscale,
    parse_param_strings,
    postprocess,
    published,
    seeded,
    three_class,
    watershed,
)
from nucflow.postprocess.postprocess_cli import output_name
from nucflow.postprocess.threshold import consecutive_labels

SHAPE = (50, 64)


def disk(cy: int, cx: int, r: float, shape=SHAPE) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def as_prob(mask: np.ndarray, high: float = 0.9, low: float = 0.1) -> np.ndarray:
    return np.where(mask, high, low).astype(np.float32)


def touching_pair() -> np.ndarray:
    """Two radius-10 disks whose centres are 16 px apart (a 12-px wide neck): int labels 1, 2."""
    labels = np.zeros(SHAPE, np.int32)
    labels[disk(25, 20, 10)] = 1
    labels[disk(25, 36, 10) & (labels == 0)] = 2
    return labels


def assert_consecutive(labels: np.ndarray) -> None:
    assert labels.dtype == np.uint32
    ids = np.unique(labels[labels > 0])
    assert ids.tolist() == list(range(1, len(ids) + 1))


# ---- published ---------------------------------------------------------------------------------

def test_published_two_disks_speck_removed_hole_filled():
    first, second = disk(12, 12, 8), disk(35, 45, 8)
    prob = as_prob(first | second)
    hole = np.zeros(SHAPE, bool)
    hole[34:37, 44:47] = True  # 9 px hole in the second disk
    prob[hole] = 0.1
    speck = np.zeros(SHAPE, bool)
    speck[2:4, 55:60] = True  # 10 px speck, far from both disks
    prob[speck] = 0.9
    labels = published(prob)
    assert_consecutive(labels)
    assert labels.max() == 2
    assert not labels[speck].any()
    assert labels[hole].all()
    assert (labels > 0).sum() == first.sum() + second.sum()
    assert set(np.unique(labels[first])) == {1} and set(np.unique(labels[second])) == {2}


def test_published_size_limits_are_strict_below_25():
    prob = np.zeros(SHAPE)
    prob[0:5, 0:5] = 1.0  # exactly 25 px: kept
    prob[10:12, 10:22] = 1.0  # 24 px: removed
    labels = published(prob)
    assert labels.max() == 1 and (labels > 0).sum() == 25


def test_published_threshold_is_strict_and_connectivity_is_eight():
    prob = np.zeros(SHAPE)
    prob[0:5, 0:5] = 0.5  # exactly at the threshold: background
    prob[10:15, 10:15] = 0.51
    prob[15:20, 15:20] = 0.51  # touches the block above only at a corner
    labels = published(prob)
    assert labels.max() == 1 and (labels > 0).sum() == 50
    assert published(prob, PublishedParams(connectivity=1)).max() == 2


def test_published_merges_touching_disks_that_watershed_separates():
    truth = touching_pair()
    prob = as_prob(truth > 0)
    assert published(prob).max() == 1
    labels = watershed(prob)
    assert_consecutive(labels)
    assert labels.max() == 2
    assert (labels > 0).sum() == (truth > 0).sum()
    # each object is centred on one true disk
    assert labels[25, 20] != labels[25, 36] and labels[25, 20] > 0 and labels[25, 36] > 0


def test_watershed_line_leaves_a_gap():
    prob = as_prob(touching_pair() > 0)
    labels = watershed(prob, WatershedParams(watershed_line=True))
    assert labels.max() == 2
    assert (labels > 0).sum() < (touching_pair() > 0).sum()


# ---- three_class -------------------------------------------------------------------------------

def three_class_prob(truth: np.ndarray) -> np.ndarray:
    boundary = find_boundaries(truth, mode="inner")
    prob = np.zeros((3, *truth.shape))
    prob[0] = truth == 0
    prob[1] = (truth > 0) & ~boundary
    prob[2] = boundary
    return prob


def test_three_class_recovers_touching_disks_exactly():
    truth = touching_pair()
    labels = three_class(three_class_prob(truth))
    assert_consecutive(labels)
    np.testing.assert_array_equal(labels, truth)


def test_three_class_interior_relief_and_eroded_seeds_also_separate():
    truth = touching_pair()
    labels = three_class(three_class_prob(truth), ThreeClassParams(relief="interior", seed_erosion=2))
    assert labels.max() == 2
    assert (labels > 0).sum() == (truth > 0).sum()


def test_three_class_rejects_wrong_channel_count_and_relief():
    with pytest.raises(NucflowError, match=r"\(3, H, W\)"):
        three_class(np.zeros((2, 8, 8)))
    with pytest.raises(NucflowError, match="relief"):
        three_class(np.zeros((3, 8, 8)), ThreeClassParams(relief="ridge"))


# ---- seeded ------------------------------------------------------------------------------------

def test_seeded_separates_touching_disks():
    truth = touching_pair()
    labels = seeded(as_prob(truth > 0))
    assert_consecutive(labels)
    assert labels.max() == 2
    assert (labels > 0).sum() == (truth > 0).sum()
    assert labels[25, 20] != labels[25, 36]


def test_seeded_keeps_an_ellipse_whole_where_distance_peaks_split_it():
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    ellipse = ((yy - 25) / 8.0) ** 2 + ((xx - 32) / 24.0) ** 2 <= 1
    prob = as_prob(ellipse)
    assert seeded(prob).max() == 1
    assert watershed(prob).max() > 1  # the spacing rule over-splits the elongated ridge


# ---- multiscale --------------------------------------------------------------------------------

def test_multiscale_adds_single_scale_object_only_if_disjoint():
    big = disk(15, 15, 8)  # seen at all three scales
    apart = disk(40, 48, 6)  # seen at one scale, far away: added at the lowest level
    attached = disk(15, 27, 6)  # seen at one scale, overlapping the big disk's region: skipped
    probs = [as_prob(big), as_prob(big | apart | attached), as_prob(big)]
    labels = multiscale(probs)
    assert_consecutive(labels)
    assert labels.max() == 2
    np.testing.assert_array_equal(labels == 1, big)
    np.testing.assert_array_equal(labels == 2, apart)


def test_multiscale_start_threshold_only_keeps_agreed_objects():
    big, apart = disk(15, 15, 8), disk(40, 48, 6)
    probs = [as_prob(big), as_prob(big | apart), as_prob(big)]
    only_start = multiscale(probs, MultiscaleParams(start_threshold=1.0, thresholds=()))
    np.testing.assert_array_equal(only_start > 0, big)
    stacked = multiscale(np.stack(probs), MultiscaleParams(thresholds=(0.3,)))
    assert stacked.max() == 2


def test_multiscale_object_keeps_its_high_confidence_extent():
    core, grown = disk(25, 30, 6), disk(25, 30, 10)
    probs = [as_prob(core), as_prob(grown), as_prob(core)]
    labels = multiscale(probs)
    np.testing.assert_array_equal(labels > 0, core)


def test_multiscale_rejects_bad_thresholds_and_shapes():
    probs = [as_prob(disk(10, 10, 5))] * 3
    with pytest.raises(NucflowError, match="thresholds"):
        multiscale(probs, MultiscaleParams(start_threshold=0.5, thresholds=(0.6,)))
    with pytest.raises(NucflowError, match="start_threshold"):
        multiscale(probs, MultiscaleParams(start_threshold=0.0))
    with pytest.raises(NucflowError, match="shape"):
        multiscale([np.zeros((8, 8)), np.zeros((8, 9))])


# ---- validation and registry -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["published", "watershed", "seeded"])
@pytest.mark.parametrize("bad, message", [
    (np.full((8, 8), 1.5), r"\[0, 1\]"),
    (np.full((8, 8), -0.1), r"\[0, 1\]"),
    (np.full((8, 8), np.nan), "NaN"),
    (np.ones((8, 8), np.uint8), "floating point"),
    (np.zeros((2, 8, 8)), "2-D"),
])
def test_invalid_probability_maps_are_rejected(name, bad, message):
    with pytest.raises(NucflowError, match=message):
        postprocess(name, bad)


def test_invalid_probability_in_three_class_and_multiscale():
    bad = np.zeros((3, 8, 8))
    bad[1, 0, 0] = np.nan
    with pytest.raises(NucflowError, match="NaN"):
        postprocess("three_class", bad)
    with pytest.raises(NucflowError, match=r"probs\[1\]"):
        postprocess("multiscale", [np.zeros((8, 8)), np.full((8, 8), 2.0)])


def test_unknown_method_and_parameter_are_named():
    with pytest.raises(NucflowError, match="'otsu'"):
        postprocess("otsu", np.zeros((8, 8)))
    with pytest.raises(NucflowError, match="'min_dist'"):
        postprocess("watershed", np.zeros((8, 8)), min_dist=3)
    with pytest.raises(NucflowError, match="'sigmaa'"):
        parse_param_strings("seeded", ["sigmaa=2"])
    with pytest.raises(NucflowError, match="not a valid int"):
        parse_param_strings("seeded", ["min_size=big"])


def test_params_parse_to_typed_dataclass():
    overrides = parse_param_strings("multiscale", ["thresholds=0.6,0.3", "min_size=4"])
    assert make_params("multiscale", **overrides) == MultiscaleParams(thresholds=(0.6, 0.3), min_size=4)
    assert parse_param_strings("watershed", ["watershed_line=true"]) == {"watershed_line": True}


def test_consecutive_labels_orders_by_first_pixel():
    labels = np.array([[0, 7, 7], [3, 0, 9]])
    np.testing.assert_array_equal(consecutive_labels(labels), [[0, 1, 1], [2, 0, 3]])


def test_empty_map_gives_empty_labels_for_every_2d_method():
    for name in ("published", "watershed", "seeded"):
        labels = postprocess(name, np.zeros((16, 16)))
        assert labels.dtype == np.uint32 and labels.max() == 0


# ---- CLI ---------------------------------------------------------------------------------------

def test_cli_writes_labels_per_input(tmp_path):
    write_tiff(tmp_path / "a_prob.tif", as_prob(touching_pair() > 0))
    write_tiff(tmp_path / "b.tif", as_prob(disk(10, 10, 6)))
    out = tmp_path / "out"
    status = nucflow_main(["postprocess", "--method", "watershed", "--param", "min_distance=4",
                           "--out-dir", str(out), str(tmp_path / "a_prob.tif"), str(tmp_path / "b.tif")])
    assert status == 0
    a = read_image(out / "a_labels.tif")
    assert a.dtype == np.uint16 and a.max() == 2
    assert read_image(out / "b_labels.tif").max() == 1
    record = json.loads((out / "postprocess.json").read_text())
    assert record["method"] == "watershed" and record["params"]["min_distance"] == 4


def test_cli_takes_the_workflows_json_parameters(tmp_path, capsys):
    """The workflow passes a method's parameters as one JSON object; --param overrides its keys."""
    write_tiff(tmp_path / "a_prob.tif", as_prob(touching_pair() > 0))
    out = tmp_path / "out"
    status = nucflow_main(["postprocess", "--method", "watershed", "--params-json",
                           '{"min_distance": 4, "min_size": 3}', "--param", "min_size=5",
                           "--out-dir", str(out), str(tmp_path / "a_prob.tif")])
    assert status == 0
    params = json.loads((out / "postprocess.json").read_text())["params"]
    assert (params["min_distance"], params["min_size"]) == (4, 5)
    for bad, message in (("{min_distance: 4}", "--params-json: not JSON"),
                         ("[4]", "--params-json: expected a JSON object of parameters"),
                         ('{"min_distance": "four"}', "parameter 'min_distance': expected int"),
                         ('{"depth": 2}', "unknown parameter 'depth'")):
        assert nucflow_main(["postprocess", "--method", "watershed", "--params-json", bad,
                             "--out-dir", str(out), str(tmp_path / "a_prob.tif")]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, err


def test_cli_bad_file_is_one_line_error_naming_it(tmp_path, capsys):
    write_tiff(tmp_path / "bad_prob.tif", np.full((8, 8), 3.0, np.float32))
    status = nucflow_main(["postprocess", "--out-dir", str(tmp_path / "o"), str(tmp_path / "bad_prob.tif")])
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert "bad_prob.tif" in err and "[0, 1]" in err and "\n" not in err
    assert nucflow_main(["postprocess", "--out-dir", str(tmp_path), str(tmp_path / "missing.tif")]) == 2


def test_output_name():
    from pathlib import Path

    assert output_name(Path("x/img7_prob.tif")) == "img7_labels.tif"
    assert output_name(Path("img7.tiff")) == "img7_labels.tif"


def test_multiscale_tradeoff_trades_precision_for_recall():
    from nucflow.evaluation.tradeoff import multiscale_tradeoff

    big, apart, spurious = disk(15, 15, 8), disk(40, 48, 6), disk(40, 15, 6)
    truth = np.zeros(SHAPE, np.int32)
    truth[big] = 1
    truth[apart] = 2
    probs = [as_prob(big), as_prob(big | apart), as_prob(big | spurious)]
    table = multiscale_tradeoff(probs, truth, MultiscaleParams(thresholds=(0.3,)))
    assert table["final_threshold"].tolist() == [1.0, 0.3]
    assert table["n_objects"].tolist() == [1, 3]
    assert table["object_tp"].tolist() == [1, 2] and table["object_fp"].tolist() == [0, 1]
    assert table["object_precision"].tolist() == [1.0, 2 / 3]
    assert table["object_recall"].tolist() == [0.5, 1.0]
    kept = big.sum() + apart.sum()
    assert table["pixel_precision"].tolist() == [1.0, pytest.approx(kept / (kept + spurious.sum()))]


def test_make_params_checks_types():
    assert make_params("multiscale", thresholds=[0.5, 0.2], min_size=3).thresholds == (0.5, 0.2)
    assert make_params("published", threshold=1).threshold == 1.0
    with pytest.raises(NucflowError, match="'watershed_line'.*expected bool"):
        make_params("watershed", watershed_line="false")
    with pytest.raises(NucflowError, match="'min_size'.*expected int"):
        make_params("seeded", min_size=2.5)


def test_multiscale_tradeoff_counts_objects_not_the_largest_id():
    """Regression: ids of candidates removed as too small were still given new ids, so levels had
    gaps and n_objects (the largest id) overcounted (the smoke study reported 19 objects where
    matching saw 6)."""
    from nucflow.evaluation.tradeoff import multiscale_tradeoff

    probs = np.zeros((2, 20, 40))
    probs[:, 1:3, 1:3] = 0.9          # 4 px: below min_size, but labelled first
    probs[:, 5:15, 5:15] = 0.9        # kept
    probs[:, 5:15, 25:35] = 0.9       # kept
    truth = np.zeros((20, 40), np.int32)
    truth[5:15, 5:15], truth[5:15, 25:35] = 1, 2
    table = multiscale_tradeoff(probs, truth, MultiscaleParams(thresholds=(0.5,), min_size=10))
    assert table["n_objects"].tolist() == [2, 2]
    assert (table["object_tp"] + table["object_fp"]).tolist() == [2, 2]
