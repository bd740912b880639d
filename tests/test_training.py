"""Training: RunConfig, data module, tiny end-to-end runs (determinism, resume, NaN stop), lr-find."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from scipy import ndimage as ndi
from skimage.draw import disk

from nucflow import cli
from nucflow.data.datamodule import EpochSampler, load_tile_arrays
from nucflow.data.tiles import TileSet, save_tiles
from nucflow.errors import NucflowError
from nucflow.models import build
from nucflow.training.checkpoints import load_weights, read_state_dict
from nucflow.training.config import RunConfig
from nucflow.training.train import train

SIZE = 32
#: the resume/determinism runs use every source of randomness training has: dropout (U-Net++),
#: deep supervision, batch norm and FREM's per-epoch channel draws
RANDOM_PARTS = dict(model="unetpp", model_options={"batch_norm": True, "deep_supervision": True},
                    frem={"channels": 2, "factor": 10.0})


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny convolutions run fastest single-threaded, above all on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def simulated_tiles(n: int, seed: int, size: int = SIZE):
    """(images float32 (n, 1, S, S), labels int32 (n, S, S)): three disks, blurred mask + noise."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((n, size, size), np.int32)
    images = np.zeros((n, 1, size, size), np.float32)
    for i in range(n):
        for k in range(3):
            rr, cc = disk(tuple(rng.integers(6, size - 6, 2)), 4, shape=(size, size))
            labels[i, rr, cc] = k + 1
        images[i, 0] = ndi.gaussian_filter((labels[i] > 0).astype(np.float32), 1) \
            + 0.1 * rng.standard_normal((size, size))
    return images, labels


def write_tile_set(path, n, seed, nan=False):
    images, labels = simulated_tiles(n, seed)
    if nan:
        images[0, 0, 3, 3] = np.nan
    save_tiles(path, TileSet(images, labels, np.array([f"img{i}" for i in range(n)]), {"size": SIZE}))
    return str(path)


@pytest.fixture(scope="module")
def tile_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiles")
    return write_tile_set(root / "train.npz", 6, 1), write_tile_set(root / "val.npz", 2, 2)


def run_config(tile_sets, out_dir, **changes) -> RunConfig:
    data = dict(run_id="tiny", model="unet", width=0.0625, in_channels=1, modality="fluorescence",
                train_tiles=[tile_sets[0]], val_tiles=[tile_sets[1]], batch_size=2, steps_per_epoch=2,
                max_epochs=4, lr=0.05, lr_patience=0, stop_patience=50, out_dir=str(out_dir))
    data.update(changes)
    return RunConfig.from_dict(data)


class KillAt(pl.Callback):
    """Simulate a job killed at the start of epoch ``epoch``."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated kill")


def network_state(out_dir):
    return torch.load(f"{out_dir}/checkpoints/last.ckpt", weights_only=True)["state_dict"]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# --- RunConfig ---------------------------------------------------------------------------------
def test_run_config_round_trip_and_defaults(tmp_path, tile_sets):
    config = run_config(tile_sets, tmp_path / "run", model_options={"batch_norm": True},
                        frem={"channels": 2, "factor": 10.0})
    config.to_json(tmp_path / "run.json")
    again = RunConfig.from_json(tmp_path / "run.json")
    assert again == config
    assert again.train_tiles == (tile_sets[0],) and again.out_channels == 1 and again.lr_factor == 0.1
    assert run_config(tile_sets, tmp_path, steps_per_epoch=None, batch_size=16).effective_steps_per_epoch == 625
    assert run_config(tile_sets, tmp_path, loss="three_class").out_channels == 3


@pytest.mark.parametrize("changes, message", [
    ({"learning_rate": 0.1}, "unknown key.*learning_rate"),
    ({"batch_size": "2"}, "batch_size: expected an integer"),
    ({"lr": True}, "lr: expected a number"),
    ({"loss": "focal"}, "loss: unknown loss"),
    ({"loss": "bce", "out_channels": 3}, "out_channels"),
    ({"smoothing": 0.1}, "smoothing: only used by loss 'bce_smooth'"),
    ({"train_tiles": "a.npz"}, "train_tiles: expected a list"),
])
def test_run_config_errors_name_the_key(tmp_path, tile_sets, changes, message):
    with pytest.raises(NucflowError, match=message):
        run_config(tile_sets, tmp_path, **changes)


def test_run_config_missing_key(tmp_path):
    with pytest.raises(NucflowError, match="missing required key.*model"):
        RunConfig.from_dict({"run_id": "x"}, source="run.json")


# --- data ----------------------------------------------------------------------------------------
def test_epoch_sampler_is_seeded_per_epoch_and_reshuffles():
    sampler = EpochSampler(n_tiles=5, num_samples=12, seed=3)
    first = sampler.indices(0)
    assert len(first) == 12 and sorted(first[:5]) == list(range(5)) and sorted(first[5:10]) == list(range(5))
    np.testing.assert_array_equal(first, EpochSampler(5, 12, 3).indices(0))
    assert not np.array_equal(first, sampler.indices(1))
    sampler.set_epoch(1)
    assert list(sampler) == sampler.indices(1).tolist()


def test_tile_arrays_concatenate_and_check(tmp_path, tile_sets):
    arrays = load_tile_arrays([tile_sets[0], tile_sets[1]], 1, "three_class", with_weights=True)
    assert arrays.images.shape == (8, 1, SIZE, SIZE) and arrays.target.dtype == np.int64
    assert arrays.weight.shape == (8, 1, SIZE, SIZE) and arrays.foreground.dtype == bool
    with pytest.raises(NucflowError, match="in_channels=2"):
        load_tile_arrays([tile_sets[0]], 2, "binary", with_weights=False)
    bad = write_tile_set(tmp_path / "nan.npz", 2, 5, nan=True)
    with pytest.raises(NucflowError, match="nan.npz: tile 0 contains NaN"):
        load_tile_arrays([bad], 1, "binary", with_weights=False)


# --- training --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory, tile_sets):
    """Three 4-epoch runs of one config: two uninterrupted, one killed after 2 epochs and resumed."""
    root = tmp_path_factory.mktemp("runs")
    with_frem = RANDOM_PARTS
    results = {name: None for name in ("a", "b", "killed", "resumed")}
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        results["a"] = train(run_config(tile_sets, root / "a", **with_frem), echo=False)
        results["b"] = train(run_config(tile_sets, root / "b", **with_frem), echo=False)

        with pytest.raises(RuntimeError, match="simulated kill"):
            train(run_config(tile_sets, root / "c", **with_frem), callbacks=[KillAt(2)], echo=False)
        results["killed_log"] = pd.read_csv(root / "c" / "log.csv")
        # the workflow passes fresh_if_changed: the same run must still resume
        results["resumed"] = train(run_config(tile_sets, root / "c", **with_frem), echo=False,
                                   fresh_if_changed=True)
    return root, results


def test_run_writes_every_output(runs, tile_sets):
    root, results = runs
    out = root / "a"
    for name in ("run.json", "log.csv", "model.pt", "train_done.json", "checkpoints/best.ckpt",
                 "checkpoints/last.ckpt"):
        assert (out / name).is_file(), name
    log = pd.read_csv(out / "log.csv")
    assert log.columns.tolist() == ["epoch", "train_loss", "val_loss", "val_f1", "lr", "train_seconds"]
    assert log["epoch"].tolist() == [0, 1, 2, 3]
    assert log["val_f1"].between(0, 1).all() and np.isfinite(log["train_loss"]).all()
    done = json.loads((out / "train_done.json").read_text())
    assert done["epochs_run"] == 4 and done["best_epoch"] == int(log["val_loss"].idxmin())
    assert done["best_val_loss"] == pytest.approx(log["val_loss"].min())
    assert done["input"] is None  # these hand-made tile sets record no input spec (the workflow's do)
    assert RunConfig.from_json(out / "run.json") == run_config(tile_sets, out, **RANDOM_PARTS)
    net = build("unetpp", width=0.0625, **RANDOM_PARTS["model_options"])
    load_weights(net, out / "model.pt")  # plain state_dict, strict
    best = read_state_dict(out / "checkpoints" / "best.ckpt")
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in best.items())


def test_two_cpu_runs_give_identical_weights(runs):
    root, _ = runs
    assert_same_weights(network_state(root / "a"), network_state(root / "b"))


def test_killed_run_resumes_to_the_same_weights(runs):
    root, results = runs
    assert results["killed_log"]["epoch"].tolist() == [0, 1]
    assert results["resumed"].resumed and results["resumed"].epochs_run == 4
    assert_same_weights(network_state(root / "a"), network_state(root / "c"))
    a, c = (torch.load(root / r / "checkpoints" / "last.ckpt", weights_only=True) for r in ("a", "c"))
    assert a["nucflow"]["plateau"] == c["nucflow"]["plateau"]
    log_a, log_c = pd.read_csv(root / "a" / "log.csv"), pd.read_csv(root / "c" / "log.csv")
    pd.testing.assert_frame_equal(log_a.drop(columns="train_seconds"), log_c.drop(columns="train_seconds"))


def test_finished_run_is_a_no_op_and_a_changed_config_is_refused(runs, tile_sets):
    root, results = runs
    before = (root / "a" / "train_done.json").read_text()
    (root / "a" / "model.pt").unlink()
    config = run_config(tile_sets, root / "a", **RANDOM_PARTS)
    again = train(config, echo=False)
    assert again == results["a"] and (root / "a" / "model.pt").is_file()
    assert (root / "a" / "train_done.json").read_text() == before
    with pytest.raises(NucflowError, match="different lr"):
        train(config.replace(lr=0.01), echo=False)


def test_last_checkpoint_is_written_after_every_epoch(tmp_path, tile_sets):
    """Regression: last.ckpt was written only in epochs that lowered val_loss (save_last on the
    best-checkpoint callback), so a kill lost every epoch since the last improvement."""
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    saved_epochs = []

    class Watch(pl.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            if trainer.current_epoch:
                saved_epochs.append(torch.load(last, weights_only=True)["epoch"])

    train(run_config(tile_sets, tmp_path / "run", lr=0.5), callbacks=[Watch()], echo=False)
    saved_epochs.append(torch.load(last, weights_only=True)["epoch"])
    val_loss = pd.read_csv(tmp_path / "run" / "log.csv")["val_loss"]
    assert val_loss.iloc[-1] > val_loss.min()  # the last epoch did not improve ...
    assert saved_epochs == [0, 1, 2, 3]        # ... and is in last.ckpt all the same


def test_changed_run_is_moved_aside_and_trained_afresh(tmp_path, tile_sets, capsys):
    """Regression: after a config edit the workflow reran `train`, which refused the folder of the
    earlier run. With --fresh-if-changed (what the rules pass) that run is moved to
    previous/<time>/ with one line in the log, and the new one starts from its first epoch."""
    out = tmp_path / "run"
    train(run_config(tile_sets, out, max_epochs=2), echo=False)
    old = {name: (out / name).read_bytes() for name in ("run.json", "log.csv", "checkpoints/last.ckpt")}
    changed = run_config(tile_sets, out, max_epochs=2, lr=0.01)
    changed.to_json(tmp_path / "changed.json")
    with pytest.raises(NucflowError, match="different lr; .*or pass --fresh-if-changed"):
        train(changed, echo=False)
    assert cli.main(["train", "--run", str(tmp_path / "changed.json"), "--fresh-if-changed"]) == 0
    (previous,) = (out / "previous").iterdir()
    assert {name: (previous / name).read_bytes() for name in old} == old
    assert (previous / "checkpoints" / "best.ckpt").is_file() and (previous / "inputs.json").is_file()
    err = capsys.readouterr().err
    assert f"run tiny: lr changed since the earlier run in this folder; moved its training state to {previous}" in err
    done = json.loads((out / "train_done.json").read_text())
    assert not done["resumed"] and done["epochs_run"] == 2
    assert RunConfig.from_json(out / "run.json").lr == 0.01
    fresh = train(changed.replace(out_dir=str(tmp_path / "fresh")), echo=False)
    assert_same_weights(network_state(out), network_state(tmp_path / "fresh"))
    assert fresh.best_val_loss == done["best_val_loss"]


def test_changed_tiles_are_a_changed_run(tmp_path, tile_sets):
    """New tile bytes under the same path (a rerun of the tiles job) must not resume, or keep,
    weights learned from the old tiles."""
    tiles = (write_tile_set(tmp_path / "train.npz", 6, 1), tile_sets[1])
    out = tmp_path / "run"
    train(run_config(tiles, out, max_epochs=1), echo=False)
    write_tile_set(tmp_path / "train.npz", 6, 7)
    with pytest.raises(NucflowError, match=f"different contents of {tiles[0]}; "):
        train(run_config(tiles, out, max_epochs=1), echo=False)
    result = train(run_config(tiles, out, max_epochs=1), echo=False, fresh_if_changed=True)
    assert not result.resumed and len(list((out / "previous").iterdir())) == 1


def test_run_start_removes_temporaries_of_a_killed_job(runs, tile_sets):
    """A job killed mid-write leaves hidden .part files; the next run of the folder removes them."""
    import os

    root, _ = runs
    stale = [root / "a" / ".log.csv.abcd1234.part", root / "a" / "checkpoints" / ".last.ckpt.zz_9yy8x.part"]
    kept = root / "a" / "checkpoints" / "notes.part.txt"
    for path in (*stale, kept):
        path.write_bytes(b"half")
        os.utime(path, (1e9, 1e9))  # written by an earlier process
    train(run_config(tile_sets, root / "a", **RANDOM_PARTS), echo=False)
    assert not any(path.exists() for path in stale) and kept.exists()


def test_nan_loss_stops_with_run_id_and_step(tmp_path, tile_sets, capsys):
    config = run_config(tile_sets, tmp_path / "nan", lr=1e30, max_epochs=3, run_id="boom")
    config.to_json(tmp_path / "nan.json")
    status = cli.main(["train", "--run", str(tmp_path / "nan.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert err[-1].startswith("nucflow train: error: run boom: training loss became") and "global step" in err[-1]
    assert "Traceback" not in "\n".join(err)


def test_init_from_loads_weights_strictly(tmp_path, tile_sets, runs):
    root, _ = runs
    config = run_config(tile_sets, tmp_path / "ft", init_from=str(root / "a" / "model.pt"))
    with pytest.raises(NucflowError, match="weights do not fit the network"):
        train(config, echo=False)  # the source is a U-Net++, this network a U-Net


def test_three_class_and_weighted_losses_train(tmp_path, tile_sets):
    for loss, channels_last in (("three_class", True), ("bce_weighted", False)):
        result = train(run_config(tile_sets, tmp_path / loss, loss=loss, max_epochs=1, steps_per_epoch=1,
                                  lr=1e-3, channels_last=channels_last), echo=False)
        assert result.epochs_run == 1 and np.isfinite(result.best_val_loss)


# --- lr-find --------------------------------------------------------------------------------------
def test_lr_find_writes_curve_and_chooses_inside_the_sweep(tmp_path, tile_sets):
    from nucflow.training.lr_find import choose_lr, find_lr, write_lr_outputs

    config = run_config(tile_sets, tmp_path / "lr")
    result = find_lr(config, min_lr=1e-6, max_lr=1.0, num_steps=20)
    paths = write_lr_outputs(result, tmp_path / "lr", config.run_id)
    curve = pd.read_csv(paths["curve"])
    assert curve.columns.tolist() == ["step", "lr", "loss", "smoothed_loss", "used"] and len(curve) == 20
    chosen = json.loads(paths["lr"].read_text())
    assert 1e-6 <= chosen["lr"] <= 1.0 and chosen["lr"] == result.lr and "steepest" in chosen["rule"]
    assert paths["plot"].stat().st_size > 1000
    again = find_lr(config, min_lr=1e-6, max_lr=1.0, num_steps=20)
    pd.testing.assert_frame_equal(result.curve, again.curve)  # deterministic on CPU
    # the rule on constructed curves (10 rates per decade): flat, steepest fall at 1e-3, minimum,
    # divergence. The descent ends where 90 % of the fall is done (10^-2.2), and the rate is capped
    # at a tenth of that
    lrs = np.logspace(-6, 0, 61)
    smoothed = 1 / (1 + np.exp((np.log10(lrs) + 3) * 3)) + np.where(lrs > 0.05, 100 * lrs, 0)
    chosen, used = choose_lr(lrs, smoothed)
    assert lrs[np.flatnonzero(used)[-1]] == pytest.approx(10 ** -2.2) and chosen == pytest.approx(10 ** -3.2)
    # a fall that is steepest just below the minimum (one step per rate: the loss keeps falling from
    # the steps before) is capped at a tenth of the rate where the descent ends, 0.1 -> 0.01
    chosen, used = choose_lr(lrs, np.where(lrs <= 0.1, 1 - 5 * np.sqrt(lrs), 10.0))
    assert lrs[np.flatnonzero(used)[-1]] == pytest.approx(0.1) and chosen == pytest.approx(0.01)
    # regression: a fall from 1e-3 to 1e-2, then a long flat bottom whose lowest (noisy) point lies at
    # 0.79; steepest descent against that minimum chose a rate on the plateau
    plateau = np.where(lrs < 1e-3, 1.0, np.where(lrs < 1e-2, 1.0 - 0.7 * (np.log10(lrs) + 3), 0.3))
    plateau[-2:] = 0.2, 5.0
    assert choose_lr(lrs, plateau)[0] == pytest.approx(10 ** -2.6)


# --- the kept epoch ---------------------------------------------------------------------------------
def test_kept_epoch_compares_in_float32_and_keeps_the_first_even_if_nan(tmp_path):
    from nucflow.training.callbacks import KeptEpoch

    kept = KeptEpoch(tmp_path / "best.ckpt")
    assert [kept.record(epoch, loss) for epoch, loss in enumerate([0.5, 0.4, 0.45, 0.39])] == [True, True, False, True]
    assert (kept.best_epoch, kept.best_val_loss) == (3, 0.39)
    # a tie at float32 is no improvement (as EarlyStopping compares the logged float32 val_loss)
    assert not kept.record(4, 0.39 + 1e-12) and kept.best_epoch == 3
    nan = KeptEpoch(tmp_path / "best.ckpt")
    assert nan.record(0, float("nan")) and nan.best_val_loss == float("inf") and nan.record(1, 5.0)


def test_early_stopping_ends_the_run_and_is_recorded(tmp_path, tile_sets):
    result = train(run_config(tile_sets, tmp_path / "run", lr=0.5, stop_patience=1, max_epochs=8), echo=False)
    log = pd.read_csv(tmp_path / "run" / "log.csv")
    assert result.stopped_early and result.epochs_run == len(log) < 8
    assert len(log) == int(log["val_loss"].idxmin()) + 2  # stopped one epoch after val_loss last fell
    assert torch.load(tmp_path / "run" / "checkpoints" / "best.ckpt", weights_only=True)["epoch"] == result.best_epoch


def test_a_degenerate_epoch_is_selected_only_while_every_epoch_is(tmp_path):
    from nucflow.training.callbacks import KeptEpoch

    kept = KeptEpoch(tmp_path / "best.ckpt")
    verdicts = ["all-foreground", "", "all-background", "", "all-background"]
    selected = [kept.record(e, loss, v) for e, (loss, v) in enumerate(zip([0.9, 0.7, 0.2, 0.6, 0.1], verdicts))]
    assert selected == [True, True, False, True, False]
    assert (kept.best_epoch, kept.best_degenerate, kept.best_val_loss) == (3, "", 0.6)


def test_a_run_that_learns_nothing_restarts_at_a_tenth_of_the_rate(tmp_path, tile_sets):
    """Every epoch all background (3-class at lr 0.05 on the toy tiles): the attempt is moved to
    previous/ and the run trains again from its first epoch at lr 0.005, recorded in train_done.json."""
    out = tmp_path / "run"
    result = train(run_config(tile_sets, out, loss="three_class", max_epochs=2, precision="32-true"), echo=False)
    (entry,) = result.restarts
    assert entry["lr"] == 0.05 and entry["epochs"] == 2 and entry["degenerate"] == "all-background"
    moved = out / "previous" / Path(entry["moved_to"]).name
    assert moved.name.endswith("-degenerate-lr0.05") and (moved / "checkpoints" / "best.ckpt").is_file()
    assert pd.read_csv(moved / "log.csv")["lr"].tolist() == [0.05, 0.05]
    assert result.lr == pytest.approx(0.005) and pd.read_csv(out / "log.csv")["lr"].iloc[0] == pytest.approx(0.005)
    assert json.loads((out / "train_done.json").read_text())["restarts"] == [entry]
    assert RunConfig.from_json(out / "run.json").lr == 0.05  # the run is still the planned one


def test_a_checkpoint_of_the_plain_torch_trainer_is_refused_in_one_line(tmp_path, tile_sets, capsys):
    """A last.ckpt written by the plain-torch loop of earlier versions (no Lightning loop state)
    cannot be resumed: one line that names it and says to retrain, no traceback."""
    config = run_config(tile_sets, tmp_path / "old", max_epochs=2)
    config.to_json(tmp_path / "old.json")
    last = tmp_path / "old" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    torch.save({"epoch": 0, "global_step": 2, "state_dict": {"net.w": torch.zeros(1)}, "optimizer_states": [{}],
                "nucflow": {"format": 2, "stopping": {"wait": 0}}}, last)
    assert cli.main(["train", "--run", str(tmp_path / "old.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"nucflow train: error: {last}: written by the plain-torch trainer of an earlier nucflow, "
                       "which Lightning cannot resume; delete the run folder's checkpoints/ folder (or the whole "
                       "run folder) to train the run again from its first epoch")


def test_a_resumed_run_keeps_choosing_the_epoch_as_an_uninterrupted_one(runs):
    """The kept epoch's state travels in last.ckpt: a resumed run's best.ckpt is the uninterrupted one's."""
    root, results = runs
    a = torch.load(root / "a" / "checkpoints" / "best.ckpt", weights_only=True)
    c = torch.load(root / "c" / "checkpoints" / "best.ckpt", weights_only=True)
    assert a["epoch"] == c["epoch"] == results["a"].best_epoch
    assert a["callbacks"]["KeptEpoch"] == c["callbacks"]["KeptEpoch"]
    assert_same_weights(a["state_dict"], c["state_dict"])


def test_a_run_json_from_before_a_new_field_is_the_same_run(tmp_path, tile_sets):
    """run.json files written before ``degenerate_restarts`` existed read as having its default,
    so upgrading does not set finished runs aside or retrain them."""
    from nucflow.training.rundir import RunPaths, changes_since_earlier_run

    config = run_config(tile_sets, tmp_path / "run")
    paths = RunPaths(tmp_path / "run")
    paths.out_dir.mkdir()
    old = config.to_dict()
    del old["degenerate_restarts"]
    paths.run_json.write_text(json.dumps(old))
    assert changes_since_earlier_run(config, paths) == []
    assert changes_since_earlier_run(config.replace(degenerate_restarts=0), paths) == ["degenerate_restarts"]


def test_fp16_on_a_cpu_is_refused_before_any_step(tmp_path, tile_sets):
    """Lightning runs fp16 autocast on GPUs only (on a CPU it would silently train bf16 instead)."""
    with pytest.raises(NucflowError, match=r"run tiny: training.precision: 16-mixed .* trains on CUDA GPUs only"):
        train(run_config(tile_sets, tmp_path / "run", precision="16-mixed", max_epochs=1), echo=False)
    assert not (tmp_path / "run" / "log.csv").exists()


def test_a_terminal_gets_the_progress_bar_and_a_job_log_one_line_per_epoch(tmp_path, tile_sets, capsys):
    train(run_config(tile_sets, tmp_path / "job", max_epochs=2), interactive=False)
    captured = capsys.readouterr()
    epochs = [line for line in captured.err.splitlines() if line.startswith("run tiny: epoch ")]
    assert [line.split(":")[1] for line in epochs] == [" epoch 0", " epoch 1"]
    assert "it/s" not in captured.out + captured.err
    train(run_config(tile_sets, tmp_path / "terminal", max_epochs=2), interactive=True)
    bar = capsys.readouterr().out
    assert "Epoch 1: 100%" in bar and "it/s" in bar and "loss=" in bar and "val_f1=" in bar


def test_the_tensorboard_logger_writes_events_or_names_the_missing_extra(tmp_path, tile_sets):
    import importlib.util

    config = run_config(tile_sets, tmp_path / "run", max_epochs=1, logger="tensorboard")
    if importlib.util.find_spec("tensorboard") is None and importlib.util.find_spec("tensorboardX") is None:
        with pytest.raises(NucflowError, match=r"run tiny: training.logger: tensorboard needs the tensorboard "
                                               r"package \(pip install 'nucflow\[tensorboard\]'\)"):
            train(config, echo=False)
        return
    train(config, echo=False)
    assert list((tmp_path / "run" / "tensorboard").rglob("events.out.tfevents.*"))
    assert pd.read_csv(tmp_path / "run" / "log.csv")["epoch"].tolist() == [0]  # log.csv all the same


def _as_the_workflow_reruns_it(out: Path) -> None:
    """Snakemake deletes a job's declared outputs (model.pt, train_done.json) before it reruns
    the job, e.g. after a runtime setting such as max_epochs changed in the plan."""
    (out / "model.pt").unlink()
    (out / "train_done.json").unlink()


def test_an_early_stopped_run_rerun_without_its_done_file_trains_no_further(tmp_path, tile_sets):
    """Regression: a run that early stopping had ended, rerun by the workflow (which deletes
    train_done.json) after its epoch cap was raised, resumed from last.ckpt and trained another
    epoch, so its kept epoch could differ from that of a run trained with the higher cap."""
    out = tmp_path / "run"
    first = train(run_config(tile_sets, out, lr=0.5, stop_patience=1, max_epochs=8), echo=False)
    assert first.stopped_early and first.epochs_run < 8
    log, model = pd.read_csv(out / "log.csv"), (out / "model.pt").read_bytes()
    _as_the_workflow_reruns_it(out)
    again = train(run_config(tile_sets, out, lr=0.5, stop_patience=1, max_epochs=12), echo=False,
                  fresh_if_changed=True)
    pd.testing.assert_frame_equal(pd.read_csv(out / "log.csv"), log)
    assert (out / "model.pt").read_bytes() == model
    assert (again.epochs_run, again.best_epoch, again.best_val_loss, again.stopped_early) == \
        (first.epochs_run, first.best_epoch, first.best_val_loss, True)
    assert not (out / "previous").exists()


def test_a_capped_run_continued_to_a_higher_cap_equals_one_trained_to_it(tmp_path, tile_sets):
    """Raising max_epochs continues a run its cap had stopped: on CPU the continued run ends with
    the weights, log and kept epoch of a run trained to the higher cap from the start."""
    capped, direct = tmp_path / "capped", tmp_path / "direct"
    first = train(run_config(tile_sets, capped, max_epochs=2, **RANDOM_PARTS), echo=False)
    assert not first.stopped_early and first.epochs_run == 2
    _as_the_workflow_reruns_it(capped)
    continued = train(run_config(tile_sets, capped, max_epochs=4, **RANDOM_PARTS), echo=False, fresh_if_changed=True)
    whole = train(run_config(tile_sets, direct, max_epochs=4, **RANDOM_PARTS), echo=False)
    assert continued.resumed and (continued.epochs_run, continued.best_epoch) == (whole.epochs_run, whole.best_epoch)
    assert_same_weights(network_state(capped), network_state(direct))
    pd.testing.assert_frame_equal(pd.read_csv(capped / "log.csv").drop(columns="train_seconds"),
                                  pd.read_csv(direct / "log.csv").drop(columns="train_seconds"))
