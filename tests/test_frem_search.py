"""The FREM settings search: settings, pruning callback, and a 3-trial search killed after its first
finished trial and resumed, against one that ran through."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import optuna
import pandas as pd
import pytest
import torch

from nucflow.errors import NucflowError
from nucflow.io import read_json
from nucflow.training.frem_search import FremSearch, PruneOnValLoss, SearchSettings, feature_channels, sampler_seed
from nucflow.training.frem_search_cli import settings_from_json
from tests.test_training import run_config, write_tile_set

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = dict(n_trials=3, channels=[1, None], factor=[2.0, 500.0], seed=7, max_epochs=2, pruning=True,
                pruner_startup_trials=1, pruner_warmup_epochs=0)


@pytest.fixture(scope="module")
def tiles(tmp_path_factory):
    root = tmp_path_factory.mktemp("frem_tiles")
    return write_tile_set(root / "train.npz", 4, 1), write_tile_set(root / "val.npz", 2, 2)


def base_run(tiles, tmp_path):
    # width 1/16 U-Net: a 64-channel bottleneck at full width becomes 4 channels here
    return run_config(tiles, tmp_path / "base", max_epochs=2, steps_per_epoch=1)


def test_settings_from_the_arm_keys():
    settings = settings_from_json(json.dumps(SETTINGS))
    assert (settings.channels_min, settings.channels_max, settings.factor_min, settings.factor_max) == (1, None, 2.0, 500.0)
    with pytest.raises(NucflowError, match=r"--settings-json: factor: expected \[min, max\], got 3"):
        settings_from_json(json.dumps({**SETTINGS, "factor": 3}))
    with pytest.raises(NucflowError, match="frem search: factor: need 0 < min <= max, got \\[5.0, 2.0\\]"):
        SearchSettings(n_trials=1, factor_min=5.0, factor_max=2.0)
    with pytest.raises(NucflowError, match="frem search: n_trials: must be >= 1, got 0"):
        SearchSettings(n_trials=0)


def test_channel_range_is_bounded_by_the_feature_map(tiles, tmp_path):
    base = base_run(tiles, tmp_path)
    assert feature_channels(base) == 64 // 16
    assert FremSearch(base, SearchSettings(n_trials=1), tmp_path / "s").channel_range == (1, 4)
    with pytest.raises(NucflowError, match="channels: max 5 exceeds the 4 channels of unet's deepest feature map"):
        FremSearch(base, SearchSettings(n_trials=1, channels_max=5), tmp_path / "s")


def test_sampler_seed_depends_on_seed_and_finished_trials_only():
    assert sampler_seed(7, 2) == sampler_seed(7, 2)
    assert len({sampler_seed(7, 0), sampler_seed(7, 1), sampler_seed(8, 0)}) == 3


def test_pruning_callback_reports_and_prunes_a_trial_worse_than_the_median():
    study = optuna.create_study(pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    first = study.ask()
    first.report(1.0, step=0)
    study.tell(first, 1.0)
    trainer = SimpleNamespace(sanity_checking=False, callback_metrics={"val_loss": torch.tensor(0.5)})
    good = study.ask()
    PruneOnValLoss(good).on_validation_end(trainer, SimpleNamespace(current_epoch=0))
    assert good.storage.get_trial(good._trial_id).intermediate_values == {0: 0.5}
    bad = study.ask()
    trainer.callback_metrics["val_loss"] = torch.tensor(2.0)
    with pytest.raises(optuna.TrialPruned, match="pruned at epoch 0"):
        PruneOnValLoss(bad).on_validation_end(trainer, SimpleNamespace(current_epoch=0))


def finished(table: pd.DataFrame) -> pd.DataFrame:
    rows = table[table["state"].isin(["complete", "pruned"])]
    return rows[["state", "channels", "factor", "value", "epochs"]].reset_index(drop=True)


@pytest.mark.slow
def test_a_killed_search_resumes_without_repeating_a_finished_trial(tiles, tmp_path):
    settings = settings_from_json(json.dumps(SETTINGS))
    base = base_run(tiles, tmp_path)
    through = FremSearch(base, settings, tmp_path / "through").run()
    assert len(finished(through)) == 3 and list(through["state"]).count("fail") == 0

    # the same search as a process, SIGKILLed once trial 0 has finished and trial 1 has begun
    out = tmp_path / "killed"
    base.to_json(tmp_path / "run.json")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    process = subprocess.Popen([sys.executable, "-m", "nucflow", "frem-search", "--run", str(tmp_path / "run.json"),
                                "--out-dir", str(out), "--settings-json", json.dumps(SETTINGS), "--threads", "1",
                                "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not (out / "trials" / "0001" / "run.json").is_file():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0].decode()[-2000:]
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    study = optuna.load_study(study_name="frem_search", storage=f"sqlite:///{out / 'study.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "RUNNING"]

    resumed = FremSearch(base, settings, out).run()
    assert list(resumed["number"]) == [0, 1, 2, 3]
    assert resumed.at[1, "state"] == "fail"  # the killed trial; its point ran again as trial 2
    assert (resumed.at[2, "channels"], resumed.at[2, "factor"]) == (resumed.at[1, "channels"], resumed.at[1, "factor"])
    assert not (out / "trials" / "0000" / "checkpoints").exists()  # trial 0 was not trained again
    assert read_json(out / "trials" / "0000" / "train_done.json")["run_id"] == "tiny-t0"
    pd.testing.assert_frame_equal(finished(resumed), finished(through))
    best = read_json(out / "best.json")
    assert best == read_json(tmp_path / "through" / "best.json")
    assert best["feature_channels"] == 4 and best["objective"] == "best validation loss (minimised)"
    complete = through[through["state"] == "complete"]
    assert best["value"] == complete["value"].min()
    assert read_json(out / "search.json")["settings"]["seed"] == 7
