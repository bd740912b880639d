"""Figure 05: crowding and nucleus size -- pixel F1 against nuclei per image (regression line and
Pearson r per model, points coloured by cell line, one row per data set), and detection rate and
mean IoU per nucleus-size bin (Ali et al. 2021, Fig. 4).

Inputs: ``tables/model_comparison/per_image.csv`` (required; columns ``n_true``, ``f1``,
``cell_line``) and ``tables/model_comparison/per_object.csv`` (size panels; ``best_iou`` and
``area_um2`` or ``area_px2``). Brightfield rows are used when the tables have any, as in the paper;
per-image values are averaged over seeds first, so each image is one point per model
(:func:`nucflow.results.density.density_points`). The
regression lines, Pearson r and the size bins are computed by ``nucflow figure-tables``
(:func:`nucflow.report.figure_statistics.density_tables`) into ``tables/figures/05_density/``
(``correlations``, ``size_bins``); this module reads them and draws.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from nucflow.figures.panels import model_legend, note_empty
from nucflow.figures.style import (dataset_name, figure_style, group_palette, model_colour, model_name, new_figure,
                                   ordered_datasets, ordered_models, save)
from nucflow.results.catalog import stem
from nucflow.results.density import INPUTS, density_points
from nucflow.results.inputs import PER_OBJECT, present, read_figure_table

STEM = stem("density")


def _scatter(ax, points: pd.DataFrame, model: str, palette: dict, fit: pd.Series) -> None:
    """The points, and the regression line and Pearson r of ``fit`` (a ``correlations`` row)."""
    x, y = points["n_true"].to_numpy(float), points["f1"].to_numpy(float) * 100
    ax.scatter(x, y, s=5, c=[palette[c] for c in points["cell_line"]], linewidths=0, alpha=0.8)
    r = float(fit["r"])
    if r == r:
        xs = np.array([x.min(), x.max()])
        ax.plot(xs, float(fit["slope"]) * xs + float(fit["intercept"]), color=model_colour(model), lw=1.4)
    ax.text(0.97, 0.96, f"r = {r:.2f}" if r == r else "r undefined", transform=ax.transAxes, ha="right",
            va="top", fontsize=6.5)
    ax.grid(lw=0.4, alpha=0.5)


def _size_panel(ax, bins: pd.DataFrame, column: str, models: list[str], unit: str) -> None:
    first = bins[bins["model"] == models[0]].sort_values("bin")
    for model in models:
        part = bins[bins["model"] == model].sort_values("bin")
        ax.plot(part["bin"], part[column] * 100, color=model_colour(model), marker="o", ms=3, lw=1.2)
    labels = [f"{low:.0f}-{high:.0f}" for low, high in zip(first["area_low"], first["area_high"])]
    ax.set_xticks(first["bin"], labels, rotation=30, ha="right", fontsize=6)
    ax.set_xlabel(f"nucleus area bin ({unit})")
    ax.grid(lw=0.4, alpha=0.5)


def fig_density(results: Path, out_dir: Path) -> list[Path] | None:
    """Draw ``05_density`` (PNG + PDF); None when the per-image table is missing."""
    results, out_dir = Path(results), Path(out_dir)
    if not present(results, INPUTS):
        return None
    points, modality = density_points(results)
    fits = read_figure_table(results, STEM, "correlations").astype({"dataset": str}).set_index(["dataset", "model"])
    bins = read_figure_table(results, STEM, "size_bins")
    has_sizes = present(results, (PER_OBJECT,)) and not bins.empty
    unit = str(bins["unit"].iloc[0]) if has_sizes else ""
    datasets = ordered_datasets(points["dataset"])
    models = ordered_models(points["model"])
    palette = group_palette(points["cell_line"])
    with figure_style():
        fig = new_figure(max(7.2, 1.45 * len(models) + 1.2), 2.0 * len(datasets) + (2.6 if has_sizes else 0.5))
        top, bottom = fig.subfigures(2, 1, height_ratios=[2.0 * len(datasets), 2.4 if has_sizes else 0.01])
        grid = top.subplots(len(datasets), len(models), squeeze=False, sharey="row")
        for i, dataset in enumerate(datasets):
            for j, model in enumerate(models):
                ax = grid[i, j]
                part = points[(points["dataset"].astype(str) == dataset) & (points["model"] == model)]
                if part.empty:
                    note_empty(ax, "not run")
                    continue
                _scatter(ax, part, model, palette, fits.loc[(dataset, model)])
                ax.set_title(f"{model_name(model)}, {dataset_name(dataset)}", fontsize=7)
                if i == len(datasets) - 1:
                    ax.set_xlabel("nuclei per image")
            grid[i, 0].set_ylabel(f"pixel F1 (%), {modality}")
        lines = [Line2D([], [], ls="", marker="o", ms=4, color=colour, label=name) for name, colour in palette.items()]
        top.legend(handles=lines, loc="outside right center", title="cell line")
        if has_sizes:
            axes = bottom.subplots(1, 2 * len(datasets), squeeze=False)[0]
            for k, dataset in enumerate(datasets):
                part = bins[bins["dataset"].astype(str) == dataset]
                for ax, column, label in ((axes[2 * k], "detection_rate", "detected at IoU ≥ 0.5 (%)"),
                                          (axes[2 * k + 1], "mean_iou", "mean best IoU (%)")):
                    _size_panel(ax, part, column, [m for m in models if m in set(part["model"])], unit)
                    ax.set_ylabel(label)
                    ax.set_title(dataset_name(dataset), fontsize=7)
        model_legend(fig, models)
        paths = save(fig, out_dir / "05_density")
    return paths
