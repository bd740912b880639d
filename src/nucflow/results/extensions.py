"""The extensions arm's tables as figure 13 and the report read them: which training variants are
compared with the baseline, the order of the instance methods and the rows each is scored on, and
the nucleus morphology per method.

``tables/extensions/per_image.csv``: tag ``variant`` in baseline, frem, foreground, bce_dice,
bce_weighted, three_class, and ``method`` (instance method; several per run).
``tables/extensions/per_pred_object.csv`` (morphology of the predicted nuclei per method, with
the ground truth from ``per_object.csv`` as the reference group) or else
``tables/extensions/per_object.csv`` (reference: the ``published`` method).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.errors import NucflowError
from nucflow.io import read_json
from nucflow.results.inputs import (EXTENSIONS_OBJECTS, EXTENSIONS_PRED_OBJECTS, FREM_TRIALS, TEXT_COLUMNS, has_rows,
                                    numeric, read_table)
from nucflow.results.names import ordered_models

BASELINE = "baseline"
#: (panel title, {variant: its label}): the variants each panel compares with the baseline
VARIANT_PANELS = (("FREM", {"baseline": "off", "frem": "on"}),
                  ("input normalisation", {"baseline": "percentile", "foreground": "foreground"}),
                  ("loss", {"baseline": "BCE", "bce_dice": "BCE + Dice", "bce_weighted": "weighted BCE",
                            "three_class": "3-class"}))
#: the frem_search arm's variants with their labels; ``plain`` is its baseline
FREM_SEARCH_VARIANTS = {"plain": "off", "frem": "FREM", "se": "SE", "dropout": "dropout"}
FREM_SEARCH_BASELINE = "plain"
METHOD_ORDER = ("published", "watershed", "seeded", "multiscale", "three_class")
GROUND_TRUTH = "ground truth"
#: (morphology column, axis label; ``{unit}`` is the area unit)
FEATURES = (("area", "area ({unit})"), ("circularity", "circularity (4πA/P², 1 = disk)"),
            ("solidity", "solidity (area / convex area)"), ("eccentricity", "eccentricity (0 = circle)"),
            ("shape_index", "shape index (P/√A)"))


def ordered_methods(methods) -> list[str]:
    names = {str(m) for m in methods}
    return [m for m in METHOD_ORDER if m in names] + sorted(names - set(METHOD_ORDER))


def method_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of each instance method from the baseline runs, or, for a method the baseline does not
    use (e.g. three_class, which needs 3-class maps), from the runs that do."""
    keep = []
    for method, part in table.groupby("method", sort=True):
        keep.append(part[part["variant"] == BASELINE] if (part["variant"] == BASELINE).any() else part)
    return pd.concat(keep) if keep else table


def load_morphology(results: Path) -> tuple[pd.DataFrame, str, str, str] | None:
    """(objects, group column values' reference, area unit, model) for the morphology panels, or
    None without a per-object table. ``objects`` has a ``group`` column (method or ground truth)."""
    results = Path(results)
    objects_path = results / EXTENSIONS_OBJECTS
    pred_path = results / EXTENSIONS_PRED_OBJECTS
    if not objects_path.is_file():
        return None
    truth = read_table(objects_path, ("run_id", "image_id", "method", "model"), text_columns=TEXT_COLUMNS)
    area = "area_um2" if "area_um2" in truth.columns and truth["area_um2"].notna().all() else "area_px2"
    if has_rows(pred_path):
        pred = read_table(pred_path, ("run_id", "image_id", "method", "model"), text_columns=TEXT_COLUMNS)
        keys = [c for c in ("run_id", "image_id", "object_id") if c in truth.columns]
        truth = truth.drop_duplicates(keys).assign(method=GROUND_TRUTH)
        table, reference = pd.concat([pred, truth], ignore_index=True), GROUND_TRUTH
    else:
        table = truth
        reference = "published" if "published" in set(table["method"]) else ordered_methods(table["method"])[0]
    if "variant" in table.columns:
        table = method_rows(table)
    model = ordered_models(table["model"])[0]
    table = table[table["model"] == model].rename(columns={area: "area"})
    features = [f for f, _ in FEATURES if f in table.columns]
    table = numeric(table, features, objects_path)
    return table.assign(group=table["method"]), reference, "µm²" if area == "area_um2" else "px²", model


def same_objects(objects: pd.DataFrame, feature: str = "area") -> bool:
    """True when every group holds the same values of ``feature`` (per-object tables describe the
    ground-truth nuclei, which do not change with the instance method)."""
    values = [np.sort(part[feature].dropna().to_numpy(float)) for _, part in objects.groupby("group")]
    return len(values) > 1 and all(v.shape == values[0].shape and np.array_equal(v, values[0]) for v in values)


def _read_search(path: Path) -> tuple[pd.DataFrame, dict]:
    trials = read_table(path, ("number", "state", "channels", "factor", "value"), text_columns=("state",))
    trials = numeric(trials, ["number", "factor", "value"], path)
    best_path = path.with_name("best.json")
    if not best_path.is_file():
        raise NucflowError(f"{best_path}: missing beside {path.name}; rerun the FREM search")
    return trials, read_json(best_path)


def load_frem_searches(results: Path) -> list[tuple[str, pd.DataFrame, dict]]:
    """(name, trials, best) of every finished FREM search (``frem_search/<name>/trials.csv`` and the
    ``best.json`` beside it), by name: one per study, or one per fold with ``splits.folds``.
    ``trials`` has columns number, state, channels, factor, value (numeric), epochs, seconds."""
    return [(path.parent.name, *_read_search(path)) for path in sorted(Path(results).glob(FREM_TRIALS))]


def load_frem_trials(results: Path) -> tuple[pd.DataFrame, dict] | None:
    """(trials, best) of the study's one FREM search, or None when no search has finished; a
    study with a search per fold is an error here (:func:`load_frem_searches` reads them all)."""
    searches = load_frem_searches(results)
    if not searches:
        return None
    if len(searches) > 1:
        raise NucflowError(f"{Path(results)}: more than one FREM search ({', '.join(n for n, _, _ in searches)})")
    return searches[0][1:]
