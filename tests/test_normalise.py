"""Normalisation keeps the signal of images with a large integer offset."""

from __future__ import annotations

import numpy as np

from nucflow.data.normalise import as_float32, foreground_normalise, percentile_normalise


def test_as_float32_keeps_signal_above_a_large_offset():
    """Regression: 2**31 + signal cast to float32 rounds to multiples of 256, losing the signal."""
    signal = np.arange(12, dtype=np.uint32).reshape(3, 4)
    shifted = as_float32(signal + np.uint32(2 ** 31))
    assert shifted.dtype == np.float32
    np.testing.assert_array_equal(shifted, signal.astype(np.float32))
    np.testing.assert_array_equal(as_float32(np.array([1, 7], np.uint16)), [1.0, 7.0])  # no shift needed
    big_float = as_float32(np.array([2.0 ** 40 + 0.5, 2.0 ** 40 + 3.5, np.nan]))
    np.testing.assert_array_equal(big_float[:2], [0.0, 3.0])
    assert np.isnan(big_float[2])


def test_percentile_normalise_is_the_same_with_a_large_offset():
    rng = np.random.default_rng(0)
    signal = rng.integers(0, 1000, (2, 32, 32)).astype(np.uint32)
    expected = percentile_normalise(signal)
    np.testing.assert_allclose(percentile_normalise(signal + np.uint32(2 ** 31)), expected, atol=1e-6)
    foreground = np.zeros((32, 32), bool)
    foreground[8:20, 8:20] = True
    np.testing.assert_allclose(foreground_normalise(signal + np.uint32(2 ** 31), foreground),
                               foreground_normalise(signal, foreground), atol=1e-5)
