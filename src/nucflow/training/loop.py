"""The training loop of ``nucflow train``: epochs of seeded steps, validation, ReduceLROnPlateau,
early stopping and the two checkpoints -- in plain torch.

One epoch: the FREM channels are redrawn (``(seed, epoch)``); ``steps_per_epoch`` Adam steps, each
after reseeding the global RNG from ``(seed, global step)``, with the forward pass and the loss
under the run's autocast; a validation pass; one row in ``log.csv``; a ReduceLROnPlateau step on
``val_loss``; the early-stopping and best-epoch bookkeeping; ``best.ckpt`` when the epoch is the
new selected one; ``last.ckpt`` always. A killed job therefore loses at most the epoch it was in.

Early stopping compares ``val_loss`` in float32 with a strict ``<`` (a tie is no improvement);
training stops when ``stop_patience`` epochs in a row did not improve, or when ``val_loss`` is not
finite. The selected epoch (``best.ckpt``, then ``model.pt``) is the one with the lowest
``val_loss`` among the epochs whose validation predictions are not degenerate -- all background
or all foreground, by the thresholds the evaluation uses -- and the lowest overall only while
every epoch so far is degenerate. Without that rule, a brightfield run whose predictions
collapse to background in some epochs (where the loss can be lowest early on) would keep such an
epoch although later ones learned nuclei. Where no epoch is degenerate this is the lowest
``val_loss``, as published.

Checkpoint files (``torch.save`` of tensors and plain values, read with ``weights_only=True``)::

    epoch              the last completed epoch (0-based)
    global_step        optimisation steps so far
    state_dict         network weights, keys prefixed "net."
    optimizer_states   [Adam's state_dict]
    nucflow            run_config, precision, channels_last, plateau (ReduceLROnPlateau state),
                       stopping (LoopState without epoch and step), scaler (16-mixed only)

Checkpoints written by the Lightning-based trainer of earlier versions have the same top-level
keys; their early-stopping state is read from Lightning's callback state, so such a run resumes
where it stopped (see :func:`LoopState.from_checkpoint`).
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch

from nucflow.errors import NucflowError
from nucflow.precision import Precision
from nucflow.training.checkpoints import NET_PREFIX, save_checkpoint
from nucflow.training.epoch_log import append_epoch
from nucflow.training.module import EpochMetrics, SegmentationTask
from nucflow.training.rundir import RunPaths

#: Checkpoint layout version written into ``nucflow.format``.
CHECKPOINT_FORMAT = 2


def _f32(value: float) -> np.float32:
    return np.float32(value)


@dataclass
class LoopState:
    """Where a run stands after its last completed epoch (what ``last.ckpt`` restores).

    Attributes:
        epoch: last completed epoch, -1 before the first.
        global_step: optimisation steps taken.
        best_val_loss, best_epoch: the selected epoch (``best.ckpt``) and its ``val_loss``
            (``None`` before the first validation). An epoch whose validation predictions are
            degenerate (see :func:`nucflow.checks.degenerate_verdict`) is selected only while no
            epoch has learned anything; among the others, the lowest ``val_loss`` wins.
        best_degenerate: the selected epoch's verdict (``""``: not degenerate).
        stop_val_loss: the lowest ``val_loss`` so far (early stopping follows it, degenerate or not).
        wait: epochs since ``stop_val_loss`` last fell.
        stopped: early stopping (or a non-finite ``val_loss``) ended the run.
        attempt: how many times the run was restarted at a lower rate because every epoch was
            degenerate (see :func:`nucflow.training.train.train`); restarts: what each one
            replaced (rate, epochs, verdict, where its log and checkpoints were moved).
    """

    epoch: int = -1
    global_step: int = 0
    best_val_loss: float | None = None
    best_epoch: int | None = None
    best_degenerate: str = ""
    stop_val_loss: float | None = None
    wait: int = 0
    stopped: bool = False
    attempt: int = 0
    restarts: list = field(default_factory=list)

    def stopping(self) -> dict:
        """Everything but the epoch and step (what ``nucflow.stopping`` in a checkpoint holds)."""
        return {key: value for key, value in asdict(self).items() if key not in ("epoch", "global_step")}

    def record(self, epoch: int, val_loss: float, stop_patience: int, degenerate: str = "") -> bool:
        """Book epoch ``epoch``'s ``val_loss`` and verdict; returns whether it is the new selected epoch."""
        self.epoch = epoch
        finite = math.isfinite(val_loss)
        if not finite:
            self.stopped = True
        elif self.stop_val_loss is None or _f32(val_loss) < _f32(self.stop_val_loss):
            self.stop_val_loss, self.wait = float(val_loss), 0
        else:
            self.wait += 1
            if self.wait >= stop_patience:
                self.stopped = True
        if self.best_epoch is None:  # the first epoch is kept whatever it is (a NaN one scores as the worst)
            better = True
        elif not finite:
            better = False
        elif self.best_degenerate and not degenerate:
            better = True
        else:
            better = bool(degenerate) == bool(self.best_degenerate) and _f32(val_loss) < _f32(self.best_val_loss)
        if better:
            self.best_val_loss = float(val_loss) if finite else math.inf
            self.best_epoch, self.best_degenerate = epoch, degenerate
        return better

    @classmethod
    def from_checkpoint(cls, checkpoint: dict, log: pd.DataFrame) -> "LoopState":
        """The state saved in ``checkpoint``; for a checkpoint of the earlier Lightning trainer, the
        early-stopping state comes from its callback state and the best epoch from ``log``."""
        epoch, step = int(checkpoint["epoch"]), int(checkpoint.get("global_step", 0))
        saved = checkpoint.get("nucflow", {}).get("stopping")
        if saved is not None:
            return cls(epoch=epoch, global_step=step, **saved)
        state = cls(epoch=epoch, global_step=step)
        for key, value in checkpoint.get("callbacks", {}).items():
            if key.startswith("EarlyStopping"):
                best = value.get("best_score")
                state.wait = int(value.get("wait_count", 0))
                state.stopped = int(value.get("stopped_epoch", 0)) > 0
                if best is not None and math.isfinite(float(best)):
                    state.best_val_loss = state.stop_val_loss = float(best)
        rows = log[log["epoch"] <= epoch]
        if state.best_val_loss is not None and len(rows):
            state.best_epoch = int(rows["epoch"][rows["val_loss"].astype(np.float32) == _f32(state.best_val_loss)].min())
        return state


@dataclass
class Loop:
    """Everything one training job iterates with.

    Attributes:
        task: network and loss; optimizer: Adam; plateau: ReduceLROnPlateau on ``val_loss``.
        train_loader, val_loader: DataLoaders (the training sampler has ``set_epoch``; no
            validation loader for the range test).
        precision: what the job runs with; device: where (``"cpu"``, ``"cuda"``).
        scaler: a GradScaler for ``16-mixed``, else ``None``.
    """

    task: SegmentationTask
    optimizer: torch.optim.Optimizer
    plateau: torch.optim.lr_scheduler.ReduceLROnPlateau
    train_loader: torch.utils.data.DataLoader
    val_loader: torch.utils.data.DataLoader | None
    precision: Precision
    device: torch.device
    scaler: torch.amp.GradScaler | None = None

    def autocast(self):
        """The autocast context of the run's precision (a no-op for 32-true)."""
        if self.precision.name == "bf16-mixed":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        if self.precision.name == "16-mixed":
            return torch.autocast(self.device.type, dtype=torch.float16)
        return contextlib.nullcontext()

    def to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {key: value.to(self.device, non_blocking=True) for key, value in batch.items()}

    def checkpoint(self, state: LoopState) -> dict:
        """The training state after ``state.epoch`` as a checkpoint dict."""
        config = self.task.config
        return {
            "epoch": state.epoch, "global_step": state.global_step,
            "state_dict": {NET_PREFIX + key: value for key, value in self.task.net.state_dict().items()},
            "optimizer_states": [self.optimizer.state_dict()],
            "nucflow": {"format": CHECKPOINT_FORMAT, "run_config": config.to_dict(),
                        "precision": self.precision.name, "channels_last": self.task.channels_last,
                        "plateau": dict(self.plateau.state_dict()), "stopping": state.stopping(),
                        "scaler": None if self.scaler is None else self.scaler.state_dict()},
        }

    def restore(self, checkpoint: dict) -> None:
        """Load weights, Adam, the plateau scheduler and the grad scaler from ``checkpoint``."""
        state = {key[len(NET_PREFIX):]: value for key, value in checkpoint["state_dict"].items()
                 if key.startswith(NET_PREFIX)}
        self.task.net.load_state_dict(state, strict=True)
        self.optimizer.load_state_dict(checkpoint["optimizer_states"][0])
        saved = checkpoint.get("nucflow", {})
        if saved.get("plateau") is not None:
            self.plateau.load_state_dict(saved["plateau"])
        if self.scaler is not None and saved.get("scaler") is not None:
            self.scaler.load_state_dict(saved["scaler"])

    def loss(self, batch: dict[str, torch.Tensor], global_step: int) -> torch.Tensor:
        """The training loss of one batch at ``global_step``: moved to the device, the global RNG
        reseeded from ``(seed, global_step)``, gradients cleared, forward pass and loss under the
        run's autocast. The caller checks it and calls :meth:`step`."""
        batch = self.to_device(batch)
        self.task.seed_step(global_step)
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            return self.task.loss(self.task.forward(batch["image"]), batch)

    @contextlib.contextmanager
    def deterministic(self):
        """Deterministic algorithms on CPU while inside (so that runs are bit-identical), restored after."""
        before = torch.are_deterministic_algorithms_enabled()
        if self.device.type == "cpu":
            torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(before)

    def step(self, loss: torch.Tensor) -> None:
        """Backward pass and optimiser step (through the grad scaler for 16-mixed)."""
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()

    # --- one epoch ----------------------------------------------------------------------------
    def train_epoch(self, epoch: int, state: LoopState) -> float:
        """Run epoch ``epoch``'s steps; returns the mean training loss."""
        config = self.task.config
        self.task.net.train()
        self.task.start_epoch(epoch)
        self.train_loader.sampler.set_epoch(epoch)
        loss_sum, steps = torch.zeros((), dtype=torch.float64), 0
        for batch in self.train_loader:
            loss = self.loss(batch, state.global_step)
            if not torch.isfinite(loss):
                raise NucflowError(
                    f"run {config.run_id}: training loss became {loss.item()} at global step "
                    f"{state.global_step} (epoch {epoch}); lower the learning rate or check the tiles")
            self.step(loss)
            state.global_step += 1
            loss_sum = loss_sum.to(loss.device) + loss.detach().double()
            steps += 1
        return float(loss_sum) / steps if steps else math.nan

    def run(self, state: LoopState, paths: RunPaths, *, max_epochs: int, stop_patience: int,
            on_epoch_start: Sequence[Callable[[int], None]] = (), echo: bool = True) -> LoopState:
        """Train from ``state.epoch + 1`` until ``max_epochs`` or early stopping, writing
        ``log.csv``, ``best.ckpt`` and ``last.ckpt`` after every epoch."""
        while not state.stopped and state.epoch + 1 < max_epochs:
            epoch = state.epoch + 1
            for hook in on_epoch_start:
                hook(epoch)
            start = time.perf_counter()
            train_loss = self.train_epoch(epoch, state)
            train_seconds = time.perf_counter() - start
            lr = float(self.optimizer.param_groups[0]["lr"])
            validation = self.task.validate((self.to_device(b) for b in self.val_loader), self.autocast)
            metrics = EpochMetrics(epoch, train_loss, validation.loss, validation.f1, lr)
            append_epoch(paths.log_csv, metrics, train_seconds)
            self.plateau.step(validation.loss)
            improved = state.record(epoch, validation.loss, stop_patience, validation.degenerate)
            checkpoint = self.checkpoint(state)
            if improved:
                save_checkpoint(checkpoint, paths.best_ckpt)
            save_checkpoint(checkpoint, paths.last_ckpt)
            if echo:
                print(f"run {self.task.config.run_id}: epoch {epoch}: train_loss {train_loss:.4g}, val_loss "
                      f"{validation.loss:.4g}, val_f1 {validation.f1:.3f}, lr {lr:.3g}, {train_seconds:.1f} s"
                      f"{f' ({validation.degenerate})' if validation.degenerate else ''}"
                      f"{' (selected)' if improved else ''}", file=sys.stderr, flush=True)
        return state


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (weights are drawn from torch's)."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)

