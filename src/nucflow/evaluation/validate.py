"""Input checks shared by the metric functions.

Every check raises :class:`nucflow.errors.NucflowError` with a one-line message that starts with
the name of the argument (or file) it was given, so a caller can pass ``name=str(path)`` and the
user sees which file is wrong. The checks never copy large arrays except where a conversion is
part of the contract (:func:`as_foreground`).
"""

from __future__ import annotations

import numpy as np

from nucflow.checks import check_prob
from nucflow.errors import NucflowError


def check_labels(labels, name: str = "labels") -> np.ndarray:
    """Check an instance label image and return it as a numpy array (no copy).

    Args:
        labels: (H, W) integer array; 0 is background, every other value one object.
        name: what to call the array in an error message (argument name or file path).

    Returns:
        The same data as an ``np.ndarray`` of its original integer dtype.

    Raises:
        NucflowError: not 2-D, boolean, float, or holding negative values.
    """
    array = np.asarray(labels)
    if array.ndim != 2:
        raise NucflowError(f"{name}: expected a 2-D (H, W) label image, got shape {array.shape}")
    if array.dtype == bool:
        raise NucflowError(f"{name}: boolean mask given where instance labels are expected "
                           "(label connected components first)")
    if np.issubdtype(array.dtype, np.floating):
        raise NucflowError(f"{name}: float labels ({array.dtype}); instance labels must be integers")
    if not np.issubdtype(array.dtype, np.integer):
        raise NucflowError(f"{name}: labels must be an integer array, got dtype {array.dtype}")
    if array.size and np.issubdtype(array.dtype, np.signedinteger) and array.min() < 0:
        raise NucflowError(f"{name}: negative label values (minimum {array.min()})")
    return array


def check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise NucflowError ``"<a> vs <b>: shape mismatch (H,W) vs (H,W)"`` unless shapes agree."""
    if a.shape != b.shape:
        raise NucflowError(f"{name_a} vs {name_b}: shape mismatch {_shape(a.shape)} vs {_shape(b.shape)}")


def foreground_probability(prob, name: str = "prob") -> np.ndarray:
    """The foreground probability (H, W) of a 2-class map (H, W) or a 3-class map (3, H, W).

    3-class maps hold background / interior / boundary probabilities (``nucflow.data.targets``);
    a pixel's foreground probability is interior + boundary = 1 - background.
    """
    array = np.asarray(prob)
    if array.ndim == 3:
        if array.shape[0] != 3:
            raise NucflowError(f"{name}: expected (H, W) or a 3-class (3, H, W) probability map, got shape {array.shape}")
        background = check_prob(array[0], name, allow_empty=True)
        return (1.0 - background).astype(background.dtype)
    return check_prob(array, name, allow_empty=True)


def check_mask(mask, name: str = "valid") -> np.ndarray:
    """Check a boolean pixel mask (H, W); integer 0/1 masks are accepted and converted to bool."""
    array = np.asarray(mask)
    if array.ndim != 2:
        raise NucflowError(f"{name}: expected a 2-D (H, W) mask, got shape {array.shape}")
    if array.dtype == bool:
        return array
    if np.issubdtype(array.dtype, np.integer) and (array.size == 0 or array.min() >= 0 and array.max() <= 1):
        return array.astype(bool)
    raise NucflowError(f"{name}: mask must be boolean (or integer 0/1), got dtype {array.dtype}")


def as_foreground(image, name: str) -> np.ndarray:
    """Turn a binary mask or label image into a boolean foreground mask (nonzero = foreground).

    Accepts bool, any integer dtype (labels or 0/1; negative values rejected) and float arrays
    whose values are exactly 0 or 1. A float array with other values is a probability map and
    is rejected: binarise it first (the published threshold is 0.5).
    """
    array = np.asarray(image)
    if array.ndim != 2:
        raise NucflowError(f"{name}: expected a 2-D (H, W) mask, got shape {array.shape}")
    if array.dtype == bool:
        return array
    if np.issubdtype(array.dtype, np.integer):
        if array.size and np.issubdtype(array.dtype, np.signedinteger) and array.min() < 0:
            raise NucflowError(f"{name}: negative values in a mask/label image (minimum {array.min()})")
        return array != 0
    if np.issubdtype(array.dtype, np.floating):
        if array.size and not np.isin(array, (0.0, 1.0)).all():
            raise NucflowError(f"{name}: float values other than 0 and 1; binarise the probability map first")
        return array != 0
    raise NucflowError(f"{name}: expected a boolean, integer or 0/1 float mask, got dtype {array.dtype}")


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ",".join(str(s) for s in shape) + ")"
