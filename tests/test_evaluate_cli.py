"""``nucflow evaluate`` end to end on two tiny images, plus the per-run summary maths."""

import json

import numpy as np
import pandas as pd
import pytest
from skimage.draw import disk

from nucflow.cli import main
from nucflow.evaluation import evaluate_image, per_image_table, per_object_table, summary
from nucflow.io import write_tiff


def two_touching_disks():
    labels = np.zeros((40, 60), np.uint16)
    for object_id, column in ((1, 15), (2, 34)):
        rr, cc = disk((20, column), 10, shape=labels.shape)
        labels[rr, cc] = object_id
    return labels


@pytest.fixture
def study(tmp_path):
    """Manifest with images a (predicted perfectly) and b (disks merged), predictions folder."""
    truth = two_touching_disks()
    (tmp_path / "data").mkdir()
    preds = tmp_path / "preds"
    rows = []
    for image_id, pred in (("a", truth * 3), ("b", (truth > 0).astype(np.uint16))):
        write_tiff(tmp_path / "data" / f"{image_id}_labels.tif", truth)
        write_tiff(preds / f"{image_id}_labels.tif", pred)
        write_tiff(preds / f"{image_id}_prob.tif", (pred > 0).astype(np.float32) * 0.75)
        rows.append({"image_id": image_id, "dataset": "toy", "cell_line": "x", "pixel_size_um": 0.5,
                     "fluorescence": f"data/{image_id}_fluo.tif", "labels": f"data/{image_id}_labels.tif"})
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    return tmp_path


def evaluate(study, *extra):
    return main(["evaluate", "--manifest", str(study / "manifest.csv"), "--pred-dir", str(study / "preds"),
                 "--out-images", str(study / "out" / "per_image.csv"),
                 "--out-objects", str(study / "out" / "per_object.csv"),
                 "--out-summary", str(study / "out" / "summary.json"), "--run-id", "r1", *extra])


def test_evaluate_writes_three_tables(study):
    assert evaluate(study, "--ids", "a", "b") == 0
    images = pd.read_csv(study / "out" / "per_image.csv")
    assert images.image_id.tolist() == ["a", "b"] and (images.run_id == "r1").all()
    assert images.object_f1.tolist() == [1.0, pytest.approx(2 / 30)]
    assert images["f1_iou0.50"].tolist() == [1.0, pytest.approx(2 / 3)]
    assert images[["tp_iou0.50", "fp_iou0.50", "fn_iou0.50"]].values.tolist() == [[2, 0, 0], [1, 0, 1]]
    assert images.merges.tolist() == [0, 1] and images.missed.tolist() == [0, 2]
    assert images.pixel_source.tolist() == ["prob>0.5", "prob>0.5"]
    # foreground pixels at 0.75 (error 0.25), background exact: RMSE = 0.25 * sqrt(610 / 2400)
    assert images.rmse.tolist() == [pytest.approx(0.25 * np.sqrt(610 / 2400))] * 2
    assert images.f1.tolist() == [1.0, 1.0]
    assert images.density_true_per_mm2.iloc[0] == pytest.approx(2 / (40 * 60 * 0.25e-6))
    assert images.mean_area_true_um2.iloc[0] == pytest.approx(305 * 0.25)

    objects = pd.read_csv(study / "out" / "per_object.csv")
    assert len(objects) == 4 and objects.object_id.tolist() == [1, 2, 1, 2]
    assert objects.matched_pred_id.tolist()[:2] == [3, 6] and objects.best_iou.tolist()[:2] == [1.0, 1.0]
    assert objects.best_iou.tolist()[2:] == [0.5, 0.5] and objects.area_um2.tolist() == [305 * 0.25] * 4

    result = json.loads((study / "out" / "summary.json").read_text())
    assert result["run_id"] == "r1" and result["n_images"] == 2
    assert result["object_f1_mean_over_images"] == pytest.approx((1 + 2 / 30) / 2)
    # pooled at IoU 0.5: tp 3, fp 0, fn 1 -> 6/7; at > 0.5: tp 2, fp 1, fn 2 -> 4/7
    assert result["f1_iou0.50_pooled"] == pytest.approx(6 / 7)
    assert result["object_f1_pooled"] == pytest.approx((6 / 7 + 9 * 4 / 7) / 10)
    assert result["merges_total"] == 1 and result["n_true_total"] == 4
    assert result["touching_separated_pooled"] == 0.5


def test_ids_file_and_missing_prediction(study, capsys):
    (study / "ids.txt").write_text("# test images\na\nc\n")
    (study / "preds" / "b_labels.tif").unlink()
    assert evaluate(study, "--ids", "b") == 2
    assert "b_labels.tif: prediction not found" in capsys.readouterr().err
    assert evaluate(study, "--ids-file", str(study / "ids.txt")) == 2
    assert "no image_id 'c'" in capsys.readouterr().err


def test_float_label_file_is_rejected(study, capsys):
    write_tiff(study / "preds" / "a_labels.tif", two_touching_disks().astype(np.float32))
    assert evaluate(study, "--ids", "a") == 2
    err = capsys.readouterr().err
    assert "a_labels.tif: float labels" in err and "Traceback" not in err


def test_summary_pooled_and_mean_differ():
    truth = two_touching_disks()
    small = np.zeros_like(truth)
    small[0, :2] = 1
    half = np.zeros_like(truth)
    half[0, 0] = 1
    rows = [evaluate_image(truth, truth, metadata={"image_id": "big"}),
            evaluate_image(small, half, metadata={"image_id": "small"})]
    table = per_image_table(rows)
    result = summary(table, {"run_id": "r"})
    assert table.f1.tolist() == [1.0, pytest.approx(2 / 3)]
    assert result["f1_mean_over_images"] == pytest.approx((1 + 2 / 3) / 2)
    assert result["f1_pooled"] == pytest.approx(2 * 611 / (2 * 611 + 1))
    assert result["rmse_pooled"] != result["rmse_pooled"]  # NaN: no probability maps given
    objects = per_object_table(small, half, metadata={"image_id": "small"})
    assert objects.columns[:3].tolist() == ["image_id", "object_id", "best_iou"]
    assert objects.matched_pred_id.tolist() == [1] and objects.area_um2.isna().all()


def test_exclude_artifacts_counts_pixels_outside_the_mask(study):
    mask = np.zeros((40, 60), np.uint8)
    mask[:, :10] = 1  # 400 pixels annotated as artifact
    write_tiff(study / "data" / "a_artifacts.tif", mask)
    manifest = pd.read_csv(study / "manifest.csv")
    manifest["artifacts"] = ["data/a_artifacts.tif", ""]
    manifest.to_csv(study / "manifest.csv", index=False)
    assert evaluate(study, "--ids", "a", "b", "--exclude-artifacts") == 0
    images = pd.read_csv(study / "out" / "per_image.csv")
    counted = images[["pixel_tp", "pixel_fp", "pixel_fn", "pixel_tn"]].sum(axis=1)
    assert counted.tolist() == [2400 - 400, 2400]


def test_per_object_table_with_an_empty_prediction():
    """Regression: an image where the network found nothing crashed the per-object table."""
    truth = np.zeros((32, 32), np.uint16)
    truth[disk((10, 10), 4)] = 3
    truth[disk((22, 22), 4)] = 9
    table = per_object_table(truth, np.zeros_like(truth), pixel_size_um=0.5, metadata={"image_id": "x"})
    assert list(table["object_id"]) == [3, 9]
    assert list(table["best_iou_pred_id"]) == [0, 0] and list(table["matched_pred_id"]) == [0, 0]
    assert list(table["best_iou"]) == [0.0, 0.0]


def test_pred_object_table_describes_each_predicted_object(study):
    assert evaluate(study, "--ids", "a", "b", "--out-pred-objects", str(study / "out" / "per_pred_object.csv")) == 0
    shapes = pd.read_csv(study / "out" / "per_pred_object.csv")
    # image a: the two disks as ids 3 and 6; image b: one merged object of both disks
    assert shapes.image_id.tolist() == ["a", "a", "b"] and shapes.object_id.tolist() == [3, 6, 1]
    assert shapes.area_px2.tolist() == [305, 305, 610]
    assert shapes.area_um2.tolist() == [305 * 0.25, 305 * 0.25, 610 * 0.25]
    assert (shapes.run_id == "r1").all()


def test_summary_names_degenerate_runs():
    """A run that predicts nothing, or everything, is named in its summary; one that learned is not."""
    truth = two_touching_disks()
    nothing, everything = np.zeros_like(truth), np.ones_like(truth)
    verdicts = {}
    for name, pred in (("learned", truth), ("nothing", nothing), ("everything", everything)):
        result = summary(per_image_table([evaluate_image(truth, pred, metadata={"image_id": "a"})]))
        verdicts[name] = (result["degenerate"], result["predicted_foreground_ratio"])
    assert verdicts["learned"] == ("", 1.0)
    assert verdicts["nothing"] == ("all-background", 0.0)
    assert verdicts["everything"][0] == "all-foreground"
    assert verdicts["everything"][1] == pytest.approx(truth.size / np.count_nonzero(truth))


def test_summary_names_the_manifest_as_given(study, monkeypatch):
    """Regression: the summary (and so every arm's per_run.csv) held the manifest's absolute path,
    so the same study run in two folders gave tables that differed in that column."""
    monkeypatch.chdir(study)
    assert main(["evaluate", "--manifest", "manifest.csv", "--pred-dir", "preds", "--ids", "a",
                 "--out-images", "out/i.csv", "--out-objects", "out/o.csv", "--out-summary", "out/s.json"]) == 0
    assert json.loads((study / "out" / "s.json").read_text())["manifest"] == "manifest.csv"
