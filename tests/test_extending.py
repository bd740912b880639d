"""docs/extending.md, checked: a sixth model and a new post-processing method are added by one
registry entry each, and the config check, the plan, the workflow's targets and rule options, the
trainer, the figures and post-processing all take them up with no other edit."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi
from torch import nn

from nucflow.config import load_config, validate_config
from nucflow.errors import NucflowError
from nucflow.figures.style import model_colour, model_name, ordered_models
from nucflow.inference.window import check_window
from nucflow.models import registry as models
from nucflow.models.registry import ModelEntry, build
from nucflow.postprocess import registry as methods
from nucflow.postprocess.registry import MethodEntry, postprocess
from nucflow.study.plan import evaluation_methods, plan_runs, run_config
from nucflow.study.targets import StudyTargets
from nucflow.training.config import RunConfig
from nucflow.training.train import train

ROOT = Path(__file__).resolve().parents[1]


class ToyNet(nn.Module):
    """Two 3x3 convolutions: (N, C, H, W) -> (N, out_channels, H, W) logits, any H, W."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: float = 1.0, frem=None,
                 hidden: int = 4):
        super().__init__()
        channels = max(1, round(hidden * width * 4))
        self.body = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(channels, out_channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@dataclass(frozen=True)
class BlobParams:
    threshold: float = 0.5
    min_size: int = 3


def blobs(prob: np.ndarray, params: BlobParams) -> np.ndarray:
    """Connected components of ``prob > threshold`` of at least ``min_size`` pixels, ids 1..N."""
    labels, _ = ndi.label(prob > params.threshold)
    sizes = np.bincount(labels.ravel())
    keep = sizes >= params.min_size
    keep[0] = False
    kept = np.where(keep[labels], labels, 0)
    _, relabelled = np.unique(kept, return_inverse=True)
    return relabelled.reshape(prob.shape).astype(np.uint32)


TOY = ModelEntry("toynet", f"{__name__}:ToyNet", "ToyNet", "#123456", published_batch_size=3, demo_batch_size=2,
                 fixed_window=True)


@pytest.fixture
def registered(monkeypatch):
    """The two registry entries, and nothing else."""
    monkeypatch.setitem(models.REGISTRY, TOY.name, TOY)
    monkeypatch.setitem(methods.POSTPROCESSORS, "blobs", MethodEntry(blobs, BlobParams))


def smoke_with_toys() -> dict:
    config = load_config(ROOT / "config" / "smoke.yaml")
    config = copy.deepcopy(config)
    config["models"] = {"toynet": {}}
    config["arms"]["model_comparison"]["models"] = ["toynet"]
    config["arms"]["extensions"]["methods"] = ["published", "blobs"]
    config["postprocess"] = {"method": "blobs", "params": {"min_size": 5}}
    return validate_config(config, source="smoke+toys")


def test_unregistered_names_are_refused_in_one_line_naming_the_registry():
    config = copy.deepcopy(load_config(ROOT / "config" / "smoke.yaml"))
    config["arms"]["model_comparison"]["models"] = ["toynet"]
    with pytest.raises(NucflowError, match=r"arms/model_comparison/models/0: 'toynet' is not a registered model "
                                           r"\(registered: unet, unetpp, deeplabv3plus, tiramisu, ppunet\)"):
        validate_config(config, source="smoke")
    config = copy.deepcopy(load_config(ROOT / "config" / "smoke.yaml"))
    config["arms"]["extensions"]["methods"] = ["blobs"]
    with pytest.raises(NucflowError, match=r"'blobs' is not a registered method"):
        validate_config(config, source="smoke")


def test_a_toy_model_and_method_go_through_the_smoke_plan(registered, tmp_path):
    config = smoke_with_toys()
    runs = [r for r in plan_runs(config) if r.arm == "model_comparison"]
    assert [r.run_id for r in runs] == ["model_comparison-toynet-fl-lncap-s0"]
    (run,) = runs
    assert run.batch_size == TOY.published_batch_size  # no batch_size in its models entry: the registry's
    assert RunConfig.from_dict(run_config(config, run)).model == "toynet"

    study = StudyTargets(config)
    assert "results/tables/model_comparison/per_image.csv" in study.all_targets()
    baseline = next(r for r in study.runs.values() if r.arm == "extensions" and r.variant == "baseline")
    assert baseline.methods == ("published", "blobs")
    assert "blobs" in evaluation_methods(list(study.runs.values()), baseline.source_id)
    assert '"min_size": 5' in study.postprocess_params("blobs")

    # the planned run trains (a few steps on tiny tiles) and its map goes through the new method
    from test_training import simulated_tiles, write_tile_set

    tiles = write_tile_set(tmp_path / "train.npz", 4, 1), write_tile_set(tmp_path / "val.npz", 2, 2)
    planned = RunConfig.from_dict({**run_config(config, run), "train_tiles": [tiles[0]], "val_tiles": [tiles[1]],
                                   "out_dir": str(tmp_path / "run"), "batch_size": 2, "max_epochs": 1,
                                   "precision": "32-true"})
    result = train(planned, echo=False)
    assert result.epochs_run == 1 and (tmp_path / "run" / "model.pt").is_file()
    net = build("toynet", width=planned.width)
    net.load_state_dict(torch.load(tmp_path / "run" / "model.pt", weights_only=True))
    images, _ = simulated_tiles(1, 3)
    with torch.no_grad():
        prob = torch.sigmoid(net(torch.from_numpy(images))).numpy()[0, 0]
    labels = postprocess("blobs", prob.astype(np.float64), threshold=float(np.median(prob)), min_size=1)
    assert labels.dtype == np.uint32 and labels.max() >= 1
    assert sorted(np.unique(labels)) == list(range(labels.max() + 1))


def test_the_registry_entry_carries_the_figures_and_window_rule(registered):
    assert model_name("toynet") == "ToyNet" and model_colour("toynet") == "#123456"
    assert ordered_models(["toynet", "frem", "unet"]) == ["unet", "toynet", "frem"]
    check_window("toynet", 64, 64)
    with pytest.raises(NucflowError, match="--window 128: toynet pools over whole feature maps"):
        check_window("toynet", 128, 64)


def test_the_toy_method_labels_blobs_exactly():
    prob = np.zeros((6, 6))
    prob[0:2, 0:2] = 0.9   # 4 px: kept
    prob[4, 4] = 0.9       # 1 px: below min_size
    prob[3:6, 0] = 0.8     # 3 px: kept
    labels = blobs(prob, BlobParams(min_size=3))
    assert labels.tolist() == [[1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0],
                               [2, 0, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0]]
