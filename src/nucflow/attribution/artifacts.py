"""Imaging artifacts: how much of the error sits in annotated artifact regions.

Per image (Ali et al. 2021 annotated artifacts in 20 images and re-scored outside them):

* ``f1_all``: pixel F1 over all pixels; ``f1_outside``: pixel F1 over pixels outside the artifact
  mask (``valid = ~artifacts``); ``f1_gain = f1_outside - f1_all`` is the F1 ascribed to artifacts
  (paper: +1.6 to +1.9 points);
* ``error_share_in_artifacts``: misclassified pixels (FP + FN) inside the artifact mask over all
  misclassified pixels (paper: 10.7%, range 9.3–11.8%). NaN for an image without errors.

Pixel counts come from :func:`nucflow.evaluation.pixel.pixel_counts`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from nucflow.errors import NucflowError
from nucflow.evaluation.pixel import PixelCounts, pixel_counts, pixel_metrics


@dataclass(frozen=True)
class ArtifactEffect:
    """Pixel F1 with and without artifact regions, and the errors inside them, for one image."""

    n_artifact_pixels: int
    f1_all: float
    f1_outside: float
    f1_gain: float
    n_errors: int
    n_errors_in_artifacts: int
    error_share_in_artifacts: float


def _errors(counts: PixelCounts) -> int:
    return counts.fp + counts.fn


def artifact_effect(truth: np.ndarray, pred: np.ndarray, artifacts: np.ndarray) -> ArtifactEffect:
    """Score one image with and without its artifact regions.

    truth, pred: (H, W) label or binary images (nonzero = foreground); artifacts: bool / 0-1 (H, W)
    mask of annotated artifact regions.
    """
    artifacts = np.asarray(artifacts)
    if artifacts.dtype != bool:
        if not np.all(np.isin(artifacts, (0, 1))):
            raise NucflowError("artifacts: mask must be binary (0/1 or bool)")
        artifacts = artifacts.astype(bool)
    all_counts = pixel_counts(truth, pred)
    outside = pixel_counts(truth, pred, valid=~artifacts)
    inside = pixel_counts(truth, pred, valid=artifacts)
    f1_all = pixel_metrics(all_counts)["f1"]
    f1_outside = pixel_metrics(outside)["f1"]
    n_errors = _errors(all_counts)
    return ArtifactEffect(
        n_artifact_pixels=int(artifacts.sum()),
        f1_all=f1_all, f1_outside=f1_outside, f1_gain=f1_outside - f1_all,
        n_errors=n_errors, n_errors_in_artifacts=_errors(inside),
        error_share_in_artifacts=_errors(inside) / n_errors if n_errors else math.nan,
    )


def artifact_table(effects: dict[str, ArtifactEffect]) -> pd.DataFrame:
    """One row per image (``image_id`` then the :class:`ArtifactEffect` fields)."""
    return pd.DataFrame([{"image_id": image_id, **asdict(effect)} for image_id, effect in effects.items()])
