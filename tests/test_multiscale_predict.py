"""Multi-scale inference (LipoPose): one map per input scale, resized back, for the multi-scale merge."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile

from nucflow.cli import main
from nucflow.inference.predict import InferenceSettings, load_run, predict_field, predict_field_scales
from tests.test_predict_files import make_run


def test_scale_one_equals_the_plain_prediction_and_other_scales_are_resized_back(tmp_path):
    model, run = load_run(make_run(tmp_path / "run"), "cpu")
    raw = np.random.default_rng(0).uniform(0, 1000, (40, 52)).astype(np.float32)
    settings = InferenceSettings(overlap=0.5, batch_size=4, device="cpu")
    plain = predict_field(model, run, raw, settings, tile=32)
    maps = predict_field_scales(model, run, raw, settings, [0.5, 1.0, 2.0], tile=32)
    assert maps.shape == (3, 40, 52) and maps.dtype == np.float32
    np.testing.assert_array_equal(maps[1], plain[0])
    assert 0.0 <= maps.min() and maps.max() <= 1.0
    assert not np.array_equal(maps[0], maps[1])


def test_study_mode_writes_scale_maps_and_the_tradeoff_pools_them(tmp_path, toy_manifest):
    run_dir = make_run(tmp_path / "study")
    splits = tmp_path / "splits.json"
    splits.write_text(json.dumps({"toy": {"train": ["toy_HeLa_02"], "val": ["toy_A549_02"],
                                          "test": ["toy_HeLa_00", "toy_A549_01"]}}))
    out = tmp_path / "prob"
    assert main(["predict", "--model", str(run_dir), "--manifest", str(toy_manifest), "--splits", str(splits),
                 "--eval-set", "toy:test", "--scales", "0.75", "1", "--out", str(out)]) == 0
    scales = tifffile.imread(out / "toy_HeLa_00_prob_scales.tif")
    assert scales.shape == (2, 48, 48)
    np.testing.assert_array_equal(scales[1], tifffile.imread(out / "toy_HeLa_00_prob.tif"))
    instances = tmp_path / "instances"
    assert main(["postprocess", "--method", "multiscale", "--param", "thresholds=0.5", "--param", "min_size=1",
                 "--out-dir", str(instances), *map(str, sorted(out.glob("*_prob_scales.tif")))]) == 0
    assert sorted(p.name for p in instances.glob("*.tif")) == ["toy_A549_01_labels.tif", "toy_HeLa_00_labels.tif"]
    table_path = tmp_path / "tradeoff.csv"
    assert main(["tradeoff", "--manifest", str(toy_manifest), "--prob-dir", str(out), "--ids-file",
                 str(out / "ids.txt"), "--params", str(instances / "postprocess.json"), "--run-id", "r",
                 "--out", str(table_path)]) == 0
    table = pd.read_csv(table_path)
    assert table["threshold"].tolist() == [1.0, 0.5] and (table["run_id"] == "r").all()
    assert (table["tp"] + table["fn"]).nunique() == 1          # the same ground truth at every level
    assert table["n_objects"].is_monotonic_increasing           # lower levels only add objects
    for _, row in table.iterrows():
        expected = 2 * row.tp / (2 * row.tp + row.fp + row.fn) if row.tp + row.fp + row.fn else np.nan
        assert row.f1 == pytest.approx(expected, nan_ok=True)
