"""Attribution analyses on constructed arrays and tables with hand-computed answers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from nucflow.attribution import (
    artifact_effect,
    benjamini_hochberg,
    bootstrap_ci,
    composition_table,
    density_correlation,
    error_composition,
    flag_label_noise,
    holm,
    label_noise_counts,
    mann_whitney_table,
    size_bins,
)
from nucflow.cli import main as nucflow_main
from nucflow.errors import NucflowError
from nucflow.io import write_tiff

# ---- label noise -------------------------------------------------------------------------------
# 4 x 5 image, ground truth foreground = row 0. Four pixels in column 0 carry the story:
#   A (0,0) truth fg; models 0-3 predict bg, model 4 fg   -> 4 against: flagged
#   B (1,0) truth bg; all five predict fg                 -> 5 against: flagged
#   C (2,0) truth bg; models 0-2 predict fg               -> 3 against: not flagged
#   D (3,0) truth bg; model 0 predicts fg                 -> 1 against: not flagged
# True noise (simulated truth) = {A, C}.
A, B, C, D = (0, 0), (1, 0), (2, 0), (3, 0)


def noise_case():
    labels = np.zeros((4, 5), np.uint16)
    labels[0, :] = 1
    preds = [labels > 0 for _ in range(5)]
    for k in range(4):
        preds[k][A] = False
    for k in range(5):
        preds[k][B] = True
    for k in range(3):
        preds[k][C] = True
    preds[0][D] = True
    labels_true = labels.copy()
    labels_true[A] = 0
    labels_true[C] = 2
    return preds, labels, labels_true


def test_label_noise_flags_exactly_the_agreed_pixels():
    preds, labels, _ = noise_case()
    flagged = flag_label_noise(preds, labels, min_agree=4)
    assert sorted(zip(*np.nonzero(flagged))) == [A, B]
    assert sorted(zip(*np.nonzero(flag_label_noise(preds, labels, min_agree=3)))) == [A, B, C]


def test_label_noise_shares_precision_recall_exact():
    preds, labels, labels_true = noise_case()
    counts = label_noise_counts(preds, labels, labels_true, min_agree=4)
    assert counts.errors == (4, 3, 3, 2, 1)
    assert counts.flagged_errors == (2, 2, 2, 2, 1)
    assert counts.flagged_share == pytest.approx((2 / 4 + 2 / 3 + 2 / 3 + 1 + 1) / 5)
    assert counts.true_noise_errors == (2, 2, 2, 1, 0)
    assert counts.true_share == pytest.approx((2 / 4 + 2 / 3 + 2 / 3 + 1 / 2 + 0) / 5)
    assert counts.precision == 0.5 and counts.recall == 0.5
    pooled = counts + counts
    assert pooled.errors == (8, 6, 6, 4, 2) and pooled.flagged_share == pytest.approx(counts.flagged_share)


def test_label_noise_without_truth_and_with_valid_mask():
    preds, labels, _ = noise_case()
    counts = label_noise_counts(preds, labels)
    assert counts.precision is None and counts.true_share is None
    valid = np.ones(labels.shape, bool)
    valid[B] = False
    masked = label_noise_counts(preds, labels, valid=valid)
    assert masked.n_flagged == 1 and masked.errors == (3, 2, 2, 1, 0)


def test_label_noise_rejects_bad_min_agree_and_shapes():
    preds, labels, _ = noise_case()
    with pytest.raises(NucflowError, match="min_agree"):
        flag_label_noise(preds, labels, min_agree=6)
    with pytest.raises(NucflowError, match=r"preds\[2\]"):
        flag_label_noise(preds[:2] + [np.zeros((3, 3), bool)], labels, min_agree=2)


# ---- artifacts and composition -----------------------------------------------------------------

def artifact_case():
    truth = np.zeros((10, 10), np.uint16)
    truth[0:5] = 1  # 50 px
    pred = np.zeros((10, 10), np.uint16)
    pred[0:4] = 1  # 40 TP, 10 FN in row 4
    pred[8:10, 0:5] = 2  # 10 FP, inside the artifact
    artifacts = np.zeros((10, 10), bool)
    artifacts[8:10] = True
    return truth, pred, artifacts


def test_artifact_effect_exact():
    effect = artifact_effect(*artifact_case())
    assert effect.f1_all == pytest.approx(80 / 100)
    assert effect.f1_outside == pytest.approx(80 / 90)
    assert effect.f1_gain == pytest.approx(80 / 90 - 0.8)
    assert (effect.n_errors, effect.n_errors_in_artifacts, effect.n_artifact_pixels) == (20, 10, 20)
    assert effect.error_share_in_artifacts == 0.5


def test_error_composition_exact():
    truth, pred, _ = artifact_case()
    composition = error_composition(truth, pred)
    assert (composition.n_fn, composition.n_fp, composition.fn_share) == (10, 10, 0.5)
    table, pooled = composition_table(pd.DataFrame({"image_id": ["a", "b", "c"], "fn": [3, 0, 1],
                                                    "fp": [1, 0, 3]}))
    np.testing.assert_array_equal(table["fn_share"].to_numpy(), [0.75, np.nan, 0.25])
    assert (pooled.n_fn, pooled.n_fp, pooled.fn_share) == (4, 4, 0.5)


# ---- density and size --------------------------------------------------------------------------

def density_table():
    rng = np.random.default_rng(3)
    n_true = rng.integers(5, 60, 24)
    f1 = 0.9 - 0.004 * n_true + rng.normal(0, 0.03, 24)
    return pd.DataFrame({"image_id": [f"i{k}" for k in range(24)], "cell_line": ["A", "B", "C"] * 8,
                         "n_true": n_true, "f1": f1})


def test_density_correlation_matches_scipy():
    table = density_table()
    result = density_correlation(table, n_boot=200, seed=1).set_index("group")
    expected = scipy_stats.pearsonr(table["n_true"], table["f1"])
    assert result.loc["all", "pearson_r"] == pytest.approx(expected.statistic, abs=1e-12)
    assert result.loc["all", "p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    for line, part in table.groupby("cell_line"):
        expected_line = scipy_stats.pearsonr(part["n_true"], part["f1"]).statistic
        assert result.loc[line, "pearson_r"] == pytest.approx(expected_line)
        assert result.loc[line, "n_images"] == 8
    assert result.loc["all", "ci_low"] < result.loc["all", "pearson_r"] < result.loc["all", "ci_high"]


def test_density_missing_column_is_named():
    with pytest.raises(NucflowError, match="'n_cells'"):
        density_correlation(density_table(), count_col="n_cells")


def test_size_bins_exact():
    table = pd.DataFrame({"area_px2": [10, 20, 30, 50], "best_iou": [0.4, 0.6, 0.5, 0.9]})
    bins = size_bins(table, edges=[0, 25, 50])
    assert bins["n_objects"].tolist() == [2, 2]
    assert bins["detection_rate"].tolist() == [0.5, 1.0]
    assert bins["mean_iou"].tolist() == pytest.approx([0.5, 0.7])


# ---- statistics --------------------------------------------------------------------------------

def test_bootstrap_ci_is_seeded_and_brackets_the_mean():
    values = np.arange(20, dtype=float)
    first = bootstrap_ci(values, n_boot=500, seed=7)
    assert first == bootstrap_ci(values, n_boot=500, seed=7)
    assert first != bootstrap_ci(values, n_boot=500, seed=8)
    assert first.value == 9.5 and first.n == 20 and first.low < 9.5 < first.high
    constant = bootstrap_ci(np.full(5, 2.0), n_boot=50)
    assert (constant.low, constant.high) == (2.0, 2.0)


def test_holm_and_bh_match_hand_computed_values():
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    # BH: sorted 0.01, 0.035, 0.04, 0.5 times 4/1, 4/2, 4/3, 4/4 = 0.04, 0.07, 0.0533, 0.5 -> running min
    np.testing.assert_allclose(benjamini_hochberg([0.04, 0.01, 0.035, 0.5]), [0.16 / 3, 0.04, 0.16 / 3, 0.5])
    np.testing.assert_allclose(holm([0.6, np.nan, 0.9]), [1.0, np.nan, 1.0])


def test_mann_whitney_table_effect_size_and_p():
    frame = pd.DataFrame({"method": ["a"] * 4 + ["b"] * 4 + ["c"] * 4,
                          "area": [1, 2, 3, 4, 5, 6, 7, 8, 2.5, 3.5, 6.5, 7.5]})
    table = mann_whitney_table(frame, "method", ["area"])
    ab = table.iloc[0]
    assert (ab["group_a"], ab["group_b"], ab["u_statistic"], ab["rank_biserial"]) == ("a", "b", 0.0, -1.0)
    assert ab["p_value"] == pytest.approx(scipy_stats.mannwhitneyu([1, 2, 3, 4], [5, 6, 7, 8]).pvalue)
    np.testing.assert_allclose(table["p_adjusted"], holm(table["p_value"]))
    with pytest.raises(NucflowError, match="'z'"):
        mann_whitney_table(frame, "method", ["area"], groups=["a", "z"])


# ---- CLI ---------------------------------------------------------------------------------------

def test_cli_tables(tmp_path):
    table = density_table()
    table["pixel_fn"] = [3, 0, 1] * 8
    table["pixel_fp"] = [1, 0, 3] * 8
    table.to_csv(tmp_path / "per_image.csv", index=False)
    pd.DataFrame({"area_px2": [10, 20, 30, 50], "best_iou": [0.4, 0.6, 0.5, 0.9]}).to_csv(
        tmp_path / "per_object.csv", index=False)
    out = tmp_path / "out"
    assert nucflow_main(["attribute", "tables", "--per-image", str(tmp_path / "per_image.csv"),
                         "--per-object", str(tmp_path / "per_object.csv"), "--size-edges", "0", "25", "50",
                         "--n-boot", "100", "--out", str(out)]) == 0
    summary = json.loads((out / "attribution.json").read_text())
    assert summary["composition"]["fn_share_pooled"]["estimate"] == 0.5
    assert pd.read_csv(out / "size_bins.csv")["n_objects"].tolist() == [2, 2]
    assert len(pd.read_csv(out / "density.csv")) == 4


def test_cli_label_noise_and_artifacts(tmp_path):
    preds, labels, labels_true = noise_case()
    write_tiff(tmp_path / "img" / "x_labels.tif", labels)
    write_tiff(tmp_path / "img" / "x_true.tif", labels_true)
    truth, pred, artifacts = artifact_case()
    write_tiff(tmp_path / "img" / "y_labels.tif", truth)
    write_tiff(tmp_path / "img" / "y_artifacts.tif", artifacts.astype(np.uint8))
    pd.DataFrame({"image_id": ["x", "y"], "labels": ["img/x_labels.tif", "img/y_labels.tif"],
                  "labels_true": ["img/x_true.tif", ""], "artifacts": ["", "img/y_artifacts.tif"]}).to_csv(
        tmp_path / "manifest.csv", index=False)
    dirs = []
    for k, mask in enumerate(preds):
        dirs.append(tmp_path / f"model{k}")
        write_tiff(dirs[-1] / "x_prob.tif", mask.astype(np.float32))
    out = tmp_path / "noise"
    assert nucflow_main(["attribute", "label-noise", "--manifest", str(tmp_path / "manifest.csv"), "--ids", "x",
                         "--pred-dirs", *map(str, dirs), "--n-boot", "50", "--out", str(out)]) == 0
    summary = json.loads((out / "label_noise.json").read_text())
    assert summary["flagged_share"] == pytest.approx((2 / 4 + 2 / 3 + 2 / 3 + 1 + 1) / 5)
    assert summary["precision"] == 0.5 and summary["recall"] == 0.5
    assert summary["flagged_share_ci"]["estimate"] == pytest.approx(summary["flagged_share"])
    assert len(pd.read_csv(out / "label_noise.csv")) == 5

    write_tiff(tmp_path / "run" / "y_labels.tif", pred)
    assert nucflow_main(["attribute", "artifacts", "--manifest", str(tmp_path / "manifest.csv"),
                         "--pred-dir", str(tmp_path / "run"), "--n-boot", "50", "--out", str(out)]) == 0
    art = json.loads((out / "artifacts.json").read_text())
    assert art["n_images"] == 1 and art["error_share_in_artifacts_pooled"] == 0.5


def test_cli_missing_prediction_is_one_line_error(tmp_path, capsys):
    write_tiff(tmp_path / "x_labels.tif", np.ones((4, 4), np.uint16))
    pd.DataFrame({"image_id": ["x"], "labels": ["x_labels.tif"]}).to_csv(tmp_path / "m.csv", index=False)
    status = nucflow_main(["attribute", "label-noise", "--manifest", str(tmp_path / "m.csv"), "--min-agree", "1",
                           "--pred-dirs", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "o")])
    assert status == 2
    err = capsys.readouterr().err
    assert "no prediction for image 'x'" in err and err.count("\n") == 1


# ---- error curve (figure 07) -----------------------------------------------------------------------
def test_error_curve_counts_merges_and_missed_against_the_threshold(tmp_path):
    """Two 8-px-radius disks joined by a 0.35 bridge, the right one at 0.45: at 0.3 the bridge
    merges them; at 0.4 both stand apart; at 0.5 the right one is missed."""
    from skimage.draw import disk

    labels = np.zeros((40, 60), np.uint16)
    labels[disk((20, 15), 8, shape=labels.shape)] = 1
    labels[disk((20, 45), 8, shape=labels.shape)] = 2
    prob = np.zeros(labels.shape, np.float32)
    prob[17:23, 15:46] = 0.35
    prob[labels == 1] = 0.9
    prob[labels == 2] = 0.45
    write_tiff(tmp_path / "a_labels.tif", labels)
    write_tiff(tmp_path / "probs" / "a_prob.tif", prob)
    pd.DataFrame({"image_id": ["a"], "labels": ["a_labels.tif"]}).to_csv(tmp_path / "manifest.csv", index=False)
    assert nucflow_main(["attribute", "error-curve", "--manifest", str(tmp_path / "manifest.csv"), "--prob-dir",
                         str(tmp_path / "probs"), "--thresholds", "0.3", "0.4", "0.5", "--out", str(tmp_path / "out")]) == 0
    curve = pd.read_csv(tmp_path / "out" / "error_curve.csv")
    assert curve.columns.tolist() == ["image_id", "pixel_threshold", "merges", "splits", "missed", "n_true", "n_pred"]
    assert curve[["pixel_threshold", "merges", "splits", "missed", "n_pred"]].values.tolist() == [
        [0.3, 1, 0, 2, 1], [0.4, 0, 0, 0, 2], [0.5, 0, 0, 1, 1]]
    assert nucflow_main(["attribute", "error-curve", "--manifest", str(tmp_path / "manifest.csv"), "--prob-dir",
                         str(tmp_path), "--out", str(tmp_path / "o2")]) == 2
