"""The model comparison's per-image table as figure 05 and the report read it for crowding: one
point per image and model (seeds averaged) of the analysed modality.

``tables/model_comparison/per_image.csv`` (columns ``n_true``, ``f1``, ``cell_line``).
Brightfield rows are used when the table has any, as in the paper (Ali et al. 2021, Fig. 4).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nucflow.results.inputs import PER_IMAGE, per_image_over_seeds, read_results_table

INPUTS = (PER_IMAGE,)


def focus_modality(table: pd.DataFrame) -> str:
    """The modality analysed: brightfield when present, else the first in sorted order."""
    values = sorted(table["modality"].astype(str).unique())
    return "brightfield" if "brightfield" in values else values[0]


def density_points(results: Path) -> tuple[pd.DataFrame, str]:
    """Seed-averaged (dataset, model, image_id, cell_line, n_true, f1) rows of the analysed modality."""
    table = read_results_table(results, PER_IMAGE, ("model", "dataset", "modality", "image_id", "cell_line"),
                               ("n_true", "f1"))
    modality = focus_modality(table)
    table = table[table["modality"].astype(str) == modality].assign(cell_line=lambda t: t["cell_line"].astype(str))
    points = per_image_over_seeds(table, ["dataset", "model", "cell_line"], ["n_true", "f1"])
    return points.dropna(subset=["n_true", "f1"]), modality
