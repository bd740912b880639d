"""``nucflow export``: TorchScript + sidecar, equal to the checkpoint, usable by predict on its own."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import tifffile
import torch
from test_predict_files import disks_image, make_run

from nucflow import __version__
from nucflow.cli import main
from nucflow.errors import NucflowError
from nucflow.inference.model_spec import ModelSpec, load_model
from nucflow.inference.predict import InferenceSettings, predict_field
from nucflow.inference.stain_model import make_labeller


@pytest.mark.parametrize("model", ["unet", "unetpp", "deeplabv3plus", "tiramisu", "ppunet"])
def test_export_gives_the_checkpoint_probabilities(tmp_path, model):
    run_dir = make_run(tmp_path / "study", model=model, modality="brightfield", in_channels=2, planes=(0, 2),
                       tile=64)
    assert main(["export", "--model", str(run_dir), "--out", str(tmp_path / "export"), "--no-bioimageio"]) == 0
    stack = np.stack([disks_image(seed=s) for s in range(3)])
    settings = InferenceSettings(batch_size=4)
    probs = []
    for source in (run_dir, tmp_path / "export"):
        network, spec = load_model(source)
        probs.append(predict_field(network, spec, stack, settings, tile=spec.tile,
                                   normalisation=spec.normalisation, percentiles=spec.percentiles))
    assert probs[0].shape == (1, 80, 96)
    np.testing.assert_allclose(probs[1], probs[0], atol=1e-6, rtol=0)


def test_sidecar_contents(tmp_path):
    run_dir = make_run(tmp_path / "study", modality="brightfield", in_channels=3, planes=(0, 4, 8))
    out = tmp_path / "export"
    assert main(["export", "--model", str(run_dir), "--out", str(out), "--pixel-size-um", "0.59",
                 "--no-bioimageio"]) == 0
    sidecar = json.loads((out / "nucflow_model.json").read_text())
    expected = {"format": "nucflow-model", "format_version": 2, "run_id": "tiny", "model": "unet", "width": 0.0625,
                "modality": "brightfield", "in_channels": 3, "out_channels": 1, "planes": [0, 4, 8], "tile": 32,
                "normalisation": "percentile", "percentiles": [1.0, 99.8], "threshold": 0.5, "method": "published",
                "params": {"threshold": 0.5, "min_object_size": 25, "min_hole_size": 25, "connectivity": 2},
                "pixel_size_um": 0.59, "nucflow_version": __version__, "weights": "model.pt",
                "weights_sha256": hashlib.sha256((out / "model.pt").read_bytes()).hexdigest(),
                "torchscript": "model.ts",
                "torchscript_sha256": hashlib.sha256((out / "model.ts").read_bytes()).hexdigest()}
    assert {key: sidecar[key] for key in expected} == expected
    assert sidecar["run"] == json.loads((run_dir / "run.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == ["model.pt", "model.ts", "nucflow_model.json"]
    assert ModelSpec.from_dict(sidecar, "sidecar").planes == (0, 4, 8)


def test_predict_with_export_alone(tmp_path, capsys):
    """The export folder works without run.json, model.pt or the training tiles, and matches the run."""
    run_dir = make_run(tmp_path / "study")
    assert main(["export", "--model", str(run_dir), "--out", str(tmp_path / "export"), "--no-bioimageio"]) == 0
    tifffile.imwrite(tmp_path / "a.tif", disks_image())
    assert main(["predict", "--model", str(run_dir), "--out", str(tmp_path / "from_run"), str(tmp_path / "a.tif")]) == 0
    shutil.rmtree(tmp_path / "study")
    assert main(["predict", "--model", str(tmp_path / "export"), "--out", str(tmp_path / "from_export"),
                 str(tmp_path / "a.tif")]) == 0
    np.testing.assert_allclose(tifffile.imread(tmp_path / "from_export" / "a_prob.tif"),
                               tifffile.imread(tmp_path / "from_run" / "a_prob.tif"), atol=1e-6, rtol=0)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "from_export" / "a_labels.tif"),
                                  tifffile.imread(tmp_path / "from_run" / "a_labels.tif"))
    capsys.readouterr()
    assert main(["predict", "--model", str(tmp_path / "export"), "--out", str(tmp_path / "o"), "--tile", "64",
                 str(tmp_path / "a.tif")]) == 2
    assert "--tile: an export records its input" in capsys.readouterr().err


def test_export_without_training_tiles(tmp_path, capsys):
    run_dir = make_run(tmp_path / "study", with_tiles=False)
    assert main(["export", "--model", str(run_dir), "--out", str(tmp_path / "e1")]) == 2
    assert "give --tile, --normalisation and --percentiles" in capsys.readouterr().err
    assert main(["export", "--model", str(run_dir), "--out", str(tmp_path / "e2"), "--tile", "32",
                 "--normalisation", "foreground", "--percentiles", "2,99"]) == 0
    sidecar = json.loads((tmp_path / "e2" / "nucflow_model.json").read_text())
    assert (sidecar["tile"], sidecar["normalisation"], sidecar["percentiles"]) == (32, "foreground", [2.0, 99.0])
    assert not (tmp_path / "e2" / "bioimageio.yaml").exists()  # two-pass normalisation has no bioimage.io form
    assert "not written: 'foreground' normalisation" in capsys.readouterr().out


def test_a_run_folder_with_its_recorded_input_needs_no_training_tiles(tmp_path, capsys):
    """Training records the input spec in train_done.json, so a run folder copied without its
    tiles still exports and predicts (the values given on the command line still win)."""
    run_dir = make_run(tmp_path / "study", with_tiles=False)
    spec = {"tile": 32, "normalisation": "percentile", "percentiles": [2.0, 99.0], "pixel_size_um": 0.65}
    (run_dir / "train_done.json").write_text(json.dumps({"run_id": "tiny", "input": spec}))
    assert main(["export", "--model", str(run_dir), "--out", str(tmp_path / "e"), "--no-bioimageio"]) == 0
    sidecar = json.loads((tmp_path / "e" / "nucflow_model.json").read_text())
    assert (sidecar["tile"], sidecar["normalisation"], sidecar["percentiles"], sidecar["pixel_size_um"]) == (
        32, "percentile", [2.0, 99.0], 0.65)
    assert load_model(run_dir, tile=48)[1].tile == 48
    tifffile.imwrite(tmp_path / "a.tif", disks_image())
    assert main(["predict", "--model", str(run_dir), "--out", str(tmp_path / "o"), str(tmp_path / "a.tif")]) == 0


def test_three_class_export(tmp_path):
    run_dir = make_run(tmp_path / "study", loss="three_class")
    assert main(["export", "--model", str(run_dir), "--out", str(tmp_path / "export"), "--no-bioimageio"]) == 0
    network, spec = load_model(tmp_path / "export")
    assert (spec.out_channels, spec.method) == (3, "three_class")
    assert network(torch.zeros(2, 1, 32, 32)).shape == (2, 3, 32, 32)


@pytest.mark.parametrize("loss", ["bce", "three_class"])
def test_bioimageio_description_validates(tmp_path, loss):
    pytest.importorskip("bioimageio.spec")
    from nucflow.inference.bioimageio import validate_bioimageio

    run_dir = make_run(tmp_path / "study", modality="brightfield", in_channels=2, planes=(1, 3), loss=loss)
    out = tmp_path / "export"
    assert main(["export", "--model", str(run_dir), "--out", str(out)]) == 0
    passed, status = validate_bioimageio(out / "bioimageio.yaml")
    assert passed, status
    test_input, test_output = np.load(out / "test_input.npy"), np.load(out / "test_output.npy")
    assert test_input.shape == (1, 2, 32, 32) and test_output.shape == (1, 3 if loss == "three_class" else 1, 32, 32)


def test_corrupt_training_tiles_are_one_line_in_predict(tmp_path, capsys):
    """Regression: a damaged tile set (read for its metadata) gave a long zipfile traceback."""
    run_dir = make_run(tmp_path / "study")
    tiles = tmp_path / "study" / "tiles" / "train.npz"
    tiles.write_bytes(tiles.read_bytes()[:40])
    tifffile.imwrite(tmp_path / "a.tif", disks_image())
    assert main(["predict", "--model", str(run_dir), "--out", str(tmp_path / "o"), str(tmp_path / "a.tif")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.strip().startswith(f"nucflow predict: error: {tiles}: cannot read the training tile metadata, the "
                                  "file is damaged or not a nucflow tile set (")


def test_training_pixel_size_comes_from_the_tile_set(tmp_path):
    run_dir = make_run(tmp_path / "study")
    meta = {"size": 32, "normalisation": "percentile", "percentiles": [1.0, 99.8], "pixel_size_um": 0.59}
    np.savez(tmp_path / "study" / "tiles" / "train.npz", meta=np.asarray(json.dumps(meta)))
    assert load_model(run_dir)[1].pixel_size_um == 0.59
    assert main(["export", "--model", str(run_dir), "--out", str(tmp_path / "e"), "--no-bioimageio"]) == 0
    assert json.loads((tmp_path / "e" / "nucflow_model.json").read_text())["pixel_size_um"] == 0.59
    assert load_model(run_dir, tile=32, normalisation="percentile", percentiles=(1.0, 99.8))[1].pixel_size_um == 0.59


class _Overwriter(torch.nn.Module):
    """A 'model' whose TorchScript overwrites a file when it runs (aten::from_file, shared)."""

    def __init__(self, target: str):
        super().__init__()
        self.target = target

    def forward(self, x):
        victim = torch.from_file(self.target, shared=True, size=4, dtype=torch.uint8)
        victim.fill_(88)
        return x[:, :1]


def test_an_export_never_runs_torchscript_unless_trusted(tmp_path, capsys):
    """Regression: predict loaded an export's model.ts with torch.jit.load, so a crafted export could
    overwrite files (and its sidecar could point the weights anywhere)."""
    victim = tmp_path / "victim.txt"
    victim.write_text("safe")
    run_dir = make_run(tmp_path / "study")
    export = tmp_path / "export"
    assert main(["export", "--model", str(run_dir), "--out", str(export), "--no-bioimageio"]) == 0
    torch.jit.save(torch.jit.script(_Overwriter(str(victim))), str(export / "model.ts"))
    tifffile.imwrite(tmp_path / "a.tif", disks_image())
    # the export as written today: nucflow rebuilds the network from model.pt; model.ts is not run
    assert main(["predict", "--model", str(export), "--out", str(tmp_path / "o1"), str(tmp_path / "a.tif")]) == 0
    assert victim.read_text() == "safe"
    # an export that holds only TorchScript (the format of earlier versions) is refused in one line
    sidecar = json.loads((export / "nucflow_model.json").read_text())
    for key in ("torchscript", "torchscript_sha256"):
        sidecar.pop(key)
    (export / "nucflow_model.json").write_text(json.dumps({**sidecar, "weights": "model.ts"}))
    capsys.readouterr()
    assert main(["predict", "--model", str(export), "--out", str(tmp_path / "o2"), str(tmp_path / "a.tif")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"nucflow predict: error: {export}: this export holds its network only as TorchScript, which "
                       "can run code when loaded; export the run again with this nucflow, or pass "
                       "--trust-torchscript if the export comes from a source you trust")
    assert victim.read_text() == "safe"
    with pytest.raises(NucflowError, match="holds its network only as TorchScript"):
        make_labeller(f"model:{export}")  # --labels-from model:EXPORT of import and label
    # weights named outside the folder are refused before anything is read
    for outside in (str(run_dir / "model.pt"), "../study/runs/tiny/model.pt"):
        (export / "nucflow_model.json").write_text(json.dumps({**sidecar, "weights": outside}))
        with pytest.raises(NucflowError, match="must name a file inside the model folder"):
            load_model(export)
    # trusted on purpose, the TorchScript itself is what runs
    (export / "nucflow_model.json").write_text(json.dumps({**sidecar, "weights": "model.ts"}))
    network, _ = load_model(export, trust_torchscript=True)
    assert isinstance(network, torch.jit.ScriptModule) and hasattr(network, "target")
