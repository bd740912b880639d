"""Resuming from a damaged last.ckpt: one line naming the file and how to recover."""

from __future__ import annotations

import shutil

import pytest
import torch
from test_training import run_config, write_tile_set

from nucflow import cli
from nucflow.errors import NucflowError
from nucflow.training.checkpoints import check_resumable
from nucflow.training.train import train


def test_check_resumable_names_the_file_and_the_way_back(tmp_path):
    good = tmp_path / "best.ckpt"
    torch.save({"state_dict": {"net.w": torch.zeros(2)}, "epoch": 3, "loops": {}}, good)
    check_resumable(good, tmp_path / "none.ckpt")
    last = tmp_path / "last.ckpt"
    last.write_bytes(good.read_bytes()[:100])
    with pytest.raises(NucflowError) as info:
        check_resumable(last, tmp_path / "none.ckpt")
    message = str(info.value)
    assert message.startswith(f"{last}: damaged or truncated checkpoint, cannot resume (")
    assert message.endswith("; delete it to restart the run from its first epoch")
    with pytest.raises(NucflowError) as info:
        check_resumable(last, good)
    assert str(info.value).endswith(f"; delete it to restart the run from its first epoch, or copy {good} over it "
                                    "to resume from the best epoch so far")
    torch.save({"weights": torch.zeros(1)}, last)
    with pytest.raises(NucflowError, match=r"cannot resume \(holds no training state\)"):
        check_resumable(last, good)


def test_truncated_last_checkpoint_is_one_line_and_best_resumes(tmp_path, capsys):
    """Regression: a truncated checkpoints/last.ckpt gave a long traceback from inside the trainer."""
    tiles = write_tile_set(tmp_path / "train.npz", 4, 1), write_tile_set(tmp_path / "val.npz", 2, 2)
    out = tmp_path / "run"
    train(run_config(tiles, out, max_epochs=1), echo=False)
    last, best = out / "checkpoints" / "last.ckpt", out / "checkpoints" / "best.ckpt"
    last.write_bytes(last.read_bytes()[:1000])
    config = run_config(tiles, out, max_epochs=2)
    config.to_json(tmp_path / "run.json")
    assert cli.main(["train", "--run", str(tmp_path / "run.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    assert err[-1].startswith(f"nucflow train: error: {last}: damaged or truncated checkpoint, cannot resume (")
    assert err[-1].endswith(f"or copy {best} over it to resume from the best epoch so far")
    shutil.copyfile(best, last)
    result = train(config, echo=False)
    assert result.resumed and result.epochs_run == 2
