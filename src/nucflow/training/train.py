"""Train one run from its :class:`RunConfig`, resuming exactly where an interrupted job stopped.

Run folder (``config.out_dir``)::

    run.json          the configuration used
    inputs.json       SHA-256 of the tile sets and init_from weights it learned from
    log.csv           one row per epoch (see nucflow.training.epoch_log)
    checkpoints/      best.ckpt (lowest val_loss), last.ckpt (end of the latest epoch, every epoch)
    model.pt          plain state_dict of the best weights (what inference loads)
    train_done.json   epochs run, best val_loss and epoch, times, throughput, why training stopped
    previous/<time>/  training state of earlier runs set aside by ``fresh_if_changed``

Resume: when ``checkpoints/last.ckpt`` exists, training continues from it (epoch, weights, Adam,
ReduceLROnPlateau, early-stopping and best-epoch state; see :mod:`nucflow.training.loop`); a
killed job loses at most the epoch it was in. Tile sampling, FREM draws and the global RNG are seeded per ``(seed, epoch)``, so
on CPU a resumed run ends with the same weights, bit for bit, as an uninterrupted one. When
``train_done.json`` says the run is finished (early stop, or ``max_epochs`` reached), a rerun only
re-exports ``model.pt``; a larger ``max_epochs`` continues a run that had stopped at its epoch limit.

Degenerate runs: when every epoch of a run predicted (almost) only background or only foreground
on the validation tiles (the thresholds of the evaluation's ``degenerate`` column), its log and
checkpoints are moved to ``previous/<time>-degenerate-lr<rate>/`` and the run trains again from
its first epoch, with the same seed, at a tenth of the rate (:data:`RESTART_FACTOR`), at most
``degenerate_restarts`` times (``training.degenerate_restarts``, default 2). ``train_done.json`` records the rate the kept
attempt started from (``lr``) and every restart (``restarts``). Runs that learn anything never
restart and are unchanged by this rule.

A folder holding a different run (other settings or other input bytes, see
:mod:`nucflow.training.rundir`) is refused, or with ``fresh_if_changed`` (what the workflow
passes, ``nucflow train --fresh-if-changed``) its training state is moved to ``previous/<time>/``
and the run starts from its first epoch.

Checkpoints are read with ``torch.load(weights_only=True)``: they hold tensors and plain values
only (the run config travels as a dict).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from nucflow.data.datamodule import TileDataModule
from nucflow.data.tiles import read_tile_meta
from nucflow.errors import NucflowError
from nucflow.io import read_json, remove_stale_temporaries, write_json
from nucflow.precision import Precision, resolve, training_device
from nucflow.training.checkpoints import check_resumable, export_state_dict, load_checkpoint, load_weights
from nucflow.training.config import RunConfig
from nucflow.training.epoch_log import read_log
from nucflow.training.loop import Loop, LoopState, seed_everything
from nucflow.training.module import SegmentationTask
from nucflow.training.rundir import RunPaths, changes_since_earlier_run, record_inputs, set_aside

__all__ = ["RunPaths", "TrainResult", "run_precision", "train"]


@dataclass(frozen=True)
class TrainResult:
    """What ``train_done.json`` holds.

    Attributes:
        run_id: the run.
        epochs_run: epochs completed in total (over all resumptions).
        best_epoch: 0-based epoch of the lowest val_loss; best_val_loss: that loss.
        stopped_early: early stopping ended the run (else max_epochs did).
        wall_seconds: wall time of the invocation that finished the run.
        train_seconds: time in training steps summed over all epochs (log.csv).
        tiles_per_second: training tiles per second of ``train_seconds`` (None if not measured).
        resumed: this invocation continued from ``last.ckpt``.
        precision, channels_last, device: what the job actually ran with (``run.json`` may say
            ``auto``; see :mod:`nucflow.precision`). ``None`` in runs finished before they were
            recorded.
        input: the input spec of the training tiles (tile, normalisation, percentiles,
            pixel_size_um), so that the run folder alone is enough to predict; ``None`` in runs
            finished before it was recorded.
        lr: the rate the finished attempt started from (``run.json``'s, or lower after restarts).
        restarts: one entry per restart at a lower rate (see :func:`train`): the rate, epochs run,
            the degenerate verdict and the folder its log and checkpoints were moved to.
    """

    run_id: str
    epochs_run: int
    best_epoch: int
    best_val_loss: float
    stopped_early: bool
    wall_seconds: float
    train_seconds: float
    tiles_per_second: float | None
    resumed: bool
    precision: str | None = None
    channels_last: bool | None = None
    device: str | None = None
    input: dict | None = None
    lr: float | None = None
    restarts: list | None = None


def _start_afresh_if_changed(config: RunConfig, paths: RunPaths, fresh_if_changed: bool) -> None:
    """Refuse a folder that holds a different run, or move that run's training state aside."""
    changes = changes_since_earlier_run(config, paths)
    if not changes:
        return
    if not fresh_if_changed:
        raise NucflowError(f"{paths.run_json}: an earlier run in this folder used different "
                           f"{', '.join(changes)}; use a new out_dir, delete the folder, or pass "
                           "--fresh-if-changed to move its training state aside")
    moved = set_aside(paths)
    print(f"run {config.run_id}: {', '.join(changes)} changed since the earlier run in this folder; "
          f"moved its training state to {moved} and training from the first epoch", file=sys.stderr)


def _finished(paths: RunPaths, config: RunConfig) -> bool:
    if not (paths.done_json.is_file() and paths.best_ckpt.is_file()):
        return False
    done = read_json(paths.done_json)
    return bool(done.get("stopped_early")) or int(done.get("epochs_run", 0)) >= config.max_epochs


def run_precision(config: RunConfig) -> Precision:
    """The precision this job trains with (checked here, in the job, before any step)."""
    return resolve(config.precision, config.channels_last, training_device(config.accelerator),
                   key=f"run {config.run_id}: training.precision")


def build_loop(config: RunConfig, precision: Precision, *, init_weights: bool = True,
               steps_per_epoch: int | None = None, with_validation: bool = True,
               lr: float | None = None) -> Loop:
    """Network, data, Adam and ReduceLROnPlateau of ``config``, seeded with ``config.seed``.

    The order is fixed -- seed, build the network (its initial weights are the first draws),
    load ``init_from`` (unless ``init_weights`` is false: a resumed run), data -- so the same
    config gives the same weights on CPU. ``steps_per_epoch`` overrides the config's (the range
    test runs one epoch of its sweep's length); ``with_validation=False`` loads no validation tiles;
    ``lr`` overrides the config's starting rate (a restart, see :func:`train`).
    """
    seed_everything(config.seed)
    device = torch.device(precision.device)
    task = SegmentationTask(config, channels_last=precision.channels_last)
    if config.init_from and init_weights:
        load_weights(task.net, config.init_from)
    task.net.to(device).train()
    data = TileDataModule.from_config(config, task.spec.target, task.spec.needs_weight)
    if steps_per_epoch is not None:
        data.steps_per_epoch = steps_per_epoch
    optimizer = torch.optim.Adam(task.net.parameters(), lr=config.lr if lr is None else lr)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=config.lr_factor,
                                                         patience=config.lr_patience)
    scaler = torch.amp.GradScaler(device.type) if precision.name == "16-mixed" else None
    return Loop(task, optimizer, plateau, data.train_dataloader(),
                data.val_dataloader() if with_validation else None, precision, device, scaler)


def train(config: RunConfig, *, on_epoch_start: Sequence[Callable[[int], None]] = (),
          echo: bool = True, fresh_if_changed: bool = False) -> TrainResult:
    """Train (or resume, or just re-export) the run described by ``config``.

    Args:
        config: the run.
        on_epoch_start: functions called with each epoch's number before it starts (tests use one
            to simulate a killed job).
        echo: print one line per epoch to stderr (losses, F1, rate, time).
        fresh_if_changed: when ``out_dir`` holds a run with other settings or inputs, move its
            training state to ``previous/<time>/`` and start afresh (default: refuse).
    """
    start = time.perf_counter()
    paths = RunPaths(Path(config.out_dir))
    for folder in (paths.out_dir, paths.checkpoints):  # temporaries of a killed job's writes
        remove_stale_temporaries(folder)
    _start_afresh_if_changed(config, paths, fresh_if_changed)
    record_inputs(config, paths)
    if _finished(paths, config):
        export_state_dict(paths.best_ckpt, paths.model_pt)
        return TrainResult(**read_json(paths.done_json))
    paths.checkpoints.mkdir(parents=True, exist_ok=True)
    if not paths.run_json.is_file() or read_json(paths.run_json) != config.to_dict():
        config.to_json(paths.run_json)
    resume = paths.last_ckpt.is_file()
    if resume:
        check_resumable(paths.last_ckpt, paths.best_ckpt)
    precision = run_precision(config)
    print(f"run {config.run_id}: {precision.name}, channels_last={precision.channels_last} on "
          f"{precision.device} ({precision.reason})", file=sys.stderr)

    state, checkpoint = LoopState(), None
    if resume:
        checkpoint = load_checkpoint(paths.last_ckpt)
        state = LoopState.from_checkpoint(checkpoint, read_log(paths.log_csv))
        print(f"run {config.run_id}: resuming after epoch {state.epoch} from {paths.last_ckpt}", file=sys.stderr)
    try:
        while True:
            lr = restart_lr(config.lr, state.attempt)
            loop = build_loop(config, precision, init_weights=checkpoint is None, lr=lr)
            if checkpoint is not None:
                loop.restore(checkpoint)
                checkpoint = None
            with loop.deterministic():
                loop.run(state, paths, max_epochs=config.max_epochs, stop_patience=config.stop_patience,
                         on_epoch_start=on_epoch_start, echo=echo)
            if not state.best_degenerate or state.attempt >= config.degenerate_restarts:
                break
            state = _restart(config, paths, state, lr)
    except KeyboardInterrupt:
        raise NucflowError(f"run {config.run_id}: training was interrupted; rerun to resume from "
                           f"{paths.last_ckpt}") from None
    return _finish(config, paths, state, resume, time.perf_counter() - start, precision)


#: A run whose every epoch was degenerate restarts from its first epoch at this factor times its
#: rate (at most ``RunConfig.degenerate_restarts`` times).
RESTART_FACTOR = 0.1


def restart_lr(lr: float, attempt: int) -> float:
    """The starting rate of restart ``attempt`` (0: the configured rate)."""
    return lr * RESTART_FACTOR ** attempt


def _restart(config: RunConfig, paths: RunPaths, state: LoopState, lr: float) -> LoopState:
    """Move the degenerate attempt's log and checkpoints aside and return the next attempt's state."""
    moved = set_aside(paths, ("log.csv", "checkpoints", "model.pt"), suffix=f"-degenerate-lr{lr:.3g}")
    paths.checkpoints.mkdir(parents=True, exist_ok=True)
    entry = {"lr": lr, "epochs": state.epoch + 1, "degenerate": state.best_degenerate, "moved_to": str(moved)}
    print(f"run {config.run_id}: every epoch at lr {lr:.3g} was {state.best_degenerate}; moved its log and "
          f"checkpoints to {moved} and training again from the first epoch at lr "
          f"{restart_lr(config.lr, state.attempt + 1):.3g}", file=sys.stderr)
    return LoopState(attempt=state.attempt + 1, restarts=[*state.restarts, entry])


def _input_spec(config: RunConfig) -> dict | None:
    """What a predictor needs to feed the network as in training, from the training tile set;
    None when the tile set does not record it (hand-made tile sets)."""
    try:
        spec = read_tile_meta(config.train_tiles[0])
    except NucflowError:
        return None
    return {**spec, "percentiles": list(spec["percentiles"])}


def _finish(config: RunConfig, paths: RunPaths, state: LoopState, resumed: bool,
            wall_seconds: float, precision: Precision) -> TrainResult:
    if not paths.best_ckpt.is_file() or state.best_epoch is None:
        raise NucflowError(f"run {config.run_id}: no checkpoint was written to {paths.checkpoints}")
    export_state_dict(paths.best_ckpt, paths.model_pt)
    log = read_log(paths.log_csv)
    train_seconds = float(log["train_seconds"].sum())
    tiles = len(log) * config.effective_steps_per_epoch * config.batch_size
    result = TrainResult(
        run_id=config.run_id, epochs_run=state.epoch + 1, best_epoch=int(state.best_epoch),
        best_val_loss=float(state.best_val_loss), stopped_early=state.stopped,
        wall_seconds=round(wall_seconds, 3), train_seconds=round(train_seconds, 3),
        tiles_per_second=round(tiles / train_seconds, 3) if train_seconds > 0 else None,
        resumed=resumed, precision=precision.name, channels_last=precision.channels_last,
        device=precision.device, input=_input_spec(config), lr=restart_lr(config.lr, state.attempt),
        restarts=list(state.restarts))
    write_json(paths.done_json, asdict(result))
    return result
