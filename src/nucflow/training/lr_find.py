"""Smith's learning-rate range test, as the study used it to pick each model's learning rate.

The rate grows exponentially from ``min_lr`` to ``max_lr`` (1e-10 to 10 as published) over
``num_steps`` training steps of the run's own data, model, loss, batch size, seed and precision,
one step per rate, run by Lightning's ``Tuner.lr_find`` on one device (it restores the network
afterwards; nothing is saved but the curve). A non-finite loss ends the sweep (recorded as NaN).
The module records every raw step loss; the rates are the tuner's.

Smoothing: the loss curve is an exponential moving average of the raw step losses,
``a_k = beta a_{k-1} + (1 - beta) loss_k``, bias-corrected as ``a_k / (1 - beta^(k+1))`` -- the
tuner's smoothing, but with ``beta = min(0.98, max(0, 1 - 50 / num_steps))`` instead of a fixed
0.98: the average's time constant (``1 / (1 - beta)`` steps) is then 2 % of the sweep, about a
quarter of a decade of learning rate for the published 1e-10..10 sweep. A fixed 0.98 (time
constant 50 steps) is right for sweeps of thousands of steps but lags by several decades on a
100-step sweep and moves the chosen rate far to the right. ``beta`` is written to ``lr.json``.

Selection rule ("steepest descent"): first the end of the descent -- the first step at which the
smoothed loss has covered 90 % (:data:`DESCENT_SHARE`) of its fall from the start of the sweep to
its minimum; everything after it (the flat bottom, the divergent tail, anything from the first
non-finite smoothed loss) is cut. The chosen rate is the one where the smoothed loss falls
fastest per decade of learning rate (``argmin d(smoothed loss)/d(log10 lr)``, by
``numpy.gradient``), among the remaining steps after the first ``skip_begin`` (10) and before the
end itself, and at most a tenth (:data:`END_FRACTION`) of the rate at the end. The paper picked
"the value that gives the largest change in loss" by eye; this is that rule made explicit, with
two guards a user reading the curve applies without thinking. With one step per rate the loss
keeps falling from the steps before, so the bottom of the curve is often a long, noisy plateau
whose lowest point lies decades to the right (U-Net brightfield at width 0.25: the loss is flat
from 0.05 to 2.8, lowest at 2.8), and the fall is often steepest just before the bottom, where
training already turns unstable (PPU-Net took 0.147 for Adam in the demo and left a seed all
background). Against the global minimum, the earlier rule chose 0.15-1.7 for Adam on such curves;
this one chooses 1e-4 to 1e-2 on all ten curves of the reference study's range tests. The tuner's
own suggestion (steepest gradient with respect to the linear rate, of an EMA with a fixed beta of
0.98) is written beside it for comparison.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.errors import NucflowError
from nucflow.io import write_csv, write_json
from nucflow.training.config import RunConfig

RULE = ("steepest descent of the bias-corrected EMA of the loss (beta in lr.json) with respect to "
        "log10(lr), from step 10 up to the end of the descent -- the first step where the smoothed "
        "loss has covered 90 % of its fall from the sweep's start to its minimum -- and at most a "
        "tenth of the rate there; the flat bottom, the divergent tail and anything from a non-finite "
        "loss on are excluded")
#: The descent ends where the smoothed loss has covered this share of its fall to its minimum.
DESCENT_SHARE = 0.9
#: The chosen rate is at most this fraction of the rate at the end of the descent.
END_FRACTION = 0.1


def smoothing_beta(num_steps: int) -> float:
    """EMA factor whose time constant is 2 % of a ``num_steps`` sweep (at most the tuner's 0.98)."""
    return min(0.98, max(0.0, 1.0 - 50.0 / num_steps))


@dataclass(frozen=True)
class LRCurve:
    """The range test's result.

    Attributes:
        curve: DataFrame with ``step``, ``lr``, ``loss`` (raw), ``smoothed_loss`` and ``used``
            (inside the region the rule looks at).
        lr: the chosen learning rate; rule: how it was chosen; beta: the EMA factor used.
        tuner_suggestion: Lightning's suggestion on the same curve (or None).
    """

    curve: pd.DataFrame
    lr: float
    rule: str
    tuner_suggestion: float | None
    beta: float


def smooth_losses(losses: np.ndarray, beta: float = 0.98) -> np.ndarray:
    """Bias-corrected exponential moving average of ``losses`` (1-D); NaN stays NaN from there on."""
    out = np.empty(len(losses))
    average = 0.0
    for k, value in enumerate(np.asarray(losses, float)):
        average = beta * average + (1 - beta) * value
        out[k] = average / (1 - beta ** (k + 1))
    return out


def descent_end(smoothed: np.ndarray, skip_begin: int = 10) -> int:
    """One past the last step of the descent: the first step at which the smoothed loss has covered
    :data:`DESCENT_SHARE` of its fall from the start of the sweep (the median of the ten steps from
    ``skip_begin``) to its minimum, among the steps before the first non-finite one (0 if the very
    first is not finite)."""
    smoothed = np.asarray(smoothed, float)
    finite = np.isfinite(smoothed)
    stop = len(smoothed) if finite.all() else int(np.argmin(finite))
    if not stop:
        return 0
    lowest = int(np.argmin(smoothed[:stop]))
    begin = min(skip_begin, max(lowest - 2, 0))
    start = float(np.median(smoothed[begin:min(begin + 10, lowest + 1)]))
    threshold = smoothed[lowest] + (1.0 - DESCENT_SHARE) * max(start - smoothed[lowest], 0.0)
    return int(np.argmax(smoothed[:lowest + 1] <= threshold)) + 1


def choose_lr(lrs: np.ndarray, smoothed: np.ndarray, skip_begin: int = 10) -> tuple[float, np.ndarray]:
    """The chosen rate of a range-test curve (see the module docstring) and the mask of steps it
    considered.

    Raises :class:`NucflowError` when fewer than 3 usable steps remain."""
    lrs, smoothed = np.asarray(lrs, float), np.asarray(smoothed, float)
    end = descent_end(smoothed, skip_begin)
    used = np.zeros(len(lrs), bool)
    used[min(skip_begin, max(end - 3, 0)):end] = True
    if used.sum() < 3:
        raise NucflowError(f"lr-find: the smoothed loss never fell (only {int(used.sum())} steps up to "
                           "the end of its descent); use more steps or a smaller --min-lr")
    index = np.flatnonzero(used)
    slope = np.gradient(smoothed[index], np.log10(lrs[index]))[:-1]  # not the end point itself
    steepest = float(lrs[index[int(np.argmin(slope))]])
    return min(steepest, END_FRACTION * float(lrs[end - 1])), used


def find_lr(config: RunConfig, min_lr: float = 1e-10, max_lr: float = 10.0, num_steps: int = 100,
            work_dir: str | os.PathLike | None = None) -> LRCurve:
    """Run the range test for ``config`` (its model, loss, tiles, batch size, seed, precision).

    ``work_dir`` holds the tuner's temporary checkpoint (default: ``config.out_dir``)."""
    import pytorch_lightning as pl
    from pytorch_lightning.tuner import Tuner

    from nucflow.data.datamodule import TileDataModule
    from nucflow.training.module import SegmentationModule
    from nucflow.training.train import fitting, make_trainer, run_precision

    if not 0 < min_lr < max_lr:
        raise NucflowError(f"lr-find: need 0 < min_lr < max_lr, got {min_lr} and {max_lr}")
    if num_steps < 13:
        raise NucflowError(f"lr-find: num_steps must be at least 13, got {num_steps}")
    config = config.replace(devices=1, strategy="auto", logger="csv")  # one device: a curve, not a run
    work_dir = Path(work_dir or config.out_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    precision = run_precision(config)
    pl.seed_everything(config.seed, workers=True, verbose=False)
    module = SegmentationModule(config, nonfinite="stop", channels_last=precision.channels_last)
    module.step_losses = []
    data = TileDataModule.from_config(config, module.spec.target, module.spec.needs_weight)
    data.steps_per_epoch = num_steps
    trainer = make_trainer(config, precision, max_epochs=1, checkpointing=False, root=work_dir)
    with fitting(precision.device):
        finder = Tuner(trainer).lr_find(module, train_dataloaders=data.train_dataloader(), min_lr=min_lr,
                                        max_lr=max_lr, num_training=num_steps, mode="exponential",
                                        early_stop_threshold=None, update_attr=False)
    lrs = np.asarray(finder.results["lr"], float)
    losses = np.asarray(module.step_losses, float)[: len(lrs)]
    if len(losses) != len(lrs):
        raise NucflowError(f"lr-find: recorded {len(losses)} losses for {len(lrs)} learning rates")
    beta = smoothing_beta(num_steps)
    smoothed = smooth_losses(losses, beta)
    chosen, used = choose_lr(lrs, smoothed)
    suggestion = finder.suggestion()
    curve = pd.DataFrame({"step": np.arange(len(lrs)), "lr": lrs, "loss": losses,
                          "smoothed_loss": smoothed, "used": used})
    return LRCurve(curve, chosen, RULE, None if suggestion is None else float(suggestion), beta)


def write_lr_outputs(result: LRCurve, out_dir: str | os.PathLike, run_id: str) -> dict[str, Path]:
    """Write ``curve.csv``, ``lr.json`` and ``curve.png`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"curve": out_dir / "curve.csv", "lr": out_dir / "lr.json", "plot": out_dir / "curve.png"}
    write_csv(paths["curve"], result.curve)
    write_json(paths["lr"], {"run_id": run_id, "lr": result.lr, "rule": result.rule,
                             "tuner_suggestion": result.tuner_suggestion, "smoothing_beta": result.beta,
                             "min_lr": float(result.curve["lr"].min()), "max_lr": float(result.curve["lr"].max()),
                             "steps": len(result.curve)})
    _plot(result, paths["plot"], run_id)
    return paths


def _plot(result: LRCurve, path: Path, run_id: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = result.curve
    figure, axes = plt.subplots(figsize=(5, 3.5), dpi=120)
    axes.plot(curve["lr"], curve["loss"], color="0.75", lw=0.8, label="loss")
    axes.plot(curve["lr"], curve["smoothed_loss"], color="C0", lw=1.5, label="smoothed loss")
    axes.axvline(result.lr, color="C3", ls="--", lw=1, label=f"chosen lr {result.lr:.2g}")
    if result.tuner_suggestion is not None:
        axes.axvline(result.tuner_suggestion, color="C2", ls=":", lw=1,
                     label=f"tuner suggestion {result.tuner_suggestion:.2g}")
    finite = curve["smoothed_loss"][curve["used"]]
    if len(finite):
        low, high = float(finite.min()), float(finite.max())
        axes.set_ylim(low - 0.1 * (high - low), high + 0.5 * (high - low) + 1e-12)
    axes.set_xscale("log")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("training loss")
    axes.set_title(f"LR range test: {run_id}", fontsize=9)
    axes.legend(fontsize=7, frameon=False)
    figure.tight_layout()
    tmp = path.with_name(f".{path.name}.part.png")
    figure.savefig(tmp, metadata={"Software": None})
    plt.close(figure)
    os.replace(tmp, path)
