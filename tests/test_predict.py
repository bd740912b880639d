"""predict_field on raw fields: large integer offsets, tiny images, prediction at another pixel size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.draw import disk
from skimage.measure import label

from nucflow.errors import NucflowError
from nucflow.inference.model_spec import ModelSpec
from nucflow.inference.predict import InferenceSettings, predict_field, predict_field_rescaled

SHAPE = (96, 96)


class Threshold(torch.nn.Module):
    """Logit 40 (x - 0.5) of the normalised input: foreground exactly where the input is bright."""

    def forward(self, x):
        return 40 * (x.mean(dim=1, keepdim=True) - 0.5)


class Recording(Threshold):
    def __init__(self):
        super().__init__()
        self.shapes = []

    def forward(self, x):
        self.shapes.append(tuple(x.shape))
        return super().forward(x)


def spec(**changes) -> ModelSpec:
    values = {"run_id": "toy", "model": "toy", "width": 1.0, "modality": "fluorescence", "in_channels": 1,
              "out_channels": 1, "planes": (), "tile": 32, "normalisation": "percentile", "percentiles": (1.0, 99.8)}
    return ModelSpec(**{**values, **changes})


def disks(shape=SHAPE, centres=((24, 24), (48, 70), (72, 30)), radius=9, seed=0) -> np.ndarray:
    """uint32 (H, W): background 60..139, disks +200 -- a signal finer than float32's 256 steps at 2**31."""
    image = np.random.default_rng(seed).integers(60, 140, shape).astype(np.uint32)
    for centre in centres:
        rr, cc = disk(centre, radius, shape=shape)
        image[rr, cc] += 200
    return image


def count(prob: np.ndarray) -> int:
    return int(label(prob[0] > 0.5).max())


@pytest.mark.parametrize("normalisation", ["percentile", "foreground"])
def test_large_integer_offset_keeps_the_signal(normalisation):
    """Regression: a uint32 image of 2**31 + signal lost its signal in the float32 cast (648 nuclei, not 71)."""
    image = disks()
    settings = InferenceSettings(batch_size=4)
    plain = predict_field(Threshold(), spec(), image, settings, tile=32, normalisation=normalisation)
    offset = predict_field(Threshold(), spec(), image + np.uint32(2 ** 31), settings, tile=32,
                           normalisation=normalisation)
    assert count(offset) == count(plain) == (3 if normalisation == "percentile" else count(plain))
    np.testing.assert_allclose(offset, plain, atol=1e-5)


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (15, 40)])
def test_tiny_images_are_refused(shape):
    """Regression: 1 x 1 and 2 x 2 images became one nucleus covering the image."""
    with pytest.raises(NucflowError) as info:
        predict_field(Threshold(), spec(), np.ones(shape, np.uint16), InferenceSettings(), tile=32, name="t.tif")
    assert str(info.value) == (f"t.tif: image of {shape[0]} x {shape[1]} px is too small to segment (each side must "
                               "be at least 16 px)")


def test_a_small_training_tile_lowers_the_minimum():
    prob = predict_field(Threshold(), spec(tile=8), np.ones((12, 12), np.uint16), InferenceSettings(), tile=8)
    assert prob.shape == (1, 12, 12)


def test_rescaled_prediction_runs_at_the_model_scale_and_returns_the_input_grid():
    """A field at twice the model's pixel size is enlarged twofold for the network, and the map comes
    back on the field's grid."""
    network = Recording()
    image = disks()
    prob = predict_field_rescaled(network, spec(tile=64), image, InferenceSettings(batch_size=1), 2.0, tile=64)
    assert prob.shape == (1, *SHAPE) and prob.dtype == np.float32
    assert count(prob) == 3
    assert len(network.shapes) == 5 * 5  # windows at 50 % overlap over the 192 x 192 enlarged field
    same = predict_field_rescaled(Threshold(), spec(), image, InferenceSettings(), 1.0, tile=32)
    np.testing.assert_array_equal(same, predict_field(Threshold(), spec(), image, InferenceSettings(), tile=32))
