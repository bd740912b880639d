"""Intensity normalisation of network inputs, named in config (``normalisation.method``).

* ``percentile``: per image and channel, map the ``low``/``high`` percentiles to 0/1 (values
  outside are kept, not clipped, as in CSBDeep's ``normalize``).
* ``foreground`` (NuSeT): per image and channel, subtract the mean and divide by the standard
  deviation of the *foreground* pixels. At training time the foreground comes from the labels; at
  inference time from a first-pass prediction (see ``nucflow.inference``). Inputs are first
  percentile-scaled so the two passes see the same range.

All functions take ``image`` as float-convertible (C, H, W) and return float32 (C, H, W).
"""

from __future__ import annotations

import numpy as np

from nucflow.errors import NucflowError

METHODS = ("percentile", "foreground")
_EPS = 1e-6


def percentile_normalise(image: np.ndarray, low: float = 1.0, high: float = 99.8) -> np.ndarray:
    """Scale each channel so its ``low`` and ``high`` percentiles become 0 and 1."""
    image = np.asarray(image, dtype=np.float32)
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
