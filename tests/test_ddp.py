"""Training on several devices: DDP on two CPU processes (gloo), as on two GPUs, through the CLI.

Lightning's DDP launcher reruns the command line once per extra device, so these runs go through
``nucflow train`` in a subprocess of their own, as a user or a cluster job runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from test_training import run_config, write_tile_set

from nucflow import worker
from nucflow.errors import NucflowError
from nucflow.training.train import train

NUCFLOW = Path(sys.executable).with_name("nucflow")


def nucflow_train(run_json: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, NUCFLOW_WORKER="off", OMP_NUM_THREADS="1")
    env.pop("LOCAL_RANK", None)
    return subprocess.run([str(NUCFLOW), "train", "--run", str(run_json), "--threads", "1", *args],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """One run on two CPU devices (DDP) and the same run on one; (root, {devices: CompletedProcess})."""
    root = tmp_path_factory.mktemp("ddp")
    tiles = write_tile_set(root / "train.npz", 8, 1), write_tile_set(root / "val.npz", 3, 2)
    done = {}
    for devices in (2, 1):
        config = run_config(tiles, root / f"d{devices}", accelerator="cpu", precision="32-true", batch_size=4,
                            steps_per_epoch=3, max_epochs=2, lr=0.01, devices=devices)
        config.to_json(root / f"d{devices}.json")
        done[devices] = nucflow_train(root / f"d{devices}.json")
    return root, done


@pytest.mark.slow
def test_two_devices_write_one_log_and_one_checkpoint_counting_global_batches(two_runs):
    root, done = two_runs
    assert done[2].returncode == 0, done[2].stderr[-3000:]
    out = root / "d2"
    log = pd.read_csv(out / "log.csv")
    assert log["epoch"].tolist() == [0, 1]  # one writer: no row twice
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    last = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 6  # 2 epochs x 3 steps of the global batch of 4 (2 tiles per device)
    result = json.loads((out / "train_done.json").read_text())
    assert result["devices"] == 2 and result["epochs_run"] == 2
    assert done[2].stdout.count("tiny: 2 epochs") == 1  # only the first process reports


@pytest.mark.slow
def test_two_devices_see_the_same_batches_as_one(two_runs):
    """Each device takes half of every global batch and DDP averages the gradients, so the two-device
    run follows the one-device run up to float rounding (the epoch's training loss, the validation
    counts over all tiles)."""
    root, done = two_runs
    assert done[1].returncode == 0, done[1].stderr[-3000:]
    one, two = (pd.read_csv(root / f"d{n}" / "log.csv") for n in (1, 2))
    pd.testing.assert_frame_equal(one.drop(columns="train_seconds"), two.drop(columns="train_seconds"),
                                  check_exact=False, rtol=1e-4)


def test_more_devices_than_the_node_has_is_one_line_before_any_step(tmp_path):
    tiles = write_tile_set(tmp_path / "train.npz", 4, 1), write_tile_set(tmp_path / "val.npz", 2, 2)
    many = (os.cpu_count() or 1) + 1
    with pytest.raises(NucflowError, match=rf"run tiny: training.devices: {many} devices asked for, but this node "
                                           rf"has {os.cpu_count()} CPU core\(s\)"):
        train(run_config(tiles, tmp_path / "run", accelerator="cpu", batch_size=many, devices=many), echo=False)
    with pytest.raises(NucflowError, match="training.devices: the batch of 3 tiles .* over 2 devices"):
        train(run_config(tiles, tmp_path / "run", accelerator="cpu", batch_size=3, devices=2), echo=False)
    assert not (tmp_path / "run" / "log.csv").exists()


def test_multi_device_commands_bypass_the_job_worker(tmp_path, monkeypatch):
    """DDP reruns the command line of the process it runs in; in the worker's child that would be the
    worker's, so such commands run in their own process (and so do the processes DDP starts)."""
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    one.write_text(json.dumps({"devices": 1}))
    two.write_text(json.dumps({"devices": 2}))
    assert not worker._launches_processes(["train", "--run", str(one)])
    assert worker._launches_processes(["train", "--run", str(two)])
    assert worker._launches_processes(["train", "--run", str(one), "--devices", "2"])
    assert not worker._launches_processes(["train", "--run", str(two), "--devices", "1"])
    assert not worker._launches_processes(["predict", "--run", str(two)])
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert worker._launches_processes(["predict"])
