"""The LightningModule: a network, the run's loss, Adam with ReduceLROnPlateau, and the metrics of
one epoch -- nothing else (epochs, checkpoints and stopping are the trainer's and its callbacks').

Per epoch it computes ``train_loss`` (mean over the epoch's steps), ``val_loss`` (mean over
validation pixels), ``val_f1`` (pixel F1 of the validation tiles, foreground = sigmoid > 0.5, or
arg-max not background for 3-class), ``lr`` (the rate used during the epoch) and whether the
validation predictions were degenerate, logs the first four for Lightning (progress bar, loggers,
early stopping) and keeps them in :attr:`SegmentationModule.epoch_metrics` for ``log.csv`` and
the choice of the kept epoch (:mod:`nucflow.training.callbacks`). On several devices the sums
behind these numbers are added up over the processes first, so every process sees the same.

ReduceLROnPlateau is stepped by the module at the end of validation, not by Lightning after the
epoch: Lightning leaves plateau schedulers unstepped in the epoch a run resumes in and after
its checkpoint callbacks have run, so its state in ``last.ckpt`` would lag one epoch. The
scheduler state travels in the checkpoint under ``"nucflow"`` as plain values.

Randomness: the FREM channels are re-drawn at each training epoch start from a generator seeded
by ``(seed, epoch)``, and the global torch RNG (dropout) is reseeded before every training step
from ``(seed, global step)`` -- Lightning and the DataLoader draw from it at points that differ
between a fresh and a resumed run -- so a step is the same whether or not the run was resumed
before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn

from nucflow.checks import degenerate_verdict
from nucflow.errors import NucflowError
from nucflow.models import build
from nucflow.models.frem import resample_all
from nucflow.training.config import RunConfig
from nucflow.training.losses import loss_spec, make_loss


@dataclass(frozen=True)
class EpochMetrics:
    """One epoch: its number (0-based), losses, pixel F1, the epoch's learning rate and the
    degenerate verdict of its validation predictions (``""``: not degenerate)."""

    epoch: int
    train_loss: float
    val_loss: float
    val_f1: float
    lr: float
    degenerate: str = ""


_PURPOSES = {"frem": 1, "step": 2}


def derived_seed(seed: int, purpose: str, counter: int) -> int:
    """A 63-bit seed derived from ``(seed, purpose, counter)`` (purpose ``"frem"`` with the epoch,
    ``"step"`` with the global step)."""
    state = np.random.SeedSequence([seed, _PURPOSES[purpose], counter]).generate_state(2, np.uint64)
    return int(state[0] >> np.uint64(1))


def pixel_f1(tp: int, fp: int, fn: int) -> float:
    """``2 tp / (2 tp + fp + fn)``; 1.0 when there is no foreground in truth or prediction."""
    denominator = 2 * tp + fp + fn
    return 1.0 if denominator == 0 else 2.0 * tp / denominator


class SegmentationModule(pl.LightningModule):
    """Trains ``build(config.model, **config.model_kwargs)`` with the run's loss.

    Batches are dicts from :class:`nucflow.data.datamodule.TileDataset`: ``image`` (N, C, S, S)
    float32, ``target`` (N, 1, S, S) float32 or (N, S, S) int64, ``foreground`` (N, S, S) bool and,
    for ``bce_weighted``, ``weight`` (N, 1, S, S) float32.

    Args:
        config: the run configuration.
        net: an already built network (default: built from ``config``).
        lr: the starting rate (default ``config.lr``; lower after a degenerate restart).
        nonfinite: what a NaN/inf training loss does: ``"raise"`` (a :class:`NucflowError` naming
            the run and global step) or ``"stop"`` (ask the trainer to stop; the LR range test,
            where divergence at high rates is expected).
        channels_last: the memory format the job resolved (:func:`nucflow.precision.resolve`);
            default: ``config.channels_last`` (``None`` counts as off).
    """

    def __init__(self, config: RunConfig, net: nn.Module | None = None, *, lr: float | None = None,
                 nonfinite: str = "raise", channels_last: bool | None = None):
        super().__init__()
        if nonfinite not in ("raise", "stop"):
            raise ValueError(f"nonfinite must be 'raise' or 'stop', got {nonfinite!r}")
        self.config = config
        self.lr = config.lr if lr is None else lr
        self.nonfinite = nonfinite
        self.channels_last = bool(config.channels_last if channels_last is None else channels_last)
        self.net = net if net is not None else build(config.model, **config.model_kwargs)
        if self.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.spec = loss_spec(config.loss)
        self.loss_fn = make_loss(config.loss, config.smoothing)
        self.step_losses: list[float] | None = None  # set to [] to record every raw training loss
        self.epoch_metrics: EpochMetrics | None = None
        self._plateau: torch.optim.lr_scheduler.ReduceLROnPlateau | None = None
        self._pending_plateau_state: dict | None = None
        self._reset_train()
        self._reset_val()

    # --- forward and loss -------------------------------------------------------------------
    def forward(self, images: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """Logits (N, out_channels, S, S); for a deep-supervised network (one with
        ``deep_supervision`` set and ``side_logits``), the list of every head's logits."""
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        if getattr(self.net, "deep_supervision", False) and hasattr(self.net, "side_logits"):
            return self.net.side_logits(images)
        return self.net(images)

    def loss(self, outputs, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Loss of one output, or the mean over deep-supervision outputs (a list/tuple); always
        computed in float32 from the logits."""
        weight = batch.get("weight")
        if isinstance(outputs, (list, tuple)):
            return torch.stack([self.loss_fn(o.float(), batch["target"], weight) for o in outputs]).mean()
        return self.loss_fn(outputs.float(), batch["target"], weight)

    def foreground(self, outputs) -> torch.Tensor:
        """Predicted foreground (N, S, S) bool (deep supervision: from the mean of the heads, which
        is what the network's ``forward`` returns at inference)."""
        logits = torch.stack(list(outputs)).mean(0) if isinstance(outputs, (list, tuple)) else outputs
        if self.spec.target == "three_class":
            return logits.argmax(1) != 0
        return logits[:, 0] > 0  # sigmoid(x) > 0.5  <=>  x > 0

    # --- reductions over processes ------------------------------------------------------------
    def _sum(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` added up over the DDP processes (itself on one device)."""
        trainer = self._trainer
        if trainer is None or trainer.world_size == 1:
            return value
        return trainer.strategy.reduce(value.to(self.device), reduce_op="sum").cpu()

    # --- training ---------------------------------------------------------------------------
    def _reset_train(self) -> None:
        self._train_loss_sum = torch.zeros((), dtype=torch.float64)
        self._train_steps = 0

    def on_train_epoch_start(self) -> None:
        self._reset_train()
        draw = torch.Generator().manual_seed(derived_seed(self.config.seed, "frem", self.current_epoch))
        resample_all(self.net, draw)

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        torch.manual_seed(derived_seed(self.config.seed, "step", self.global_step))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int):
        loss = self.loss(self(batch["image"]), batch)
        finite = torch.isfinite(loss)
        if self._trainer is not None and self.trainer.world_size > 1:  # every process stops together
            finite = self._sum((~finite).to(torch.int64)) == 0
        if not finite:
            if self.nonfinite == "stop":
                self.trainer.should_stop = True
                if self.step_losses is not None:
                    self.step_losses.append(float("nan"))
                return None
            raise NucflowError(
                f"run {self.config.run_id}: training loss became {loss.item()} at global step "
                f"{self.global_step} (epoch {self.current_epoch}); lower the learning rate or check the tiles")
        self._train_loss_sum = self._train_loss_sum.to(loss.device) + loss.detach().double()
        self._train_steps += 1
        if self.trainer.progress_bar_callback is not None:  # a terminal: the step's loss in the bar
            self.log("loss", loss.detach(), on_step=True, on_epoch=False, prog_bar=True, logger=False)
        if self.step_losses is not None:
            self.step_losses.append(loss.item())
        return loss

    # --- validation -------------------------------------------------------------------------
    def _reset_val(self) -> None:
        self._val_loss_sum = torch.zeros((), dtype=torch.float64)
        self._val_pixels = torch.zeros((), dtype=torch.int64)
        self._val_counts = torch.zeros(3, dtype=torch.int64)  # tp, fp, fn

    def on_validation_epoch_start(self) -> None:
        self._reset_val()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        outputs = self(batch["image"])
        pixels = batch["foreground"].numel()
        loss = self.loss(outputs, batch).detach().double()
        self._val_loss_sum = self._val_loss_sum.to(loss.device) + loss * pixels
        self._val_pixels = self._val_pixels + pixels
        predicted, truth = self.foreground(outputs), batch["foreground"]
        counts = torch.stack([(predicted & truth).sum(), (predicted & ~truth).sum(), (~predicted & truth).sum()])
        self._val_counts = self._val_counts.to(counts.device) + counts

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        pixels = int(self._sum(self._val_pixels.cpu()))
        if pixels == 0:
            return
        val_loss = float(self._sum(self._val_loss_sum.cpu())) / pixels
        tp, fp, fn = (int(v) for v in self._sum(self._val_counts.cpu()).tolist())
        steps = int(self._sum(torch.tensor(self._train_steps)))
        train_sum = float(self._sum(self._train_loss_sum.cpu()))
        train_loss = train_sum / steps if steps else math.nan
        lr = float(self.trainer.optimizers[0].param_groups[0]["lr"]) if self.trainer.optimizers else math.nan
        metrics = EpochMetrics(self.current_epoch, train_loss, val_loss, pixel_f1(tp, fp, fn), lr,
                               degenerate_verdict(tp + fp, tp + fn, pixels))
        for name in ("train_loss", "val_loss", "val_f1", "lr"):
            self.log(name, getattr(metrics, name), on_epoch=True, prog_bar=name in ("val_loss", "val_f1"))
        self.epoch_metrics = metrics
        if self._plateau is not None:
            self._plateau.step(val_loss)

    # --- optimiser and checkpoint state ------------------------------------------------------
    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        self._plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=self.config.lr_factor, patience=self.config.lr_patience)
        if self._pending_plateau_state is not None:
            self._plateau.load_state_dict(self._pending_plateau_state)
            self._pending_plateau_state = None
        return optimizer

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["nucflow"] = {
            "run_config": self.config.to_dict(),
            "precision": str(self.trainer.precision) if self._trainer is not None else None,
            "channels_last": self.channels_last,
            "plateau": None if self._plateau is None else dict(self._plateau.state_dict()),
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("nucflow", {}).get("plateau")
        if state is not None:
            if self._plateau is not None:
                self._plateau.load_state_dict(state)
            else:
                self._pending_plateau_state = state
