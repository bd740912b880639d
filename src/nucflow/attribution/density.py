"""Density and size: how segmentation quality depends on crowding and nucleus size.

* :func:`density_correlation`: Pearson r between nuclei per image and pixel F1, over all images and
  within each cell line, with its p-value (``scipy.stats.pearsonr``, two-sided) and a percentile
  bootstrap CI over images (paper: r = -0.65 to -0.70 on seven cell lines).
* :func:`size_bins`: detection rate (share of true nuclei whose best-matching prediction has
  IoU >= 0.5) and mean best IoU per nucleus-size bin (paper: larger nuclei are segmented better).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from nucflow.attribution.stats import bootstrap_ci, pearson_r
from nucflow.errors import NucflowError

ALL_GROUPS = "all"


def require_columns(table: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    """Raise a one-line error naming the first column of ``columns`` that ``table`` lacks."""
    for column in columns:
        if column not in table.columns:
            raise NucflowError(f"{name}: missing column {column!r}; has {', '.join(map(str, table.columns))}")


def _correlation_row(group: str, x: np.ndarray, y: np.ndarray, n_boot: int, level: float,
                     seed: int) -> dict:
    row = {"group": group, "n_images": int(x.size), "pearson_r": math.nan, "p_value": math.nan,
           "ci_low": math.nan, "ci_high": math.nan}
    r = pearson_r(x, y)
    if math.isnan(r):
        return row
    row["pearson_r"] = r
    row["p_value"] = float(scipy_stats.pearsonr(x, y).pvalue)
    ci = bootstrap_ci(np.column_stack([x, y]), lambda xy: pearson_r(xy[:, 0], xy[:, 1]),
                      n_boot=n_boot, level=level, seed=seed)
    row["ci_low"], row["ci_high"] = ci.low, ci.high
    return row


def density_correlation(per_image: pd.DataFrame, count_col: str = "n_true", score_col: str = "f1",
                        group_col: str | None = "cell_line", n_boot: int = 2000, level: float = 0.95,
                        seed: int = 0) -> pd.DataFrame:
    """Pearson r of ``count_col`` (nuclei per image) against ``score_col`` (pixel F1).

    per_image: one row per image. Returns one row for all images (group ``"all"``) and one per
    value of ``group_col`` (sorted; omitted when ``group_col`` is None), with columns ``group,
    n_images, pearson_r, p_value, ci_low, ci_high``. r is NaN for fewer than 3 images or a
    constant column. Rows with a missing count or score are dropped.
    """
    require_columns(per_image, [count_col, score_col] + ([group_col] if group_col else []), "per-image table")
    table = per_image.dropna(subset=[count_col, score_col])
    rows = [_correlation_row(ALL_GROUPS, table[count_col].to_numpy(float),
                             table[score_col].to_numpy(float), n_boot, level, seed)]
    if group_col:
        for group, part in sorted(table.groupby(group_col), key=lambda item: str(item[0])):
            rows.append(_correlation_row(str(group), part[count_col].to_numpy(float),
                                         part[score_col].to_numpy(float), n_boot, level, seed))
    return pd.DataFrame(rows)


def size_bins(per_object: pd.DataFrame, area_col: str = "area_px2", iou_col: str = "best_iou",
              edges: Sequence[float] | None = None, n_bins: int = 5,
              iou_threshold: float = 0.5) -> pd.DataFrame:
    """Detection rate and mean best IoU of true nuclei per size bin.

    per_object: one row per *ground-truth* nucleus, ``area_col`` in px, ``iou_col`` the IoU with its
    best-matching prediction (0 when none). edges: bin edges in px (bins are [low, high), the last
    one closed); default: ``n_bins`` quantile bins of the areas. Returns one row per bin with
    columns ``bin, area_low, area_high, n_objects, n_detected, detection_rate, mean_iou``
    (detected = IoU >= ``iou_threshold``).
    """
    require_columns(per_object, [area_col, iou_col], "per-object table")
    table = per_object.dropna(subset=[area_col])
    areas = table[area_col].to_numpy(float)
    ious = table[iou_col].fillna(0.0).to_numpy(float)
    if areas.size == 0:
        raise NucflowError("per-object table: no objects with an area")
    if edges is None:
        if n_bins < 1:
            raise NucflowError(f"n_bins: must be >= 1, got {n_bins}")
        edges = np.unique(np.quantile(areas, np.linspace(0, 1, n_bins + 1)))
        if edges.size == 1:
            edges = np.array([edges[0], edges[0]])
    edges = np.asarray(edges, float)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) < 0):
        raise NucflowError(f"edges: need at least two ascending bin edges, got {edges.tolist()}")
    # bin i holds edges[i] <= area < edges[i+1]; the last bin also holds area == edges[-1]
    index = np.searchsorted(edges, areas, side="right") - 1
    index[areas == edges[-1]] = edges.size - 2
    rows = []
    for i in range(edges.size - 1):
        inside = index == i
        n = int(inside.sum())
        detected = int((ious[inside] >= iou_threshold).sum())
        rows.append({"bin": i, "area_low": float(edges[i]), "area_high": float(edges[i + 1]),
                     "n_objects": n, "n_detected": detected,
                     "detection_rate": detected / n if n else math.nan,
                     "mean_iou": float(ious[inside].mean()) if n else math.nan})
    return pd.DataFrame(rows)
