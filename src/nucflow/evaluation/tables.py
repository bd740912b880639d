"""The tables figures read: one row per image, one row per true object, one summary per run.

Layering: :func:`evaluate_image` turns one image's arrays into one row (a dict);
:func:`per_image_table` stacks rows; :func:`summary` reads only the per-image table, so a summary
can always be recomputed from the CSV.

Column conventions
    * pixel metrics keep their plain names (``accuracy, balanced_accuracy, precision, recall, f1,
      iou, mean_iu, dice, rmse``) plus the raw counts ``pixel_tp, pixel_fp, pixel_fn, pixel_tn``;
      ``pixel_source`` says what was scored (``prob>0.5`` or ``labels``).
    * object metrics: ``object_f1`` (mean over IoU thresholds), ``f1_iou0.50`` ...,
      ``tp_iou0.50``/``fp_iou0.50``/``fn_iou0.50`` ... for every threshold,
      ``mean_matched_iou_iou0.50`` and ``panoptic_quality_iou0.50``.
    * error counts: the fields of :class:`~nucflow.evaluation.errors.ErrorCounts`.
    * sizes: pixel units always (``mean_area_true_px2``), micrometres too (``_um2``, NaN when the
      pixel size is unknown), so every table has the same columns whatever its images.
    * summary keys: ``<metric>_mean_over_images`` (mean of per-image values, skipping images
      where the value is undefined/NaN) and ``<metric>_pooled`` (counts summed over images first,
      then the ratio), e.g. ``f1_mean_over_images`` vs ``f1_pooled``; ``<count>_total`` for sums.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from nucflow.evaluation.errors import ErrorThresholds, error_counts
from nucflow.evaluation.matching import DEFAULT_THRESHOLDS, match_overlap
from nucflow.evaluation.morphology import object_morphology
from nucflow.evaluation.overlap import best_pred_per_true, compute_overlap
from nucflow.evaluation.pixel import PixelCounts, pixel_counts, pixel_metrics, rmse_prob
from nucflow.checks import check_prob, degenerate_verdict
from nucflow.evaluation.validate import check_labels, check_same_shape

PIXEL_COUNT_COLUMNS = ("pixel_tp", "pixel_fp", "pixel_fn", "pixel_tn")
ERROR_COUNT_COLUMNS = ("merges", "splits", "missed", "correct_detections", "incorrect_detections",
                       "split_errors", "merge_errors", "catastrophes", "missed_detections",
                       "gained_detections", "nuset_fn", "nuset_fp", "touching_pairs", "touching_pairs_separated")


def threshold_key(threshold: float) -> str:
    """Column suffix of an IoU threshold: 0.5 -> ``iou0.50``."""
    return f"iou{threshold:.2f}"


def _pixel_size_ok(pixel_size_um) -> bool:
    return pixel_size_um is not None and math.isfinite(float(pixel_size_um)) and float(pixel_size_um) > 0


def evaluate_image(labels_true, labels_pred, *, prob=None, valid=None, pixel_size_um: float | None = None,
                   metadata: dict | None = None, thresholds=DEFAULT_THRESHOLDS,
                   limits: ErrorThresholds = ErrorThresholds(), pixel_threshold: float = 0.5) -> dict:
    """Every per-image metric of one image, as one table row.

    Args:
        labels_true: (H, W) non-negative integer instance labels (ground truth).
        labels_pred: (H, W) same (prediction after post-processing).
        prob: optional (H, W) float probability map in [0, 1]. When given, pixel metrics score
            ``prob > pixel_threshold`` (the network output binarised, as published) and RMSE is
            computed; otherwise pixel metrics score the foreground of ``labels_pred`` and rmse is NaN.
        valid: optional (H, W) bool mask; pixel metrics count only these pixels (object metrics
            always use the whole image).
        pixel_size_um: pixel edge in µm; enables densities and µm sizes.
        metadata: identifiers copied to the front of the row (e.g. run_id, image_id, cell_line).
        thresholds: IoU thresholds of the object metrics.
        limits: thresholds of the error definitions.
        pixel_threshold: binarisation threshold of ``prob``.

    Returns:
        dict: metadata, then the columns listed in the module docstring.
    """
    labels_true = check_labels(labels_true, "labels_true")
    labels_pred = check_labels(labels_pred, "labels_pred")
    check_same_shape(labels_true, labels_pred, "labels_true", "labels_pred")
    row: dict = dict(metadata or {})

    if prob is not None:
        prob = check_prob(prob, "prob", allow_empty=True)
        check_same_shape(labels_true, prob, "labels_true", "prob")
        scored, row["pixel_source"] = prob > pixel_threshold, f"prob>{pixel_threshold:g}"
        row["rmse"] = rmse_prob(labels_true, prob, valid)
    else:
        scored, row["pixel_source"] = labels_pred, "labels"
        row["rmse"] = math.nan
    counts = pixel_counts(labels_true, scored, valid)
    row.update(pixel_metrics(counts))
    row.update(zip(PIXEL_COUNT_COLUMNS, (counts.tp, counts.fp, counts.fn, counts.tn)))

    overlap = compute_overlap(labels_true, labels_pred)
    matchings = [match_overlap(overlap, t) for t in thresholds]
    row["object_f1"] = float(np.mean([m.f1 for m in matchings])) if matchings else math.nan
    for m in matchings:
        key = threshold_key(m.threshold)
        row[f"f1_{key}"] = m.f1
        row[f"tp_{key}"], row[f"fp_{key}"], row[f"fn_{key}"] = m.tp, m.fp, m.fn
    first = matchings[0] if matchings else None
    if first is not None:
        row[f"mean_matched_iou_{threshold_key(first.threshold)}"] = first.mean_matched_iou
        row[f"panoptic_quality_{threshold_key(first.threshold)}"] = first.panoptic_quality

    row.update(error_counts(labels_true, labels_pred, limits, overlap=overlap).as_dict())

    area_mm2 = labels_true.size * float(pixel_size_um) ** 2 * 1e-6 if _pixel_size_ok(pixel_size_um) else math.nan
    row["pixel_size_um"] = float(pixel_size_um) if _pixel_size_ok(pixel_size_um) else math.nan
    row["density_true_per_mm2"] = overlap.n_true / area_mm2
    row["density_pred_per_mm2"] = overlap.n_pred / area_mm2
    um2_per_px = row["pixel_size_um"] ** 2
    for side, areas in (("true", overlap.true_area), ("pred", overlap.pred_area)):
        mean_px2 = float(areas.mean()) if areas.size else math.nan
        row[f"mean_area_{side}_px2"] = mean_px2
        row[f"mean_area_{side}_um2"] = mean_px2 * um2_per_px
    return row


def per_image_table(records) -> pd.DataFrame:
    """Stack per-image rows (dicts from :func:`evaluate_image`) into a DataFrame, row order kept."""
    records = list(records)
    return pd.DataFrame.from_records(records) if records else pd.DataFrame()


def _with_um(frame: pd.DataFrame, pixel_size_um: float | None) -> pd.DataFrame:
    """Add a µm column beside every ``*_px`` / ``*_px2`` column (NaN without a pixel size)."""
    scale = float(pixel_size_um) if _pixel_size_ok(pixel_size_um) else math.nan
    for column in [c for c in frame.columns if c.endswith("_px") or c.endswith("_px2")]:
        power = 2 if column.endswith("_px2") else 1
        frame[column.rsplit("_", 1)[0] + ("_um2" if power == 2 else "_um")] = frame[column] * scale**power
    return frame


def per_pred_object_table(labels_pred, *, pixel_size_um: float | None = None,
                          metadata: dict | None = None) -> pd.DataFrame:
    """One row per predicted object: its shape in px and µm (what an instance method produced;
    the CLL paper compares methods on these distributions)."""
    labels_pred = check_labels(labels_pred, "labels_pred")
    frame = _with_um(object_morphology(labels_pred), pixel_size_um)
    for key, value in reversed(list((metadata or {}).items())):
        frame.insert(0, key, value)
    return frame


def per_object_table(labels_true, labels_pred, *, pixel_size_um: float | None = None,
                     metadata: dict | None = None, threshold: float = 0.5) -> pd.DataFrame:
    """One row per ground-truth object: its best IoU, its match and its shape.

    Args:
        labels_true: (H, W) non-negative integer instance labels (ground truth).
        labels_pred: (H, W) same.
        pixel_size_um: pixel edge in µm; None leaves the µm columns NaN.
        metadata: identifiers repeated on every row (e.g. run_id, image_id).
        threshold: IoU threshold of ``matched_pred_id`` (one-to-one matching, as in the metrics).

    Returns:
        DataFrame with metadata columns, then ``object_id, best_iou, best_iou_pred_id,
        matched_pred_id, matched_iou`` (pred ids 0 where there is none), then morphology in
        pixel units and in µm (see :mod:`nucflow.evaluation.morphology`).
    """
    labels_true = check_labels(labels_true, "labels_true")
    overlap = compute_overlap(labels_true, labels_pred)
    best_index, best_iou = best_pred_per_true(overlap, by="iou")
    if len(overlap.pred_ids):
        best_pred_id = np.where(best_index >= 0, overlap.pred_ids[np.maximum(best_index, 0)], 0)
    else:  # empty prediction: no true object has a partner
        best_pred_id = np.zeros(len(overlap.true_ids), np.int64)
    matching = match_overlap(overlap, threshold)
    matched_pred = pd.Series(matching.pred_ids, index=matching.true_ids)
    matched_iou = pd.Series(matching.ious, index=matching.true_ids)
    frame = pd.DataFrame({
        "object_id": overlap.true_ids,
        "best_iou": best_iou,
        "best_iou_pred_id": best_pred_id.astype(np.int64),
        "matched_pred_id": matched_pred.reindex(overlap.true_ids).fillna(0).to_numpy(np.int64),
        "matched_iou": matched_iou.reindex(overlap.true_ids).fillna(0.0).to_numpy(np.float64),
    })
    shapes = object_morphology(labels_true)
    frame = _with_um(frame.merge(shapes, on="object_id", how="left", validate="one_to_one"), pixel_size_um)
    for key, value in reversed(list((metadata or {}).items())):
        frame.insert(0, key, value)
    return frame


def _pooled_pixel(per_image: pd.DataFrame) -> dict[str, float]:
    total = PixelCounts(*(int(per_image[c].sum()) for c in PIXEL_COUNT_COLUMNS))
    pooled = {f"{name}_pooled": value for name, value in pixel_metrics(total).items()}
    n_pixels = per_image[list(PIXEL_COUNT_COLUMNS)].sum(axis=1)
    has_rmse = per_image["rmse"].notna()
    if has_rmse.any():
        squared = (per_image.loc[has_rmse, "rmse"] ** 2 * n_pixels[has_rmse]).sum()
        pooled["rmse_pooled"] = float(np.sqrt(squared / n_pixels[has_rmse].sum()))
    else:
        pooled["rmse_pooled"] = math.nan
    return pooled


def _pooled_objects(per_image: pd.DataFrame) -> dict[str, float]:
    pooled, f1s = {}, []
    for column in [c for c in per_image.columns if c.startswith("tp_iou")]:
        key = column[len("tp_"):]
        tp, fp, fn = (int(per_image[f"{kind}_{key}"].sum()) for kind in ("tp", "fp", "fn"))
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0  # StarDist's matching_dataset convention
        pooled[f"f1_{key}_pooled"] = f1
        f1s.append(f1)
    pooled["object_f1_pooled"] = float(np.mean(f1s)) if f1s else math.nan
    return pooled


def summary(per_image: pd.DataFrame, metadata: dict | None = None) -> dict:
    """Per-run summary computed from the per-image table alone.

    Args:
        per_image: DataFrame from :func:`per_image_table`.
        metadata: identifiers copied into the summary (e.g. run_id).

    Returns:
        Flat dict: ``n_images``; ``<m>_mean_over_images`` for every numeric per-image column
        except the raw pixel and tp/fp/fn counts (error counts and n_true/n_pred get a mean per
        image too); ``<m>_pooled`` for pixel metrics, rmse, F1 at each IoU threshold,
        object F1 and NuSeT rates; ``<count>_total`` for object counts and error counts.
    """
    result: dict = dict(metadata or {})
    result["n_images"] = int(len(per_image))
    if per_image.empty:
        return result
    raw_counts = set(PIXEL_COUNT_COLUMNS) | {c for c in per_image.columns if c[:3] in ("tp_", "fp_", "fn_")}
    numeric = per_image.select_dtypes(include="number").columns
    for column in numeric:
        if column not in raw_counts and column != "pixel_size_um":
            values = per_image[column].astype(float)
            result[f"{column}_mean_over_images"] = float(values.mean()) if values.notna().any() else math.nan
    for column in sorted((set(ERROR_COUNT_COLUMNS) | {"n_true", "n_pred"}) & set(per_image.columns)):
        result[f"{column}_total"] = int(per_image[column].sum())
    result.update(_pooled_pixel(per_image))
    result.update(_pooled_objects(per_image))
    n_true = int(per_image["n_true"].sum())
    result["fn_rate_pooled"] = int(per_image["nuset_fn"].sum()) / n_true if n_true else math.nan
    result["fp_rate_pooled"] = int(per_image["nuset_fp"].sum()) / n_true if n_true else math.nan
    touching = int(per_image["touching_pairs"].sum())
    separated = int(per_image["touching_pairs_separated"].sum())
    result["touching_separated_pooled"] = separated / touching if touching else math.nan
    result.update(degeneracy(per_image))
    return result


def degeneracy(per_image: pd.DataFrame) -> dict:
    """``predicted_foreground_ratio`` (predicted / true foreground pixels, pooled) and ``degenerate``:
    ``all-background``, ``all-foreground`` or "" (a model that learned something)."""
    if not set(PIXEL_COUNT_COLUMNS) <= set(per_image.columns):
        return {}
    tp, fp, fn, tn = (int(per_image[c].sum()) for c in PIXEL_COUNT_COLUMNS)
    predicted, true, total = tp + fp, tp + fn, tp + fp + fn + tn
    ratio = predicted / true if true else math.nan
    return {"predicted_foreground_ratio": ratio, "degenerate": degenerate_verdict(predicted, true, total)}
