"""Reading what the image-based analyses need: manifest rows, ground truth and predictions.

The manifest is the study manifest (or any CSV with at least ``image_id`` and ``labels``;
``labels_true`` and ``artifacts`` optional), paths relative to the manifest's folder. A prediction
for image ``ID`` in folder ``DIR`` is ``DIR/ID_labels.tif`` (instance labels, foreground = nonzero)
or else ``DIR/ID_prob.tif`` (float (H, W) probability, foreground = prob > 0.5, as published).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.errors import NucflowError
from nucflow.io import read_image

PROB_THRESHOLD = 0.5


def read_manifest_rows(path: Path, ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Manifest rows (all, or those in ``ids`` in that order); checks columns and ids."""
    path = Path(path)
    if not path.is_file():
        raise NucflowError(f"{path}: manifest not found")
    try:
        frame = pd.read_csv(path, dtype={"image_id": str})
    except Exception as exc:
        raise NucflowError(f"{path}: not a readable CSV ({type(exc).__name__}: {exc})") from None
    for column in ("image_id", "labels"):
        if column not in frame.columns:
            raise NucflowError(f"{path}: missing column {column!r}")
    if ids:
        unknown = [i for i in ids if i not in set(frame["image_id"])]
        if unknown:
            raise NucflowError(f"{path}: image id {unknown[0]!r} not in the manifest")
        frame = frame.set_index("image_id", drop=False).loc[list(ids)].reset_index(drop=True)
    if frame.empty:
        raise NucflowError(f"{path}: no images to analyse")
    return frame


def manifest_image(manifest: Path, row: pd.Series, column: str) -> np.ndarray | None:
    """The image named in ``column`` of ``row`` (None when the column is absent or empty)."""
    value = row.get(column)
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return None
    return read_image(Path(manifest).parent / str(value))


def read_prediction(pred_dir: Path, image_id: str) -> np.ndarray:
    """Bool (H, W) predicted foreground of ``image_id`` from ``pred_dir`` (labels, else prob)."""
    labels_path = Path(pred_dir) / f"{image_id}_labels.tif"
    prob_path = Path(pred_dir) / f"{image_id}_prob.tif"
    if labels_path.is_file():
        labels = read_image(labels_path)
        if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
            raise NucflowError(f"{labels_path}: expected integer (H, W) labels, got {labels.dtype} {labels.shape}")
        return labels > 0
    if prob_path.is_file():
        prob = read_image(prob_path)
        if prob.ndim != 2 or not np.issubdtype(prob.dtype, np.floating):
            raise NucflowError(f"{prob_path}: expected a float (H, W) probability map, got {prob.dtype} {prob.shape}")
        if not np.all(np.isfinite(prob)) or prob.min() < 0 or prob.max() > 1:
            raise NucflowError(f"{prob_path}: probability values must be finite and in [0, 1]")
        return prob > PROB_THRESHOLD
    raise NucflowError(f"{pred_dir}: no prediction for image {image_id!r} "
                       f"(looked for {labels_path.name} and {prob_path.name})")


def check_shape(array: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    if array.shape != shape:
        raise NucflowError(f"{what}: shape {array.shape} differs from the ground truth {shape}")
    return array
