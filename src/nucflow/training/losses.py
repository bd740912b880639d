"""Segmentation losses on raw logits, and the registry that names them.

Every loss takes ``(logits, target, weight)`` and returns a scalar tensor (mean over pixels):

* binary losses: ``logits`` (N, 1, H, W) float, ``target`` (N, 1, H, W) float in {0, 1};
* ``three_class``: ``logits`` (N, 3, H, W), ``target`` (N, H, W) int64 in {0, 1, 2}
  (background / interior / boundary, see :func:`nucflow.data.targets.three_class_target`);
* ``weight`` (N, 1, H, W) float per-pixel weights, used by ``bce_weighted`` only.

Label smoothing follows the paper (Ali et al. 2021): the positive label 1 becomes ``1 - s`` and
the negative label 0 becomes ``s`` (e.g. 0.9 / 0.1 for s = 0.1). This is *not* the common
``(1 - s) y + s / 2`` form, which for s = 0.1 gives 0.95 / 0.05.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nucflow.errors import NucflowError

LossFunction = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def bce(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy with logits, mean over all pixels."""
    return F.binary_cross_entropy_with_logits(logits, target)


def smooth_targets(target: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Paper-form label smoothing: 1 -> ``1 - smoothing``, 0 -> ``smoothing`` (any value t maps to
    ``t (1 - 2 s) + s``)."""
    return target * (1.0 - 2.0 * smoothing) + smoothing


def bce_smooth(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None, *,
               smoothing: float = 0.1) -> torch.Tensor:
    """BCE against smoothed targets (:func:`smooth_targets`)."""
    return F.binary_cross_entropy_with_logits(logits, smooth_targets(target, smoothing))


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """``1 - (2 sum(p t) + eps) / (sum(p) + sum(t) + eps)`` per image, averaged over the batch;
    ``p = sigmoid(logits)``. ``eps = 1`` keeps empty tiles (no nuclei) finite and near 0 loss."""
    prob = torch.sigmoid(logits).flatten(1)
    target = target.flatten(1)
    intersection = (prob * target).sum(1)
    dice = (2.0 * intersection + eps) / (prob.sum(1) + target.sum(1) + eps)
    return (1.0 - dice).mean()


def bce_dice(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """BCE + soft Dice (equal weights), as in NuSeT's segmentation loss."""
    return bce(logits, target) + soft_dice_loss(logits, target)


def bce_weighted(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Per-pixel weighted BCE, ``mean(w * bce)``, with U-Net border weights
    (:func:`nucflow.data.targets.border_weight_map`). All weights 1 gives plain :func:`bce`."""
    if weight is None:
        raise NucflowError("loss 'bce_weighted' needs per-pixel weights, but the batch has none")
    return F.binary_cross_entropy_with_logits(logits, target, weight=weight)


def three_class_ce(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy over background / interior / boundary, mean over pixels."""
    return F.cross_entropy(logits, target)


@dataclass(frozen=True)
class LossSpec:
    """A loss by name: its function, the target it needs and its output channels.

    Attributes:
        name: registry key.
        target: ``"binary"`` (float mask) or ``"three_class"`` (int64 classes).
        needs_weight: whether batches must carry border weight maps.
        out_channels: logit channels the network must produce.
        uses_smoothing: whether the run's ``smoothing`` factor applies.
    """

    name: str
    function: Callable[..., torch.Tensor]
    target: str
    needs_weight: bool
    out_channels: int
    uses_smoothing: bool = False


LOSSES: dict[str, LossSpec] = {
    "bce": LossSpec("bce", bce, "binary", False, 1),
    "bce_smooth": LossSpec("bce_smooth", bce_smooth, "binary", False, 1, uses_smoothing=True),
    "bce_dice": LossSpec("bce_dice", bce_dice, "binary", False, 1),
    "bce_weighted": LossSpec("bce_weighted", bce_weighted, "binary", True, 1),
    "three_class": LossSpec("three_class", three_class_ce, "three_class", False, 3),
}


def loss_spec(name: str) -> LossSpec:
    if name not in LOSSES:
        raise NucflowError(f"loss {name!r}: unknown; choose from {', '.join(LOSSES)}")
    return LOSSES[name]


def make_loss(name: str, smoothing: float = 0.0) -> LossFunction:
    """The loss function ``(logits, target, weight) -> scalar`` called ``name``."""
    spec = loss_spec(name)
    if spec.uses_smoothing:
        def smoothed(logits, target, weight=None):
            return bce_smooth(logits, target, weight, smoothing=smoothing)
        return smoothed
    return spec.function
