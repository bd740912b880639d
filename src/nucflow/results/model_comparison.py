"""The model comparison's per-image table as figure 04 and the report read it: the metrics
compared and the object F1 columns per IoU threshold.

``tables/model_comparison/per_image.csv``: one row per run and image; with the baselines arm,
``tables/baselines/per_image.csv`` adds its rows (``model`` = ``stardist``) for the conditions the
model comparison has, so the figure and its interval table show a baseline as one more model.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from nucflow.results.inputs import BASELINES, PER_IMAGE, read_results_table

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


def load(results: Path, baselines: bool = True) -> pd.DataFrame:
    """The per-image table with its metric columns checked numeric, and (``baselines``) the
    baselines' rows of the same data sets and modalities when that table exists."""
    head = read_results_table(results, PER_IMAGE, ID_COLUMNS)
    wanted = [m for m, _ in METRICS] + [c for _, c in iou_columns(head)]
    table = read_results_table(results, PER_IMAGE, ID_COLUMNS, wanted)
    if not baselines or not (Path(results) / BASELINES).is_file():
        return table
    extra = read_results_table(results, BASELINES, ID_COLUMNS, wanted)
    conditions = set(zip(table["dataset"].astype(str), table["modality"].astype(str)))
    extra = extra[[c in conditions for c in zip(extra["dataset"].astype(str), extra["modality"].astype(str))]]
    return pd.concat([table, extra], ignore_index=True) if len(extra) else table
