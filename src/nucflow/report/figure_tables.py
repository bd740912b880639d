"""The intervals the figures draw, computed once from the result tables and written as tables.

Every bootstrap interval a figure shows is computed here and written to
``results/tables/figures/<figure stem>/<name>.csv``; the figure modules (:mod:`nucflow.figures`)
only read these tables and the result tables, so the numbers behind every error bar and band can
be cited, compared between studies and checked without opening a figure. All intervals are
percentile bootstraps over images (:mod:`nucflow.attribution.stats`), seeded, values in %. In a
study with folds (``splits.folds`` k > 1) an estimate pools the folds (every image is tested in
one fold) and its interval resamples folds, then images within each fold.

=====================  ===================  ==========================================================
figure                 table                one row per
=====================  ===================  ==========================================================
04_model_comparison    ``intervals``        metric, condition (data set, modality ...) and model
05_density             ``correlations``     data set and model: Pearson r, regression slope and
                                            intercept of pixel F1 (%) on nuclei per image
                       ``size_bins``        data set, model and nucleus-size bin: detection rate and
                                            mean best IoU (bins: quantiles of the true areas)
08_attribution         ``noise_flagged``    model (errors on pixels flagged as label noise)
                       ``noise_true``       model (true label-noise share; simulated data)
                       ``noise_estimates``  estimator and model, with the error against the truth
                       ``artifacts``        model (errors inside annotated artifacts)
                       ``composition``      model (false-negative share of misclassified pixels)
09_data_size           ``curves_<metric>``  model, variant and training-set size
10_smoothing_ablation  ``smoothing``        model and smoothing factor
                       ``ablation``         model and variant, with the paired difference to plain
11_transfer            ``points``           model, setting, variant, domain and n
12_focal_planes        ``path``, ``gains``  model and greedy round
13_extensions          ``variants``         panel, model and variant, with the paired difference
                       ``methods``          model and instance method
                       ``morphology_tests``  feature and method vs the reference group (Mann-Whitney
                                            U, Holm-adjusted p, rank-biserial effect)
                       ``frem_search``      model and frem_search variant, with the paired difference
                                            to FREM off
=====================  ===================  ==========================================================
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.attribution.stats import Estimate, mean_ci, statistic_ci, stratified_mean_ci
from nucflow.io import ensure_dir
from nucflow.report.figure_statistics import density_tables, morphology_table
from nucflow.results import attribution, data_size, extensions, focal_planes, model_comparison, smoothing_ablation
from nucflow.results import transfer
from nucflow.results.catalog import stem
from nucflow.results.inputs import (ABLATION, EXTENSIONS, FOCAL_PLANES, FREM_SEARCH, MULTISCALE, SMOOTHING, TRANSFER,
                                    condition_keys, figure_table_path, folds_of, n_folds, numeric, one_method,
                                    paired_images, per_image_over_seeds, pooled_eval_set, present, read_arm_table)
from nucflow.results.names import condition_order, ordered_models
from nucflow.study.layout import Layout

Tables = dict[str, pd.DataFrame]


# ---- shared ----------------------------------------------------------------------------------

def paired_difference(a: pd.DataFrame, b: pd.DataFrame, metric: str, *, scale: float = 100.0, n_boot: int = 1000,
                      seed: int = 0) -> Estimate:
    """Mean over the shared images of ``scale * (a - b)`` with a bootstrap CI over those images
    (tables as for :func:`paired_images`); NaN when no image is shared."""
    pairs, folds = paired_images(a, b, metric, with_folds=True)
    return mean_ci((pairs[:, 0] - pairs[:, 1]) * scale if len(pairs) else [], n_boot=n_boot, seed=seed,
                   folds=folds if len(pairs) else None)


def group_estimates(table: pd.DataFrame, keys: Sequence[str], metric: str, *, scale: float = 100.0,
                    n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per group of ``keys``: the mean over images (each image averaged over the seeds that scored
    it) with a bootstrap CI over images, and the spread of the seeds (runs).

    Returns columns ``keys + [value, low, high, n_images, n_runs, run_min, run_max, n_folds]``,
    values multiplied by ``scale`` (``n_folds``: the cross-validation folds pooled, 1 with one
    split); groups sorted by ``keys``.
    """
    keys = list(keys)
    table = table.dropna(subset=[metric])
    images = per_image_over_seeds(table, keys, [metric])
    runs = table.groupby(keys + ["run_id"], sort=True, dropna=False)[metric].mean().reset_index()
    rows = []
    for key, part in images.groupby(keys, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        estimate = mean_ci(part[metric].to_numpy(float) * scale, n_boot=n_boot, seed=seed, folds=folds_of(part))
        mask = np.ones(len(runs), bool)
        for column, value in zip(keys, key):
            mask &= (runs[column] == value).to_numpy()
        run_values = runs.loc[mask, metric].to_numpy(float) * scale
        rows.append({**dict(zip(keys, key)), "value": estimate.value, "low": estimate.low, "high": estimate.high,
                     "n_images": estimate.n, "n_runs": int(run_values.size),
                     "run_min": float(run_values.min()) if run_values.size else math.nan,
                     "run_max": float(run_values.max()) if run_values.size else math.nan, "n_folds": n_folds(part)})
    return pd.DataFrame(rows, columns=keys + ["value", "low", "high", "n_images", "n_runs", "run_min", "run_max",
                                              "n_folds"])


# ---- 04: model comparison --------------------------------------------------------------------

def condition_intervals(per_image: pd.DataFrame, keys: list[str], metric: str, *, scale: float = 100.0,
                        n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per condition (``keys``) and model: the mean over images (each averaged over seeds) with its
    bootstrap CI. Columns ``keys + [model, value, low, high, n_images, n_folds]``; keys as text."""
    table = per_image.dropna(subset=[metric])
    table = table.assign(**{k: table[k].astype(str) for k in keys})
    if "eval_set" in keys:  # one condition per evaluation set, whatever fold tested its images
        table = table.assign(eval_set=table["eval_set"].map(pooled_eval_set))
    images = per_image_over_seeds(table, list(keys) + ["model"], [metric])
    rows = []
    for condition in condition_order(table, keys):
        for model in ordered_models(table["model"]):
            mask = np.ones(len(images), bool)
            for column, value in zip(list(keys) + ["model"], condition + (model,)):
                mask &= (images[column] == value).to_numpy()
            values = images.loc[mask, metric].to_numpy(float) * scale
            if values.size == 0:
                continue
            estimate = mean_ci(values, n_boot=n_boot, seed=seed, folds=folds_of(images.loc[mask]))
            rows.append({**dict(zip(keys, condition)), "model": model, "value": estimate.value, "low": estimate.low,
                         "high": estimate.high, "n_images": estimate.n, "n_folds": n_folds(images.loc[mask])})
    return pd.DataFrame(rows, columns=list(keys) + ["model", "value", "low", "high", "n_images", "n_folds"])


def model_comparison_tables(results: Path, n_boot: int = 1000) -> Tables | None:
    if not present(results, model_comparison.INPUTS):
        return None
    table = model_comparison.load(results)
    keys = condition_keys(table)
    frames = [condition_intervals(table, keys, metric, n_boot=n_boot).assign(metric=metric)
              for metric, _ in model_comparison.METRICS]
    return {"intervals": pd.concat(frames, ignore_index=True)}


# ---- 08: attribution -------------------------------------------------------------------------

def pooled_share(parts, totals, n_boot: int = 1000, seed: int = 0, folds=None) -> Estimate:
    """sum(parts) / sum(totals) with a bootstrap CI over rows (images; over ``folds`` first)."""
    values = np.column_stack([np.asarray(parts, float), np.asarray(totals, float)])

    def ratio(rows: np.ndarray) -> float:
        total = rows[:, 1].sum()
        return float(rows[:, 0].sum() / total) if total else float("nan")

    return statistic_ci(values, ratio, n_boot=n_boot, seed=seed, folds=folds)


def share_table(table: pd.DataFrame, part: str, total: str, n_boot: int = 1000) -> pd.DataFrame:
    """Per model: pooled share ``part / total`` in % with ``low``/``high`` CI bounds (%)."""
    rows = []
    for model in ordered_models(table["model"]):
        rows_of_model = table[table["model"] == model]
        estimate = pooled_share(rows_of_model[part], rows_of_model[total], n_boot=n_boot,
                                folds=folds_of(rows_of_model))
        rows.append({"model": model, "share": 100 * estimate.value, "low": 100 * estimate.low,
                     "high": 100 * estimate.high, "n_images": estimate.n, "n_folds": n_folds(rows_of_model)})
    return pd.DataFrame(rows, columns=["model", "share", "low", "high", "n_images", "n_folds"])


def estimate_table(noise: pd.DataFrame, n_boot: int = 1000) -> pd.DataFrame:
    """Per model and estimator present: the pooled share of errors on label noise (%) with its
    bootstrap CI, the true share (%) and the estimate's error (``error_pp`` = estimate - truth, in
    percentage points; NaN without the truth). Estimators: see
    :data:`nucflow.results.attribution.ESTIMATORS`."""
    true = None
    if attribution.has_column(noise, "n_true_noise_errors"):
        true = share_table(noise, "n_true_noise_errors", "n_errors", n_boot)
    frames = []
    for estimator, (column, _, _) in attribution.ESTIMATORS.items():
        if not attribution.has_column(noise, column):
            continue
        shares = share_table(noise, column, "n_errors", n_boot).assign(estimator=estimator)
        shares["true_share"] = true["share"].to_numpy() if true is not None else np.nan
        frames.append(shares.assign(error_pp=shares["share"] - shares["true_share"]))
    return pd.concat(frames, ignore_index=True)


def attribution_tables(results: Path, n_boot: int = 1000) -> Tables | None:
    noise = attribution.load_label_noise(results)
    artifacts = attribution.load_artifacts(results)
    composition = attribution.load_composition(results)
    if noise is None and artifacts is None and composition is None:
        return None
    tables: Tables = {}
    if noise is not None:
        tables["noise_flagged"] = share_table(noise, "n_flagged_errors", "n_errors", n_boot)
        tables["noise_estimates"] = estimate_table(noise, n_boot)
        if attribution.has_column(noise, "n_true_noise_errors"):
            tables["noise_true"] = share_table(noise, "n_true_noise_errors", "n_errors", n_boot)
    if artifacts is not None:
        tables["artifacts"] = share_table(artifacts, "n_errors_in_artifacts", "n_errors", n_boot)
    if composition is not None:
        tables["composition"] = share_table(composition[0], "pixel_fn", "n_errors", n_boot).assign(
            modality=composition[1])
    return tables


# ---- 09: data size ---------------------------------------------------------------------------

def data_size_tables(results: Path, n_boot: int = 1000) -> Tables | None:
    if not present(results, data_size.INPUTS):
        return None
    table = data_size.load(results)
    return {f"curves_{metric}": group_estimates(table, ["model", "variant", "x"], metric, n_boot=n_boot)
            for metric, _ in data_size.METRICS if metric in table.columns and table[metric].notna().any()}


# ---- 10: smoothing and ablation --------------------------------------------------------------

def estimates_with_deltas(table: pd.DataFrame, baseline: str, n_boot: int = 1000) -> pd.DataFrame:
    """Per model and variant: :func:`group_estimates` of pixel F1 (%) and the paired difference to
    the same model's ``baseline`` variant (``delta``, ``delta_low``, ``delta_high`` in pp; NaN for
    the baseline itself and where the model has no baseline runs)."""
    estimates = group_estimates(table, ["model", "variant"], "f1", n_boot=n_boot)
    images = per_image_over_seeds(table, ["model", "variant"], ["f1"])
    deltas = []
    for row in estimates.itertuples():
        base = images[(images["model"] == row.model) & (images["variant"] == baseline)]
        delta = Estimate(math.nan, math.nan, math.nan, 0)
        if row.variant != baseline and not base.empty:
            delta = paired_difference(images[(images["model"] == row.model) & (images["variant"] == row.variant)],
                                      base, "f1", n_boot=n_boot)
        deltas.append((delta.value, delta.low, delta.high))
    return pd.concat([estimates, pd.DataFrame(deltas, columns=["delta", "delta_low", "delta_high"],
                                              index=estimates.index)], axis=1)


def ablation_rows(table: pd.DataFrame, n_boot: int = 1000) -> pd.DataFrame:
    """Per model and variant, models in the fixed order and variants in the ablation's order:
    :func:`estimates_with_deltas` against the model's plain variant."""
    estimates = estimates_with_deltas(table, smoothing_ablation.BASELINE, n_boot)
    order = list(smoothing_ablation.ABLATION_ORDER)
    rows = []
    for model in ordered_models(estimates["model"]):
        part = estimates[estimates["model"] == model]
        rank = {v: (order.index(v), "") if v in order else (len(order), v) for v in part["variant"]}
        rows.append(part.iloc[sorted(range(len(part)), key=lambda i: rank[part["variant"].iloc[i]])])
    return pd.concat(rows, ignore_index=True)


def smoothing_ablation_tables(results: Path, n_boot: int = 1000) -> Tables | None:
    tables: Tables = {}
    if present(results, (SMOOTHING,)):
        smoothing, _ = smoothing_ablation.load(results, SMOOTHING, ("smoothing",))
        tables["smoothing"] = group_estimates(smoothing, ["model", "smoothing"], "f1", n_boot=n_boot)
    if present(results, (ABLATION,)):
        ablation, _ = smoothing_ablation.load(results, ABLATION)
        tables["ablation"] = ablation_rows(ablation, n_boot)
    return tables or None


# ---- 11: transfer ----------------------------------------------------------------------------

def transfer_points(table: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per model, setting, variant, domain and n: mean pixel F1 (%) over held-out targets of the
    per-target image means, with a CI resampling images within targets; columns ``KEYS + [value,
    low, high, n_images, n_targets, n_folds]`` (``KEYS`` of :mod:`nucflow.results.transfer`)."""
    keys = transfer.KEYS
    images = per_image_over_seeds(table, keys + ["target"], ["f1"])
    rows = []
    for key, part in images.groupby(keys, sort=True):
        estimate = stratified_mean_ci(part["f1"].to_numpy(float) * 100, part["target"].to_numpy(), n_boot=n_boot,
                                      seed=seed, folds=folds_of(part))
        rows.append({**dict(zip(keys, key)), "value": estimate.value, "low": estimate.low, "high": estimate.high,
                     "n_images": estimate.n, "n_targets": part["target"].nunique(), "n_folds": n_folds(part)})
    return pd.DataFrame(rows, columns=keys + ["value", "low", "high", "n_images", "n_targets", "n_folds"])


def transfer_tables(results: Path, n_boot: int = 1000) -> Tables | None:
    if not present(results, (TRANSFER,)):
        return None
    table = transfer.load(results)
    return {"points": transfer_points(table, n_boot)} if not table.empty else None


# ---- 12: focal planes ------------------------------------------------------------------------

def greedy_path(table: pd.DataFrame, results: Path | None, n_boot: int = 1000) -> pd.DataFrame:
    """Per model and round along the greedy path: ``model, focal_round, added_plane, value, low,
    high, n_searches`` (pixel F1 in %, mean over images of the picks, CI over images);
    ``added_plane`` lists the planes the searches added, most frequent first (``"2"`` or ``"2/6"``)."""
    picks = focal_planes.greedy_picks(table, results)
    chosen = table[table["run_id"].isin(picks["run_id"])]
    path = group_estimates(chosen, ["model", "focal_round"], "f1", n_boot=n_boot)
    added = picks.assign(added=picks["planes"].str.split(".").str[-1]).groupby(["model", "focal_round"])["added"]
    labels = added.agg(lambda planes: "/".join(p for p, _ in Counter(sorted(planes)).most_common()))
    searches = picks.groupby(["model", "focal_round"])["seed"].nunique()
    path = path.merge(labels.rename("added_plane").reset_index(), on=["model", "focal_round"])
    path = path.merge(searches.rename("n_searches").reset_index(), on=["model", "focal_round"])
    return path[["model", "focal_round", "added_plane", "value", "low", "high", "n_searches", "n_folds"]]


def step_gains(table: pd.DataFrame, results: Path | None, n_boot: int = 1000) -> pd.DataFrame:
    """Per model and round k >= 2: the mean paired difference (pp) of pixel F1 between the picks of
    round k and of round k - 1 (each image averaged over the searches' picks), with a bootstrap CI
    over images. Columns ``model, focal_round, planes_before, planes_after, gain, low, high,
    n_images`` (planes: the first search's plane orders)."""
    picks = focal_planes.greedy_picks(table, results)
    chosen = table[table["run_id"].isin(picks["run_id"])]
    images = per_image_over_seeds(chosen, ["model", "focal_round"], ["f1"])
    rows = []
    for model, steps in picks.groupby("model", sort=False):
        rounds = sorted(steps["focal_round"].unique())
        first = steps.sort_values(["seed", "focal_round"]).drop_duplicates("focal_round").set_index("focal_round")
        for before, after in zip(rounds, rounds[1:]):
            estimate = paired_difference(images[(images["model"] == model) & (images["focal_round"] == after)],
                                         images[(images["model"] == model) & (images["focal_round"] == before)], "f1",
                                         n_boot=n_boot)
            rows.append({"model": model, "focal_round": after, "planes_before": first.at[before, "planes"],
                         "planes_after": first.at[after, "planes"], "gain": estimate.value, "low": estimate.low,
                         "high": estimate.high, "n_images": estimate.n})
    return pd.DataFrame(rows, columns=["model", "focal_round", "planes_before", "planes_after", "gain", "low", "high",
                                       "n_images"])


def focal_planes_tables(results: Path, n_boot: int = 1000) -> Tables | None:
    if not present(results, (FOCAL_PLANES,)):
        return None
    table = focal_planes.load(results)
    if table.empty:
        return None
    return {"path": greedy_path(table, results, n_boot), "gains": step_gains(table, results, n_boot)}


# ---- 13: extensions --------------------------------------------------------------------------

def variant_points(table: pd.DataFrame, n_boot: int = 1000) -> pd.DataFrame:
    """Per panel of :data:`nucflow.results.extensions.VARIANT_PANELS`, model and variant: pixel F1
    (value, low, high in %) and, for a variant other than the baseline, the paired difference to
    the baseline (``delta``, pp; NaN where undefined)."""
    columns = ["panel", "model", "variant", "value", "low", "high", "n_images", "n_runs", "run_min", "run_max",
               "delta", "delta_low", "delta_high"]
    frames = []
    for panel, names in extensions.VARIANT_PANELS:
        variants = [v for v in names if v in set(table["variant"])]
        if not (set(names) - {extensions.BASELINE}) & set(table["variant"]):
            continue
        part = table[table["variant"].isin(variants)]
        frames.append(estimates_with_deltas(part, extensions.BASELINE, n_boot).assign(panel=panel))
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def frem_search_points(table: pd.DataFrame, n_boot: int = 1000) -> pd.DataFrame:
    """Per model and frem_search variant (FREM off, searched FREM, SE, dropout): pixel F1 (%) with
    its interval and the paired difference to FREM off (:func:`estimates_with_deltas`)."""
    table = table[table["variant"].isin(list(extensions.FREM_SEARCH_VARIANTS))]
    return estimates_with_deltas(table, extensions.FREM_SEARCH_BASELINE, n_boot)


def extensions_tables(results: Path, n_boot: int = 1000) -> Tables | None:
    if not any(present(results, (name,)) for name in (EXTENSIONS, MULTISCALE, FREM_SEARCH)):
        return None
    tables: Tables = {}
    if present(results, (FREM_SEARCH,)):
        head = read_arm_table(results, FREM_SEARCH, ("run_id", "image_id", "variant", "method"), ("f1",))
        tables["frem_search"] = frem_search_points(one_method(head), n_boot)
    if present(results, (EXTENSIONS,)):
        head = read_arm_table(results, EXTENSIONS, ("run_id", "image_id", "variant", "method"), ("f1",))
        table = numeric(head, ["object_f1"], results / EXTENSIONS) if "object_f1" in head.columns else head
        tables["variants"] = variant_points(one_method(table), n_boot)
        if "object_f1" in table.columns and table["method"].nunique() > 0:
            tables["methods"] = group_estimates(extensions.method_rows(table), ["model", "method"], "object_f1",
                                                n_boot=n_boot)
        tests = morphology_table(results)
        if tests is not None:
            tables["morphology_tests"] = tests
    return tables


# ---- all figures -----------------------------------------------------------------------------

#: figure name -> function computing its interval tables (None when its inputs are missing)
BUILDERS: dict[str, Callable[[Path, int], Tables | None]] = {
    "model_comparison": model_comparison_tables,
    "density": density_tables,
    "attribution": attribution_tables,
    "data_size": data_size_tables,
    "smoothing_ablation": smoothing_ablation_tables,
    "transfer": transfer_tables,
    "focal_planes": focal_planes_tables,
    "extensions": extensions_tables,
}


def figure_tables(results: Path, names: list[str] | None = None, n_boot: int = 1000) -> dict[str, Tables]:
    """figure stem -> table name -> interval table, for the named figures (default: all) whose
    inputs exist."""
    found = {}
    for name in names or list(BUILDERS):
        if name not in BUILDERS:
            continue
        tables = BUILDERS[name](Path(results), n_boot)
        if tables is not None:
            found[stem(name)] = tables
    return found


def write_figure_tables(results: Path, names: list[str] | None = None, n_boot: int = 1000) -> list[Path]:
    """Write every interval table of the named figures under ``results/tables/figures``; returns
    the paths written. Floats are written exactly (they read back to the same bits). The folder
    is created even when no figure has intervals to write."""
    ensure_dir(Path(Layout(str(results)).figure_tables()))
    written = []
    for figure, tables in figure_tables(results, names, n_boot).items():
        for name, table in tables.items():
            path = figure_table_path(results, figure, name)
            ensure_dir(path.parent)
            table.to_csv(path, index=False)
            written.append(path)
    return written
