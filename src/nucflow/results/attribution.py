"""The error attribution's tables as figure 08 and the report read them: label noise, imaging
artifacts and the false-negative / false-positive composition of the misclassified pixels, per
model (Ali et al. 2021, "Common errors in segmentation").

* ``attribution/model_comparison/label_noise.csv`` (``nucflow attribute label-noise``): columns
  ``image_id, model, n_errors, n_flagged_errors`` (the paper's vote), optionally ``n_cl_errors``
  (confident learning, label-free) and, on simulated data, ``n_calibrated_noise_errors`` (rates
  measured on held-out images), ``n_true_noise_errors``, ``n_true_nuclei`` and ``n_merged_nuclei``.
* ``attribution/model_comparison/**/artifacts.csv`` (``nucflow attribute artifacts``, one file per
  model): columns ``image_id, n_errors, n_errors_in_artifacts``; the model is the file's ``model``
  column, else its folder name (``.../<model>/artifacts.csv``), else "all".
* ``tables/model_comparison/per_image.csv``: ``pixel_fn``, ``pixel_fp`` per image (rows of the
  analysed modality, :func:`nucflow.results.density.focus_modality`).

This is the results layer's view of the tables; :mod:`nucflow.attribution` is the package that
computes them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nucflow.results.density import focus_modality
from nucflow.results.inputs import ATTRIBUTION, PER_IMAGE, numeric, read_results_table, read_table

LABEL_NOISE = f"{ATTRIBUTION}/label_noise.csv"
ARTIFACTS = f"{ATTRIBUTION}/**/artifacts.csv"
ANY_INPUTS = (LABEL_NOISE, ARTIFACTS, PER_IMAGE)
OPTIONAL_NOISE_COLUMNS = ("n_cl_errors", "n_calibrated_noise_errors", "n_true_noise_errors", "n_true_nuclei",
                          "n_merged_nuclei")
#: Label-noise estimators: name -> (count column of label_noise.csv, marker, legend label).
ESTIMATORS = {"paper": ("n_flagged_errors", "o", "paper: >= 4 of 5 vote"),
              "calibrated": ("n_calibrated_noise_errors", "^", "calibrated, held out"),
              "confident_learning": ("n_cl_errors", "s", "confident learning")}


def load_label_noise(results: Path) -> pd.DataFrame | None:
    """label_noise.csv with its count columns checked numeric; None when absent."""
    path = Path(results) / LABEL_NOISE
    if not path.is_file():
        return None
    table = read_table(path, ("model", "n_errors", "n_flagged_errors"))
    optional = [c for c in OPTIONAL_NOISE_COLUMNS if c in table and table[c].notna().any()]
    table = table.drop(columns=[c for c in OPTIONAL_NOISE_COLUMNS if c in table and c not in optional])
    return numeric(table.assign(model=table["model"].astype(str)), ["n_errors", "n_flagged_errors"] + optional, path)


def has_column(table: pd.DataFrame | None, column: str) -> bool:
    """True when ``column`` is in ``table`` with a value in every row."""
    return table is not None and column in table and bool(table[column].notna().all())


def merged_per_100(noise: pd.DataFrame | None) -> float | None:
    """Merged nuclei in the labels per 100 true nuclei (rows of one model; None without the columns)."""
    if not (has_column(noise, "n_true_nuclei") and has_column(noise, "n_merged_nuclei")):
        return None
    one = noise[noise["model"] == noise["model"].iloc[0]]
    total = float(one["n_true_nuclei"].sum())
    return 100 * float(one["n_merged_nuclei"].sum()) / total if total else None


def load_artifacts(results: Path) -> pd.DataFrame | None:
    """Every artifacts.csv below the attribution folder, stacked, with a ``model`` column."""
    root = Path(results) / ATTRIBUTION
    frames = []
    for path in sorted(root.glob("**/artifacts.csv")):
        table = numeric(read_table(path, ("n_errors", "n_errors_in_artifacts")), ("n_errors", "n_errors_in_artifacts"), path)
        if "model" not in table:
            table["model"] = path.parent.name if path.parent != root else "all"
        frames.append(table.assign(model=table["model"].astype(str)))
    return pd.concat(frames, ignore_index=True) if frames else None


def load_composition(results: Path) -> tuple[pd.DataFrame, str] | None:
    """Per model and image (seeds summed): ``pixel_fn``, ``pixel_fp``, ``n_errors`` of the analysed
    modality (brightfield when present), and that modality; None without the per-image table."""
    if not (Path(results) / PER_IMAGE).is_file():
        return None
    table = read_results_table(results, PER_IMAGE, ("model", "modality"), ("pixel_fn", "pixel_fp"))
    modality = focus_modality(table)
    table = table[table["modality"].astype(str) == modality].assign(model=lambda t: t["model"].astype(str))
    keys = ["model"] + [c for c in ("dataset", "image_id") if c in table.columns]
    if len(keys) == 3:  # one row per image: seeds summed, so the bootstrap resamples images
        table = table.groupby(keys, sort=True)[["pixel_fn", "pixel_fp"]].sum().reset_index()
    return table.assign(n_errors=table["pixel_fn"] + table["pixel_fp"]), modality
