"""Label-noise estimators beyond the paper's vote (confident learning, the held-out calibrated
estimate) and merged nuclei in the labels, on constructed arrays with hand-computed answers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from nucflow.attribution.label_noise import (
    DISTANCE_BINS,
    LabelNoiseCounts,
    confident_noise,
    error_cells,
    held_out_noise_errors,
    label_noise_counts,
    label_noise_summary,
    label_noise_table,
    merged_nuclei,
)
from nucflow.cli import main as nucflow_main
from nucflow.errors import NucflowError
from nucflow.io import write_tiff

# ---- confident learning ------------------------------------------------------------------------
# One row of 9 pixels. Labels fg = pixels 0-4. Ensemble foreground probability p:
#   fg-labelled: .9 .9 .9 .1 .5   -> t_fg = mean = 0.66; pixel 3 (1 - p = .9 >= t_bg) suggests bg,
#                                    pixels 0-2 suggest fg, pixel 4 suggests nothing
#   bg-labelled: .1 .1 .9 .3      -> t_bg = mean(1 - p) = 0.65; pixel 7 (p = .9 >= t_fg) suggests fg,
#                                    pixels 5, 6 suggest bg, pixel 8 (1 - p = .7) suggests bg
# Calibrated counts: fg wrong = round(1/4 * 5) = 1, bg wrong = round(1/4 * 4) = 1 -> noise {3, 7}.
CL_LABELS = np.array([[1, 1, 1, 1, 1, 0, 0, 0, 0]], np.uint16)
CL_PROB = np.array([[0.9, 0.9, 0.9, 0.1, 0.5, 0.1, 0.1, 0.9, 0.3]])


def test_confident_noise_thresholds_calibration_and_ranking():
    noisy = confident_noise(CL_PROB, CL_LABELS)
    assert np.flatnonzero(noisy).tolist() == [3, 7]


def test_confident_noise_none_when_nothing_suggests_the_other_class():
    prob = np.where(CL_LABELS > 0, 0.8, 0.2)
    assert not confident_noise(prob, CL_LABELS).any()


def test_confident_noise_respects_valid_and_checks_prob():
    valid = np.ones(CL_LABELS.shape, bool)
    valid[0, 7] = False  # bg class left: .1 .1 .3 -> t_bg = 0.8333, nothing suggests fg
    assert np.flatnonzero(confident_noise(CL_PROB, CL_LABELS, valid)).tolist() == [3]
    with pytest.raises(NucflowError, match="prob"):
        confident_noise(CL_PROB * 2, CL_LABELS)
    with pytest.raises(NucflowError, match="shape"):
        confident_noise(CL_PROB[:, :4], CL_LABELS)


def test_label_noise_counts_cl_errors_exact():
    # Model 0 predicts p > 0.5 of the ensemble (errors at 3, 7); model 1 also errs at 5.
    pred0 = CL_PROB > 0.5
    pred1 = pred0.copy()
    pred1[0, 5] = True
    labels_true = CL_LABELS.copy()
    labels_true[0, 3] = 0  # true noise: pixel 3 only
    counts = label_noise_counts([pred0, pred1], CL_LABELS, labels_true, min_agree=2,
                                probs=[CL_PROB, CL_PROB])
    assert counts.errors == (3, 4)  # pixel 4 (p = .5) is predicted bg by both, labelled fg
    assert counts.n_cl_flagged == 2 and counts.cl_errors == (2, 2)
    assert counts.cl_share_per_model == (2 / 3, 2 / 4)
    assert counts.n_cl_flagged_true_noise == 1
    assert counts.true_noise_errors == (1, 1)
    summary = counts.summary()
    assert summary["cl_precision"] == 0.5 and summary["cl_recall"] == 1.0
    assert summary["cl_error_pp_per_model"] == pytest.approx([100 * (2 / 3 - 1 / 3), 100 * (2 / 4 - 1 / 4)])
    with pytest.raises(NucflowError, match="probability maps"):
        label_noise_counts([pred0, pred1], CL_LABELS, min_agree=2, probs=[CL_PROB])


# ---- the calibrated (held-out) estimate --------------------------------------------------------
# The 4 x 5 case of test_attribution: labels fg = row 0; A (0,0) truth bg, models 0-3 predict bg;
# D (3,0) label bg, only model 0 predicts fg.
def _noise_case():
    labels = np.zeros((4, 5), np.uint16)
    labels[0, :] = 1
    preds = [labels > 0 for _ in range(5)]
    for k in range(4):
        preds[k][0, 0] = False
    preds[0][3, 0] = True
    labels_true = labels.copy()
    labels_true[0, 0] = 0
    return preds, labels, labels_true


def test_error_cells_exact():
    preds, labels, _ = _noise_case()
    cells = error_cells(preds, labels)
    # A: label fg (1), 3 other models agree with model 0, 1 px inside the label -> bin 0
    assert cells[0][0, 0] == (1 * 5 + 3) * DISTANCE_BINS + 0
    # D: label bg (0), no other model agrees, 3 px from the label -> bin 2
    assert cells[0][3, 0] == (0 * 5 + 0) * DISTANCE_BINS + 2
    assert cells[4][0, 0] == -1  # model 4 agrees with the label there
    assert (cells >= 0).sum() == sum(int((p != (labels > 0)).sum()) for p in preds)


def test_held_out_estimate_exact_with_fallback():
    def image(errors, noise):
        return LabelNoiseCounts(n_pixels=10, n_flagged=0, errors=(int(sum(errors)), 0), flagged_errors=(0, 0),
                                n_true_noise=0, n_flagged_true_noise=0, true_noise_errors=(int(sum(noise)), 0),
                                cell_errors=np.array([errors, [0, 0]]), cell_noise_errors=np.array([noise, [0, 0]]))

    # model 0, two cells: image 2 has errors in cell 1, which no other image has
    images = [image([10, 0], [5, 0]), image([20, 0], [20, 0]), image([4, 2], [0, 2])]
    estimate = held_out_noise_errors(images)
    assert estimate[0, 0] == pytest.approx(10 * 20 / 24)
    assert estimate[1, 0] == pytest.approx(20 * 5 / 14)
    assert estimate[2, 0] == pytest.approx(4 * 25 / 30 + 2 * 25 / 30)  # cell 1: model 0's held-out share
    assert estimate[:, 1].tolist() == [0, 0, 0]
    assert held_out_noise_errors(images[:1]) is None
    summary = label_noise_summary(images)
    assert summary["calibrated_noise_errors"][0] == pytest.approx(estimate[:, 0].sum())
    assert summary["calibrated_share_per_model"][0] == pytest.approx(estimate[:, 0].sum() / 36)
    assert summary["calibrated_error_pp_per_model"][0] == pytest.approx(100 * (estimate[:, 0].sum() - 27) / 36)


def test_held_out_estimate_is_exact_on_identical_images():
    preds, labels, labels_true = _noise_case()
    image = label_noise_counts(preds, labels, labels_true)
    estimate = held_out_noise_errors([image, image, image])
    assert estimate.tolist() == [list(map(float, image.true_noise_errors))] * 3
    table = label_noise_table(["a", "b", "c"], [image] * 3, [f"m{k}" for k in range(5)])
    assert table["n_calibrated_noise_errors"].tolist() == list(map(float, image.true_noise_errors)) * 3


def test_pooling_adds_cells_and_drops_missing_truth():
    preds, labels, labels_true = _noise_case()
    with_truth = label_noise_counts(preds, labels, labels_true)
    without = label_noise_counts(preds, labels)
    pooled = with_truth + with_truth
    assert (pooled.cell_errors == 2 * with_truth.cell_errors).all()
    assert pooled.n_merged_nuclei == 0 and pooled.n_true_nuclei == 2
    mixed = with_truth + without
    assert mixed.true_noise_errors is None and mixed.cell_noise_errors is None and mixed.n_true_nuclei is None
    assert without.cl_errors is None and without.summary().get("cl_share") is None


# ---- merged nuclei -----------------------------------------------------------------------------


def _disk(shape, centre, radius):
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius ** 2


def test_merged_nuclei_on_drawn_disks():
    shape = (40, 60)
    centres = [(10, 10), (10, 22), (10, 34), (30, 10), (30, 40)]
    labels_true = np.zeros(shape, np.uint16)
    for n, centre in enumerate(centres, start=1):
        labels_true[_disk(shape, centre, 5)] = n
    labels = np.zeros(shape, np.uint16)
    labels[(labels_true >= 1) & (labels_true <= 3)] = 7  # three nuclei in one object: 2 merged
    labels[8:13, 6:15] = 7  # (still one object)
    labels[labels_true == 4] = 3  # alone: not merged
    # nucleus 5: one object covers less than half of it, so it has no host (missed, not merged)
    labels[25:30, 35:46] = 9
    assert merged_nuclei(labels, labels_true) == (5, 2)
    labels[labels_true == 5] = 3  # nucleus 5 now hosted by the object holding nucleus 4: one more merge
    assert merged_nuclei(labels, labels_true) == (5, 3)
    counts = label_noise_counts([labels > 0, labels > 0], labels, labels_true, min_agree=2)
    assert counts.n_merged_nuclei == 3 and counts.merged_per_100_true == pytest.approx(60.0)


# ---- the command -------------------------------------------------------------------------------


def test_cli_label_noise_writes_every_estimate(tmp_path):
    preds, labels, labels_true = _noise_case()
    rows, dirs = [], [tmp_path / f"model{k}" for k in range(5)]
    for image_id in ("a", "b"):
        write_tiff(tmp_path / "img" / f"{image_id}_labels.tif", labels)
        write_tiff(tmp_path / "img" / f"{image_id}_true.tif", labels_true)
        rows.append({"image_id": image_id, "labels": f"img/{image_id}_labels.tif",
                     "labels_true": f"img/{image_id}_true.tif"})
        for k, mask in enumerate(preds):
            write_tiff(dirs[k] / f"{image_id}_prob.tif", np.where(mask, 0.9, 0.1).astype(np.float32))
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    out = tmp_path / "noise"
    assert nucflow_main(["attribute", "label-noise", "--manifest", str(tmp_path / "manifest.csv"), "--ids", "a", "b",
                         "--pred-dirs", *map(str, dirs), "--n-boot", "20", "--out", str(out)]) == 0
    table = pd.read_csv(out / "label_noise.csv")
    assert len(table) == 10
    # identical images: the held-out estimate equals the truth
    assert table["n_calibrated_noise_errors"].tolist() == table["n_true_noise_errors"].astype(float).tolist()
    assert table["n_merged_nuclei"].tolist() == [0] * 10 and table["n_true_nuclei"].tolist() == [1] * 10
    assert table["n_cl_errors"].notna().all()
    summary = json.loads((out / "label_noise.json").read_text())
    assert summary["calibrated_error_pp_per_model"][:4] == pytest.approx([0.0] * 4)
    assert np.isnan(summary["calibrated_error_pp_per_model"][4])  # model 4 makes no error
    assert summary["merged_per_100_true"] == 0.0
    assert {"cl_share_per_model", "cl_error_pp_per_model", "flagged_error_pp_per_model"} <= set(summary)


# ---- figure 08 ---------------------------------------------------------------------------------


def test_figure_08_estimate_table_and_drawing(tmp_path):
    from nucflow.figures.attribution import fig_attribution
    from nucflow.report.figure_tables import estimate_table, write_figure_tables
    from nucflow.report.summary import label_noise_estimate_lines
    from nucflow.results.attribution import load_label_noise, merged_per_100

    folder = tmp_path / "attribution/model_comparison/tables"
    folder.mkdir(parents=True)
    rows = [{"image_id": f"img{i}", "model": m, "n_errors": 100, "n_flagged_errors": 30, "n_cl_errors": 50,
             "n_calibrated_noise_errors": 70.5 + j, "n_true_noise_errors": 70 + j, "n_true_nuclei": 20,
             "n_merged_nuclei": i} for i in range(3) for j, m in enumerate(("unet", "tiramisu"))]
    pd.DataFrame(rows).to_csv(folder / "label_noise.csv", index=False)
    noise = load_label_noise(tmp_path)
    table = estimate_table(noise, n_boot=20).set_index(["estimator", "model"])
    assert table.loc[("paper", "unet"), "error_pp"] == pytest.approx(30 - 70)
    assert table.loc[("confident_learning", "tiramisu"), "error_pp"] == pytest.approx(50 - 71)
    assert table.loc[("calibrated", "tiramisu"), "share"] == pytest.approx(71.5)
    assert table.loc[("calibrated", "unet"), "error_pp"] == pytest.approx(0.5)
    assert merged_per_100(noise) == pytest.approx(100 * 3 / 60)
    lines = label_noise_estimate_lines(noise, n_boot=20)
    assert lines[2].startswith("| model | paper: >= 4 of 5 vote (%) [95% CI] | calibrated, held out (%) [95% CI]")
    assert lines[4] == ("| U-Net | 30.0 [30.0, 30.0] | 70.5 [70.5, 70.5] | 50.0 [50.0, 50.0] | 70.0 "
                        "| -40.0 | +0.5 | -20.0 |")
    assert lines[-2].startswith("Labels merge 5.0 true nuclei per 100")
    write_figure_tables(tmp_path, ["attribution"], n_boot=20)
    paths = fig_attribution(tmp_path, tmp_path / "figures")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.is_file() for p in paths)
    # a table of the published columns only still draws (no new estimators, no truth)
    pd.DataFrame(rows).drop(columns=["n_cl_errors", "n_calibrated_noise_errors", "n_true_noise_errors"]).to_csv(
        folder / "label_noise.csv", index=False)
    assert list(estimate_table(load_label_noise(tmp_path), n_boot=20)["estimator"].unique()) == ["paper"]
    write_figure_tables(tmp_path, ["attribution"], n_boot=20)
    assert fig_attribution(tmp_path, tmp_path / "figures2")
    assert label_noise_estimate_lines(load_label_noise(tmp_path), n_boot=20) == []
