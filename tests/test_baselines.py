"""The StarDist baseline: a one-line refusal without the optional extra, and (with it) a smoke-size
training, prediction and evaluation through the nucflow commands."""

from __future__ import annotations

import sys

import pytest

from nucflow.cli import main
from nucflow.baselines import stardist as baseline
from nucflow.config import validate_config
from nucflow.data.split import make_splits
from nucflow.io import write_json
from nucflow.simulator.simulate import SimulationConfig, simulate


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("baseline_data")
    sim = {"seed": 3, "n_planes": 3, "artifact_fraction": 0.0,
           "datasets": {"seven_lines": {"instrument": "A", "lines": ["HeLa", "MCF7"], "wells_per_line": 2,
                                        "fields_per_well": 2, "image_size": [128, 128]}}}
    config = SimulationConfig.from_dict(validate_config({"simulation": sim, "tiles": {"size": 64}})["simulation"])
    frame = simulate(config, folder)
    write_json(folder / "splits.json", make_splits(frame, {"seven_lines": [0.5, 0.25, 0.25]}, seed=0))
    return folder


def test_without_the_extra_each_command_says_so_in_one_line(tiny_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "stardist", None)  # what an environment without StarDist gives
    monkeypatch.setitem(sys.modules, "stardist.models", None)
    assert not baseline.available()
    status = main(["baseline", "train", "--manifest", str(tiny_data / "manifest.csv"), "--splits",
                   str(tiny_data / "splits.json"), "--dataset", "seven_lines", "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "pip install 'nucflow[baselines]'" in err and "\n" not in err
    assert not (tmp_path / "m").exists()


def test_a_model_folder_is_never_overwritten(tiny_data, tmp_path, capsys):
    (tmp_path / "m").mkdir()
    status = main(["baseline", "train", "--manifest", str(tiny_data / "manifest.csv"), "--splits",
                   str(tiny_data / "splits.json"), "--dataset", "seven_lines", "--out", str(tmp_path / "m")])
    assert status == 2 and "already exists" in capsys.readouterr().err


@pytest.mark.skipif(not baseline.available(), reason="optional extra nucflow[baselines] not installed")
def test_stardist_trains_predicts_and_is_scored_like_the_networks(tiny_data, tmp_path):
    import pandas as pd

    model = tmp_path / "stardist"
    assert main(["baseline", "train", "--manifest", str(tiny_data / "manifest.csv"), "--splits",
                 str(tiny_data / "splits.json"), "--dataset", "seven_lines", "--out", str(model),
                 "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "2", "--patch", "64"]) == 0
    assert (model / "baseline.json").is_file()
    labels = tmp_path / "labels"
    assert main(["baseline", "predict", "--model", str(model), "--manifest", str(tiny_data / "manifest.csv"),
                 "--eval-set", "seven_lines:test", "--splits", str(tiny_data / "splits.json"),
                 "--out", str(labels)]) == 0
    ids = (labels / "ids.txt").read_text().split()
    assert len(ids) == 2 and all((labels / f"{i}_labels.tif").is_file() for i in ids)
    assert main(["evaluate", "--manifest", str(tiny_data / "manifest.csv"), "--pred-dir", str(labels),
                 "--ids-file", str(labels / "ids.txt"), "--out-images", str(tmp_path / "per_image.csv"),
                 "--out-objects", str(tmp_path / "per_object.csv"), "--out-summary", str(tmp_path / "summary.json")]) == 0
    assert len(pd.read_csv(tmp_path / "per_image.csv")) == 2


def test_train_needs_one_source_of_images(tiny_data, tmp_path, capsys):
    status = main(["baseline", "train", "--tiles", str(tmp_path / "t.npz"), "--out", str(tmp_path / "m")])
    assert status == 2 and "give either --tiles and --val-tiles, or --manifest" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


@pytest.mark.skipif(not baseline.available(), reason="optional extra nucflow[baselines] not installed")
def test_stardist_learns_from_brightfield_tiles_and_predicts_whole_fields(tiny_data, tmp_path):
    """The workflow's route: the same tile sets the networks train on (three brightfield planes as
    three input channels), then whole test fields fed the same way."""
    import json

    import pandas as pd

    from nucflow.data.manifest import load_manifest
    from nucflow.data.split import select
    from nucflow.data.tiles import make_tiles, save_tiles
    from nucflow.io import read_json

    manifest = load_manifest(tiny_data / "manifest.csv", check_files=False)
    splits = read_json(tiny_data / "splits.json")
    for split in ("train", "val"):
        ids = select(splits, manifest.frame, "seven_lines", split)
        save_tiles(tmp_path / f"{split}.npz", make_tiles(manifest, ids, "brightfield", [0, 1, 2], size=64))
    model = tmp_path / "stardist"
    assert main(["baseline", "train", "--tiles", str(tmp_path / "train.npz"), "--val-tiles", str(tmp_path / "val.npz"),
                 "--out", str(model), "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "2"]) == 0
    record = json.loads((model / "baseline.json").read_text())
    assert (record["modality"], record["planes"], record["n_channel_in"], record["patch"]) == (
        "brightfield", [0, 1, 2], 3, 64)
    assert record["train_images"] == 16 and record["train_fields"] == 4  # 4 fields of 128 px, 4 tiles each
    labels = tmp_path / "labels"
    assert main(["baseline", "predict", "--model", str(model), "--manifest", str(tiny_data / "manifest.csv"),
                 "--eval-set", "seven_lines-test", "--splits", str(tiny_data / "splits.json"),
                 "--out", str(labels)]) == 0
    ids = (labels / "ids.txt").read_text().split()
    assert ids == select(splits, manifest.frame, "seven_lines", "test")
    assert main(["evaluate", "--manifest", str(tiny_data / "manifest.csv"), "--pred-dir", str(labels),
                 "--ids-file", str(labels / "ids.txt"), "--out-images", str(tmp_path / "per_image.csv"),
                 "--out-objects", str(tmp_path / "per_object.csv"), "--out-summary", str(tmp_path / "summary.json")]) == 0
    assert pd.read_csv(tmp_path / "per_image.csv")["image_id"].tolist() == ids


def test_the_baseline_commands_never_import_torch(tiny_data, tmp_path, monkeypatch, capsys):
    """Regression: ``baseline predict --eval-set`` read the evaluation set through
    nucflow.inference, which imports torch, so in the TensorFlow environment (no torch) it stopped
    with ModuleNotFoundError before predicting anything."""
    for name in ("torch", "stardist", "stardist.models"):
        monkeypatch.setitem(sys.modules, name, None)  # an environment with neither
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "baseline.json").write_text("{}")
    status = main(["baseline", "predict", "--model", str(tmp_path / "m"), "--manifest", str(tiny_data / "manifest.csv"),
                   "--eval-set", "seven_lines:test", "--splits", str(tiny_data / "splits.json"),
                   "--out", str(tmp_path / "labels")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "pip install 'nucflow[baselines]'" in err and "torch" not in err
