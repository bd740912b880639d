"""Figure 11: transfer learning -- pixel F1 on the target and on the source domain against the
number of target images used for fine-tuning (log2 axis), fine-tuned on target images only or on
target + source images, with the un-tuned source model as dotted lines and its gap between the
two domains marked (Ali et al. 2021, Fig. 8: 31% gap for LNCaP -> seven lines).

Input: ``tables/transfer/per_image.csv`` with tags ``transfer`` (``lolo`` = leave one line out,
or ``<source>_to_<target>``), ``target`` (held-out line / target data set), ``variant``
(``source`` = not fine-tuned, ``target``, ``target+source``), ``n_train`` (target images) and
``eval_role`` (``target`` or ``source``: which domain the images come from). One panel per
transfer setting and model. Leave-one-line-out values are the mean over the held-out lines of the
per-line means; bands are bootstrap 95% CIs resampling images within each line; each image is
first averaged over seeds. The table is read by :func:`nucflow.results.transfer.load`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.lines import Line2D

from nucflow.figures.panels import note_empty
from nucflow.figures.style import figure_style, model_name, new_figure, ordered_models, save
from nucflow.results.catalog import stem
from nucflow.results.inputs import present, read_figure_table
from nucflow.results.transfer import INPUTS, UNTUNED, load, ordered_settings, setting_title

STEM = stem("transfer")
# Domain colours (Paul Tol's muted scheme), distinct from the model colours.
ROLE_COLOURS = {"target": "#332288", "source": "#999933"}
VARIANT_LINES = {"target": "-", "target+source": "--"}


def _panel(ax, part: pd.DataFrame) -> None:
    tuned = part[part["variant"] != UNTUNED]
    for (variant, role), curve in tuned.groupby(["variant", "eval_role"], sort=True):
        curve = curve.sort_values("n_train")
        colour, style = ROLE_COLOURS.get(role, "0.5"), VARIANT_LINES.get(variant, ":")
        ax.fill_between(curve["n_train"], curve["low"], curve["high"], color=colour, alpha=0.12, lw=0)
        ax.plot(curve["n_train"], curve["value"], color=colour, ls=style, marker="o", ms=2.5, lw=1.2)
    untuned = part[part["variant"] == UNTUNED].set_index("eval_role")["value"]
    for role, value in untuned.items():
        ax.axhline(value, color=ROLE_COLOURS.get(role, "0.5"), ls=":", lw=1.1)
    ns = sorted(tuned["n_train"].unique()) or [1]
    ax.set_xscale("log", base=2)
    ax.set_xticks(ns, [str(int(n)) for n in ns])
    ax.minorticks_off()
    left = ns[0] / 2.0
    ax.set_xlim(left / 1.3, ns[-1] * 1.4)
    if {"target", "source"} <= set(untuned.index):
        low, high = sorted((untuned["target"], untuned["source"]))
        ax.annotate("", xy=(left, low), xytext=(left, high),
                    arrowprops={"arrowstyle": "<->", "color": "0.2", "lw": 0.9, "shrinkA": 0, "shrinkB": 0})
        ax.text(left * 1.08, (low + high) / 2, f"gap\n{untuned['source'] - untuned['target']:.1f} pp",
                fontsize=6.5, va="center", ha="left", color="0.2")
    ax.grid(lw=0.4, alpha=0.5)


def fig_transfer(results: Path, out_dir: Path) -> list[Path] | None:
    """Draw ``11_transfer`` (PNG + PDF); None when the transfer table is missing."""
    results, out_dir = Path(results), Path(out_dir)
    if not present(results, INPUTS):
        return None
    table = load(results)
    if table.empty:
        return None
    points = read_figure_table(results, STEM, "points")
    settings = ordered_settings(points["transfer"])
    models = ordered_models(points["model"])
    with figure_style():
        fig = new_figure(max(5.0, 3.0 * len(settings) + 0.4), 2.5 * len(models) + 0.8)
        grid = fig.subplots(len(models), len(settings), squeeze=False, sharey="row")
        for i, model in enumerate(models):
            for j, setting in enumerate(settings):
                ax = grid[i, j]
                part = points[(points["model"] == model) & (points["transfer"] == setting)]
                if part.empty:
                    note_empty(ax, "not run")
                    continue
                _panel(ax, part)
                n_targets = int(table.loc[table["transfer"] == setting, "target"].nunique())
                ax.set_title(f"{model_name(model)}: {setting_title(setting, n_targets)}", fontsize=8)
            grid[i, 0].set_ylabel("pixel F1 (%)")
        fig.supxlabel("target images used for fine-tuning (count, log2 scale)", fontsize=8)
        handles = [Line2D([], [], color=ROLE_COLOURS["target"], lw=1.4, label="scored on target domain"),
                   Line2D([], [], color=ROLE_COLOURS["source"], lw=1.4, label="scored on source domain"),
                   Line2D([], [], color="0.3", ls="-", lw=1.2, label="fine-tuned on target only"),
                   Line2D([], [], color="0.3", ls="--", lw=1.2, label="fine-tuned on target + source"),
                   Line2D([], [], color="0.3", ls=":", lw=1.2, label="source model, not fine-tuned")]
        fig.legend(handles=handles, loc="outside upper center", ncol=3)
        paths = save(fig, out_dir / "11_transfer")
    return paths

