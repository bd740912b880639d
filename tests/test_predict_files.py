"""User-mode ``nucflow predict`` on image files: outputs, skipping, bad inputs, input forms."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch
from skimage.draw import disk

from nucflow.cli import main
from nucflow.errors import NucflowError
from nucflow.inference.model_spec import ModelSpec
from nucflow.inference.files import FilesRun, expand_inputs, label_dtype, object_table, predict_files, read_field
from nucflow.inference.predict import InferenceSettings
from nucflow.models import build
from nucflow.training.config import RunConfig

SHAPE = (80, 96)
CENTRES = ((20, 20), (40, 60), (60, 30))


def make_run(root: Path, *, model: str = "unet", modality: str = "fluorescence", in_channels: int = 1,
             planes=(), tile: int = 32, normalisation: str = "percentile", loss: str = "bce",
             with_tiles: bool = True) -> Path:
    """A run folder (run.json + model.pt of a tiny random network) and its training tile metadata."""
    tiles = root / "tiles" / "train.npz"
    if with_tiles:
        tiles.parent.mkdir(parents=True, exist_ok=True)
        meta = {"size": tile, "normalisation": normalisation, "percentiles": [1.0, 99.8], "planes": list(planes)}
        np.savez(tiles, meta=np.asarray(json.dumps(meta)))
    run_dir = root / "runs" / "tiny"
    run_dir.mkdir(parents=True)
    run = RunConfig(run_id="tiny", model=model, in_channels=in_channels, modality=modality,
                    train_tiles=(str(tiles),), val_tiles=(str(tiles),), batch_size=2, out_dir=str(run_dir),
                    width=0.0625, planes=tuple(planes), loss=loss)
    run.to_json(run_dir / "run.json")
    torch.manual_seed(0)
    torch.save(build(model, **run.model_kwargs).state_dict(), run_dir / "model.pt")
    return run_dir


def disks_image(shape=SHAPE, centres=CENTRES, radius=8, seed=0) -> np.ndarray:
    """uint16 (H, W): background 0..99, disks +1000."""
    image = np.random.default_rng(seed).integers(0, 100, shape).astype(np.uint16)
    for centre in centres:
        rr, cc = disk(centre, radius, shape=shape)
        image[rr, cc] += 1000
    return image


class Threshold(torch.nn.Module):
    """A toy 'network': logit 40 (x - 0.5) of the normalised input, so the disks come out exactly."""

    def forward(self, x):
        return 40 * (x.mean(dim=1, keepdim=True) - 0.5)


def toy_spec(**changes) -> ModelSpec:
    values = {"run_id": "toy", "model": "toy", "width": 1.0, "modality": "fluorescence", "in_channels": 1,
              "out_channels": 1, "planes": (), "tile": 32, "normalisation": "percentile", "percentiles": (1.0, 99.8)}
    return ModelSpec(**{**values, **changes})


def toy_run(**changes) -> FilesRun:
    return FilesRun(settings=InferenceSettings(batch_size=4), method="published", **changes)


def test_outputs_written_readable_and_consistent(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    tifffile.imwrite(images / "a.tif", disks_image())
    tifffile.imwrite(images / "b.tif", disks_image(centres=CENTRES[:2], seed=1))
    summary = predict_files(Threshold(), toy_spec(), [str(images)], tmp_path / "out", toy_run())
    assert list(summary["status"]) == ["ok", "ok"] and list(summary["count"]) == [3, 2]
    out = tmp_path / "out"
    for stem, n in (("a", 3), ("b", 2)):
        prob = tifffile.imread(out / f"{stem}_prob.tif")
        labels = tifffile.imread(out / f"{stem}_labels.tif")
        table = pd.read_csv(out / f"{stem}_objects.csv")
        assert prob.dtype == np.float32 and prob.shape == SHAPE and 0 <= prob.min() and prob.max() <= 1
        assert labels.dtype == np.uint16 and labels.shape == SHAPE
        ids, areas = np.unique(labels[labels > 0], return_counts=True)
        assert list(table["id"]) == list(ids) == list(range(1, n + 1))
        assert list(table["area_px2"]) == list(areas) == [disk((0, 0), 8, shape=None)[0].size] * n
        raw = tifffile.imread(images / f"{stem}.tif")
        for row in table.itertuples():
            ys, xs = np.nonzero(labels == row.id)
            assert (row.centroid_y, row.centroid_x) == pytest.approx((ys.mean(), xs.mean()))
            assert row.mean_intensity_fluorescence == pytest.approx(raw[ys, xs].mean())
    saved = pd.read_csv(out / "summary.csv")
    assert list(saved.columns) == ["image", "status", "message", "count", "mean_area_px2", "seconds",
                                   "pixel_size_um", "scale", "provenance"]
    assert list(saved["count"]) == [3, 2] and saved["mean_area_px2"][0] == pytest.approx(areas[0])


def test_object_table_units_and_label_dtype():
    labels = np.zeros((20, 20), np.uint32)
    labels[2:6, 2:7] = 5
    channels = np.stack([np.full((20, 20), 2.0), np.arange(400.0).reshape(20, 20)])
    table = object_table(labels, channels, ["plane0", "plane4"], pixel_size_um=0.5)
    assert list(table["id"]) == [5] and table["area_um2"][0] == 20 * 0.25
    assert (table["centroid_y"][0], table["centroid_x"][0]) == (3.5, 4.0)
    assert table["mean_intensity_plane0"][0] == 2.0 and table["mean_intensity_plane4"][0] == 3.5 * 20 + 4
    assert label_dtype(np.array([[65535]])) == np.uint16 and label_dtype(np.array([[65536]])) == np.uint32
    assert len(object_table(np.zeros((8, 8), np.uint16), np.ones((1, 8, 8)), ["fluorescence"])) == 0


def test_skip_existing_and_overwrite(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", disks_image())
    out = tmp_path / "out"
    predict_files(Threshold(), toy_spec(), [str(tmp_path / "a.tif")], out, toy_run())
    (out / "a_prob.tif").write_bytes(b"sentinel")
    again = predict_files(Threshold(), toy_spec(), [str(tmp_path / "a.tif")], out, toy_run())
    assert list(again["status"]) == ["skipped"] and list(again["count"]) == [3]
    assert (out / "a_prob.tif").read_bytes() == b"sentinel"
    redone = predict_files(Threshold(), toy_spec(), [str(tmp_path / "a.tif")], out, toy_run(overwrite=True))
    assert list(redone["status"]) == ["ok"] and tifffile.imread(out / "a_prob.tif").shape == SHAPE
    (out / "a_labels.tif").unlink()  # an incomplete set is redone without --overwrite
    assert list(predict_files(Threshold(), toy_spec(), [str(tmp_path / "a.tif")], out, toy_run())["status"]) == ["ok"]


def write_bad_inputs(folder: Path) -> dict[str, str]:
    """One good image and one of each bad kind; returns file name -> expected message fragment."""
    folder.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(folder / "good.tif", disks_image())
    (folder / "unreadable.tif").write_bytes(b"this is not a TIFF file")
    tifffile.imwrite(folder / "fourdim.tif", np.ones((2, 3) + SHAPE, np.uint16), photometric="minisblack")
    with pytest.warns(UserWarning, match="zero-size"):
        tifffile.imwrite(folder / "empty.tif", np.zeros((0, 0), np.uint16))
    nan = disks_image().astype(np.float32)
    nan[5, 5] = np.nan
    tifffile.imwrite(folder / "nan.tif", nan)
    tifffile.imwrite(folder / "planes.tif", np.ones((3,) + SHAPE, np.uint16), photometric="minisblack")
    return {"unreadable.tif": "unreadable image", "fourdim.tif": "expected an (H, W) image or a (planes, H, W) stack",
            "empty.tif": "empty image", "nan.tif": "NaN", "planes.tif": "takes one fluorescence channel, got 3 planes"}


def test_bad_inputs_reported_by_name_others_processed(tmp_path, capsys):
    run_dir = make_run(tmp_path / "study")
    expected = write_bad_inputs(tmp_path / "images")
    missing = str(tmp_path / "missing.tif")
    code = main(["predict", "--model", str(run_dir), "--out", str(tmp_path / "out"), str(tmp_path / "images"),
                 missing])
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    for name, fragment in {**expected, "missing.tif": "file not found"}.items():
        lines = [line for line in err if line.startswith("nucflow predict: ") and name in line]
        assert len(lines) == 1 and fragment in lines[0], (name, lines)
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    status = dict(zip(summary["image"].map(lambda p: Path(p).name), summary["status"]))
    assert status == {**{name: "error" for name in expected}, "missing.tif": "error", "good.tif": "ok"}
    assert all((tmp_path / "out" / f"good{suffix}").is_file() for suffix in ("_prob.tif", "_labels.tif", "_objects.csv"))
    assert not list((tmp_path / "out").glob("nan_*"))


def test_fail_fast_stops_at_first_bad_image(tmp_path, capsys):
    run_dir = make_run(tmp_path / "study")
    images = tmp_path / "images"
    images.mkdir()
    (images / "a_bad.tif").write_bytes(b"garbage")
    tifffile.imwrite(images / "b_good.tif", disks_image())
    code = main(["predict", "--model", str(run_dir), "--out", str(tmp_path / "out"), "--fail-fast", str(images)])
    assert code == 1 and "a_bad.tif: unreadable image" in capsys.readouterr().err
    assert not (tmp_path / "out" / "b_good_prob.tif").exists()
    assert list(pd.read_csv(tmp_path / "out" / "summary.csv")["status"]) == ["error"]


def test_plane_count_mismatch_and_plane_choice(tmp_path, capsys):
    run_dir = make_run(tmp_path / "study", modality="brightfield", in_channels=9, planes=range(9))
    tifffile.imwrite(tmp_path / "three.tif", np.ones((3,) + SHAPE, np.uint16), photometric="minisblack")
    code = main(["predict", "--model", str(run_dir), "--out", str(tmp_path / "out"), str(tmp_path / "three.tif")])
    err = capsys.readouterr().err
    assert code == 1 and "three.tif: has 3 plane(s), but model tiny was trained on planes" in err and "at least 9" in err
    # a model of planes 0, 4, 8 applied to stacks holding just those three planes
    other = make_run(tmp_path / "other", modality="brightfield", in_channels=3, planes=(0, 4, 8))
    stack = np.stack([disks_image(seed=s) for s in range(3)])
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    code = main(["predict", "--model", str(other), "--out", str(tmp_path / "out2"), "--planes", "0,1,2",
                 str(tmp_path / "stack.tif")])
    assert code == 0
    table = pd.read_csv(tmp_path / "out2" / "stack_objects.csv")
    assert [c for c in table.columns if c.startswith("mean_intensity")] == [
        "mean_intensity_plane0", "mean_intensity_plane1", "mean_intensity_plane2"]
    assert main(["predict", "--model", str(other), "--out", str(tmp_path / "o3"), "--planes", "0,1",
                 str(tmp_path / "stack.tif")]) == 2


def test_png_and_ome_tiff_inputs(tmp_path):
    from skimage.io import imsave

    image = (disks_image() // 5).astype(np.uint8)
    imsave(tmp_path / "grey.png", image, check_contrast=False)
    imsave(tmp_path / "rgb.png", np.stack([image] * 3, axis=-1), check_contrast=False)
    colour = np.stack([image, image // 2, image], axis=-1)
    imsave(tmp_path / "colour.png", colour, check_contrast=False)
    stack = np.stack([disks_image(seed=s) for s in range(3)])
    tifffile.imwrite(tmp_path / "stack.ome.tif", stack[:, None], ome=True, metadata={"axes": "ZCYX"})
    np.testing.assert_array_equal(read_field(tmp_path / "grey.png"), image)
    np.testing.assert_array_equal(read_field(tmp_path / "rgb.png"), image)
    np.testing.assert_array_equal(read_field(tmp_path / "stack.ome.tif"), stack)
    with pytest.raises(NucflowError, match="colour.png: colour image"):
        read_field(tmp_path / "colour.png")
    summary = predict_files(Threshold(), toy_spec(), [str(tmp_path / "grey.png")], tmp_path / "out", toy_run())
    assert list(summary["count"]) == [3] and (tmp_path / "out" / "grey_labels.tif").is_file()
    bright = toy_spec(modality="brightfield", in_channels=2, planes=(0, 2))
    summary = predict_files(Threshold(), bright, [str(tmp_path / "stack.ome.tif")], tmp_path / "out", toy_run())
    assert list(summary["count"]) == [3] and (tmp_path / "out" / "stack_prob.tif").is_file()


def test_folder_glob_and_duplicate_inputs(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        tifffile.imwrite(tmp_path / folder / "x.tif", disks_image())
    tifffile.imwrite(tmp_path / "a" / "y.TIFF", disks_image())
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    (tmp_path / "a" / ".hidden.tif").write_bytes(b"")
    (tmp_path / "a" / "out").mkdir()
    tifffile.imwrite(tmp_path / "a" / "out" / "x_prob.tif", np.zeros((4, 4), np.float32))
    paths, problems = expand_inputs([str(tmp_path / "a"), str(tmp_path / "a" / "x.tif"), str(tmp_path / "*" / "x.tif"),
                                     str(tmp_path / "*.png"), str(tmp_path / "empty")], tmp_path / "a" / "out")
    assert paths == [tmp_path / "a" / "x.tif", tmp_path / "a" / "y.TIFF", tmp_path / "b" / "x.tif",
                     tmp_path / "empty"]
    assert [item for item, _ in problems] == [str(tmp_path / "*.png")]
    summary = predict_files(Threshold(), toy_spec(), [str(tmp_path / "*" / "*.tif*")], tmp_path / "out", toy_run())
    assert list(summary["status"]) == ["ok", "error"]
    assert "would write the same outputs (x_*)" in summary["message"][1]


def test_inputs_that_lie_in_out_are_named_as_such(tmp_path):
    """Regression: `nucflow predict --out . .` said the folder held no images (they were left out as
    outputs because the folder is --out)."""
    tifffile.imwrite(tmp_path / "x.tif", disks_image())
    for item in (str(tmp_path), str(tmp_path / "*.tif")):
        paths, problems = expand_inputs([item], tmp_path)
        assert paths == [] and problems == [(item, f"{item}: its images lie in --out ({tmp_path.resolve()}), where "
                                                   "predict writes its outputs, so they are not read as inputs; pass "
                                                   "another --out")]


def test_mode_selection_errors(tmp_path, capsys):
    run_dir = make_run(tmp_path / "study")
    tifffile.imwrite(tmp_path / "a.tif", disks_image())
    assert main(["predict", "--model", str(run_dir), "--out", str(tmp_path / "o")]) == 2
    assert "nothing to predict" in capsys.readouterr().err
    assert main(["predict", "--model", str(run_dir), "--out", str(tmp_path / "o"), "--manifest", "m.csv",
                 "--splits", "s.json", "--eval-set", "toy:test", str(tmp_path / "a.tif")]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["predict", "--model", str(run_dir), "--out", str(tmp_path / "o"), "--manifest", "m.csv"]) == 2
    assert "needs --splits and --eval-set" in capsys.readouterr().err
    assert main(["predict", "--model", str(run_dir), "--out", str(tmp_path / "o"), "--method", "multiscale",
                 str(tmp_path / "a.tif")]) == 2
    assert "several scales" in capsys.readouterr().err


def test_run_without_training_tiles_needs_recorded_input(tmp_path, capsys):
    run_dir = make_run(tmp_path / "study", with_tiles=False)
    tifffile.imwrite(tmp_path / "a.tif", disks_image())
    args = ["predict", "--model", str(run_dir), "--out", str(tmp_path / "o"), str(tmp_path / "a.tif")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "training tiles" in err and "give --tile, --normalisation and --percentiles" in err
    assert main(args + ["--tile", "32", "--normalisation", "percentile", "--percentiles", "1,99.8"]) == 0


def test_tiles_found_relative_to_workflow_root(tmp_path, monkeypatch):
    """run.json records tile paths relative to the workflow root; predict finds them from elsewhere."""
    root = tmp_path / "workflow"
    root.mkdir()
    monkeypatch.chdir(root)
    run_dir = make_run(Path("results"))
    tifffile.imwrite(tmp_path / "a.tif", disks_image())
    monkeypatch.chdir(tmp_path)
    assert main(["predict", "--model", str(root / run_dir), "--out", "o", "a.tif"]) == 0
    assert json.loads((tmp_path / "o" / "predict.json").read_text())["spec"]["tile"] == 32


def test_network_only_sees_tiles(tmp_path):
    """Memory is bounded by the tile batch: the network never sees more than batch x tile x tile."""
    seen = []

    class Recording(Threshold):
        def forward(self, x):
            seen.append(tuple(x.shape))
            return super().forward(x)

    tifffile.imwrite(tmp_path / "big.tif", disks_image(shape=(300, 260)))
    summary = predict_files(Recording(), toy_spec(tile=64), [str(tmp_path / "big.tif")], tmp_path / "out",
                            FilesRun(settings=InferenceSettings(batch_size=3, tta=True), method="published"))
    assert list(summary["status"]) == ["ok"]
    assert {s[1:] for s in seen} == {(1, 64, 64)} and max(s[0] for s in seen) == 3
    assert sum(s[0] for s in seen) == 8 * 9 * 8  # 9 x 8 windows at 50% overlap, 8 D4 transforms


@pytest.mark.parametrize("method", ["watershed", "seeded"])
def test_other_methods(tmp_path, method):
    tifffile.imwrite(tmp_path / "a.tif", disks_image())
    summary = predict_files(Threshold(), toy_spec(), [str(tmp_path / "a.tif")], tmp_path / "out",
                            FilesRun(settings=InferenceSettings(), method=method))
    assert list(summary["count"]) == [3]


def test_study_mode_unchanged(tmp_path, toy_manifest):
    """The workflow's call: manifest images of one split -> <image_id>_prob.tif, ids.txt, predict.json."""
    run_dir = make_run(tmp_path / "study")
    ids = ["toy_HeLa_00", "toy_A549_01"]
    splits = tmp_path / "splits.json"
    splits.write_text(json.dumps({"toy": {"train": ["toy_HeLa_02"], "val": ["toy_A549_02"], "test": ids}}))
    code = main(["predict", "--model", str(run_dir), "--manifest", str(toy_manifest), "--splits", str(splits),
                 "--eval-set", "toy:test:exA549", "--out", str(tmp_path / "out")])
    assert code == 0
    assert (tmp_path / "out" / "ids.txt").read_text() == "toy_HeLa_00\n"
    assert tifffile.imread(tmp_path / "out" / "toy_HeLa_00_prob.tif").shape == (48, 48)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ids.txt", "predict.json", "toy_HeLa_00_prob.tif"]
    recorded = json.loads((tmp_path / "out" / "predict.json").read_text())
    assert (recorded["tile"], recorded["normalisation"], recorded["images"]) == (32, "percentile", 1)


def test_window_defaults_to_the_training_tile_and_one_whole_window_is_one_forward_pass(tmp_path):
    """--window equal to the training tile changes nothing; a window covering the image is a single
    forward pass of the network over the (reflect-padded) normalised image."""
    from nucflow.data.normalise import percentile_normalise

    run_dir = make_run(tmp_path / "study", tile=32)
    tifffile.imwrite(tmp_path / "a.tif", disks_image())
    for name, extra in (("default", []), ("same", ["--window", "32"]), ("whole", ["--window", "96"])):
        assert main(["predict", "--model", str(run_dir), "--out", str(tmp_path / name), "--threads", "1",
                     "--precision", "32-true", *extra, str(tmp_path / "a.tif")]) == 0
    prob = {name: tifffile.imread(tmp_path / name / "a_prob.tif") for name in ("default", "same", "whole")}
    np.testing.assert_array_equal(prob["same"], prob["default"])
    assert np.abs(prob["whole"] - prob["default"]).max() > 0  # the window was used
    image = percentile_normalise(disks_image()[None].astype(np.float32), 1.0, 99.8)
    padded = np.pad(image, ((0, 0), (0, 96 - SHAPE[0]), (0, 0)), mode="reflect")
    network = build("unet", in_channels=1, out_channels=1, width=0.0625)
    network.load_state_dict(torch.load(run_dir / "model.pt"))
    with torch.no_grad():
        expected = torch.sigmoid(network.eval()(torch.from_numpy(padded)[None]))[0, 0, :SHAPE[0]].numpy()
    np.testing.assert_allclose(prob["whole"], expected, atol=1e-5, rtol=0)


def test_window_and_threads_errors(tmp_path, capsys):
    run_dir = make_run(tmp_path / "study")
    tifffile.imwrite(tmp_path / "a.tif", disks_image())
    for option, value, message in (("--window", "8", "--window 8: must be >= 16 px"),
                                   ("--threads", "0", "--threads 0: must be >= 1")):
        assert main(["predict", "--model", str(run_dir), "--out", str(tmp_path / "o"), option, value,
                     str(tmp_path / "a.tif")]) == 2
        assert message in capsys.readouterr().err
    assert main(["export", "--model", str(run_dir), "--out", str(tmp_path / "export"), "--no-bioimageio"]) == 0
    capsys.readouterr()
    assert main(["predict", "--model", str(tmp_path / "export"), "--out", str(tmp_path / "e"), "--window", "64",
                 str(tmp_path / "a.tif")]) == 0  # an export is rebuilt from its weights: any window
    assert main(["predict", "--model", str(tmp_path / "export"), "--out", str(tmp_path / "o"), "--window", "64",
                 "--trust-torchscript", str(tmp_path / "a.tif")]) == 2
    assert "is a TorchScript export, traced at its 32 px tile" in capsys.readouterr().err
    # networks that pool over whole feature maps run at their training tile only
    deeplab = make_run(tmp_path / "deeplab", model="deeplabv3plus")
    assert main(["predict", "--model", str(deeplab), "--out", str(tmp_path / "d"), "--window", "64",
                 str(tmp_path / "a.tif")]) == 2
    assert "--window 64: deeplabv3plus pools over whole feature maps" in capsys.readouterr().err
    assert main(["predict", "--model", str(deeplab), "--out", str(tmp_path / "d"), "--window", "32",
                 str(tmp_path / "a.tif")]) == 0


def test_precision_is_chosen_by_the_device_and_recorded(tmp_path, monkeypatch):
    """auto runs bf16 where the CPU has it (maps close to fp32, still float32) and fp32 elsewhere;
    predict.json records what ran."""
    from nucflow import precision

    run_dir = make_run(tmp_path / "study", tile=32)
    tifffile.imwrite(tmp_path / "a.tif", disks_image())
    maps = {}
    for name, flags, extra in (("fp32", ("avx512_bf16",), ["--precision", "32-true"]),
                               ("auto_bf16", ("avx512_bf16",), []), ("auto_plain", (), [])):
        monkeypatch.setattr(precision, "cpu_bf16_flags", lambda cpuinfo="/proc/cpuinfo", f=flags: f)
        assert main(["predict", "--model", str(run_dir), "--out", str(tmp_path / name), "--threads", "1", *extra,
                     str(tmp_path / "a.tif")]) == 0
        maps[name] = tifffile.imread(tmp_path / name / "a_prob.tif")
        record = json.loads((tmp_path / name / "predict.json").read_text())
        assert (record["precision"], record["channels_last"]) == (
            ("bf16-mixed", True) if name == "auto_bf16" else ("32-true", False)), name
    assert maps["auto_bf16"].dtype == np.float32
    np.testing.assert_array_equal(maps["auto_plain"], maps["fp32"])
    difference = np.abs(maps["auto_bf16"] - maps["fp32"])
    assert 0 < difference.max() < 0.05


def test_images_are_rescaled_to_the_training_pixel_size(tmp_path, capsys):
    """Regression: an image at another magnification was segmented at the wrong scale without a word.
    The training pixel size comes from the tile set; the image's from its OME metadata or --pixel-size-um."""
    run_dir = make_run(tmp_path / "study", tile=32)
    tiles = tmp_path / "study" / "tiles" / "train.npz"
    meta = {"size": 32, "normalisation": "percentile", "percentiles": [1.0, 99.8], "pixel_size_um": 0.5}
    np.savez(tiles, meta=np.asarray(json.dumps(meta)))
    small = disks_image(shape=(40, 48), centres=((10, 10), (30, 36)), radius=4)
    tifffile.imwrite(tmp_path / "coarse.ome.tif", small, ome=True, metadata={"axes": "YX", "PhysicalSizeX": 1.0})
    tifffile.imwrite(tmp_path / "plain.tif", small)
    tifffile.imwrite(tmp_path / "near.ome.tif", small, ome=True, metadata={"axes": "YX", "PhysicalSizeX": 0.52})
    out = tmp_path / "out"
    assert main(["predict", "--model", str(run_dir), "--out", str(out), str(tmp_path / "coarse.ome.tif"),
                 str(tmp_path / "plain.tif"), str(tmp_path / "near.ome.tif")]) == 0
    err = capsys.readouterr().err
    assert ("note: model tiny was trained at 0.5 µm/px; images whose files state no pixel size are not rescaled "
            "(give --pixel-size-um)") in err and "coarse.ome.tif: " in err and "rescaled x2" in err
    summary = pd.read_csv(out / "summary.csv")
    assert summary["scale"].tolist() == [2.0, 1.0, 1.0] and summary["pixel_size_um"].tolist()[0] == 1.0
    assert np.isnan(summary["pixel_size_um"][1]) and summary["pixel_size_um"][2] == 0.52  # 4 %: not rescaled
    assert tifffile.imread(out / "coarse_labels.tif").shape == (40, 48)
    assert json.loads((out / "predict.json").read_text())["spec"]["pixel_size_um"] == 0.5
    assert main(["predict", "--model", str(run_dir), "--out", str(out), "--pixel-size-um", "0.25",
                 str(tmp_path / "plain.tif")]) == 0
    assert pd.read_csv(out / "summary.csv")["scale"].tolist() == [0.5]  # the option, where the file says nothing


def test_pixel_size_option_overrides_the_file_and_absurd_sizes_are_refused(tmp_path, capsys):
    """Regression: --pixel-size-um could not override a wrong value in the file; a file stating 0.0001
    or 0 µm got a misleading message; a 64-px image stating 20 µm/px was upscaled x40 without a limit."""
    run_dir = make_run(tmp_path / "study", tile=32)
    meta = {"size": 32, "normalisation": "percentile", "percentiles": [1.0, 99.8], "pixel_size_um": 0.5}
    np.savez(tmp_path / "study" / "tiles" / "train.npz", meta=np.asarray(json.dumps(meta)))
    small = disks_image(shape=(64, 64), centres=((20, 20), (44, 40)), radius=5)
    for name, size in (("coarse", 1.0), ("tiny", 0.0001), ("huge", 20.0)):
        tifffile.imwrite(tmp_path / f"{name}.ome.tif", small, ome=True, metadata={"axes": "YX", "PhysicalSizeX": size})
    out = tmp_path / "out"
    assert main(["predict", "--model", str(run_dir), "--out", str(out), "--pixel-size-um", "0.5",
                 str(tmp_path / "coarse.ome.tif")]) == 0
    assert f"{tmp_path / 'coarse.ome.tif'}: note: the file states 1 µm/px; using --pixel-size-um 0.5" in \
        capsys.readouterr().err
    assert pd.read_csv(out / "summary.csv")["scale"].tolist() == [1.0]
    assert main(["predict", "--model", str(run_dir), "--out", str(tmp_path / "o2"), str(tmp_path / "tiny.ome.tif"),
                 str(tmp_path / "huge.ome.tif")]) == 1
    messages = pd.read_csv(tmp_path / "o2" / "summary.csv")["message"].tolist()
    assert messages == [
        f"{tmp_path / 'tiny.ome.tif'}: the file states a pixel size of 0.0001 µm, outside 0.01-50 µm (wrong "
        "metadata, or nm?); give the right one with --pixel-size-um",
        f"{tmp_path / 'huge.ome.tif'}: pixel size 20 µm against the model's 0.5 µm would rescale the image x40, "
        "beyond 8x either way; check the pixel size (--pixel-size-um)"]
    assert "Traceback" not in capsys.readouterr().err


def test_unknown_training_pixel_size_is_a_note(tmp_path):
    tifffile.imwrite(tmp_path / "a.ome.tif", disks_image(), ome=True, metadata={"axes": "YX", "PhysicalSizeX": 2.0})
    log = tmp_path / "log.txt"
    with open(log, "w") as handle:
        summary = predict_files(Threshold(), toy_spec(), [str(tmp_path / "a.ome.tif")], tmp_path / "out",
                                toy_run(log=handle))
    assert summary["scale"].tolist() == [1.0]
    assert log.read_text().splitlines()[0] == ("nucflow predict: note: the training pixel size of model toy is "
                                               "unknown; images are not rescaled (export the model with "
                                               "--pixel-size-um to record it)")


def test_planes_last_stack_is_predicted_planes_first(tmp_path):
    """Regression: a (H, W, 9) stack went through as H planes of W x 9 px, exit 0."""
    planes = np.stack([disks_image(seed=s) for s in range(9)])
    tifffile.imwrite(tmp_path / "last.tif", np.moveaxis(planes, 0, -1), photometric="minisblack")
    bright = toy_spec(modality="brightfield", in_channels=9, planes=tuple(range(9)))
    summary = predict_files(Threshold(), bright, [str(tmp_path / "last.tif")], tmp_path / "out", toy_run())
    assert summary["status"].tolist() == ["ok"] and summary["count"].tolist() == [3]
    assert tifffile.imread(tmp_path / "out" / "last_labels.tif").shape == SHAPE


def test_study_mode_reads_planes_last_stacks_and_refuses_path_ids(tmp_path, toy_manifest, capsys):
    run_dir = make_run(tmp_path / "study", modality="brightfield", in_channels=3, planes=(0, 1, 2))
    path = toy_manifest.parent / "img" / "toy_HeLa_00_brightfield.tif"
    tifffile.imwrite(path, np.moveaxis(tifffile.imread(path), 0, -1), photometric="minisblack")  # (48, 48, 3)
    splits = tmp_path / "splits.json"
    splits.write_text(json.dumps({"toy": {"train": [], "val": [], "test": ["toy_HeLa_00"]}}))
    args = ["predict", "--model", str(run_dir), "--manifest", str(toy_manifest), "--splits", str(splits),
            "--eval-set", "toy:test", "--out", str(tmp_path / "out" / "maps")]
    assert main(args) == 0 and tifffile.imread(tmp_path / "out" / "maps" / "toy_HeLa_00_prob.tif").shape == (48, 48)
    frame = pd.read_csv(toy_manifest)
    frame.loc[0, "image_id"] = "../escape"
    frame.to_csv(toy_manifest, index=False)
    splits.write_text(json.dumps({"toy": {"train": [], "val": [], "test": ["../escape"]}}))
    assert main(args) == 2 and "'../escape' contains a path separator" in capsys.readouterr().err
    assert not (tmp_path / "out" / "escape_prob.tif").exists()


def test_a_full_disk_fails_one_image_in_one_line_and_the_summary_is_still_written(tmp_path):
    """Regression: an OSError while writing (a full disk; here `ulimit -f`) aborted the whole batch with
    a traceback and no summary.csv / predict.json."""
    import resource
    import subprocess
    import sys

    run_dir = make_run(tmp_path / "study")
    tifffile.imwrite(tmp_path / "big.tif", disks_image(shape=(512, 512), centres=((100, 100), (300, 400))))
    tifffile.imwrite(tmp_path / "small.tif", disks_image())
    out = tmp_path / "out"
    limit = 200_000  # bytes per file: the big image's probability map (1 MB) does not fit

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "NUCFLOW_WORKER": "off"}
    result = subprocess.run([str(Path(sys.executable).with_name("nucflow")), "predict", "--model", str(run_dir),
                             "--out", str(out), str(tmp_path / "big.tif"), str(tmp_path / "small.tif")],
                            capture_output=True, text=True, env=env, preexec_fn=small_files, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert summary["status"].tolist() == ["error", "ok"]
    assert summary["message"][0] == f"{tmp_path / 'big.tif'}: File too large"
    assert (out / "predict.json").is_file() and (out / "small_labels.tif").is_file()
    assert not list(out.glob(".*.part*")) and not (out / "big_prob.tif").exists()  # nothing half-written


def test_a_users_own_outputs_beside_the_image_are_not_replaced(tmp_path, capsys):
    """Regression: with --out the image folder, a user's own x_labels.tif (no nucflow provenance) was
    replaced by the prediction."""
    run_dir = make_run(tmp_path / "study")
    images = tmp_path / "images"
    images.mkdir()
    tifffile.imwrite(images / "x.tif", disks_image())
    tifffile.imwrite(images / "x_labels.tif", np.ones((8, 8), np.uint16))  # hand-made truth
    mine = (images / "x_labels.tif").read_bytes()
    assert main(["predict", "--model", str(run_dir), "--out", str(images), str(images / "x.tif")]) == 1
    assert (images / "x_labels.tif").read_bytes() == mine
    assert (f"{images / 'x_labels.tif'}: exists and was not written by nucflow predict; it is not replaced (give "
            "another --out, or --overwrite)") in capsys.readouterr().err
    assert main(["predict", "--model", str(run_dir), "--out", str(images), "--overwrite", str(images / "x.tif")]) == 0
    assert (images / "x_labels.tif").read_bytes() != mine


def test_a_folder_is_claimed_for_the_whole_run(tmp_path, capsys, monkeypatch):
    """Regression: the one-model-per-folder guard read predict.json, written at the end, so a run
    killed midway followed by another model (or two runs at once) mixed two models in one folder."""
    import subprocess

    from nucflow.inference import files

    first, second = make_run(tmp_path / "a"), make_run(tmp_path / "b")
    torch.save({k: v + 1 for k, v in torch.load(second / "model.pt").items()}, second / "model.pt")  # other weights
    tifffile.imwrite(tmp_path / "x.tif", disks_image())
    out = tmp_path / "out"

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(files, "predict_files", killed)
        assert main(["predict", "--model", str(first), "--out", str(out), str(tmp_path / "x.tif")]) == 130
    assert json.loads((out / "predict.json").read_text())["model"] == str(first)  # written at the start
    assert not (out / ".nucflow-predict.lock").exists()
    capsys.readouterr()
    assert main(["predict", "--model", str(second), "--out", str(out), str(tmp_path / "x.tif")]) == 2
    assert "would mix two models in one folder" in capsys.readouterr().err
    # a live run holds the folder; a dead one's lock is taken over
    holder = subprocess.Popen(["sleep", "30"])
    try:
        (out / ".nucflow-predict.lock").write_text(f"{holder.pid}\n")
        assert main(["predict", "--model", str(first), "--out", str(out), str(tmp_path / "x.tif")]) == 2
        assert (f"another nucflow predict (process {holder.pid}) is writing into {out}"
                in capsys.readouterr().err)
    finally:
        holder.kill()
        holder.wait()
    assert main(["predict", "--model", str(first), "--out", str(out), str(tmp_path / "x.tif")]) == 0
    assert not (out / ".nucflow-predict.lock").exists()


def test_a_stack_stored_as_planar_rgb_is_planes_for_import_and_predict_alike(tmp_path):
    """Regression: a 3-plane stack that tifffile stored as planar RGB imported as a 3-plane stack but
    predict refused it as a colour image. Contiguous RGB stays a colour image for both."""
    from nucflow.data.importers.common import as_stack
    from nucflow.io import read_image

    planes = np.stack([disks_image(seed=s) for s in range(3)]).astype(np.uint16)
    tifffile.imwrite(tmp_path / "planar.tif", planes, photometric="rgb", planarconfig="separate")
    imported = as_stack(read_image(tmp_path / "planar.tif"), "planar.tif")
    np.testing.assert_array_equal(read_field(tmp_path / "planar.tif", 3), planes)
    np.testing.assert_array_equal(imported, planes.astype(imported.dtype))
    tifffile.imwrite(tmp_path / "colour.tif", np.moveaxis(planes, 0, -1), photometric="rgb")
    with pytest.raises(NucflowError, match="colour image"):
        read_field(tmp_path / "colour.tif", 3)
    with pytest.raises(NucflowError, match="looks like RGB or planes-last"):
        as_stack(read_image(tmp_path / "colour.tif"), "colour.tif")
