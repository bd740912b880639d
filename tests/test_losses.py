"""Losses on tiny hand-made tensors, against hand-computed values and torch references."""

from __future__ import annotations

import math

import pytest
import torch

from nucflow.errors import NucflowError
from nucflow.training.config import LOSS_NAMES
from nucflow.training.losses import (LOSSES, bce, bce_dice, bce_smooth, bce_weighted, make_loss,
                                     smooth_targets, soft_dice_loss, three_class_ce)

LOGITS = torch.tensor([[[[2.0, -1.0], [0.0, 0.5]]]])   # (1, 1, 2, 2)
TARGET = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])


def manual_bce(logits, target):
    p = torch.sigmoid(logits)
    return -(target * torch.log(p) + (1 - target) * torch.log(1 - p)).mean()


def test_bce_matches_the_formula_and_torch():
    expected = manual_bce(LOGITS, TARGET)
    assert bce(LOGITS, TARGET).item() == pytest.approx(expected.item(), rel=1e-6)
    assert bce(LOGITS, TARGET).item() == pytest.approx(
        torch.nn.BCELoss()(torch.sigmoid(LOGITS), TARGET).item(), rel=1e-6)


def test_smoothing_uses_the_papers_targets():
    smoothed = smooth_targets(torch.tensor([0.0, 1.0]), 0.1)
    assert smoothed.tolist() == pytest.approx([0.1, 0.9])  # not 0.05 / 0.95
    expected = manual_bce(LOGITS, smooth_targets(TARGET, 0.2))
    assert bce_smooth(LOGITS, TARGET, smoothing=0.2).item() == pytest.approx(expected.item(), rel=1e-6)
    assert make_loss("bce_smooth", 0.2)(LOGITS, TARGET).item() == pytest.approx(expected.item(), rel=1e-6)
    assert make_loss("bce_smooth", 0.0)(LOGITS, TARGET).item() == pytest.approx(bce(LOGITS, TARGET).item())


def test_soft_dice_exact_value():
    logits = torch.zeros(1, 1, 2, 2)  # p = 0.5 everywhere
    target = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
    # intersection 1, sum p 2, sum t 2: dice = (2 + 1) / (4 + 1)
    assert soft_dice_loss(logits, target).item() == pytest.approx(1 - 3 / 5)
    assert bce_dice(logits, target).item() == pytest.approx(math.log(2) + 0.4, rel=1e-6)
    # empty target and confident empty prediction: loss near 0, not NaN
    assert soft_dice_loss(torch.full((1, 1, 2, 2), -30.0), torch.zeros(1, 1, 2, 2)).item() == pytest.approx(0, abs=1e-6)


def test_weighted_bce_reduces_to_bce_and_scales_with_weights():
    ones = torch.ones_like(TARGET)
    assert bce_weighted(LOGITS, TARGET, ones).item() == pytest.approx(bce(LOGITS, TARGET).item(), rel=1e-6)
    assert bce_weighted(LOGITS, TARGET, 3 * ones).item() == pytest.approx(3 * bce(LOGITS, TARGET).item(), rel=1e-6)
    weight = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    per_pixel = torch.nn.functional.binary_cross_entropy_with_logits(LOGITS, TARGET, reduction="none")
    assert bce_weighted(LOGITS, TARGET, weight).item() == pytest.approx(per_pixel[0, 0, 0, 0].item() / 4, rel=1e-6)
    with pytest.raises(NucflowError, match="weights"):
        bce_weighted(LOGITS, TARGET, None)


def test_three_class_cross_entropy_matches_log_softmax():
    logits = torch.tensor([[[[1.0, 0.0]], [[0.0, 2.0]], [[-1.0, 0.5]]]])  # (1, 3, 1, 2)
    target = torch.tensor([[[0, 2]]])
    log_p = torch.log_softmax(logits, dim=1)
    expected = -(log_p[0, 0, 0, 0] + log_p[0, 2, 0, 1]) / 2
    assert three_class_ce(logits, target).item() == pytest.approx(expected.item(), rel=1e-6)


def test_registry_matches_config_names_and_rejects_unknown():
    assert set(LOSSES) == set(LOSS_NAMES)
    assert LOSSES["three_class"].out_channels == 3 and LOSSES["three_class"].target == "three_class"
    assert LOSSES["bce_weighted"].needs_weight
    with pytest.raises(NucflowError, match="focal"):
        make_loss("focal")
