"""How the multi-scale merge trades precision for recall: object and pixel scores after merging
down to each confidence level (the extensions arm's trade-off table, ``nucflow tradeoff``).

Evaluation of a post-processing method lives here, on the evaluation side: evaluation may import
post-processing, never the other way round.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nucflow.errors import NucflowError
from nucflow.evaluation.matching import match_objects
from nucflow.evaluation.pixel import pixel_counts, pixel_metrics
from nucflow.postprocess.multiscale import MultiscaleParams, confidence_map, merge_levels, merge_schedule
from nucflow.postprocess.threshold import check_min_size


def multiscale_tradeoff(probs, labels_true: np.ndarray, params: MultiscaleParams = MultiscaleParams(),
                        iou_threshold: float = 0.5) -> pd.DataFrame:
    """Precision / recall / F1 after merging down to each confidence level.

    probs: as for :func:`nucflow.postprocess.multiscale`; labels_true: int (H, W) ground-truth instance labels.
    Returns one row per level in merge order with columns ``final_threshold, n_objects,
    object_tp, object_fp, object_fn, object_precision, object_recall, object_f1`` (one-to-one
    matching at IoU >= ``iou_threshold``) and ``pixel_precision, pixel_recall, pixel_f1``
    (foreground = label > 0).
    """
    labels_true = np.asarray(labels_true)
    confidence = confidence_map(probs, params.binarise_threshold)
    if labels_true.shape != confidence.shape:
        raise NucflowError(f"labels_true: shape {labels_true.shape} differs from probs {confidence.shape}")
    rows = []
    for level, labels in merge_levels(confidence, merge_schedule(params),
                                      check_min_size(params.min_size, "min_size")):
        matched = match_objects(labels_true, labels, [iou_threshold]).iloc[0]
        pixel = pixel_metrics(pixel_counts(labels_true > 0, labels > 0))
        rows.append({
            "final_threshold": level,
            "n_objects": int(np.count_nonzero(np.unique(labels))),  # ids may have gaps
            "object_tp": int(matched["tp"]), "object_fp": int(matched["fp"]),
            "object_fn": int(matched["fn"]),
            "object_precision": float(matched["precision"]),
            "object_recall": float(matched["recall"]),
            "object_f1": float(matched["f1"]),
            "pixel_precision": float(pixel["precision"]),
            "pixel_recall": float(pixel["recall"]),
            "pixel_f1": float(pixel["f1"]),
        })
    return pd.DataFrame(rows)
