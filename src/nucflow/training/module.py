"""What one training step and one validation pass compute: a network, its loss and the pixel F1.

:class:`SegmentationTask` holds the network and the run's loss and knows nothing of epochs,
checkpoints or optimisers (those are :mod:`nucflow.training.loop`'s). Per epoch the loop records
``train_loss`` (mean over the epoch's steps), ``val_loss`` (mean over validation pixels),
``val_f1`` (pixel F1 of the validation tiles, foreground = sigmoid > 0.5, or arg-max not
background for 3-class) and ``lr`` (the rate used during the epoch): :class:`EpochMetrics`.

Randomness: the FREM channels are re-drawn at each training epoch start from a generator seeded
by ``(seed, epoch)`` (:meth:`SegmentationTask.start_epoch`), and the global torch RNG (dropout) is
reseeded before every training step from ``(seed, global step)``
(:meth:`SegmentationTask.seed_step`), so a step is the same whether or not the run was resumed
before it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nucflow.checks import degenerate_verdict
from nucflow.models import build
from nucflow.models.frem import resample_all
from nucflow.training.config import RunConfig
from nucflow.training.losses import loss_spec, make_loss


@dataclass(frozen=True)
class EpochMetrics:
    """One row of ``log.csv``: epoch (0-based), losses, pixel F1 and the epoch's learning rate."""

    epoch: int
    train_loss: float
    val_loss: float
    val_f1: float
    lr: float


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


@dataclass(frozen=True)
class Validation:
    """One pass over the validation tiles: loss summed over pixels, pixel count, tp/fp/fn."""

    loss_sum: float
    pixels: int
    tp: int
    fp: int
    fn: int

    @property
    def loss(self) -> float:
        return self.loss_sum / self.pixels if self.pixels else float("nan")

    @property
    def f1(self) -> float:
        return pixel_f1(self.tp, self.fp, self.fn)

    @property
    def degenerate(self) -> str:
        """``"all-background"``, ``"all-foreground"`` or ``""``, with the thresholds the evaluation
        uses (:func:`nucflow.checks.degenerate_verdict`)."""
        return degenerate_verdict(self.tp + self.fp, self.tp + self.fn, self.pixels)


class SegmentationTask:
    """Trains ``build(config.model, **config.model_kwargs)`` with the run's loss.

    Batches are dicts from :class:`nucflow.data.datamodule.TileDataset`: ``image`` (N, C, S, S)
    float32, ``target`` (N, 1, S, S) float32 or (N, S, S) int64, ``foreground`` (N, S, S) bool and,
    for ``bce_weighted``, ``weight`` (N, 1, S, S) float32.

    Args:
        config: the run configuration.
        net: an already built network (default: built from ``config``).
        channels_last: the memory format the job resolved (:func:`nucflow.precision.resolve`);
            default: ``config.channels_last`` (``None`` counts as off).
    """

    def __init__(self, config: RunConfig, net: nn.Module | None = None, channels_last: bool | None = None):
        self.config = config
        self.channels_last = bool(config.channels_last if channels_last is None else channels_last)
        self.net = net if net is not None else build(config.model, **config.model_kwargs)
        if self.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.spec = loss_spec(config.loss)
        self.loss_fn = make_loss(config.loss, config.smoothing)

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

    # --- randomness -------------------------------------------------------------------------
    def start_epoch(self, epoch: int) -> None:
        """Draw the epoch's FREM channels from a generator seeded by ``(seed, epoch)``."""
        draw = torch.Generator().manual_seed(derived_seed(self.config.seed, "frem", epoch))
        resample_all(self.net, draw)

    def seed_step(self, global_step: int) -> None:
        """Reseed the global torch RNG (dropout) from ``(seed, global_step)``: every step's dropout
        masks are a function of the seed and the step alone, resumed or not."""
        torch.manual_seed(derived_seed(self.config.seed, "step", global_step))

    # --- validation -------------------------------------------------------------------------
    @torch.inference_mode()
    def validate(self, batches, autocast) -> Validation:
        """Loss and tp/fp/fn over ``batches`` (an iterable of batch dicts on the network's device),
        with the network in eval mode and ``autocast`` (a context manager factory) around each
        forward pass and its loss; the network is put back into training mode afterwards."""
        self.net.eval()
        loss_sum = torch.zeros((), dtype=torch.float64)
        pixels, counts = 0, torch.zeros(3, dtype=torch.int64)
        try:
            for batch in batches:
                with autocast():
                    outputs = self.forward(batch["image"])
                    loss = self.loss(outputs, batch).double()
                n = batch["foreground"].numel()
                loss_sum = loss_sum.to(loss.device) + loss * n
                pixels += n
                predicted, truth = self.foreground(outputs), batch["foreground"]
                step = torch.stack([(predicted & truth).sum(), (predicted & ~truth).sum(), (~predicted & truth).sum()])
                counts = counts.to(step.device) + step
        finally:
            self.net.train()
        tp, fp, fn = (int(v) for v in counts.tolist())
        return Validation(float(loss_sum), pixels, tp, fp, fn)
