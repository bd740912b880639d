"""Drawing helpers shared by several figures: per-model point estimates over conditions, legends.

The order of conditions is :func:`nucflow.results.names.condition_order` (the report orders its
tables the same way); the figure modules import it from here with the drawing helpers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from nucflow.errors import NucflowError
from nucflow.figures.style import DATASET_NAMES, MODALITY_NAMES, jitter, model_colour, model_name, ordered_models
from nucflow.results.names import condition_order


MODALITY_SHORT = {"brightfield": "BF", "fluorescence": "FL"}
DATASET_SHORT = {"seven_lines": "7 lines", "lncap": "LNCaP"}
CONDITION_AXIS = "BF brightfield, FL fluorescence"


def condition_label(keys: Sequence[str], values: tuple) -> str:
    """Two-line label of a condition: data set on the first line, the rest (modality as BF/FL) on
    the second."""
    named = dict(zip(keys, values))
    first = DATASET_SHORT.get(named.get("dataset", ""), named.get("dataset", ""))
    rest = [MODALITY_SHORT.get(v, v) if k == "modality" else v for k, v in named.items() if k != "dataset"]
    return first + ("\n" + ", ".join(rest) if rest else "")


def condition_title(keys: Sequence[str], values: tuple) -> str:
    """One-line title of a condition with full names, e.g. ``seven lines, brightfield``."""
    named = dict(zip(keys, values))
    parts = [DATASET_NAMES.get(v, v) if k == "dataset" else MODALITY_NAMES.get(v, v) if k == "modality" else v
             for k, v in named.items()]
    return ", ".join(parts)


def model_handles(models: Sequence[str]) -> list[Line2D]:
    """Legend entries, one per model, in the fixed model order and colours."""
    return [Line2D([], [], color=model_colour(m), marker="o", lw=1.2, ms=4, label=model_name(m)) for m in models]


def model_legend(fig: Figure, models: Sequence[str], extra: Sequence = ()) -> None:
    """One legend of the models (and ``extra`` artists) for the whole figure, above the panels."""
    handles = model_handles(models) + list(extra)
    fig.legend(handles=handles, loc="outside upper center", ncol=min(len(handles), 6))


def metric_by_condition(ax: Axes, per_image: pd.DataFrame, keys: Sequence[str], metric: str,
                        intervals: pd.DataFrame, *, scale: float = 100.0) -> None:
    """Per model and condition: seed means as small dots, their mean as a large dot, and the
    bootstrap 95% CI over images (per-image values averaged over seeds) as an error bar.

    per_image: rows per (run, image) with ``model``, ``seed``, ``run_id``, ``image_id``, the
    ``keys`` columns and ``metric``. Values are multiplied by ``scale`` (fractions -> %).
    intervals: the CIs of this metric, one row per condition and model (``keys`` as text, ``model``,
    ``low``, ``high``; :func:`nucflow.report.figure_tables.condition_intervals`).
    """
    table = per_image.dropna(subset=[metric])
    conditions = condition_order(table, keys)
    models = ordered_models(table["model"])
    table = table.assign(**{k: table[k].astype(str) for k in keys})
    runs = table.groupby(list(keys) + ["model", "run_id"], sort=True)[metric].mean().reset_index()
    width = 0.8 / max(len(models), 1)
    for i, condition in enumerate(conditions):
        for j, model in enumerate(models):
            where = dict(zip(keys, condition), model=model)
            run_values = _select(runs, where)[metric].to_numpy(float) * scale
            if run_values.size == 0:
                continue
            x = i - 0.4 + width * (j + 0.5)
            interval = _select(intervals, where)
            if interval.empty:
                raise NucflowError(f"{metric}: no interval for {where} in the figure's interval table; "
                                   "rewrite it with `nucflow figure-tables`")
            low, high = float(interval["low"].iloc[0]), float(interval["high"].iloc[0])
            colour = model_colour(model)
            ax.scatter(x + np.asarray(jitter(run_values.size, width * 0.6)), run_values, s=6, color=colour,
                       alpha=0.45, linewidths=0, zorder=2)
            ax.errorbar([x], [run_values.mean()], yerr=[[run_values.mean() - low],
                                                        [high - run_values.mean()]],
                        fmt="o", ms=4, color=colour, elinewidth=1, capsize=1.5, zorder=3)
    ax.set_xticks(range(len(conditions)), [condition_label(keys, c) for c in conditions])
    ax.set_xlim(-0.5, len(conditions) - 0.5)
    ax.set_xlabel(CONDITION_AXIS if "modality" in keys else "data set", fontsize=6)
    ax.grid(axis="y", lw=0.4, alpha=0.5)


def _select(table: pd.DataFrame, where: dict) -> pd.DataFrame:
    mask = np.ones(len(table), bool)
    for column, value in where.items():
        mask &= (table[column] == value).to_numpy()
    return table[mask]


def select(table: pd.DataFrame, **where) -> pd.DataFrame:
    """Rows of ``table`` whose columns equal the given values."""
    return _select(table, where)


def note_empty(ax: Axes, text: str) -> None:
    """Write a short note in the middle of an axes that has nothing to show and hide its frame."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=7, color="0.4")
    ax.set_axis_off()
