"""How each run's training went: its learning curve against optimisation steps, and whether the
step cap stopped it while it was still learning.

A run folder holds ``run.json`` (the step budget: ``max_epochs`` x steps per epoch), ``log.csv``
(one row per epoch of the kept attempt) and ``train_done.json`` (the kept epoch, early stop or
not). From them:

* :func:`learning_curve` -- one row per epoch with ``step``, the optimisation steps taken by the
  end of that epoch, beside ``train_loss``, ``val_loss``, ``val_f1`` and ``lr``;
* :func:`convergence` -- one row per run: ``best_step`` (end of the kept epoch), ``steps_run``,
  ``cap`` (the step budget), ``stopped`` (``early``: early stopping on the validation loss;
  ``cap``: the budget ran out), ``tail_change`` and ``cut_short``.

``tail_change`` is how much the *best* validation loss so far improved during the last tenth of
the steps run, relative to where it stood before: ``(min(all) - min(epochs ending by 90 %)) /
min(epochs ending by 90 %)``, so ``-0.05`` means 5 % lower. The running minimum ignores the
epoch-to-epoch noise of a single validation loss, and it is what the kept epoch follows. A run
is ``cut_short`` when the cap stopped it and the tail still improved by more than
:data:`CUT_SHORT_CHANGE` (1 %): more steps would probably have helped. With one epoch there is no
earlier point and ``tail_change`` is NaN (never cut short).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.errors import NucflowError
from nucflow.io import read_json

#: A run stopped by its step cap whose best validation loss still fell by more than this (relative)
#: during its last tenth of steps is reported as cut short.
CUT_SHORT_CHANGE = 0.01
CURVE_COLUMNS = ("epoch", "step", "train_loss", "val_loss", "val_f1", "lr")


def _steps_per_epoch(run: dict) -> int:
    steps = run.get("steps_per_epoch")
    return int(steps) if steps else max(1, 10000 // int(run["batch_size"]))


def learning_curve(run_dir: str | os.PathLike) -> pd.DataFrame:
    """The run's ``log.csv`` with ``step`` (steps by the end of each epoch), columns :data:`CURVE_COLUMNS`."""
    run_dir = Path(run_dir)
    log_path, run_path = run_dir / "log.csv", run_dir / "run.json"
    for path in (log_path, run_path):
        if not path.is_file():
            raise NucflowError(f"{path}: missing; train this run first")
    log = pd.read_csv(log_path)
    missing = [c for c in CURVE_COLUMNS if c != "step" and c not in log.columns]
    if missing:
        raise NucflowError(f"{log_path}: missing column(s) {', '.join(missing)}")
    steps = _steps_per_epoch(read_json(run_path))
    return log.assign(step=(log["epoch"].astype(int) + 1) * steps)[list(CURVE_COLUMNS)]


def tail_change(curve: pd.DataFrame) -> float:
    """Relative change of the best validation loss over the last tenth of the steps run (NaN
    with fewer than two epochs or a non-positive loss)."""
    if len(curve) < 2:
        return math.nan
    steps, losses = curve["step"].to_numpy(float), curve["val_loss"].to_numpy(float)
    before = losses[steps <= 0.9 * steps[-1]]
    if not len(before):
        before = losses[:1]
    earlier, final = np.nanmin(before), np.nanmin(losses)
    if not (np.isfinite(earlier) and earlier > 0):
        return math.nan
    return float((final - earlier) / earlier)


def convergence(run_dir: str | os.PathLike) -> dict:
    """One row: ``best_step``, ``steps_run``, ``cap``, ``stopped``, ``tail_change``, ``cut_short``."""
    run_dir = Path(run_dir)
    curve = learning_curve(run_dir)
    run = read_json(run_dir / "run.json")
    done_path = run_dir / "train_done.json"
    if not done_path.is_file():
        raise NucflowError(f"{done_path}: missing; train this run first")
    done = read_json(done_path)
    steps = _steps_per_epoch(run)
    cap = int(run.get("max_epochs", 500)) * steps
    steps_run = int(curve["step"].iloc[-1]) if len(curve) else 0
    stopped = "early" if done.get("stopped_early") and steps_run < cap else "cap"
    change = tail_change(curve)
    return {"best_step": (int(done["best_epoch"]) + 1) * steps, "steps_run": steps_run, "cap": cap,
            "stopped": stopped, "tail_change": change,
            "cut_short": bool(stopped == "cap" and change == change and change < -CUT_SHORT_CHANGE)}
