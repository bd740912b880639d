"""``log.csv`` of a run: one row per epoch.

Columns: ``epoch`` (0-based), ``train_loss``, ``val_loss``, ``val_f1``, ``lr`` (the rate used during
the epoch), ``train_seconds`` (wall time of the epoch's training steps). The file is rewritten
after every validation, so it is complete at any moment; on resume, rows of epochs at or after the
resumed one are replaced.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from nucflow.io import write_csv

LOG_COLUMNS = ("epoch", "train_loss", "val_loss", "val_f1", "lr", "train_seconds")


def read_log(path: str | os.PathLike) -> pd.DataFrame:
    """``log.csv`` as a DataFrame (empty with :data:`LOG_COLUMNS` if the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return pd.DataFrame({c: pd.Series(dtype=int if c == "epoch" else float) for c in LOG_COLUMNS})
    return pd.read_csv(path)


def append_epoch(path: str | os.PathLike, metrics, train_seconds: float) -> None:
    """Write ``metrics`` (a :class:`~nucflow.training.module.EpochMetrics`) as the last row of
    ``path``, dropping any rows of that epoch or later (left by a job killed after logging)."""
    log = read_log(path)
    log = log[log["epoch"] < metrics.epoch]
    row = pd.DataFrame([{"epoch": metrics.epoch, "train_loss": metrics.train_loss,
                         "val_loss": metrics.val_loss, "val_f1": metrics.val_f1, "lr": metrics.lr,
                         "train_seconds": train_seconds}])
    write_csv(path, pd.concat([log, row], ignore_index=True) if len(log) else row)
