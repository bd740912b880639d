"""Figure 07: object errors -- merges, splits and missed nuclei against the pixel classification
threshold per model (Ali et al. 2021, Fig. 6), and NuSeT's object metrics as a table.

Inputs: ``tables/model_comparison/per_image.csv`` (required; NuSeT counts ``n_true,
correct_detections, split_errors, merge_errors, catastrophes, nuset_fn, nuset_fp, touching_pairs,
touching_pairs_separated``) and ``tables/model_comparison/error_curve.csv`` (curve panels; columns
``run_id, model, modality, dataset, seed, pixel_threshold, merges, splits, missed, n_true``; rows
per image are summed per run and threshold). Counts are shown per 100 true nuclei so data sets of
different size compare; the table gives run totals averaged over seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.figures.panels import condition_order, condition_title, model_legend
from nucflow.figures.style import figure_style, model_colour, model_name, new_figure, ordered_models, save
from nucflow.results.inputs import ERROR_CURVE, PER_IMAGE, present, read_results_table

INPUTS = (PER_IMAGE,)
CURVE_COUNTS = ("merges", "splits", "missed")
NUSET_COUNTS = ("n_true", "correct_detections", "split_errors", "merge_errors", "catastrophes", "nuset_fn",
                "nuset_fp", "touching_pairs", "touching_pairs_separated")
KEYS = ["dataset", "modality"]
TABLE_HEADER = ("model", "data set, modality", "true nuclei", "correct (%)", "split errors", "merge errors", "catastrophes",
                "FN rate (%)", "FP rate (%)", "touching sep. (%)")


def nuset_table(per_image: pd.DataFrame) -> pd.DataFrame:
    """NuSeT metrics per model and condition: run totals (pooled over images), mean over seeds.

    Returns columns ``model, dataset, modality, n_runs`` + the totals of :data:`NUSET_COUNTS` +
    ``correct_pct, fn_rate_pct, fp_rate_pct, touching_separated_pct`` (rates from the totals).
    """
    runs = per_image.groupby(["model"] + KEYS + ["run_id"], sort=True)[list(NUSET_COUNTS)].sum().reset_index()
    table = runs.groupby(["model"] + KEYS, sort=True)[list(NUSET_COUNTS)].mean()
    table["n_runs"] = runs.groupby(["model"] + KEYS)["run_id"].nunique()
    table = table.reset_index()
    with np.errstate(invalid="ignore", divide="ignore"):
        true = table["n_true"].replace(0, np.nan)
        table["correct_pct"] = 100 * table["correct_detections"] / true
        table["fn_rate_pct"] = 100 * table["nuset_fn"] / true
        table["fp_rate_pct"] = 100 * table["nuset_fp"] / true
        table["touching_separated_pct"] = 100 * table["touching_pairs_separated"] / table["touching_pairs"].replace(0, np.nan)
    return table


def error_curves(results: Path) -> pd.DataFrame:
    """Per run and pixel threshold: ``merges, splits, missed`` per 100 true nuclei."""
    table = read_results_table(results, ERROR_CURVE, ("run_id", "model", "modality", "dataset", "seed"),
                               ("pixel_threshold",) + CURVE_COUNTS + ("n_true",))
    runs = table.groupby(["run_id", "model"] + KEYS + ["pixel_threshold"], sort=True)[
        list(CURVE_COUNTS) + ["n_true"]].sum().reset_index()
    for count in CURVE_COUNTS:
        runs[count] = 100 * runs[count] / runs["n_true"].replace(0, np.nan)
    return runs


def _curve_row(axes, curves: pd.DataFrame, models: list[str]) -> None:
    for ax, count in zip(axes, CURVE_COUNTS):
        for model in models:
            part = curves[curves["model"] == model]
            if part.empty:
                continue
            by_threshold = part.groupby("pixel_threshold")[count]
            mean, low, high = by_threshold.mean(), by_threshold.min(), by_threshold.max()
            colour = model_colour(model)
            ax.plot(mean.index, mean.to_numpy(), color=colour, marker="o", ms=2.5, lw=1.2)
            if part["run_id"].nunique() > 1:
                ax.fill_between(mean.index, low.to_numpy(), high.to_numpy(), color=colour, alpha=0.15, lw=0)
        ax.grid(lw=0.4, alpha=0.5)


def _table_cells(table: pd.DataFrame, conditions: list[tuple], models: list[str]) -> list[list[str]]:
    cells = []
    for condition in conditions:
        for model in models:
            row = table[(table["model"] == model) & (table["dataset"] == condition[0]) & (table["modality"] == condition[1])]
            if row.empty:
                continue
            r = row.iloc[0]
            cells.append([model_name(model), condition_title(KEYS, condition), f"{r['n_true']:.0f}",
                          f"{r['correct_pct']:.1f}", f"{r['split_errors']:.0f}", f"{r['merge_errors']:.0f}",
                          f"{r['catastrophes']:.0f}", f"{r['fn_rate_pct']:.1f}", f"{r['fp_rate_pct']:.1f}",
                          f"{r['touching_separated_pct']:.1f}"])
    return cells


def fig_object_errors(results: Path, out_dir: Path) -> list[Path] | None:
    """Draw ``07_object_errors`` (PNG + PDF); None when the per-image table is missing.

    Curve panels appear only when ``error_curve.csv`` exists (line = mean over seeds, band =
    range over seeds).
    """
    results, out_dir = Path(results), Path(out_dir)
    if not present(results, INPUTS):
        return None
    per_image = read_results_table(results, PER_IMAGE, ("run_id", "model") + tuple(KEYS), NUSET_COUNTS)
    per_image = per_image.assign(**{k: per_image[k].astype(str) for k in KEYS})
    table = nuset_table(per_image)
    curves = error_curves(results) if present(results, (ERROR_CURVE,)) else None
    models = ordered_models(table["model"])
    conditions = condition_order(table, KEYS)
    cells = _table_cells(table, conditions, models)
    curve_conditions = condition_order(curves.astype({k: str for k in KEYS}), KEYS) if curves is not None else []
    table_height = 0.5 + 0.17 * (len(cells) + 1)
    curve_height = 1.55 * len(curve_conditions)
    with figure_style():
        fig = new_figure(7.4, curve_height + table_height + 0.4)
        if curve_conditions:
            top, bottom = fig.subfigures(2, 1, height_ratios=[curve_height, table_height])
            grid = top.subplots(len(curve_conditions), len(CURVE_COUNTS), squeeze=False, sharex=True)
            for row, condition in zip(grid, curve_conditions):
                part = curves[(curves["dataset"].astype(str) == condition[0]) & (curves["modality"].astype(str) == condition[1])]
                _curve_row(row, part, models)
                row[0].set_ylabel(f"{condition_title(KEYS, condition)}\nper 100 true nuclei")
            for ax, count in zip(grid[0], CURVE_COUNTS):
                ax.set_title(count)
            for ax in grid[-1]:
                ax.set_xlabel("pixel classification threshold")
        else:
            bottom = fig
        ax = bottom.subplots(1, 1)
        ax.set_axis_off()
        lengths = np.array([max([len(h)] + [len(row[k]) for row in cells]) + 2 for k, h in enumerate(TABLE_HEADER)])
        drawn = ax.table(cellText=cells, colLabels=TABLE_HEADER, loc="upper center", cellLoc="center",
                         colWidths=list(lengths / lengths.sum()))
        drawn.auto_set_font_size(False)
        drawn.set_fontsize(6)
        for (row, _), cell in drawn.get_celld().items():
            cell.set_linewidth(0.3)
            if row == 0:
                cell.set_text_props(fontweight="bold")
        ax.set_title("NuSeT object metrics (run totals, mean over seeds; rates per true nucleus)", fontsize=8)
        model_legend(fig, models)
        paths = save(fig, out_dir / "07_object_errors")
    return paths
