"""Callbacks of ``nucflow train``: the per-epoch ``log.csv``.

``log.csv`` columns: ``epoch`` (0-based), ``train_loss``, ``val_loss``, ``val_f1``, ``lr`` (the rate
used during the epoch), ``train_seconds`` (wall time of the epoch's training steps). It is
rewritten after every validation, so it is complete at any moment; on resume, rows of epochs at
or after the resumed one are replaced.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytorch_lightning as pl

from nucflow.io import write_csv

LOG_COLUMNS = ("epoch", "train_loss", "val_loss", "val_f1", "lr", "train_seconds")


def read_log(path: str | os.PathLike) -> pd.DataFrame:
    """``log.csv`` as a DataFrame (empty with :data:`LOG_COLUMNS` if the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return pd.DataFrame({c: pd.Series(dtype=int if c == "epoch" else float) for c in LOG_COLUMNS})
    return pd.read_csv(path)


class EpochLog(pl.Callback):
    """Append one row per epoch to ``path`` from ``SegmentationModule.epoch_metrics``."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._epoch_start: float | None = None
        self._train_seconds = float("nan")

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start = time.perf_counter()
        self._train_seconds = float("nan")

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._epoch_start is not None and not trainer.sanity_checking:
            self._train_seconds = time.perf_counter() - self._epoch_start

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = getattr(pl_module, "epoch_metrics", None)
        if trainer.sanity_checking or metrics is None or metrics.epoch != trainer.current_epoch:
            return
        log = read_log(self.path)
        log = log[log["epoch"] < metrics.epoch]
        row = pd.DataFrame([{"epoch": metrics.epoch, "train_loss": metrics.train_loss,
                             "val_loss": metrics.val_loss, "val_f1": metrics.val_f1, "lr": metrics.lr,
                             "train_seconds": self._train_seconds}])
        write_csv(self.path, pd.concat([log, row], ignore_index=True) if len(log) else row)
