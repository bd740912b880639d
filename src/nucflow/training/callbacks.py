"""The Lightning callbacks of ``nucflow train``: ``log.csv`` and the kept epoch (``best.ckpt``).

Lightning's own :class:`~pytorch_lightning.callbacks.EarlyStopping` and
:class:`~pytorch_lightning.callbacks.ModelCheckpoint` (``last.ckpt`` every epoch) do the rest;
these two exist because no library callback does what the study needs:

* :class:`EpochLog` -- ``log.csv``, one row per epoch with the columns the tables and figures
  read (``epoch`` 0-based, ``train_loss``, ``val_loss``, ``val_f1``, ``lr`` -- the rate used during
  the epoch --, ``train_seconds``: wall time of the epoch's training steps). The file is rewritten
  after every epoch, so it is complete at any moment; on resume, rows of epochs at or after the
  resumed one are replaced. It also prints one line per epoch (through the progress bar when one
  is shown). Lightning's CSVLogger writes a row per logging call with other column names and a
  new ``version_N`` folder per resume.
* :class:`KeptEpoch` -- the epoch whose weights become ``model.pt``: the lowest ``val_loss``
  among the epochs whose validation predictions are not degenerate (all background or all
  foreground, by the thresholds the evaluation uses), and the lowest overall only while every
  epoch so far is degenerate. ``ModelCheckpoint(monitor="val_loss")`` would keep a collapsed epoch
  whose loss happens to be lowest although later epochs learned nuclei. Its state (the kept
  epoch, and the degenerate restarts so far) travels in every checkpoint, so a resumed run goes
  on choosing as an uninterrupted one would. Values are compared in float32 with a strict ``<``,
  as EarlyStopping compares the logged ``val_loss``.

Both run their file writes on the first process only when several devices train.

* :class:`StoppedStays` -- a run that early stopping had ended stays ended when it is started
  again from its ``last.ckpt``. The workflow reruns a training job after its plan changed (a
  higher ``max_epochs``, say) and deletes ``train_done.json`` first; Lightning restores the
  stopper's count but not the trainer's ``should_stop``, so without this the run would train one
  more epoch, and its kept epoch could differ from that of a run trained to the new cap at once.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytorch_lightning as pl
from pytorch_lightning.callbacks import Checkpoint

from nucflow.io import write_csv

LOG_COLUMNS = ("epoch", "train_loss", "val_loss", "val_f1", "lr", "train_seconds")


def read_log(path: str | os.PathLike) -> pd.DataFrame:
    """``log.csv`` as a DataFrame (empty with :data:`LOG_COLUMNS` if the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return pd.DataFrame({c: pd.Series(dtype=int if c == "epoch" else float) for c in LOG_COLUMNS})
    return pd.read_csv(path)


class EpochLog(pl.Callback):
    """Write each epoch's row of ``log.csv`` (from ``SegmentationModule.epoch_metrics``) and, with
    ``echo``, one line on stderr."""

    def __init__(self, path: str | os.PathLike, echo: bool = True):
        self.path = Path(path)
        self.echo = echo
        self._epoch_start: float | None = None
        self.train_seconds = math.nan

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start = time.perf_counter()
        self.train_seconds = math.nan

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._epoch_start is not None and not trainer.sanity_checking:
            self.train_seconds = time.perf_counter() - self._epoch_start

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = getattr(pl_module, "epoch_metrics", None)
        if metrics is None or metrics.epoch != trainer.current_epoch or not trainer.is_global_zero:
            return
        log = read_log(self.path)
        log = log[log["epoch"] < metrics.epoch]
        row = pd.DataFrame([{"epoch": metrics.epoch, "train_loss": metrics.train_loss,
                             "val_loss": metrics.val_loss, "val_f1": metrics.val_f1, "lr": metrics.lr,
                             "train_seconds": self.train_seconds}])
        write_csv(self.path, pd.concat([log, row], ignore_index=True) if len(log) else row)
        if self.echo:
            pl_module.print(
                f"run {pl_module.config.run_id}: epoch {metrics.epoch}: train_loss {metrics.train_loss:.4g}, "
                f"val_loss {metrics.val_loss:.4g}, val_f1 {metrics.val_f1:.3f}, lr {metrics.lr:.3g}, "
                f"{self.train_seconds:.1f} s{f' ({metrics.degenerate})' if metrics.degenerate else ''}",
                file=sys.stderr)


def _f32(value: float) -> np.float32:
    return np.float32(value)


class KeptEpoch(Checkpoint):
    """Choose the kept epoch and write it to ``path`` (``best.ckpt``) when it changes.

    Attributes (all in the callback's checkpoint state):
        best_epoch, best_val_loss, best_degenerate: the kept epoch, its ``val_loss`` (``inf`` for a
            non-finite one) and its degenerate verdict (``""``: not degenerate).
        attempt: how many times the run was restarted at a lower rate because every epoch was
            degenerate; restarts: one entry per restart (see :func:`nucflow.training.train.train`).
    """

    def __init__(self, path: str | os.PathLike, attempt: int = 0, restarts: list | None = None):
        self.path = Path(path)
        self.best_epoch: int | None = None
        self.best_val_loss: float | None = None
        self.best_degenerate = ""
        self.attempt = attempt
        self.restarts = list(restarts or [])

    @property
    def state_key(self) -> str:
        return "KeptEpoch"

    def better(self, val_loss: float, degenerate: str) -> bool:
        """Whether an epoch with ``val_loss`` and verdict ``degenerate`` replaces the kept one."""
        if self.best_epoch is None:  # the first epoch is kept whatever it is (a NaN one scores as the worst)
            return True
        if not math.isfinite(val_loss):
            return False
        if self.best_degenerate and not degenerate:
            return True
        return bool(degenerate) == bool(self.best_degenerate) and _f32(val_loss) < _f32(self.best_val_loss)

    def record(self, epoch: int, val_loss: float, degenerate: str = "") -> bool:
        """Book an epoch; returns whether it is the new kept epoch."""
        better = self.better(val_loss, degenerate)
        if better:
            self.best_epoch, self.best_degenerate = epoch, degenerate
            self.best_val_loss = float(val_loss) if math.isfinite(val_loss) else math.inf
        return better

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = getattr(pl_module, "epoch_metrics", None)
        if metrics is None or metrics.epoch != trainer.current_epoch:
            return
        if self.record(metrics.epoch, metrics.val_loss, metrics.degenerate):
            trainer.save_checkpoint(self.path, weights_only=False)

    def state_dict(self) -> dict[str, Any]:
        return {"best_epoch": self.best_epoch, "best_val_loss": self.best_val_loss,
                "best_degenerate": self.best_degenerate, "attempt": self.attempt, "restarts": self.restarts}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_epoch = state_dict["best_epoch"]
        self.best_val_loss = state_dict["best_val_loss"]
        self.best_degenerate = state_dict["best_degenerate"]
        self.attempt = int(state_dict["attempt"])
        self.restarts = list(state_dict["restarts"])


class StoppedStays(pl.Callback):
    """Ends a resumed fit before its first epoch when the restored early-stopping state says the
    run had already stopped (its count of epochs without improvement reached the patience)."""

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for stopper in trainer.early_stopping_callbacks:
            if stopper.wait_count >= stopper.patience:
                trainer.should_stop = True
