"""Figure 08: where the misclassified pixels come from -- label noise, imaging artifacts, and false
negatives vs false positives, per model (Ali et al. 2021, "Common errors in segmentation").

Inputs (each panel drawn when its file exists; the figure is skipped when none does; read by
:mod:`nucflow.results.attribution`):

* ``attribution/model_comparison/label_noise.csv`` (``nucflow attribute label-noise``): columns
  ``image_id, model, n_errors, n_flagged_errors`` (the paper's vote), optionally ``n_cl_errors``
  (confident learning, label-free) and, on simulated data, ``n_calibrated_noise_errors`` (rates
  measured on held-out images), ``n_true_noise_errors``, ``n_true_nuclei`` and ``n_merged_nuclei``;
  a second panel then puts every estimate of the label-noise share beside the true share, with the
  labels' merged nuclei per 100 true nuclei.
* ``attribution/model_comparison/**/artifacts.csv`` (``nucflow attribute artifacts``, one file per
  model): columns ``image_id, n_errors, n_errors_in_artifacts``; the model is the file's ``model``
  column, else its folder name (``.../<model>/artifacts.csv``), else "all".
* ``tables/model_comparison/per_image.csv``: ``pixel_fn``, ``pixel_fp`` per image (brightfield rows
  when present) for the FN / FP composition.

Shares are pooled over images (sum of parts / sum of errors); error bars are percentile bootstrap
95% CIs over images, read from the figure's interval tables (``tables/figures/08_attribution/``,
written by ``nucflow figure-tables``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.figures.panels import model_legend
from nucflow.figures.style import figure_style, model_colour, model_name, new_figure, ordered_models, save
from nucflow.results.attribution import (ANY_INPUTS, ESTIMATORS, has_column, load_artifacts,  # noqa: F401 (registry)
                                         load_composition, load_label_noise, merged_per_100)
from nucflow.results.catalog import stem
from nucflow.results.inputs import read_figure_table

STEM = stem("attribution")


def _share_bars(ax, shares: pd.DataFrame, label: str, reference: tuple[float, float] | None = None) -> None:
    x = np.arange(len(shares))
    colours = [model_colour(m) for m in shares["model"]]
    ax.bar(x, shares["share"], color=colours, width=0.7)
    ax.errorbar(x, shares["share"], yerr=[shares["share"] - shares["low"], shares["high"] - shares["share"]],
                fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
    if reference is not None:
        ax.axhspan(*reference, color="0.5", alpha=0.15, lw=0, label="paper")
        ax.legend(loc="upper right", fontsize=6)
    ax.set_xticks(x, [model_name(m) for m in shares["model"]], rotation=30, ha="right")
    ax.set_ylabel(label)
    ax.set_ylim(0, max(float(np.nanmax(shares["high"])) * 1.25, (reference[1] * 1.25) if reference else 0, 1.0))
    ax.grid(axis="y", lw=0.4, alpha=0.5)


def _estimated_vs_true(ax, noise: pd.DataFrame, estimates: pd.DataFrame, true: pd.DataFrame) -> None:
    """Every estimator's share (marker) against the true share (x), one colour per model."""
    true = true.set_index("model")
    for estimator, rows in estimates.groupby("estimator", sort=False):
        _, marker, label = ESTIMATORS[estimator]
        for _, e in rows.iterrows():
            t = true.loc[e["model"]]
            ax.errorbar([t["share"]], [e["share"]], xerr=[[t["share"] - t["low"]], [t["high"] - t["share"]]],
                        yerr=[[e["share"] - e["low"]], [e["high"] - e["share"]]], fmt=marker, ms=4,
                        color=model_colour(e["model"]), mfc="none" if marker != "o" else None, elinewidth=0.8)
        mean_error = float(np.nanmean(np.abs(rows["error_pp"])))
        ax.plot([], [], marker, color="0.3", mfc="none" if marker != "o" else None, ms=4,
                label=f"{label}\n(mean |error| {mean_error:.1f} pp)")
    top = max(float(np.nanmax(estimates["high"])), float(np.nanmax(true["high"])), 1.0) * 1.15
    ax.plot([0, top], [0, top], color="0.5", lw=0.8, ls="--")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_aspect("equal")
    ax.set_xlabel("true label-noise share of errors (%)")
    ax.set_ylabel("estimated share (%)")
    merged = merged_per_100(noise)
    ax.set_title("estimates vs truth (simulated)" + (f"\nlabels merge {merged:.1f} per 100 true nuclei"
                                                     if merged is not None else ""), fontsize=7)
    ax.legend(loc="upper left", fontsize=5, frameon=False)
    ax.grid(lw=0.4, alpha=0.5)


def _composition(ax, shares: pd.DataFrame, modality: str) -> None:
    x = np.arange(len(shares))
    colours = [model_colour(m) for m in shares["model"]]
    ax.bar(x, shares["share"], color=colours, width=0.7, label="false negative")
    ax.bar(x, 100 - shares["share"], bottom=shares["share"], color=colours, alpha=0.3, width=0.7,
           label="false positive")
    ax.errorbar(x, shares["share"], yerr=[shares["share"] - shares["low"], shares["high"] - shares["share"]],
                fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
    ax.axhspan(53, 61, color="0.5", alpha=0.2, lw=0)
    ax.axhline(50, color="0.3", lw=0.6, ls=":")
    ax.set_xticks(x, [model_name(m) for m in shares["model"]], rotation=30, ha="right")
    ax.set_ylim(0, 100)
    ax.set_ylabel(f"share of misclassified pixels (%), {modality}")
    ax.set_title("FN (solid) vs FP (light)\ngrey band: paper FN 53-61%", fontsize=7)


def fig_attribution(results: Path, out_dir: Path) -> list[Path] | None:
    """Draw ``08_attribution`` (PNG + PDF); None when none of its inputs exists."""
    results, out_dir = Path(results), Path(out_dir)
    noise, artifacts, composition = load_label_noise(results), load_artifacts(results), load_composition(results)
    has_truth = has_column(noise, "n_true_noise_errors")
    n_panels = int(noise is not None) + int(has_truth) + int(artifacts is not None) + int(composition is not None)
    if n_panels == 0:
        return None
    models = ordered_models(pd.concat([t["model"] for t in (noise, artifacts, composition[0] if composition else None)
                                       if t is not None]))
    with figure_style():
        fig = new_figure(2.2 * n_panels + 0.3, 3.1)
        axes = list(np.atleast_1d(fig.subplots(1, n_panels)))
        if noise is not None:
            ax = axes.pop(0)
            _share_bars(ax, read_figure_table(results, STEM, "noise_flagged"),
                        "errors on flagged label-noise pixels (%)", reference=(3.0, 5.0))
            ax.set_title("label noise (estimated)")
        if has_truth:
            _estimated_vs_true(axes.pop(0), noise, read_figure_table(results, STEM, "noise_estimates"),
                               read_figure_table(results, STEM, "noise_true"))
        if artifacts is not None:
            ax = axes.pop(0)
            _share_bars(ax, read_figure_table(results, STEM, "artifacts"),
                        "errors inside artifact regions (%)", reference=(9.3, 11.8))
            ax.set_title("imaging artifacts")
        if composition is not None:
            _composition(axes.pop(0), read_figure_table(results, STEM, "composition"), composition[1])
        model_legend(fig, models)
        paths = save(fig, out_dir / "08_attribution")
    return paths
