"""Figure 03: learning-rate range tests -- smoothed training loss against learning rate per model,
one panel per modality, with the chosen rate marked (Ali et al. 2021, Supplementary Fig. S2).

Inputs: ``lr_find/<model>-<modality>/curve.csv`` (columns ``lr``, ``loss``, ``smoothed_loss``,
optional ``used``) and ``lr_find/<model>-<modality>/lr.json`` (``{"lr": chosen rate, ...}``), as
written by ``nucflow lr-find``. The folder name is split at its last ``-``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from nucflow.errors import NucflowError
from nucflow.figures.panels import model_legend
from nucflow.figures.style import MODALITY_NAMES, figure_style, model_colour, new_figure, ordered_models, save
from nucflow.io import read_json
from nucflow.results.inputs import LR_FIND, numeric, present, read_table

INPUTS = (f"{LR_FIND}/*/curve.csv",)


def load_curves(results: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(curves, chosen): curves with columns ``model, modality, lr, loss, smoothed_loss, used``;
    chosen with ``model, modality, lr, smoothed_loss`` (the smoothed loss at the chosen rate,
    interpolated in log lr; NaN rate when ``lr.json`` is missing)."""
    curves, chosen = [], []
    for path in sorted((Path(results) / LR_FIND).glob("*/curve.csv")):
        model, sep, modality = path.parent.name.rpartition("-")
        if not sep or not model:
            raise NucflowError(f"{path.parent}: folder name must be <model>-<modality>")
        curve = numeric(read_table(path, ("lr", "loss", "smoothed_loss")), ("lr", "loss", "smoothed_loss"), path)
        if (curve["lr"] <= 0).any():
            raise NucflowError(f"{path}: learning rates must be positive")
        used = curve["used"].astype(str).str.lower().isin(["true", "1"]) if "used" in curve else \
            np.isfinite(curve["smoothed_loss"])
        curves.append(curve.assign(model=model, modality=modality, used=used)[
            ["model", "modality", "lr", "loss", "smoothed_loss", "used"]])
        rate = math.nan
        lr_path = path.parent / "lr.json"
        if lr_path.is_file():
            content = read_json(lr_path)
            if not isinstance(content, dict) or not isinstance(content.get("lr"), (int, float)) or content["lr"] <= 0:
                raise NucflowError(f"{lr_path}: expected a JSON object with a positive number 'lr'")
            rate = float(content["lr"])
        at = float(np.interp(np.log10(rate), np.log10(curve["lr"]), curve["smoothed_loss"])) if rate == rate else math.nan
        chosen.append({"model": model, "modality": modality, "lr": rate, "smoothed_loss": at})
    return pd.concat(curves, ignore_index=True), pd.DataFrame(chosen)


def _loss_limits(curves: pd.DataFrame) -> tuple[float, float]:
    """Y range covering the descending part of every curve (the divergent tail would hide it)."""
    used = curves[curves["used"] & np.isfinite(curves["smoothed_loss"])]
    values = used["smoothed_loss"] if not used.empty else curves["smoothed_loss"][np.isfinite(curves["smoothed_loss"])]
    low, high = float(values.min()), float(values.max())
    pad = 0.08 * (high - low) if high > low else 0.1 * abs(high) + 1e-3
    return low - pad, high + pad


def fig_lr_range(results: Path, out_dir: Path) -> list[Path] | None:
    """Draw ``03_lr_range`` (PNG + PDF); None when there is no range-test curve."""
    results, out_dir = Path(results), Path(out_dir)
    if not present(results, INPUTS):
        return None
    curves, chosen = load_curves(results)
    modalities = sorted(curves["modality"].unique(), key=lambda m: (m not in MODALITY_NAMES, m))
    models = ordered_models(curves["model"])
    with figure_style():
        fig = new_figure(3.3 * len(modalities) + 0.3, 3.0)
        axes = fig.subplots(1, len(modalities), squeeze=False)[0]
        for ax, modality in zip(axes, modalities):
            part = curves[curves["modality"] == modality]
            for model in models:
                curve = part[part["model"] == model]
                if curve.empty:
                    continue
                colour = model_colour(model)
                ax.plot(curve["lr"], curve["loss"], color=colour, lw=0.5, alpha=0.25)
                ax.plot(curve["lr"], curve["smoothed_loss"], color=colour, lw=1.3)
                mark = chosen[(chosen["model"] == model) & (chosen["modality"] == modality)]
                if not mark.empty and mark["lr"].iloc[0] == mark["lr"].iloc[0]:
                    ax.axvline(mark["lr"].iloc[0], color=colour, lw=0.7, ls="--", alpha=0.8)
                    ax.plot(mark["lr"], mark["smoothed_loss"], marker="v", ms=6, color=colour, mec="black", mew=0.5)
            ax.set_xscale("log")
            ax.set_ylim(*_loss_limits(part))
            ax.set_xlabel("learning rate (log scale)")
            ax.set_title(MODALITY_NAMES.get(modality, modality))
            ax.grid(lw=0.4, alpha=0.5)
        axes[0].set_ylabel("training loss (smoothed; faint: raw)")
        marker = Line2D([], [], color="0.3", ls="--", lw=0.7, marker="v", ms=5, mec="black", mew=0.5,
                        label="chosen rate")
        model_legend(fig, models, extra=[marker])
        paths = save(fig, out_dir / "03_lr_range")
    return paths
