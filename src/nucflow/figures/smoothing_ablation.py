"""Figure 10: label-smoothing factor grid and architecture ablations.

Left: pixel F1 against the smoothing factor per model, the chosen factor of each model starred
(Ali et al. 2021, Supplementary: grid 0.05-0.20). Right: the ablation variants of U-Net (doubled
skip connections, batch norm, more filters, all three) and U-Net++ (half the skip convolutions):
pixel F1 per variant and its difference to the same model's plain variant.

Inputs (each half drawn when its table exists; the figure is skipped when neither does; read by
:func:`nucflow.results.smoothing_ablation.load`):

* ``tables/smoothing/per_image.csv`` (tag ``smoothing``) and ``tables/smoothing/best.json``
  (``{model: chosen factor}``; without it the factor with the highest mean is starred);
* ``tables/ablation/per_image.csv`` (tag ``variant``: ``plain`` = the baseline of each model).

Points: mean over images (each averaged over seeds), bars: bootstrap 95% CI over images; the
difference is paired by image (``tables/figures/10_smoothing_ablation/``). The factors were chosen on validation images (``best.json``); the
figure shows the test images (the first test set when an arm scored several).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.figures.panels import model_legend
from nucflow.figures.style import figure_style, jitter, model_colour, model_name, new_figure, ordered_models, save
from nucflow.io import read_json
from nucflow.results.catalog import stem
from nucflow.results.inputs import ABLATION, SMOOTHING, SMOOTHING_BEST, present, read_figure_table
from nucflow.results.smoothing_ablation import BASELINE, load

ANY_INPUTS = (SMOOTHING, ABLATION)
STEM = stem("smoothing_ablation")


def best_factors(results: Path, estimates: pd.DataFrame) -> dict[str, float]:
    """model -> chosen smoothing factor: ``best.json`` where it names the model, else the argmax."""
    path = Path(results) / SMOOTHING_BEST
    chosen = {str(k): float(v) for k, v in read_json(path).items()} if path.is_file() else {}
    for model, part in estimates.groupby("model"):
        chosen.setdefault(str(model), float(part.loc[part["value"].idxmax(), "smoothing"]))
    return chosen


def _smoothing_panel(ax, estimates: pd.DataFrame, best: dict[str, float]) -> list[str]:
    models = ordered_models(estimates["model"])
    factors = sorted(estimates["smoothing"].unique())
    step = min(np.diff(factors)) if len(factors) > 1 else 0.05
    offsets = dict(zip(models, jitter(len(models), step * 0.4)))
    for model in models:
        part = estimates[estimates["model"] == model].sort_values("smoothing")
        x = part["smoothing"].to_numpy(float) + offsets[model]
        colour = model_colour(model)
        ax.errorbar(x, part["value"], yerr=[part["value"] - part["low"], part["high"] - part["value"]], color=colour,
                    marker="o", ms=3, lw=1.1, elinewidth=0.8, capsize=1.5)
        chosen = part[np.isclose(part["smoothing"], best.get(model, math.nan))]
        if not chosen.empty:
            ax.scatter(chosen["smoothing"] + offsets[model], chosen["value"], marker="*", s=90, color=colour,
                       edgecolors="black", linewidths=0.6, zorder=4)
    ax.set_xticks(factors, [f"{f:.2f}" for f in factors])
    ax.set_xlabel("label-smoothing factor f (targets 1 − f and f)")
    ax.set_ylabel("pixel F1 (%)")
    ax.grid(lw=0.4, alpha=0.5)
    return models


def variant_label(model: str, variant: str) -> str:
    text = variant.replace("+", " + ").replace("_", " ")
    return f"{model_name(model)}: " + "\n".join(textwrap.wrap(text, 24))


def _ablation_panels(value_ax, delta_ax, rows: pd.DataFrame) -> None:
    y = np.arange(len(rows))[::-1]
    colours = [model_colour(m) for m in rows["model"]]
    for yi, row, colour in zip(y, rows.itertuples(), colours):
        value_ax.errorbar([row.value], [yi], xerr=[[row.value - row.low], [row.high - row.value]], fmt="o", ms=4,
                          color=colour, mfc=colour if row.variant != BASELINE else "white", elinewidth=0.9, capsize=1.5)
        if math.isfinite(row.delta):
            delta_ax.barh([yi], [row.delta], color=colour, alpha=0.35, height=0.6)
            delta_ax.errorbar([row.delta], [yi], xerr=[[row.delta - row.delta_low], [row.delta_high - row.delta]],
                              fmt="none", ecolor=colour, elinewidth=0.9, capsize=1.5)
        else:
            delta_ax.text(0, yi, " baseline", va="center", ha="left", fontsize=6, color="0.4")
    value_ax.set_yticks(y, [variant_label(m, v) for m, v in zip(rows["model"], rows["variant"])], fontsize=6)
    value_ax.set_xlabel("pixel F1 (%)")
    value_ax.grid(axis="x", lw=0.4, alpha=0.5)
    delta_ax.axvline(0, color="0.3", lw=0.8)
    delta_ax.set_xlabel("Δ pixel F1 vs plain (pp)")
    delta_ax.tick_params(axis="y", left=False, labelleft=False)
    delta_ax.grid(axis="x", lw=0.4, alpha=0.5)
    for ax in (value_ax, delta_ax):
        ax.set_ylim(-0.6, len(rows) - 0.4)


def fig_smoothing_ablation(results: Path, out_dir: Path) -> list[Path] | None:
    """Draw ``10_smoothing_ablation`` (PNG + PDF); None when neither arm's table exists."""
    results, out_dir = Path(results), Path(out_dir)
    has_smoothing, has_ablation = present(results, (SMOOTHING,)), present(results, (ABLATION,))
    if not (has_smoothing or has_ablation):
        return None
    models: list[str] = []
    with figure_style():
        rows = None
        if has_ablation:
            _, ablation_set = load(results, ABLATION)
            rows = read_figure_table(results, STEM, "ablation")
        height = max(2.9, 0.32 * (len(rows) if rows is not None else 0) + 1.3)
        fig = new_figure(3.0 * has_smoothing + 4.6 * has_ablation + 0.3, height)
        parts = fig.subfigures(1, 2, width_ratios=[3.0, 4.6]) if has_smoothing and has_ablation else [fig]
        if has_smoothing:
            _, smoothing_set = load(results, SMOOTHING, ("smoothing",))
            estimates = read_figure_table(results, STEM, "smoothing")
            ax = parts[0].subplots()
            models += _smoothing_panel(ax, estimates, best_factors(results, estimates))
            ax.set_title(f"smoothing grid ({smoothing_set}; ★ chosen)", fontsize=8)
        if has_ablation:
            value_ax, delta_ax = parts[-1].subplots(1, 2, sharey=True, width_ratios=[1.2, 1.0])
            _ablation_panels(value_ax, delta_ax, rows)
            parts[-1].suptitle(f"ablations ({ablation_set}); open circle = plain, bars = difference paired by image",
                               fontsize=8)
            models += list(rows["model"])
        model_legend(fig, ordered_models(models))
        paths = save(fig, out_dir / "10_smoothing_ablation")
    return paths
