"""User-mode predict skips an image only when its outputs came from the same input, model and settings."""

from __future__ import annotations

import json

import pandas as pd
import tifffile
import torch
from test_predict_files import Threshold, disks_image, make_run, toy_run, toy_spec

from nucflow.cli import main
from nucflow.inference.files import FilesRun, predict_files
from nucflow.inference.predict import InferenceSettings
from nucflow.inference.provenance import TAG, model_identity, provenance_key
from nucflow.io import file_sha256


def recorded(path) -> dict:
    with tifffile.TiffFile(path) as tif:
        return json.loads(tif.pages[0].description)[TAG]


def test_changed_input_is_redone(tmp_path):
    """Regression: a 300 x 300 input kept its old 80 x 96 labels because the outputs existed."""
    tifffile.imwrite(tmp_path / "a.tif", disks_image())
    out = tmp_path / "out"
    predict_files(Threshold(), toy_spec(), [str(tmp_path / "a.tif")], out, toy_run())
    tifffile.imwrite(tmp_path / "a.tif", disks_image(shape=(300, 300), centres=((50, 50), (150, 150))))
    again = predict_files(Threshold(), toy_spec(), [str(tmp_path / "a.tif")], out, toy_run())
    assert list(again["status"]) == ["ok"] and list(again["count"]) == [2]
    assert tifffile.imread(out / "a_labels.tif").shape == (300, 300)
    assert list(predict_files(Threshold(), toy_spec(), [str(tmp_path / "a.tif")], out, toy_run())["status"]) == [
        "skipped"]


def test_other_method_or_parameters_are_redone(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", disks_image())
    out = tmp_path / "out"
    predict_files(Threshold(), toy_spec(), [str(tmp_path / "a.tif")], out, toy_run())
    watershed = predict_files(Threshold(), toy_spec(), [str(tmp_path / "a.tif")], out,
                              FilesRun(settings=InferenceSettings(batch_size=4), method="watershed"))
    assert list(watershed["status"]) == ["ok"] and recorded(out / "a_labels.tif")["method"] == "watershed"
    lower = predict_files(Threshold(), toy_spec(), [str(tmp_path / "a.tif")], out, toy_run(params={"threshold": 0.4}))
    assert list(lower["status"]) == ["ok"] and recorded(out / "a_labels.tif")["params"] == {"threshold": 0.4}


def test_provenance_is_in_the_summary_and_both_tiffs(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", disks_image())
    out = tmp_path / "out"
    summary = predict_files(Threshold(), toy_spec(), [str(tmp_path / "a.tif")], out,
                            toy_run(model={"run_id": "toy", "weights_sha256": "ab" * 32}))
    record = recorded(out / "a_labels.tif")
    assert record == recorded(out / "a_prob.tif")
    assert record["input_sha256"] == file_sha256(tmp_path / "a.tif")
    assert record["model"] == {"run_id": "toy", "weights_sha256": "ab" * 32}
    assert (record["method"], record["tile"], record["scale"]) == ("published", 32, 1.0)
    key = record.pop("key")
    assert key == provenance_key(record) == summary["provenance"][0]
    assert pd.read_csv(out / "summary.csv", dtype=str)["provenance"].tolist() == [key]


def test_another_model_in_the_same_folder_needs_overwrite(tmp_path, capsys):
    """Regression: predicting with another model skipped the old outputs and rewrote predict.json to
    name the new model."""
    first = make_run(tmp_path / "one")
    second = make_run(tmp_path / "two")
    state = torch.load(second / "model.pt")
    torch.save({k: v + 0.01 if v.is_floating_point() else v for k, v in state.items()}, second / "model.pt")
    tifffile.imwrite(tmp_path / "a.tif", disks_image())
    out = tmp_path / "out"
    assert main(["predict", "--model", str(first), "--out", str(out), str(tmp_path / "a.tif")]) == 0
    capsys.readouterr()
    assert main(["predict", "--model", str(second), "--out", str(out), str(tmp_path / "a.tif")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "would mix two models in one folder. Give another --out, or --overwrite" in err
    assert json.loads((out / "predict.json").read_text())["model"] == str(first)
    assert main(["predict", "--model", str(second), "--out", str(out), "--overwrite", str(tmp_path / "a.tif")]) == 0
    written = json.loads((out / "predict.json").read_text())
    assert written["model_identity"] == model_identity(second, "tiny")
    assert recorded(out / "a_labels.tif")["model"]["weights_sha256"] == file_sha256(second / "model.pt")
    assert main(["predict", "--model", str(first), "--out", str(tmp_path / "a.tif"), str(tmp_path / "a.tif")]) == 2
    assert capsys.readouterr().err.strip().endswith(f"--out {tmp_path / 'a.tif'}: exists and is not a folder")
