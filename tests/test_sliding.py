"""Sliding-window inference: exact against untiled prediction, no seams, D4 TTA, bounded by tiles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nucflow.errors import NucflowError
from nucflow.inference.sliding import gaussian_weights, predict_tiled, window_starts


class Smooth(torch.nn.Module):
    """A fixed, translation-equivariant toy network: 5x5 mean filter, then a logit."""

    def __init__(self, channels=1):
        super().__init__()
        self.conv = torch.nn.Conv2d(channels, 1, 5, padding=2, bias=False)
        torch.nn.init.constant_(self.conv.weight, 1 / (25 * channels))

    def forward(self, x):
        return 4 * (self.conv(x) - 0.5)


def test_gaussian_weights():
    w = gaussian_weights(64)
    assert w.shape == (64, 64) and w.dtype == np.float32
    assert w.max() == pytest.approx(1.0) and w.min() > 0
    np.testing.assert_allclose(w, w.T)
    np.testing.assert_allclose(w, w[::-1, ::-1])


def test_window_starts_cover():
    starts = window_starts((100, 70), 32, 0.5)
    covered = np.zeros((100, 70), int)
    for y, x in starts:
        covered[y:y + 32, x:x + 32] += 1
    assert covered.min() >= 1


def test_one_tile_equals_untiled():
    torch.manual_seed(0)
    model = Smooth()
    image = np.random.default_rng(0).random((1, 48, 48), dtype=np.float32)
    tiled = predict_tiled(model, image, tile=48, overlap=0.5)
    with torch.no_grad():
        direct = torch.sigmoid(model(torch.from_numpy(image)[None]))[0].numpy()
    np.testing.assert_allclose(tiled, direct, atol=1e-5)


def test_constant_image_has_no_seams():
    """The toy network zero-pads each tile, so a tile's own border is wrong by ~0.05; Gaussian
    blending with 50% overlap must bury that under the neighbours' centres (residual < 1e-3),
    whereas abutting tiles without blending show it in full."""
    image = np.full((1, 150, 130), 0.7, np.float32)
    inner = (slice(None), slice(2, -2), slice(2, -2))  # the image border itself is zero-padded by any method
    blended = predict_tiled(Smooth(), image, tile=32, overlap=0.5, batch_size=3)[inner]
    abutting = predict_tiled(Smooth(), image, tile=32, overlap=0.0)[inner]
    assert abutting.max() - abutting.min() > 1e-2
    assert blended.max() - blended.min() < 1e-3


def test_smaller_than_tile_is_padded_and_cropped():
    image = np.random.default_rng(1).random((2, 20, 37), dtype=np.float32)
    prob = predict_tiled(Smooth(2), image, tile=32)
    assert prob.shape == (1, 20, 37) and 0 <= prob.min() and prob.max() <= 1


def test_tta_of_an_equivariant_model_changes_nothing():
    image = np.random.default_rng(2).random((1, 64, 64), dtype=np.float32)
    plain = predict_tiled(Smooth(), image, tile=64)
    tta = predict_tiled(Smooth(), image, tile=64, tta=True)
    np.testing.assert_allclose(plain, tta, atol=1e-6)


def test_bad_input():
    with pytest.raises(NucflowError, match="NaN"):
        predict_tiled(Smooth(), np.full((1, 8, 8), np.nan, np.float32), tile=8)
    with pytest.raises(NucflowError, match=r"\(C, H, W\)"):
        predict_tiled(Smooth(), np.zeros((8, 8), np.float32), tile=8)
