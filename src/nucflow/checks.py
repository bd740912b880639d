"""Checks of arrays and arguments that several packages take (bottom layer: numpy and the error
type only).

Each raises :class:`nucflow.errors.NucflowError` with one line that starts with ``name`` (an
argument name or a file path), so the user sees which input is wrong.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nucflow.errors import NucflowError


def check_prob(prob, name: str = "prob", ndim: int = 2, *, allow_empty: bool = False) -> np.ndarray:
    """Return ``prob`` as an array (no copy) after checking it is a probability map: floating point,
    ``ndim`` dimensions, finite, every value within [0, 1]; an empty map only with ``allow_empty``."""
    array = np.asarray(prob)
    if array.ndim != ndim:
        raise NucflowError(f"{name}: expected a {ndim}-D probability map, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise NucflowError(f"{name}: probability map must be floating point, got dtype {array.dtype}")
    if array.size == 0:
        if allow_empty:
            return array
        raise NucflowError(f"{name}: probability map is empty")
    if not np.isfinite(array).all():
        raise NucflowError(f"{name}: probability map holds NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        raise NucflowError(f"{name}: probability values outside [0, 1] (min {low:g}, max {high:g})")
    return array


def check_results_folder(results, n_boot: int | None = None) -> Path:
    """``results`` as a Path after checking it is a folder (and, when given, that the number of
    bootstrap resamples ``n_boot`` is at least 1): the shared checks of the commands that read a
    study's results."""
    results = Path(results)
    if not results.is_dir():
        raise NucflowError(f"{results}: results folder not found")
    if n_boot is not None and n_boot < 1:
        raise NucflowError(f"--n-boot: must be >= 1, got {n_boot}")
    return results


#: A segmentation whose predicted foreground is under this share of the true foreground predicts
#: (almost) nothing; one that predicts over this share of all pixels marks (almost) everything.
DEGENERATE_BACKGROUND, DEGENERATE_FOREGROUND = 0.05, 0.9


def degenerate_verdict(predicted: int, true: int, total: int) -> str:
    """``"all-background"``, ``"all-foreground"`` or ``""`` (a model that learned something), from
    pooled pixel counts: predicted foreground, true foreground and all pixels."""
    if total and predicted > DEGENERATE_FOREGROUND * total:
        return "all-foreground"
    if true and predicted < DEGENERATE_BACKGROUND * true:
        return "all-background"
    return ""
