"""Train one run from its :class:`RunConfig` with PyTorch Lightning, resuming exactly where an
interrupted job stopped.

The trainer (:func:`make_trainer`) fits :class:`~nucflow.training.module.SegmentationModule` on
:class:`~nucflow.data.datamodule.TileDataModule` with these callbacks: ``log.csv`` and the kept
epoch (:mod:`nucflow.training.callbacks`), Lightning's ``EarlyStopping`` on ``val_loss`` and a
``ModelCheckpoint`` that writes ``last.ckpt`` after every epoch, plus any the caller passes.
``training.devices`` > 1 trains with DDP, ``training.logger: tensorboard`` adds Lightning's
TensorBoard logger, and a terminal gets Lightning's progress bar.

Run folder (``config.out_dir``)::

    run.json          the configuration used
    inputs.json       SHA-256 of the tile sets and init_from weights it learned from
    log.csv           one row per epoch (see nucflow.training.callbacks)
    checkpoints/      best.ckpt (the kept epoch), last.ckpt (end of the latest epoch, every epoch)
    tensorboard/      with training.logger: tensorboard
    model.pt          plain state_dict of the best weights (what inference loads)
    train_done.json   epochs run, best val_loss and epoch, times, throughput, why training stopped
    previous/<time>/  training state of earlier runs set aside by ``fresh_if_changed``

Resume: when ``checkpoints/last.ckpt`` exists, training continues from it (epoch, weights, Adam,
ReduceLROnPlateau, early-stopping and kept-epoch state, all in Lightning's checkpoint); a killed
job loses at most the epoch it was in. Tile sampling, FREM draws and the global RNG are seeded
per ``(seed, epoch)`` and ``(seed, step)``, so on CPU a resumed run ends with the same weights,
bit for bit, as an uninterrupted one. A ``last.ckpt`` of the plain-torch trainer of earlier
versions cannot be resumed and is refused in one line that says to retrain. When
``train_done.json`` says the run is finished (early stop, or ``max_epochs`` reached), a rerun only
re-exports ``model.pt``; a larger ``max_epochs`` continues a run that had stopped at its epoch limit
(to the weights of a run trained to the larger limit at once) and leaves one that early stopping
had ended as it was, also when the workflow deleted ``train_done.json`` before the rerun
(:class:`~nucflow.training.callbacks.StoppedStays`).

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

import contextlib
import importlib.util
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.environments import LightningEnvironment, SLURMEnvironment
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint

from nucflow.data.datamodule import TileDataModule
from nucflow.data.tiles import read_tile_meta
from nucflow.errors import NucflowError
from nucflow.io import read_json, remove_stale_temporaries, write_json
from nucflow.precision import Precision, resolve, training_device
from nucflow.training.callbacks import EpochLog, KeptEpoch, StoppedStays, read_log
from nucflow.training.checkpoints import (SafeCheckpointIO, check_resumable, export_state_dict, load_checkpoint,
                                          load_weights)
from nucflow.training.config import RunConfig
from nucflow.training.module import SegmentationModule
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
        devices: how many devices trained the run (``None`` in runs finished before it was recorded).
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
    devices: int | None = None


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
    key = f"run {config.run_id}: training.precision"
    precision = resolve(config.precision, config.channels_last, training_device(config.accelerator), key=key)
    if precision.name == "16-mixed" and precision.device == "cpu":
        raise NucflowError(f"{key}: 16-mixed (fp16 autocast) trains on CUDA GPUs only; on a CPU use "
                           "auto, bf16-mixed or 32-true")
    return precision


def check_devices(config: RunConfig, precision: Precision) -> None:
    """Refuse, in one line naming the key, more devices than this node has or a batch that does not
    split evenly over them."""
    key = f"run {config.run_id}: training.devices"
    if precision.device == "cuda":
        available, what = torch.cuda.device_count(), "GPU(s)"
    else:
        available, what = os.cpu_count() or 1, "CPU core(s)"
    if config.devices > available:
        raise NucflowError(f"{key}: {config.devices} devices asked for, but this node has {available} {what}")
    if config.batch_size % config.devices:
        raise NucflowError(f"{key}: the batch of {config.batch_size} tiles (the global batch) does not split "
                           f"evenly over {config.devices} devices")


def process_rank() -> int:
    """This process's rank among a multi-device run's processes: 0 for the one the user or the
    workflow started, >= 1 for those Lightning's DDP launcher started (``LOCAL_RANK``)."""
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


def _logger(config: RunConfig, paths: RunPaths):
    """Lightning's logger for ``training.logger`` (``csv``: none besides ``log.csv``)."""
    if config.logger == "csv":
        return False
    if importlib.util.find_spec("tensorboard") is None and importlib.util.find_spec("tensorboardX") is None:
        raise NucflowError(f"run {config.run_id}: training.logger: tensorboard needs the tensorboard package "
                           "(pip install 'nucflow[tensorboard]')")
    from pytorch_lightning.loggers import TensorBoardLogger

    return TensorBoardLogger(save_dir=paths.out_dir, name="tensorboard", version="", default_hp_metric=False)


def make_trainer(config: RunConfig, precision: Precision, *, callbacks: Sequence[pl.Callback] = (),
                 interactive: bool = False, logger=False, max_epochs: int | None = None,
                 checkpointing: bool = True, root: str | os.PathLike | None = None) -> pl.Trainer:
    """The Lightning trainer of a run: its accelerator, devices, strategy and precision, atomic
    weights-only checkpoint I/O, and ``callbacks``.

    On several devices it runs DDP (``training.strategy: auto`` means ``ddp``) with synchronised
    batch norm; Lightning then starts one more process per device, which reruns the same command
    (:func:`process_rank`), and the data module gives each process its slice of every batch.
    """
    plugins: list = [SafeCheckpointIO()]
    if config.devices > 1:  # Lightning starts the processes itself, also inside a one-task SLURM job
        plugins.append(LightningEnvironment())
    elif SLURMEnvironment.detect():  # Snakemake retries jobs; Lightning must not requeue them itself
        plugins.append(SLURMEnvironment(auto_requeue=False))
    strategy = config.strategy
    if strategy == "auto" and config.devices > 1:
        strategy = "ddp"
    return pl.Trainer(
        accelerator="gpu" if precision.device == "cuda" else "cpu", devices=config.devices, strategy=strategy,
        sync_batchnorm=config.devices > 1, use_distributed_sampler=False, precision=precision.name,
        max_epochs=config.max_epochs if max_epochs is None else max_epochs, callbacks=list(callbacks),
        logger=logger, default_root_dir=root, num_sanity_val_steps=0, enable_checkpointing=checkpointing,
        enable_progress_bar=interactive, enable_model_summary=interactive, plugins=plugins)


def quiet_lightning(interactive: bool) -> None:
    """Outside a terminal, Lightning's INFO lines (devices found, tips, "fit stopped") stay out of
    the job log, which then holds one line per epoch; a terminal shows them. Called by the CLIs
    (it sets the level of Lightning's loggers for the process)."""
    import logging

    level = logging.INFO if interactive else logging.WARNING
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(level)


#: Lightning warnings that say nothing about a nucflow run: tile sets live in memory (no loader
#: workers), checkpoints go to a folder that holds the earlier ones, the range test has no
#: validation set, the model summary cannot size bf16, a torch deprecation inside Lightning, and
#: epoch metrics the module has already added up over the DDP processes.
LIGHTNING_NOISE = (".*does not have many workers.*", ".*Checkpoint directory .* exists and is not empty.*",
                   ".*`validation_step` but have no `val_dataloader`.*", ".*is not supported by the model summary.*",
                   ".*isinstance.treespec, LeafSpec.*", ".*when logging on epoch level in distributed setting.*")


@contextlib.contextmanager
def fitting(device: str):
    """Around a Lightning fit: deterministic algorithms on CPU (runs are then bit-identical) and
    :data:`LIGHTNING_NOISE` silenced; both restored after."""
    before = torch.are_deterministic_algorithms_enabled()
    if device == "cpu":
        torch.use_deterministic_algorithms(True)
    try:
        with warnings.catch_warnings():
            for pattern in LIGHTNING_NOISE:
                warnings.filterwarnings("ignore", pattern)
            yield
    finally:
        torch.use_deterministic_algorithms(before)


def _fit(config: RunConfig, paths: RunPaths, precision: Precision, *, attempt: int, restarts: list,
         resume: bool, callbacks: Sequence[pl.Callback], interactive: bool,
         echo: bool) -> tuple[pl.Trainer, KeptEpoch]:
    """One attempt of the run: build module, data and trainer, and fit (from ``last.ckpt`` when
    ``resume``)."""
    pl.seed_everything(config.seed, workers=True, verbose=False)
    module = SegmentationModule(config, lr=restart_lr(config.lr, attempt), channels_last=precision.channels_last)
    if config.init_from and not resume:
        load_weights(module.net, config.init_from)
    data = TileDataModule.from_config(config, module.spec.target, module.spec.needs_weight)
    kept = KeptEpoch(paths.best_ckpt, attempt, restarts)
    last = ModelCheckpoint(dirpath=paths.checkpoints, filename="last", monitor=None, save_top_k=1,
                           auto_insert_metric_name=False, enable_version_counter=False)
    stopper = EarlyStopping(monitor="val_loss", mode="min", patience=config.stop_patience)
    trainer = make_trainer(config, precision, interactive=interactive, logger=_logger(config, paths),
                           callbacks=[EpochLog(paths.log_csv, echo), stopper, StoppedStays(), kept, last, *callbacks],
                           root=paths.out_dir)
    with fitting(precision.device):
        trainer.fit(module, datamodule=data, ckpt_path=str(paths.last_ckpt) if resume else None, weights_only=True)
    if trainer.interrupted:
        raise NucflowError(f"run {config.run_id}: training was interrupted; rerun to resume from {paths.last_ckpt}")
    return trainer, kept


def train(config: RunConfig, *, callbacks: Sequence[pl.Callback] = (), echo: bool = True,
          interactive: bool | None = None, fresh_if_changed: bool = False) -> TrainResult | None:
    """Train (or resume, or just re-export) the run described by ``config``.

    Args:
        config: the run.
        callbacks: extra Lightning callbacks (EMA, SWA, a metric of your own; tests use one to
            simulate a killed job).
        echo: print one line per epoch to stderr (losses, F1, rate, time).
        interactive: show Lightning's progress bar and model summary (default: when stderr is a
            terminal; Snakemake jobs write to a log file and get one line per epoch instead).
        fresh_if_changed: when ``out_dir`` holds a run with other settings or inputs, move its
            training state to ``previous/<time>/`` and start afresh (default: refuse).

    Returns the result, or ``None`` in the extra processes of a multi-device run.
    """
    start = time.perf_counter()
    paths = RunPaths(Path(config.out_dir))
    rank = process_rank()
    interactive = sys.stderr.isatty() if interactive is None else interactive
    if rank == 0:  # the extra processes of a multi-device run find the folder prepared
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
    check_devices(config, precision)
    if rank == 0:
        print(f"run {config.run_id}: {precision.name}, channels_last={precision.channels_last} on "
              f"{precision.device} x {config.devices} ({precision.reason})", file=sys.stderr)
    attempt, restarts = 0, []
    if resume:
        saved = load_checkpoint(paths.last_ckpt).get("callbacks", {}).get("KeptEpoch", {})
        attempt, restarts = int(saved.get("attempt", 0)), list(saved.get("restarts", []))
        if rank == 0:
            print(f"run {config.run_id}: resuming from {paths.last_ckpt}", file=sys.stderr)
    try:
        while True:
            trainer, kept = _fit(config, paths, precision, attempt=attempt, restarts=restarts, resume=resume,
                                 callbacks=callbacks, interactive=interactive, echo=echo)
            if not kept.best_degenerate or kept.attempt >= config.degenerate_restarts:
                break
            attempt, restarts, resume = kept.attempt + 1, _restart(config, paths, kept, rank), False
    except KeyboardInterrupt:
        raise NucflowError(f"run {config.run_id}: training was interrupted; rerun to resume from "
                           f"{paths.last_ckpt}") from None
    if rank != 0:
        return None
    return _finish(config, paths, trainer, kept, resume, time.perf_counter() - start, precision)


#: A run whose every epoch was degenerate restarts from its first epoch at this factor times its
#: rate (at most ``RunConfig.degenerate_restarts`` times).
RESTART_FACTOR = 0.1


def restart_lr(lr: float, attempt: int) -> float:
    """The starting rate of restart ``attempt`` (0: the configured rate)."""
    return lr * RESTART_FACTOR ** attempt


def _restart(config: RunConfig, paths: RunPaths, kept: KeptEpoch, rank: int) -> list:
    """Move the degenerate attempt's log and checkpoints aside (first process only); returns the
    restarts so far, this one included."""
    lr = restart_lr(config.lr, kept.attempt)
    entry = {"lr": lr, "epochs": None, "degenerate": kept.best_degenerate, "moved_to": None}
    if rank == 0:
        entry["epochs"] = len(read_log(paths.log_csv))
        moved = set_aside(paths, ("log.csv", "checkpoints", "model.pt"), suffix=f"-degenerate-lr{lr:.3g}")
        paths.checkpoints.mkdir(parents=True, exist_ok=True)
        entry["moved_to"] = str(moved)
        print(f"run {config.run_id}: every epoch at lr {lr:.3g} was {kept.best_degenerate}; moved its log and "
              f"checkpoints to {moved} and training again from the first epoch at lr "
              f"{restart_lr(config.lr, kept.attempt + 1):.3g}", file=sys.stderr)
    return [*kept.restarts, entry]


def _input_spec(config: RunConfig) -> dict | None:
    """What a predictor needs to feed the network as in training, from the training tile set;
    None when the tile set does not record it (hand-made tile sets)."""
    try:
        spec = read_tile_meta(config.train_tiles[0])
    except NucflowError:
        return None
    return {**spec, "percentiles": list(spec["percentiles"])}


def _finish(config: RunConfig, paths: RunPaths, trainer: pl.Trainer, kept: KeptEpoch, resumed: bool,
            wall_seconds: float, precision: Precision) -> TrainResult:
    if not paths.best_ckpt.is_file() or kept.best_epoch is None:
        raise NucflowError(f"run {config.run_id}: no checkpoint was written to {paths.checkpoints}")
    export_state_dict(paths.best_ckpt, paths.model_pt)
    log = read_log(paths.log_csv)
    train_seconds = float(log["train_seconds"].sum())
    tiles = len(log) * config.effective_steps_per_epoch * config.batch_size
    epochs_run = int(trainer.current_epoch)
    result = TrainResult(
        run_id=config.run_id, epochs_run=epochs_run, best_epoch=int(kept.best_epoch),
        best_val_loss=float(kept.best_val_loss), stopped_early=epochs_run < config.max_epochs,
        wall_seconds=round(wall_seconds, 3), train_seconds=round(train_seconds, 3),
        tiles_per_second=round(tiles / train_seconds, 3) if train_seconds > 0 else None,
        resumed=resumed, precision=precision.name, channels_last=precision.channels_last,
        device=precision.device, input=_input_spec(config), lr=restart_lr(config.lr, kept.attempt),
        restarts=list(kept.restarts), devices=config.devices)
    write_json(paths.done_json, asdict(result))
    return result
