"""Figure 09: training-set size -- pixel F1 and object F1 against the number of training images
(log2 axis) per model, for plain training, label smoothing and augmentation, with a dashed line at
95% of the full-data score (Ali et al. 2021, Fig. 7: "16 images with augmentation are within 5%
of the full data set").

Input: ``tables/data_size/per_image.csv``: one row per run and test image of one cell line, tags
``variant`` (plain, smooth, aug) and ``n_train`` (training images; 0 = the whole training split,
drawn right of the largest n as "all"). The full-data reference of a model is its plain variant at
the largest n. Lines: mean over test images (each averaged over seeds); bands: bootstrap 95% CI
over images (``tables/figures/09_data_size/curves_<metric>.csv``); faint dots: single seeds. The
table is read by :func:`nucflow.results.data_size.load`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from nucflow.figures.panels import note_empty
from nucflow.figures.style import figure_style, model_colour, model_name, new_figure, ordered_models, save
from nucflow.results.catalog import stem
from nucflow.results.data_size import CLAIM_N, INPUTS, METRICS, REFERENCE_SHARE, load
from nucflow.results.inputs import present, read_figure_table

STEM = stem("data_size")
VARIANT_ORDER = ("plain", "smooth", "aug")
# Not model colours: within a model's panel, colour and marker tell the training strategies apart.
VARIANT_STYLES = {"plain": {"color": "0.2", "marker": "o", "label": "plain"},
                  "smooth": {"color": "#56B4E9", "marker": "s", "label": "label smoothing"},
                  "aug": {"color": "#882255", "marker": "^", "label": "augmentation"}}


def ordered_variants(variants) -> list[str]:
    present_variants = {str(v) for v in variants}
    return [v for v in VARIANT_ORDER if v in present_variants] + sorted(present_variants - set(VARIANT_ORDER))


def variant_style(variant: str) -> dict:
    return VARIANT_STYLES.get(variant, {"color": "0.55", "marker": "D", "label": variant})


def full_reference(curves: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """model -> (x, value) of the full-data score: the plain variant at its largest x (the largest
    x of any variant when a model has no plain runs)."""
    reference = {}
    for model, part in curves.groupby("model"):
        plain = part[part["variant"] == "plain"]
        part = plain if not plain.empty else part
        row = part.loc[part["x"].idxmax()]
        reference[model] = (float(row["x"]), float(row["value"]))
    return reference


def _panel(ax, table: pd.DataFrame, curves: pd.DataFrame, variants: list[str], reference: tuple[float, float]) -> None:
    offsets = dict(zip(variants, np.linspace(-0.12, 0.12, len(variants)) if len(variants) > 1 else [0.0]))
    for variant in variants:
        style = variant_style(variant)
        part = curves[curves["variant"] == variant].sort_values("x")
        if part.empty:
            continue
        x = part["x"].to_numpy(float) * 2.0 ** offsets[variant]
        ax.fill_between(x, part["low"], part["high"], color=style["color"], alpha=0.15, lw=0)
        ax.plot(x, part["value"], color=style["color"], marker=style["marker"], ms=3, lw=1.2)
        runs = table[table["variant"] == variant]
        for x_value, values in runs.groupby("x"):
            ax.scatter(np.full(len(values), x_value * 2.0 ** offsets[variant]), values["run_value"], s=4,
                       color=style["color"], alpha=0.35, linewidths=0, zorder=1)
    _, full_value = reference
    ax.axhline(REFERENCE_SHARE * full_value, color="0.35", lw=0.9, ls="--", zorder=0)
    if (table["x"] == CLAIM_N).any():
        ax.axvline(CLAIM_N, color="0.6", lw=0.6, ls=":", zorder=0)
    ax.set_xscale("log", base=2)
    ax.grid(lw=0.4, alpha=0.5)


def _x_ticks(ax, table: pd.DataFrame) -> None:
    xs = sorted(table["x"].unique())
    labels = ["all" if n == 0 else str(int(n)) for n in
              (table.drop_duplicates("x").set_index("x").loc[xs, "n_train"])]
    ax.set_xticks(xs, labels)
    ax.minorticks_off()
    ax.set_xlim(min(xs) / 1.5, max(xs) * 1.5)


def fig_data_size(results: Path, out_dir: Path) -> list[Path] | None:
    """Draw ``09_data_size`` (PNG + PDF); None when the data-size table is missing."""
    results, out_dir = Path(results), Path(out_dir)
    if not present(results, INPUTS):
        return None
    table = load(results)
    metrics = [(m, label) for m, label in METRICS if m in table.columns and table[m].notna().any()]
    models = ordered_models(table["model"])
    variants = ordered_variants(table["variant"])
    lines = sorted(set(table["cell_line"].astype(str))) if "cell_line" in table.columns else []
    of_lines = f" of {', '.join(lines)}" if 0 < len(lines) <= 2 else ""
    with figure_style():
        fig = new_figure(max(5.0, 1.75 * len(models) + 0.6), 2.0 * len(metrics) + 0.7)
        grid = fig.subplots(len(metrics), len(models), squeeze=False, sharex=True)
        for i, (metric, label) in enumerate(metrics):
            curves = read_figure_table(results, STEM, f"curves_{metric}")
            runs = (table.groupby(["model", "variant", "x", "run_id"])[metric].mean() * 100).rename("run_value")
            runs = runs.reset_index()
            references = full_reference(curves)
            for j, model in enumerate(models):
                ax = grid[i, j]
                if model not in references:
                    note_empty(ax, "not run")
                    continue
                _panel(ax, runs[runs["model"] == model], curves[curves["model"] == model], variants, references[model])
                _x_ticks(ax, table)
                if i == 0:
                    ax.set_title(model_name(model), color=model_colour(model), fontweight="bold")
            grid[i, 0].set_ylabel(label)
        fig.supxlabel(f"training images{of_lines} (count, log2 scale)", fontsize=8)
        handles = [Line2D([], [], color=variant_style(v)["color"], marker=variant_style(v)["marker"], ms=4, lw=1.2,
                          label=variant_style(v)["label"]) for v in variants]
        handles.append(Line2D([], [], color="0.35", ls="--", lw=0.9, label="95% of full data (plain, largest n)"))
        if (table["x"] == CLAIM_N).any():
            handles.append(Line2D([], [], color="0.6", ls=":", lw=0.8, label=f"n = {CLAIM_N}"))
        fig.legend(handles=handles, loc="outside upper center", ncol=3 if len(models) < 3 else 5)
        paths = save(fig, out_dir / "09_data_size")
    return paths
