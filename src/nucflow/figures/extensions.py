"""Figure 13: extensions beyond the published study -- FREM on/off, foreground normalisation, the
loss (BCE, BCE + Dice, weighted BCE, 3-class), the instance methods (object F1 and the morphology
of their nuclei, Vasinkova et al. 2024) and the multi-scale merge's precision/recall trade-off
(LipoPose, Basu et al.).

Inputs (each row of panels drawn when its table exists; the figure is skipped when none does; the
variants, methods and morphology are read by :mod:`nucflow.results.extensions`):

* ``tables/extensions/per_image.csv``: tag ``variant`` in baseline, frem, foreground, bce_dice,
  bce_weighted, three_class, and ``method`` (instance method; several per run). Variant panels use
  one method per run (pixel F1 does not depend on it); the instance-method panel uses the baseline
  runs.
* ``tables/extensions/per_pred_object.csv`` (morphology of the predicted nuclei per method, with
  the ground truth from ``per_object.csv`` as the reference group) or else
  ``tables/extensions/per_object.csv`` (reference: the ``published`` method). Baseline runs of one
  model. Two-sided Mann-Whitney U of each method against the reference, Holm-corrected over all
  tests drawn; effect size: rank-biserial r (> 0: the method's values tend to be larger).
* ``tables/extensions/multiscale_tradeoff.csv`` (``run_id, threshold, precision, recall, f1``).
* ``frem_search/<name>/trials.csv`` and ``best.json`` (the FREM settings search): objective
  (best validation loss) per trial, pruned trials marked with their last reported loss, the
  chosen trial highlighted with its B and X; ``tables/frem_search/per_image.csv`` (variant plain,
  frem, se, dropout): pixel F1 of the searched setting against FREM off, squeeze-and-excitation
  and channel dropout at rate B/C, with intervals and Δ to FREM off from the figure table
  ``frem_search``.

Points: mean over images (each averaged over seeds); bars: bootstrap 95% CIs over images; Δ: the
difference to the baseline paired by image, in percentage points. The intervals, Δ and the
morphology tests come from ``tables/figures/13_extensions/`` (``variants``, ``methods``,
``morphology_tests``), written by ``nucflow figure-tables``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.figures.panels import model_legend, note_empty
from nucflow.figures.style import (figure_style, group_palette, model_colour, model_name, new_figure, ordered_models,
                                   save)
from nucflow.results.catalog import stem
from nucflow.results.extensions import (BASELINE, FEATURES, FREM_SEARCH_BASELINE, FREM_SEARCH_VARIANTS, VARIANT_PANELS,
                                        load_frem_searches, load_morphology, method_rows, ordered_methods, same_objects)
from nucflow.results.inputs import (EXTENSIONS, EXTENSIONS_PRED_OBJECTS, FREM_SEARCH, FREM_TRIALS, MULTISCALE,
                                    TEXT_COLUMNS, numeric, one_method, present, read_arm_table, read_figure_table,
                                    read_table)

ANY_INPUTS = (EXTENSIONS, MULTISCALE, FREM_TRIALS, FREM_SEARCH)
STEM = stem("extensions")
TRADEOFF = (("precision", "#332288", "-"), ("recall", "#999933", "-"), ("f1", "0.15", "--"))


def _variant_points(ax, table: pd.DataFrame, names: dict[str, str], models: list[str],
                    estimates: pd.DataFrame) -> None:
    """One panel of training variants: ``estimates`` holds its rows of the ``variants`` interval
    table (value, low, high and the paired ``delta`` to the baseline)."""
    variants = [v for v in names if v in set(table["variant"])]
    width = 0.7 / max(len(models), 1)
    for j, model in enumerate(models):
        colour = model_colour(model)
        for i, variant in enumerate(variants):
            row = estimates[(estimates["model"] == model) & (estimates["variant"] == variant)]
            if row.empty:
                continue
            row = row.iloc[0]
            x = i - 0.35 + width * (j + 0.5)
            ax.errorbar([x], [row["value"]], yerr=[[row["value"] - row["low"]], [row["high"] - row["value"]]], fmt="o",
                        ms=3.5, color=colour, mfc="white" if variant == BASELINE else colour, elinewidth=0.9,
                        capsize=1.5)
            if variant != BASELINE and math.isfinite(row["delta"]):
                ax.annotate(f"{row['delta']:+.1f}", (x, row["high"]), xytext=(0, 2), textcoords="offset points",
                            ha="center", va="bottom", fontsize=5.5, color=colour)
    ax.set_xticks(range(len(variants)), [names[v] for v in variants])
    ax.set_xlim(-0.6, len(variants) - 0.4)
    ax.margins(y=0.15)
    ax.grid(axis="y", lw=0.4, alpha=0.5)


def _method_points(ax, table: pd.DataFrame, models: list[str], estimates: pd.DataFrame) -> None:
    methods = ordered_methods(method_rows(table)["method"])
    width = 0.7 / max(len(models), 1)
    for j, model in enumerate(models):
        for i, method in enumerate(methods):
            row = estimates[(estimates["model"] == model) & (estimates["method"] == method)]
            if row.empty:
                continue
            row = row.iloc[0]
            ax.errorbar([i - 0.35 + width * (j + 0.5)], [row["value"]],
                        yerr=[[row["value"] - row["low"]], [row["high"] - row["value"]]], fmt="o", ms=3.5,
                        color=model_colour(model), elinewidth=0.9, capsize=1.5)
    ax.set_xticks(range(len(methods)), [m.replace("_", " ") for m in methods], rotation=25, ha="right")
    ax.set_xlim(-0.6, len(methods) - 0.4)
    ax.set_ylabel("object F1 (%), IoU 0.5-0.95")
    ax.set_title("instance methods (baseline runs; 3-class: its own runs)", fontsize=8)
    ax.grid(axis="y", lw=0.4, alpha=0.5)


def _tradeoff(ax, tradeoff: pd.DataFrame) -> None:
    for column, colour, style in TRADEOFF:
        by_threshold = (tradeoff.groupby("threshold")[column].agg(["mean", "min", "max"]) * 100).sort_index()
        ax.plot(by_threshold.index, by_threshold["mean"], color=colour, ls=style, marker="o", ms=2.5, lw=1.2,
                label=column if column != "f1" else "F1")
        if tradeoff["run_id"].nunique() > 1:
            ax.fill_between(by_threshold.index, by_threshold["min"], by_threshold["max"], color=colour, alpha=0.12,
                            lw=0)
    ax.set_xlabel("lowest confidence threshold of the merge (share of scales)")
    ax.set_ylabel("precision, recall, F1 (%)")
    ax.set_title(f"multi-scale merge ({tradeoff['run_id'].nunique()} runs; band = range)", fontsize=8)
    ax.legend(loc="best", fontsize=6)
    ax.grid(lw=0.4, alpha=0.5)


def load_tradeoff(results: Path) -> pd.DataFrame:
    """multiscale_tradeoff.csv with its value columns checked numeric."""
    path = Path(results) / MULTISCALE
    columns = tuple(c for c, _, _ in TRADEOFF) + ("threshold",)
    return numeric(read_table(path, ("run_id",) + columns, text_columns=TEXT_COLUMNS), columns, path)


def stars(p: float) -> str:
    """Significance marks of an adjusted p-value: *** < 0.001, ** < 0.01, * < 0.05, else ns."""
    if not math.isfinite(p):
        return "n/a"
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "ns"


def _short(r: float) -> str:
    """Rank-biserial r without the leading zero (+0.26 -> +.26), to fit above a narrow box."""
    return "n/a" if not math.isfinite(r) else f"{r:+.2f}".replace("0.", ".", 1)


def _morphology_row(axes, objects: pd.DataFrame, reference: str, unit: str, tests: pd.DataFrame) -> None:
    """Box plots per feature and group, marked with the tests of ``tests`` (the figure table)."""
    features = [(f, label) for f, label in FEATURES if f in objects.columns]
    groups = [reference] + [g for g in ordered_methods(objects["group"]) if g != reference]
    palette = group_palette(groups)
    for ax, (feature, label) in zip(axes, features):
        values = [objects.loc[objects["group"] == g, feature].dropna().to_numpy(float) for g in groups]
        boxes = ax.boxplot(values, positions=range(len(groups)), widths=0.6, showfliers=False, patch_artist=True,
                           medianprops={"color": "0.1"}, whiskerprops={"color": "0.4"}, capprops={"color": "0.4"})
        for patch, group in zip(boxes["boxes"], groups):
            patch.set(facecolor=palette[group], edgecolor="0.4", alpha=0.8 if group != reference else 0.35)
        low, high = ax.get_ylim()
        ax.set_ylim(low, high + 0.22 * (high - low))
        for i, group in enumerate(groups[1:], start=1):
            row = tests[(tests["feature"] == feature) & (tests["group_b"] == group)]
            if not row.empty:
                text = f"{stars(row['p_adjusted'].iloc[0])}\n{_short(row['effect'].iloc[0])}"
                ax.text(i, high + 0.02 * (high - low), text,
                        ha="center", va="bottom", fontsize=5, color="0.25", linespacing=1.0)
        ax.set_xticks(range(len(groups)), [g.replace("_", " ") for g in groups], rotation=35, ha="right", fontsize=6)
        ax.set_ylabel(label.format(unit=unit), fontsize=7)
        ax.grid(axis="y", lw=0.4, alpha=0.5)


def _search_trials(ax, searches: list[tuple[str, pd.DataFrame, dict]]) -> None:
    """Objective per trial: complete trials as dots, pruned ones as crosses at their last reported
    validation loss, the chosen one ringed and labelled with its B and X. With a search per fold,
    each fold's search in a colour of its own."""
    several = len(searches) > 1
    palette = group_palette([name for name, _, _ in searches]) if several else {}
    for name, trials, best in searches:
        for state, marker, colour, label in (("complete", "o", "#332288", "complete"),
                                             ("pruned", "x", "#CC6677", "pruned (last epoch's loss)")):
            rows = trials[(trials["state"] == state) & trials["value"].notna()]
            if not rows.empty:
                ax.scatter(rows["number"], rows["value"], marker=marker, s=14, color=palette.get(name, colour),
                           label=f"{name}: {state}" if several else label, lw=1)
        chosen = trials[trials["number"] == best["trial"]]
        if not chosen.empty:
            x, y = float(chosen["number"].iloc[0]), float(chosen["value"].iloc[0])
            ax.scatter([x], [y], s=70, facecolors="none", edgecolors="#DDAA33", lw=1.5,
                       label=None if several and name != searches[0][0] else "chosen")
            ax.annotate(f"B = {best['channels']} of {best['feature_channels']}, X = {best['factor']:.3g}", (x, y),
                        xytext=(-4, 6), textcoords="offset points", ha="right", fontsize=6)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("trial")
    ax.set_ylabel("best validation loss")
    states = pd.concat([trials["state"] for _, trials, _ in searches])
    what = f"{len(searches)} FREM searches (one per fold)" if several else "FREM search"
    ax.set_title(f"{what}: {int((states == 'complete').sum())} complete, "
                 f"{int((states == 'pruned').sum())} pruned trials (TPE)", fontsize=8)
    ax.legend(loc="best", fontsize=6)
    ax.grid(lw=0.4, alpha=0.5)


def _as_baseline(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with FREM off named as the drawing helper's baseline (drawn as an open circle)."""
    return frame.assign(variant=frame["variant"].where(frame["variant"] != FREM_SEARCH_BASELINE, BASELINE))


def _search_comparison(ax, table: pd.DataFrame, models: list[str], estimates: pd.DataFrame) -> None:
    names = {(BASELINE if key == FREM_SEARCH_BASELINE else key): label for key, label in FREM_SEARCH_VARIANTS.items()}
    _variant_points(ax, _as_baseline(table), names, models, _as_baseline(estimates))
    ax.set_ylabel("pixel F1 (%)")
    ax.set_title("searched FREM vs off (open), SE, dropout B/C; Δ vs off (pp)", fontsize=8)


def _search_row(subfig, results: Path, searches: list[tuple[str, pd.DataFrame, dict]],
                models: list[str]) -> list[str]:
    """The FREM search's row; returns the models it drew."""
    trials_ax, compare_ax = subfig.subplots(1, 2, width_ratios=[1.0, 1.2])
    if searches:
        _search_trials(trials_ax, searches)
    else:
        note_empty(trials_ax, "FREM search: not run")
    if present(results, (FREM_SEARCH,)):
        head = read_arm_table(results, FREM_SEARCH, ("run_id", "image_id", "variant", "method"), ("f1",))
        table = one_method(head)
        models = ordered_models(table["model"])
        _search_comparison(compare_ax, table, models, read_figure_table(results, STEM, "frem_search"))
        return models
    note_empty(compare_ax, "FREM search comparison: not run")
    return []


def fig_extensions(results: Path, out_dir: Path) -> list[Path] | None:
    """Draw ``13_extensions`` (PNG + PDF); None when neither the per-image table, the multi-scale
    trade-off nor the FREM search's results exist."""
    results, out_dir = Path(results), Path(out_dir)
    has_table, has_tradeoff = present(results, (EXTENSIONS,)), present(results, (MULTISCALE,))
    searches = load_frem_searches(results)
    has_search = bool(searches) or present(results, (FREM_SEARCH,))
    if not (has_table or has_tradeoff or has_search):
        return None
    table = None
    if has_table:
        head = read_arm_table(results, EXTENSIONS, ("run_id", "image_id", "variant", "method"), ("f1",))
        table = numeric(head, ["object_f1"], results / EXTENSIONS) if "object_f1" in head.columns else head
    tradeoff = load_tradeoff(results) if has_tradeoff else None
    morphology = load_morphology(results) if has_table else None
    models = ordered_models(table["model"]) if table is not None else []
    identical = morphology is not None and same_objects(morphology[0])
    rows = [h for h, on in ((2.3, table is not None), (2.4, table is not None or tradeoff is not None),
                            (0.6 if identical else 2.5, morphology is not None), (2.4, has_search)) if on]
    with figure_style():
        fig = new_figure(7.6, sum(rows) + 0.5)
        subfigs = list(np.atleast_1d(fig.subfigures(len(rows), 1, height_ratios=rows)))
        if table is not None:
            variants = one_method(table)
            top = subfigs.pop(0)
            top.suptitle("training variants vs baseline (open circles); numbers: Δ pixel F1 vs baseline, paired by "
                         "image (pp)", fontsize=7.5)
            axes = top.subplots(1, len(VARIANT_PANELS), width_ratios=[2, 2, 4], sharey=True)
            points = read_figure_table(results, STEM, "variants")
            for ax, (title, names) in zip(axes, VARIANT_PANELS):
                if not (set(names) - {BASELINE}) & set(variants["variant"]):
                    note_empty(ax, f"{title}: not run")
                    continue
                _variant_points(ax, variants, names, models, points[points["panel"] == title])
                ax.set_title(title, fontsize=8)
            axes[0].set_ylabel("pixel F1 (%)")
        if table is not None or tradeoff is not None:
            middle = subfigs.pop(0)
            method_ax, tradeoff_ax = middle.subplots(1, 2, width_ratios=[1.0, 1.2])
            if table is not None and "object_f1" in table.columns and table["method"].nunique() > 0:
                _method_points(method_ax, table, models, read_figure_table(results, STEM, "methods"))
            else:
                note_empty(method_ax, "instance methods: not run")
            if tradeoff is not None:
                _tradeoff(tradeoff_ax, tradeoff)
            else:
                note_empty(tradeoff_ax, "multi-scale trade-off: not run")
        if identical:
            note_empty(subfigs.pop(0).subplots(), "morphology: the per-object table describes the ground-truth nuclei "
                       f"(identical for every method);\nthe predicted nuclei's shapes need {EXTENSIONS_PRED_OBJECTS}")
        elif morphology is not None:
            objects, reference, unit, model = morphology
            bottom = subfigs.pop(0)
            n_features = sum(f in objects.columns for f, _ in FEATURES)
            _morphology_row(np.atleast_1d(bottom.subplots(1, n_features)), objects, reference, unit,
                            read_figure_table(results, STEM, "morphology_tests"))
            bottom.suptitle(f"nucleus morphology per instance method ({model_name(model)}, baseline runs)\n"
                            f"above boxes: "
                            f"Mann-Whitney U vs {reference}, Holm-adjusted p (*** < 0.001, ** < 0.01, * < 0.05) and "
                            f"rank-biserial r", fontsize=7)
        if has_search:
            drawn = _search_row(subfigs.pop(0), results, searches, models)
            models = ordered_models([*models, *drawn])
        if models:
            model_legend(fig, models)
        paths = save(fig, out_dir / "13_extensions")
    return paths
