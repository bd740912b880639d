"""Reading the result tables the figures draw from and the report computes from, with one-line
errors that name the file.

Paths are relative to a results root (``results/`` by default). A missing input is not an error
(the figure or table is skipped); an unreadable or incomplete one is (:class:`NucflowError`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.errors import NucflowError
from nucflow.study.compute import benchmark_rule
from nucflow.study.layout import LAYOUT, Layout
from nucflow.study.plan_table import read_plan as read_plan_table

def _in_results(path: str) -> str:
    """A path of :data:`LAYOUT` relative to the results folder (figures are given that folder)."""
    return Path(path).relative_to(LAYOUT.root).as_posix()


# Every table the figures read, spelled by the study's Layout (the workflow writes them there).
PER_IMAGE = _in_results(LAYOUT.arm_table("model_comparison"))
PER_OBJECT = _in_results(LAYOUT.arm_table("model_comparison", "per_object.csv"))
PER_RUN = _in_results(LAYOUT.arm_table("model_comparison", "per_run.csv"))
LEARNING_CURVES = _in_results(LAYOUT.arm_table("model_comparison", "learning_curves.csv"))
CONVERGENCE = _in_results(LAYOUT.arm_table("model_comparison", "convergence.csv"))
ATTRIBUTION = _in_results(LAYOUT.arm_attribution("model_comparison"))
ERROR_CURVE = f"{ATTRIBUTION}/error_curve.csv"  # per image, from attribute_run
MODELS = _in_results(LAYOUT.models_table())
PLAN = _in_results(LAYOUT.plan_table())
BENCHMARKS = "benchmarks"  # the workflow's own bookkeeping (benchmark: files of the rules)
LR_FIND = _in_results(LAYOUT.lr_find_root())
STUDY_CONFIG = _in_results(LAYOUT.config_snapshot("study"))

# The other arms' tables (same columns as model_comparison plus the tags below) and side files.
DATA_SIZE = _in_results(LAYOUT.arm_table("data_size"))
SMOOTHING = _in_results(LAYOUT.arm_table("smoothing"))
SMOOTHING_BEST = _in_results(LAYOUT.arm_table("smoothing", "best.json"))
ABLATION = _in_results(LAYOUT.arm_table("ablation"))
TRANSFER = _in_results(LAYOUT.arm_table("transfer"))
FOCAL_PLANES = _in_results(LAYOUT.arm_table("focal_planes"))
FOCAL_GREEDY = _in_results(LAYOUT.arm_table("focal_planes", "greedy.csv"))
EXTENSIONS = _in_results(LAYOUT.arm_table("extensions"))
EXTENSIONS_OBJECTS = _in_results(LAYOUT.arm_table("extensions", "per_object.csv"))
# Optional: morphology of the *predicted* objects per method (per_object.csv describes the
# ground-truth nuclei, which are the same for every method).
EXTENSIONS_PRED_OBJECTS = _in_results(LAYOUT.arm_table("extensions", "per_pred_object.csv"))
MULTISCALE = _in_results(LAYOUT.arm_table("extensions", "multiscale_tradeoff.csv"))
FREM_SEARCH = _in_results(LAYOUT.arm_table("frem_search"))
#: the baselines arm (StarDist on the model comparison's tiles): rows shown beside the five models
BASELINES = _in_results(LAYOUT.arm_table("baselines"))
# The FREM searches' trials and choices (one per study, or one per fold; a glob over their names).
FREM_TRIALS = _in_results(LAYOUT.frem_search_result("*", "trials.csv"))
RUNS = _in_results(LAYOUT.runs_root())
# The simulator's manifest, beside (not in) the results folder.
SIMULATED_MANIFEST = "resources/simulated/manifest.csv"

# Tag columns read as text: pandas would turn "" into NaN and "4.2" (planes) into a float.
TEXT_COLUMNS = ("run_id", "arm", "dataset", "modality", "planes", "model", "variant", "loss", "train_selection",
                "init_from", "eval_set", "method", "transfer", "target", "eval_role", "normalisation",
                "image_id", "cell_line", "added_plane")

# Further tag columns of the figure tables.
FIGURE_TABLE_TEXT = ("metric", "panel", "estimator", "planes_before", "planes_after")

BENCHMARK_COLUMNS = ("s", "max_rss")


def present(results: Path, patterns: Sequence[str]) -> bool:
    """True when every glob pattern (relative to ``results``) matches at least one file."""
    return all(any(p.is_file() for p in Path(results).glob(pattern)) for pattern in patterns)


def has_rows(path: Path) -> bool:
    """Whether an optional table exists and holds at least one row (the workflow writes an empty
    file when, e.g., no run produced predicted-object shapes)."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return False
    try:
        return not pd.read_csv(path, nrows=1).empty
    except Exception:  # unreadable counts as absent here; read_table reports it where it is required
        return False


def read_table(path: Path, columns: Sequence[str] = (), sep: str = ",",
               text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read a CSV/TSV and check it has rows and the named columns.

    ``text_columns`` (where present) are read as strings with empty cells as ``""``.

    Raises:
        NucflowError: naming ``path`` when the file is unreadable, empty or lacks a column.
    """
    try:
        table = pd.read_csv(path, sep=sep, dtype={c: str for c in text_columns} or None)
    except Exception as exc:  # pandas raises several types; the user needs the file and the reason
        raise NucflowError(f"{path}: not a readable table ({type(exc).__name__}: {exc})") from None
    if table.empty:
        raise NucflowError(f"{path}: the table has no rows")
    lacking = [c for c in columns if c not in table.columns]
    if lacking:
        raise NucflowError(f"{path}: missing column(s) {', '.join(lacking)}")
    present_text = [c for c in text_columns if c in table.columns]
    if present_text:
        table[present_text] = table[present_text].fillna("")
    return table


def figure_table_path(results: Path, stem: str, name: str) -> Path:
    """Where the interval table ``name`` of figure ``stem`` lives under ``results``."""
    return Path(Layout(str(results)).figure_table(stem, name))


def read_figure_table(results: Path, stem: str, name: str) -> pd.DataFrame:
    """An interval table of figure ``stem`` as written by ``nucflow figure-tables`` (floats exactly
    as computed, tag columns as text; it may have no rows).

    Raises:
        NucflowError: naming the file when it is missing or unreadable.
    """
    path = figure_table_path(results, stem, name)
    if not path.is_file():
        raise NucflowError(f"{path}: missing; the figures draw the intervals that `nucflow figure-tables "
                           f"--results {results}` writes (the workflow's figure_tables rule)")
    try:
        table = pd.read_csv(path, dtype={c: str for c in TEXT_COLUMNS + FIGURE_TABLE_TEXT})
    except Exception as exc:  # pandas raises several types; the user needs the file and the reason
        raise NucflowError(f"{path}: not a readable table ({type(exc).__name__}: {exc})") from None
    text = [c for c in TEXT_COLUMNS + FIGURE_TABLE_TEXT if c in table.columns]
    if text:
        table[text] = table[text].fillna("")
    return table


def numeric(table: pd.DataFrame, columns: Sequence[str], path: Path) -> pd.DataFrame:
    """The table with ``columns`` as floats; a non-numeric entry is an error naming the file."""
    table = table.copy()
    for column in columns:
        converted = pd.to_numeric(table[column], errors="coerce")
        bad = converted.isna() & table[column].notna()
        if bad.any():
            raise NucflowError(f"{path}: column {column} holds non-numeric values, e.g. {table[column][bad].iloc[0]!r}")
        table[column] = converted.astype(float)
    return table


def read_results_table(results: Path, relative: str, columns: Sequence[str] = (),
                       numeric_columns: Sequence[str] = ()) -> pd.DataFrame:
    """``read_table`` of ``results/relative`` with ``numeric_columns`` checked and converted."""
    path = Path(results) / relative
    return numeric(read_table(path, tuple(columns) + tuple(numeric_columns)), numeric_columns, path)


def read_arm_table(results: Path, relative: str, columns: Sequence[str] = (),
                   numeric_columns: Sequence[str] = ()) -> pd.DataFrame:
    """An arm table (``tables/<arm>/...``): like :func:`read_results_table`, with the tag columns
    of :data:`TEXT_COLUMNS` as strings (``""`` where empty) and ``model`` required."""
    path = Path(results) / relative
    table = read_table(path, ("model",) + tuple(columns) + tuple(numeric_columns), text_columns=TEXT_COLUMNS)
    return numeric(table, numeric_columns, path)


def paired_images(a: pd.DataFrame, b: pd.DataFrame, metric: str, with_folds: bool = False):
    """(n, 2) values of ``metric`` of the images two conditions share (joined on ``image_id``, and
    on ``fold`` where both tables have it; each table one row per image, e.g. from
    :func:`per_image_over_seeds`). ``with_folds``: also the pairs' folds (n,), or None without a
    ``fold`` column."""
    on = ["image_id", "fold"] if "fold" in a.columns and "fold" in b.columns else ["image_id"]
    joined = a[on + [metric]].merge(b[on + [metric]], on=on, suffixes=("_a", "_b"))
    joined = joined.dropna(subset=[f"{metric}_a", f"{metric}_b"])
    pairs = joined[[f"{metric}_a", f"{metric}_b"]].to_numpy(float)
    if not with_folds:
        return pairs
    return pairs, (joined["fold"].to_numpy() if "fold" in on else None)


def folds_of(table: pd.DataFrame):
    """The rows' cross-validation folds (for the hierarchical bootstrap), None without a ``fold``
    column (tables written before folds existed: one split)."""
    return table["fold"].to_numpy() if "fold" in table.columns else None


def n_folds(table: pd.DataFrame) -> int:
    """How many folds a pooled estimate over ``table``'s rows takes in (1 without a ``fold`` column)."""
    return int(table["fold"].nunique()) if "fold" in table.columns and len(table) else 1


_FOLD_PART = re.compile(r"-f\d+(?=-(?:train|val|test)(?:-|$))")


def pooled_eval_set(name: str) -> str:
    """An evaluation set's name without its fold (``seven_lines-f1-test`` -> ``seven_lines-test``):
    the images all folds together test, which the tables pool."""
    return _FOLD_PART.sub("", str(name))


def pick_eval_set(table: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Rows of one evaluation set (pooled over folds): the only one, else the first test set
    (held-out images), else the first in sorted order. Returns (rows, eval set name)."""
    pooled = table["eval_set"].map(pooled_eval_set) if "eval_set" in table.columns else None
    sets = sorted(set(pooled)) if pooled is not None else [""]
    if len(sets) == 1:
        return table, sets[0]
    chosen = next((s for s in sets if "-test" in s), sets[0])
    return table[pooled == chosen], chosen


def one_method(table: pd.DataFrame, preferred: str = "published") -> pd.DataFrame:
    """Rows of one post-processing method per run: ``preferred`` where a run has it, else the
    run's first method in sorted order (pixel metrics score the probability map, so they do not
    depend on the method; object metrics do)."""
    if "method" not in table.columns or table["method"].nunique() <= 1:
        return table
    chosen = table.groupby("run_id")["method"].agg(
        lambda m: preferred if preferred in set(m) else sorted(set(m))[0])
    return table[table["method"] == table["run_id"].map(chosen)]


def per_image_over_seeds(per_image: pd.DataFrame, keys: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    """Per-image values averaged over the seeds (runs) that scored the same image.

    per_image: rows per (run, image); keys: grouping columns besides ``image_id`` (e.g. model,
    modality, dataset). Returns one row per key + image with the mean of ``columns``; a ``fold``
    column is kept (grouped by, before ``image_id``), so the bootstrap can resample folds.
    """
    keys = list(keys) + (["fold"] if "fold" in per_image.columns and "fold" not in keys else [])
    return (per_image.groupby(keys + ["image_id"], sort=True, dropna=False)[list(columns)]
            .mean().reset_index())


def condition_keys(per_image: pd.DataFrame) -> list[str]:
    """Columns that separate experimental conditions in a model-comparison table.

    Always ``dataset`` and ``modality``; ``method`` and ``eval_set`` too when they take more
    than one value per data set and model (never average over post-processing methods silently; a
    baseline, whose method is its own name, is one more model, not one more condition).
    """
    keys = ["dataset", "modality"]
    by = keys + (["model"] if "model" in per_image.columns else [])
    for extra in ("method", "eval_set"):
        if extra not in per_image.columns:
            continue
        values = per_image[extra].map(pooled_eval_set) if extra == "eval_set" else per_image[extra]
        if values.groupby([per_image[k] for k in by]).nunique().max() > 1:
            keys.append(extra)
    return keys




def read_benchmarks(results: Path, run_arms: dict[str, str] | None = None) -> pd.DataFrame:
    """All Snakemake benchmark files under ``results/benchmarks`` as one table.

    Returns one row per file (repeats averaged for time, max for memory) with columns ``path``
    (relative to ``benchmarks/``), ``rule``, ``run_id`` (the path component that is a planned run,
    else ""), ``eval_set`` (predict only, else ""), ``arm`` (from ``run_arms`` for run files, the
    stem of ``aggregate/<arm>.tsv``, else "shared"), ``seconds`` (wall time, s) and ``max_rss_mb``
    (peak resident memory, MB; NaN when Snakemake could not measure it).
    """
    root = Path(results) / BENCHMARKS
    run_arms = run_arms or {}
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        relative = path.relative_to(root)
        table = read_table(path, BENCHMARK_COLUMNS, sep="\t")
        seconds = pd.to_numeric(table["s"], errors="coerce")
        if seconds.isna().any():
            raise NucflowError(f"{path}: column s holds non-numeric values")
        rss = pd.to_numeric(table["max_rss"].replace({"NA": np.nan, "-": np.nan}), errors="coerce")
        parts = relative.parts
        rule = benchmark_rule(parts)
        run_id = next((p for p in parts[1:-1] + (Path(parts[-1]).stem,) if p in run_arms), "")
        arm = run_arms.get(run_id, Path(parts[-1]).stem if rule == "aggregate" else "shared")
        rows.append({"path": relative.as_posix(), "rule": rule, "run_id": run_id,
                     "eval_set": Path(parts[-1]).stem if rule == "predict" else "", "arm": arm,
                     "seconds": float(seconds.mean()),
                     "max_rss_mb": float(rss.max()) if rss.notna().any() else math.nan})
    return pd.DataFrame(rows, columns=["path", "rule", "run_id", "eval_set", "arm", "seconds", "max_rss_mb"])


def read_plan(results: Path) -> pd.DataFrame | None:
    """``plan.csv`` (run_id, arm, model, modality, dataset, seed …) or None when absent; read as
    every step after the plan reads it (:func:`nucflow.study.plan_table.read_plan`)."""
    path = Path(results) / PLAN
    if not path.is_file():
        return None
    table = read_plan_table(path)
    missing = [c for c in ("arm", "model") if c not in table.columns]
    if missing:
        raise NucflowError(f"{path}: missing column(s) {', '.join(missing)}")
    return table
