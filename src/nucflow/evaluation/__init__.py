"""Evaluation: pure metric functions on label arrays, and the tables figures read.

Layers: per image (:mod:`.pixel`, :mod:`.overlap` + :mod:`.matching`, :mod:`.errors`,
:mod:`.morphology`) -> per-image / per-object tables and the per-run summary (:mod:`.tables`) ->
one folder of predictions (:mod:`.folder`) -> ``nucflow evaluate`` (:mod:`.evaluate_cli`). Metric
definitions are contracts, written out in each module's docstring.
"""

from nucflow.evaluation.errors import ErrorCounts, ErrorThresholds, error_counts, error_curve, touching_pairs
from nucflow.evaluation.matching import DEFAULT_THRESHOLDS, Matching, match, match_objects, object_f1
from nucflow.evaluation.morphology import object_morphology
from nucflow.evaluation.overlap import Overlap, compute_overlap
from nucflow.evaluation.pixel import PixelCounts, pixel_counts, pixel_metrics, rmse_prob
from nucflow.evaluation.tables import evaluate_image, per_image_table, per_object_table, summary

__all__ = [
    "DEFAULT_THRESHOLDS", "ErrorCounts", "ErrorThresholds", "Matching", "Overlap", "PixelCounts",
    "compute_overlap", "error_counts", "error_curve", "evaluate_image", "match", "match_objects",
    "object_f1", "object_morphology", "per_image_table", "per_object_table", "pixel_counts",
    "pixel_metrics", "rmse_prob", "summary", "touching_pairs",
]
