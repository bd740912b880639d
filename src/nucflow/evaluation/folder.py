"""Evaluate one folder of predictions against a manifest's ground truth: the work behind
``nucflow evaluate``.

Ground truth comes from the manifest (column ``labels``, or ``labels_true`` for the exact truth of
simulated data); predictions from ``<pred_dir>/<image_id><pred_suffix>`` (instance labels) and,
optionally, ``<prob_dir or pred_dir>/<image_id><prob_suffix>`` (float probability map; with it,
pixel metrics score the binarised network output and RMSE is reported).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.errors import NucflowError
from nucflow.evaluation.tables import evaluate_image, per_image_table, per_object_table, per_pred_object_table, summary
from nucflow.evaluation.validate import check_labels, check_mask, foreground_probability
from nucflow.io import read_image


@dataclass(frozen=True)
class FolderEvaluation:
    """The tables of one evaluated folder: per image, per true object, per predicted object
    (None unless asked for) and the per-run summary (JSON-safe: non-finite numbers are None)."""

    per_image: pd.DataFrame
    per_object: pd.DataFrame
    pred_objects: pd.DataFrame | None
    summary: dict


def read_ids(ids_file: Path | None, ids: list[str] | None) -> list[str]:
    """Image ids from ``--ids`` or an ids file (one per line, or a JSON list of strings)."""
    if ids is not None:
        chosen = [str(i) for i in ids]
    else:
        if not ids_file.is_file():
            raise NucflowError(f"{ids_file}: ids file not found")
        text = ids_file.read_text()
        if ids_file.suffix.lower() == ".json":
            try:
                chosen = json.loads(text)
            except json.JSONDecodeError as exc:
                raise NucflowError(f"{ids_file}: invalid JSON ({exc})") from None
            if not isinstance(chosen, list) or not all(isinstance(i, (str, int)) for i in chosen):
                raise NucflowError(f"{ids_file}: expected a JSON list of image ids")
            chosen = [str(i) for i in chosen]
        else:
            chosen = [line.split("#", 1)[0].strip() for line in text.splitlines()]
            chosen = [line for line in chosen if line]
    if not chosen:
        raise NucflowError(f"{ids_file or '--ids'}: no image ids given")
    duplicates = sorted({i for i in chosen if chosen.count(i) > 1})
    if duplicates:
        raise NucflowError(f"{ids_file or '--ids'}: duplicate image ids {', '.join(duplicates[:5])}")
    return chosen


def read_truth(manifest, image_id: str, column: str) -> tuple[Path, np.ndarray]:
    """(path, checked instance labels) of an image's ground truth column (``labels`` / ``labels_true``)."""
    path = manifest.file(image_id, column)
    if path is None:
        raise NucflowError(f"{manifest.path}: image {image_id!r} has no {column} file")
    return path, check_labels(read_image(path), str(path))


def _cell(row: pd.Series, column: str):
    value = row.get(column)
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    return value


def _pixel_size(manifest_path: Path, image_id: str, value) -> float | None:
    if value is None:
        return None
    try:
        size = float(value)
    except (TypeError, ValueError):
        size = math.nan
    if not (math.isfinite(size) and size > 0):
        raise NucflowError(f"{manifest_path}: image {image_id!r}, column pixel_size_um: not a positive number ({value!r})")
    return size


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (float, np.floating)) and not math.isfinite(float(value)):
        return None
    return value


def evaluate_folder(manifest, ids: list[str], pred_dir: Path, *, truth: str = "labels",
                    pred_suffix: str = "_labels.tif", prob_dir: Path | None = None,
                    prob_suffix: str = "_prob.tif", pixel_threshold: float = 0.5,
                    exclude_artifacts: bool = False, run_id: str | None = None,
                    pred_objects: bool = False, manifest_label: str | None = None) -> FolderEvaluation:
    """Score the predictions in ``pred_dir`` for the images ``ids`` of ``manifest`` (a loaded
    :class:`~nucflow.data.manifest.Manifest`).

    A missing prediction, a missing probability map when ``prob_dir`` is given, and any shape
    mismatch with the truth are one-line errors naming the file. ``exclude_artifacts`` counts pixel
    metrics only outside the manifest's artifact masks. ``manifest_label`` is how the summary names
    the manifest (default: its resolved path); the command passes the path as given, so a study's
    tables do not depend on the folder it ran in.
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise NucflowError(f"{pred_dir}: prediction folder not found")
    if not 0.0 <= pixel_threshold < 1.0:
        raise NucflowError(f"--pixel-threshold: must be in [0, 1), got {pixel_threshold}")
    image_rows, object_tables, pred_tables = [], [], []
    for image_id in ids:
        row = manifest.row(image_id)
        truth_path, labels_true = read_truth(manifest, image_id, truth)
        pred_path = pred_dir / f"{image_id}{pred_suffix}"
        if not pred_path.is_file():
            raise NucflowError(f"{pred_path}: prediction not found for image {image_id!r}")
        labels_pred = check_labels(read_image(pred_path), str(pred_path))
        prob_path = Path(prob_dir or pred_dir) / f"{image_id}{prob_suffix}"
        if prob_dir is not None and not prob_path.is_file():
            raise NucflowError(f"{prob_path}: probability map not found")
        prob = foreground_probability(read_image(prob_path), str(prob_path)) if prob_path.is_file() else None
        valid = None
        if exclude_artifacts:
            artifact_path = manifest.file(image_id, "artifacts")
            if artifact_path is not None:
                valid = ~check_mask(read_image(artifact_path) != 0, str(artifact_path))
        for name, array in ((str(pred_path), labels_pred), (str(prob_path), prob), ("artifacts", valid)):
            if array is not None and array.shape != labels_true.shape:
                raise NucflowError(f"{name} vs {truth_path}: shape mismatch {array.shape} vs {labels_true.shape}")

        pixel_size = _pixel_size(manifest.path, image_id, _cell(row, "pixel_size_um"))
        metadata = {"run_id": run_id, "image_id": image_id,
                    "dataset": _cell(row, "dataset"), "cell_line": _cell(row, "cell_line")}
        image_rows.append(evaluate_image(labels_true, labels_pred, prob=prob, valid=valid,
                                         pixel_size_um=pixel_size,
                                         metadata=metadata, pixel_threshold=pixel_threshold))
        if pred_objects:
            pred_tables.append(per_pred_object_table(labels_pred, metadata=metadata, pixel_size_um=pixel_size))
        object_tables.append(per_object_table(labels_true, labels_pred, metadata=metadata,
                                              pixel_size_um=pixel_size))

    per_image = per_image_table(image_rows)
    run_summary = summary(per_image, {"run_id": run_id, "truth": truth,
                                      "pred_dir": str(pred_dir),
                                      "manifest": manifest_label or str(manifest.path)})
    return FolderEvaluation(per_image=per_image, per_object=pd.concat(object_tables, ignore_index=True),
                            pred_objects=pd.concat(pred_tables, ignore_index=True) if pred_objects else None,
                            summary=_json_safe(run_summary))
