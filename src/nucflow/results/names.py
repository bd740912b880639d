"""How models, data sets and conditions are named and ordered wherever results are shown.

Models appear in the order of the model registry (:mod:`nucflow.models.registry`) under their
entries' labels; names outside the registry (e.g. ``frem``) come after them, sorted by name. Data
sets and modalities have fixed display names, known ones first. The figures
(:mod:`nucflow.figures.style` adds the colours) and the report (tables, ``summary.md``) both use
these, so a model or data set reads the same in both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from nucflow.models.registry import REGISTRY, model_names

#: Display names of the variants and baselines that figures show in a model column but that are not
#: models of the registry.
OTHER_NAMES = {"frem": "FREM", "stardist": "StarDist"}
MODALITY_NAMES = {"brightfield": "brightfield", "fluorescence": "fluorescence"}
DATASET_NAMES = {"seven_lines": "seven lines", "lncap": "LNCaP"}


def ordered_models(models: Iterable) -> list[str]:
    """Distinct model names: registered models in registry order, then the others sorted."""
    present, order = {str(m) for m in models}, model_names()
    return [m for m in order if m in present] + sorted(present - set(order))


def model_name(model: str) -> str:
    """Display name of a model (``unetpp`` -> ``U-Net++``); unknown names are shown as they are."""
    return REGISTRY[model].label if model in REGISTRY else OTHER_NAMES.get(model, model)


def dataset_name(dataset: str) -> str:
    return DATASET_NAMES.get(str(dataset), str(dataset))


def ordered_datasets(datasets: Iterable) -> list[str]:
    """Distinct data set names: known ones (seven lines, LNCaP) first, then the others sorted."""
    present = {str(d) for d in datasets}
    return [d for d in DATASET_NAMES if d in present] + sorted(present - set(DATASET_NAMES))


def condition_name(dataset: str, modality: str) -> str:
    """Short label of a data set / modality pair, e.g. ``seven lines, brightfield``."""
    return f"{dataset_name(dataset)}, {MODALITY_NAMES.get(str(modality), str(modality))}"


def condition_order(table: pd.DataFrame, keys: Sequence[str]) -> list[tuple]:
    """Distinct values of ``keys`` in a stable order: known data sets and modalities first."""
    def rank(value, known):
        names = list(known)
        return (names.index(value), "") if value in names else (len(names), str(value))

    tuples = {tuple(row) for row in table[list(keys)].astype(str).itertuples(index=False)}
    return sorted(tuples, key=lambda t: tuple(rank(v, DATASET_NAMES if k == "dataset" else MODALITY_NAMES
                                                   if k == "modality" else ()) for k, v in zip(keys, t)))
