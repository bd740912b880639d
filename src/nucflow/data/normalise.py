"""Intensity normalisation of network inputs, named in config (``normalisation.method``).

* ``percentile``: per image and channel, map the ``low``/``high`` percentiles to 0/1 (values
  outside are kept, not clipped, as in CSBDeep's ``normalize``).
* ``foreground`` (NuSeT): per image and channel, subtract the mean and divide by the standard
  deviation of the *foreground* pixels. At training time the foreground comes from the labels; at
  inference time from a first-pass prediction (see ``nucflow.inference``). Inputs are first
  percentile-scaled so the two passes see the same range.

All functions take ``image`` as float-convertible (C, H, W) and return float32 (C, H, W). Images
are cast with :func:`as_float32`, which keeps the signal of integers beyond float32's 24-bit
mantissa (a uint32 camera offset of 2**31 would otherwise round every pixel to a multiple of 256).
"""

from __future__ import annotations

import numpy as np

from nucflow.errors import NucflowError

METHODS = ("percentile", "foreground")
_EPS = 1e-6
#: integers up to this magnitude are exact in float32
FLOAT32_EXACT = 2 ** 24


def as_float32(image: np.ndarray) -> np.ndarray:
    """A float32 copy of an intensity array of any shape that keeps its signal.

    Values beyond +-2**24 (uint32 / int64 / float64 data with a large offset) are first shifted by
    the minimum, in float64, so only the offset is lost: 2**31 + 5 and 2**31 + 6 stay 1 apart
    instead of both becoming 2**31. Every normalisation here is shift-invariant. NaN and inf are
    kept (the callers refuse them with the file's name).
    """
    array = np.asarray(image)
    if array.size and (np.issubdtype(array.dtype, np.integer) or array.dtype.itemsize > 4):
        finite = array if np.issubdtype(array.dtype, np.integer) else array[np.isfinite(array)]
        if finite.size:
            low, high = finite.min(), finite.max()
            if max(abs(float(low)), abs(float(high))) > FLOAT32_EXACT:
                return (array.astype(np.float64) - float(low)).astype(np.float32)
    return array.astype(np.float32)


def percentile_normalise(image: np.ndarray, low: float = 1.0, high: float = 99.8) -> np.ndarray:
    """Scale each channel so its ``low`` and ``high`` percentiles become 0 and 1."""
    image = as_float32(image)
    if image.ndim != 3:
        raise NucflowError(f"expected a (C, H, W) image, got shape {image.shape}")
    lo, hi = np.percentile(image, [low, high], axis=(1, 2), keepdims=True)
    return ((image - lo) / np.maximum(hi - lo, _EPS)).astype(np.float32)


def foreground_normalise(image: np.ndarray, foreground: np.ndarray, low: float = 1.0,
                         high: float = 99.8, min_pixels: int = 16) -> np.ndarray:
    """NuSeT foreground normalisation: (x - mean_fg) / std_fg per channel.

    ``foreground``: bool (H, W). With fewer than ``min_pixels`` foreground pixels (an empty field),
    the whole image's statistics are used instead, so an empty field does not blow up.
    """
    scaled = percentile_normalise(image, low, high)
    foreground = np.asarray(foreground, dtype=bool)
    if foreground.shape != scaled.shape[1:]:
        raise NucflowError(f"foreground mask shape {foreground.shape} does not match image {scaled.shape[1:]}")
    pixels = scaled[:, foreground] if foreground.sum() >= min_pixels else scaled.reshape(len(scaled), -1)
    mean = pixels.mean(axis=1)[:, None, None]
    std = pixels.std(axis=1)[:, None, None]
    return ((scaled - mean) / np.maximum(std, _EPS)).astype(np.float32)


def normalise(image: np.ndarray, method: str, *, foreground: np.ndarray | None = None,
              percentiles: tuple[float, float] = (1.0, 99.8)) -> np.ndarray:
    """Dispatch by name; ``foreground`` is required for ``foreground``."""
    if method == "percentile":
        return percentile_normalise(image, *percentiles)
    if method == "foreground":
        if foreground is None:
            raise NucflowError("foreground normalisation needs a foreground mask (labels or a first-pass prediction)")
        return foreground_normalise(image, foreground, *percentiles)
    raise NucflowError(f"unknown normalisation {method!r}; choose from {', '.join(METHODS)}")
