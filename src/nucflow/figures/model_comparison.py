"""Figure 04: the five models compared on pixel F1, object F1 and balanced accuracy, and object F1
against the IoU threshold (Ali et al. 2021, Fig. 3).

Input: ``tables/model_comparison/per_image.csv`` (one row per run and image; read by
:func:`nucflow.results.model_comparison.load`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nucflow.figures.panels import condition_order, condition_title, metric_by_condition, model_legend, select
from nucflow.figures.style import figure_style, model_colour, new_figure, ordered_models, save
from nucflow.results.catalog import stem
from nucflow.results.inputs import condition_keys, present, read_figure_table
from nucflow.results.model_comparison import INPUTS, METRICS, iou_columns, load

STEM = stem("model_comparison")


def _iou_panel(ax, table: pd.DataFrame, models: list[str], columns: list[tuple[float, str]]) -> None:
    thresholds = [t for t, _ in columns]
    for model in models:
        part = select(table, model=model)
        if part.empty:
            continue
        run_means = part.groupby("run_id")[[c for _, c in columns]].mean()
        mean, low, high = run_means.mean() * 100, run_means.min() * 100, run_means.max() * 100
        ax.plot(thresholds, mean.to_numpy(), color=model_colour(model), marker="o", ms=2.5, lw=1.2)
        if len(run_means) > 1:
            ax.fill_between(thresholds, low.to_numpy(), high.to_numpy(), color=model_colour(model), alpha=0.15, lw=0)
    ax.set_xlabel("IoU threshold")
    ax.set_xticks([0.5, 0.6, 0.7, 0.8, 0.9])
    ax.grid(lw=0.4, alpha=0.5)


def fig_model_comparison(results: Path, out_dir: Path) -> list[Path] | None:
    """Draw ``04_model_comparison`` (PNG + PDF); None when the per-image table is missing.

    Top row: pixel F1, object F1 and balanced accuracy per model and condition (data set x
    modality): small dots = seeds (mean over images), large dot = mean over seeds, bar = bootstrap
    95% CI over images. Bottom row: object F1 vs IoU threshold per model (line = mean over seeds,
    band = range over seeds), one panel per condition.
    """
    results, out_dir = Path(results), Path(out_dir)
    if not present(results, INPUTS):
        return None
    table = load(results)
    intervals = read_figure_table(results, STEM, "intervals")
    keys = condition_keys(table)
    conditions = condition_order(table, keys)
    models = ordered_models(table["model"])
    columns = iou_columns(table)
    with figure_style():
        fig = new_figure(max(7.2, 1.9 * len(conditions)), 5.6)
        top, bottom = fig.subfigures(2, 1, height_ratios=[1.15, 1.0])
        for ax, (metric, label) in zip(top.subplots(1, len(METRICS)), METRICS):
            metric_by_condition(ax, table, keys, metric, intervals[intervals["metric"] == metric])
            ax.set_ylabel(label)
            ax.tick_params(axis="x", labelsize=6)
        if columns:
            axes = bottom.subplots(1, len(conditions), sharey=True, squeeze=False)[0]
            as_text = table.assign(**{k: table[k].astype(str) for k in keys})
            for ax, condition in zip(axes, conditions):
                _iou_panel(ax, select(as_text, **dict(zip(keys, condition))), models, columns)
                ax.set_title(condition_title(keys, condition), fontsize=7)
            axes[0].set_ylabel("object F1 (%)")
        model_legend(fig, models)
        paths = save(fig, out_dir / "04_model_comparison")
    return paths
