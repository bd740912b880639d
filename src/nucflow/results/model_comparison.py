"""The model comparison's per-image table as figure 04 and the report read it: the metrics
compared and the object F1 columns per IoU threshold.

``tables/model_comparison/per_image.csv``: one row per run and image.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from nucflow.results.inputs import PER_IMAGE, read_results_table

INPUTS = (PER_IMAGE,)
ID_COLUMNS = ("run_id", "image_id", "model", "dataset", "modality", "seed")
#: (metric column, axis label)
METRICS = (("f1", "pixel F1 (%)"), ("object_f1", "object F1, mean over IoU 0.5-0.95 (%)"),
           ("balanced_accuracy", "balanced pixel accuracy (%)"))
_IOU_COLUMN = re.compile(r"^f1_iou(\d+\.\d+)$")


def iou_columns(table: pd.DataFrame) -> list[tuple[float, str]]:
    """(threshold, column) of every ``f1_iou<t>`` column, sorted by threshold."""
    found = [(float(m.group(1)), c) for c in table.columns if (m := _IOU_COLUMN.match(c))]
    return sorted(found)


def load(results: Path) -> pd.DataFrame:
    """The per-image table with its metric columns checked numeric."""
    head = read_results_table(results, PER_IMAGE, ID_COLUMNS)
    wanted = [m for m, _ in METRICS] + [c for _, c in iou_columns(head)]
    return read_results_table(results, PER_IMAGE, ID_COLUMNS, wanted)
