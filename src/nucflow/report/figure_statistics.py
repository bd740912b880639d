"""The statistics figures 05 and 13 show that are not bootstrap intervals, computed from the
result tables for ``nucflow figure-tables`` (:mod:`nucflow.report.figure_tables` writes them
beside the intervals), so that the figure modules only read and draw:

* figure 05 (``correlations``, ``size_bins``): per data set and model, Pearson r and the
  least-squares line of pixel F1 on nuclei per image, and detection rate and mean best IoU per
  nucleus-size bin;
* figure 13 (``morphology_tests``): each instance method's nucleus shapes against the reference
  group, two-sided Mann-Whitney U with Holm's correction and the rank-biserial effect.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.attribution.density import size_bins
from nucflow.attribution.stats import correct_p_values, mann_whitney_table, pearson_r
from nucflow.results import density, extensions
from nucflow.results.inputs import PER_OBJECT, present, read_results_table

Tables = dict[str, pd.DataFrame]


#: nucleus-size bins of figure 05 (quantiles of the true nuclei's areas, shared by a data set's models)
N_SIZE_BINS = 5
CORRELATION_COLUMNS = ["dataset", "model", "n", "r", "slope", "intercept"]
SIZE_BIN_COLUMNS = ["dataset", "model", "bin", "area_low", "area_high", "n_objects", "n_detected", "detection_rate",
                    "mean_iou", "unit"]


def density_correlations(points: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model) of seed-averaged image points (``n_true``, ``f1``): Pearson r and the
    least-squares line of pixel F1 (%) on nuclei per image (NaN where r is undefined)."""
    rows = []
    for (dataset, model), part in points.groupby(["dataset", "model"], sort=True):
        x, y = part["n_true"].to_numpy(float), part["f1"].to_numpy(float) * 100
        r = pearson_r(x, y)
        slope, intercept = np.polyfit(x, y, 1) if r == r else (math.nan, math.nan)
        rows.append({"dataset": dataset, "model": model, "n": len(x), "r": r, "slope": float(slope),
                     "intercept": float(intercept)})
    return pd.DataFrame(rows, columns=CORRELATION_COLUMNS)


def size_bin_table(results: Path, modality: str) -> pd.DataFrame:
    """Detection rate and mean IoU per size bin, per data set and model, of ``modality``'s true
    nuclei (per_object.csv), with the area unit (µm² when every area is known in µm², else px²)."""
    head = read_results_table(results, PER_OBJECT, ("model", "dataset", "modality", "best_iou"))
    area_col = "area_um2" if "area_um2" in head and pd.to_numeric(head["area_um2"], errors="coerce").notna().all() \
        else "area_px2"
    table = read_results_table(results, PER_OBJECT, ("model", "dataset", "modality"), ("best_iou", area_col))
    table = table[table["modality"].astype(str) == modality]
    rows = []
    for dataset, part in table.groupby("dataset", sort=True):
        edges = np.unique(np.quantile(part[area_col], np.linspace(0, 1, N_SIZE_BINS + 1)))
        if edges.size < 2:
            edges = np.array([edges[0], edges[0]])
        for model, objects in part.groupby("model"):
            rows.append(size_bins(objects, area_col, "best_iou", edges=edges).assign(dataset=dataset, model=model))
    unit = "µm²" if area_col == "area_um2" else "px²"
    bins = pd.concat(rows, ignore_index=True).assign(unit=unit) if rows else pd.DataFrame(columns=SIZE_BIN_COLUMNS)
    return bins[SIZE_BIN_COLUMNS]


def density_tables(results: Path, n_boot: int = 1000) -> Tables | None:
    if not present(results, density.INPUTS):
        return None
    points, modality = density.density_points(results)
    bins = size_bin_table(results, modality) if present(results, (PER_OBJECT,)) else pd.DataFrame(
        columns=SIZE_BIN_COLUMNS)
    return {"correlations": density_correlations(points), "size_bins": bins}


# ---- 13: extensions --------------------------------------------------------------------------

def morphology_table(results: Path) -> pd.DataFrame | None:
    """The morphology tests of figure 13, or None when there is no per-object table or its groups
    all hold the same (ground-truth) nuclei."""
    morphology = extensions.load_morphology(results)
    if morphology is None or extensions.same_objects(morphology[0]):
        return None
    objects, reference = morphology[0], morphology[1]
    return morphology_tests(objects, reference, [f for f, _ in extensions.FEATURES if f in objects.columns])


def morphology_tests(objects: pd.DataFrame, reference: str, features: list[str]) -> pd.DataFrame:
    """Each group of ``objects`` (column ``group``: instance method or ground truth) against
    ``reference`` per feature: two-sided Mann-Whitney U, Holm over the rows returned; ``effect`` =
    rank-biserial r oriented as group vs reference (> 0: the group's values tend to be larger)."""
    groups = [reference] + [g for g in extensions.ordered_methods(objects["group"]) if g != reference]
    table = mann_whitney_table(objects, "group", features, groups)
    table = table[table["group_a"] == reference].copy()
    table["p_adjusted"] = correct_p_values(table["p_value"].to_numpy(), "holm")
    table["effect"] = -table["rank_biserial"]
    return table.reset_index(drop=True)
