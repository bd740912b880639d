"""Figure 12: focal planes -- pixel F1 against the number of distinct brightfield planes in the
input (fixed at 9 channels), following the greedy forward selection, with the plane added in each
round annotated, and the gain of each added plane (Ali et al. 2021, Fig. 9: +3.3% per plane).

Inputs: ``tables/focal_planes/per_image.csv`` (tags ``focal_round`` k = 1..K and ``planes``: the
distinct planes in the order they were added, dot-separated, the candidate's new plane last; one
run per candidate, model and seed: each (model, seed) is its own greedy search) and, when present,
``tables/focal_planes/greedy.csv`` (one row per search and round: ``round, planes, added_plane``
and ``run_id`` of the chosen run, or ``model`` where there is no run id). Without it, each search's
pick of a round is its candidate with the highest mean pixel F1 (:mod:`nucflow.results.focal_planes`
reads both and picks).

Faint dots: every candidate run of a round (mean over test images); line: the picks, mean over
images (each averaged over the seeds' picks) with bootstrap 95% CIs, annotated with the added
plane (several when seeds chose differently); bars: the difference to the previous round's picks,
paired by image. The intervals come from ``tables/figures/12_focal_planes/`` (``path``, ``gains``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.figures.panels import model_legend
from nucflow.figures.style import figure_style, jitter, model_colour, new_figure, ordered_models, save
from nucflow.results.catalog import stem
from nucflow.results.focal_planes import INPUTS, candidates, load
from nucflow.results.inputs import present, read_figure_table

STEM = stem("focal_planes")
PAPER_GAIN_PP = 3.3


def _path_panel(ax, scores: pd.DataFrame, path: pd.DataFrame, models: list[str]) -> None:
    offsets = dict(zip(models, jitter(len(models), 0.3)))
    for model in models:
        colour, dx = model_colour(model), offsets[model]
        cands = scores[scores["model"] == model]
        for k, part in cands.groupby("focal_round"):
            ax.scatter(k + dx + np.asarray(jitter(len(part), 0.12)), part["value"], s=7, color=colour, alpha=0.3,
                       linewidths=0, zorder=1)
        steps = path[path["model"] == model]
        ax.errorbar(steps["focal_round"] + dx, steps["value"],
                    yerr=[steps["value"] - steps["low"], steps["high"] - steps["value"]], color=colour, marker="o",
                    ms=3.5, lw=1.3, elinewidth=0.9, capsize=1.5, zorder=3)
        for step in steps.itertuples():
            text = ("" if step.focal_round == 1 else "+") + "/".join(f"p{p}" for p in step.added_plane.split("/"))
            ax.annotate(text, (step.focal_round + dx, step.high), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize=6, color=colour)
    rounds = sorted(scores["focal_round"].unique())
    ax.set_xticks(rounds, [str(int(k)) for k in rounds])
    ax.set_xlim(min(rounds) - 0.5, max(rounds) + 0.5)
    ax.set_xlabel("distinct focal planes in the 9-channel input (count)")
    ax.set_ylabel("pixel F1 (%)")
    ax.margins(y=0.12)
    ax.grid(lw=0.4, alpha=0.5)


def _gain_panel(ax, gains: pd.DataFrame, models: list[str]) -> None:
    width = 0.8 / max(len(models), 1)
    for j, model in enumerate(models):
        part = gains[gains["model"] == model]
        x = part["focal_round"].to_numpy(float) - 0.4 + width * (j + 0.5)
        ax.bar(x, part["gain"], width=width * 0.9, color=model_colour(model), alpha=0.6)
        ax.errorbar(x, part["gain"], yerr=[part["gain"] - part["low"], part["high"] - part["gain"]], fmt="none",
                    ecolor=model_colour(model), elinewidth=0.9, capsize=1.5)
    ax.axhline(0, color="0.3", lw=0.7)
    ax.axhline(PAPER_GAIN_PP, color="0.4", lw=0.9, ls="--", label=f"paper: +{PAPER_GAIN_PP} per plane")
    top = np.nanmax(np.append(gains["high"].to_numpy(float), PAPER_GAIN_PP))
    bottom = min(0.0, np.nanmin(np.append(gains["low"].to_numpy(float), 0.0)))
    ax.set_ylim(bottom - 0.05 * (top - bottom), top + 0.35 * (top - bottom))
    rounds = sorted(gains["focal_round"].unique())
    ax.set_xticks(rounds, [f"{int(k) - 1}→{int(k)}" for k in rounds])
    ax.set_xlabel("planes before → after (count)")
    ax.set_ylabel("Δ pixel F1 per added plane (pp)")
    ax.legend(loc="upper right", fontsize=6)
    ax.grid(axis="y", lw=0.4, alpha=0.5)


def fig_focal_planes(results: Path, out_dir: Path) -> list[Path] | None:
    """Draw ``12_focal_planes`` (PNG + PDF); None when the focal-plane table is missing."""
    results, out_dir = Path(results), Path(out_dir)
    if not present(results, INPUTS):
        return None
    table = load(results)
    if table.empty:
        return None
    scores = candidates(table)
    path = read_figure_table(results, STEM, "path")
    gains = read_figure_table(results, STEM, "gains")
    models = ordered_models(scores["model"])
    eval_set = table["eval_set"].iloc[0] if "eval_set" in table.columns else ""
    with figure_style():
        fig = new_figure(7.0 if not gains.empty else 4.2, 3.0)
        axes = fig.subplots(1, 2 if not gains.empty else 1, width_ratios=[1.5, 1.0] if not gains.empty else None,
                            squeeze=False)[0]
        _path_panel(axes[0], scores, path, models)
        axes[0].set_title(f"greedy forward selection ({eval_set})\ndots: all candidates; pN: plane N added",
                          fontsize=8)
        if not gains.empty:
            _gain_panel(axes[1], gains, models)
            axes[1].set_title("gain of each added plane, paired by image", fontsize=8)
        model_legend(fig, models)
        paths = save(fig, out_dir / "12_focal_planes")
    return paths
