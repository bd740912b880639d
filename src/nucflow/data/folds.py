"""k-fold cross-validation splits (``splits.folds: k``, k > 1) of one data set.

Each cell line is split on its own (stratification) into *units*: its ``group_by`` groups (wells:
the fields of one well never straddle train and test) or, without ``group_by``, its images. The
units, sorted and then in a seeded random order, are dealt to the k test folds round-robin; each
line starts where the previous line stopped, so the folds stay within one unit of each other in
size however many lines have few units. Every image is therefore in exactly one test fold.

A line with fewer units than k is spread over as many folds as it has units (the other folds test
none of its images but train on all of them); a line with a single unit is an error, because in
its test fold nothing of it would be left to train on.

In fold ``f`` the units not tested are split into train and val by the ratio of the configured
train and val fractions (:func:`nucflow.data.split.split_counts`; the test fraction is not used:
the test set is a k-th of every line), after a seeded shuffle of their own (key ``fold<f>``), so
the validation units change from fold to fold. As in a single split, ``train`` interleaves the
lines round-robin (nested training subsets are prefixes) and a group's images follow in image-id
order.

With ``order_by`` (a time series) the ordered images of a line are cut into k consecutive blocks,
block ``f`` is fold ``f``'s test set, and the other images, in order, fill train and then val.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nucflow.data.split import _rng, _round_robin, split_counts
from nucflow.errors import NucflowError


def _units(rows: pd.DataFrame, column: str | None, where: str) -> dict[str, list[str]]:
    """{unit: its image ids in image-id order}: the groups of ``column``, or one unit per image."""
    if column is None:
        return {i: [i] for i in sorted(rows["image_id"])}
    if column not in rows.columns:
        raise NucflowError(f"splits.group_by: {where} has no manifest column {column!r}")
    if rows[column].isna().any():
        raise NucflowError(f"splits.group_by: {where} has images without a {column!r}")
    return {g: sorted(part["image_id"]) for g, part in rows.groupby(rows[column].astype(str), sort=True)}


def train_val_counts(n: int, fractions: tuple[float, float, float], where: str) -> tuple[int, int]:
    """(train, val) of the ``n`` units a fold does not test, by the train:val ratio of ``fractions``.

    >>> train_val_counts(8, (0.667, 0.1665, 0.1665), "x")
    (6, 2)
    """
    train_f, val_f, _ = fractions
    if train_f + val_f <= 0:
        raise NucflowError(f"splits.fractions: {where} has no train or val fraction to split the folds' rest by")
    try:
        n_train, n_val, _ = split_counts(n, (train_f / (train_f + val_f), val_f / (train_f + val_f), 0.0))
    except NucflowError:
        raise NucflowError(f"splits.folds: {where} leaves {n} unit(s) outside a test fold, "
                           "too few to train on") from None
    return n_train, n_val


def fold_splits(group: pd.DataFrame, dataset: str, fractions: tuple[float, float, float], seed: int, k: int,
                order_by: str | None = None, group_by: str | None = None) -> list[dict[str, list[str]]]:
    """The k folds of one data set's rows (columns ``image_id, cell_line`` and the named columns):
    a list of ``{"train", "val", "test"}`` image-id lists, fold 0 first."""
    if k < 2:
        raise NucflowError(f"splits.folds: fold_splits needs k >= 2, got {k}")
    per_fold_train: list[list[list[str]]] = [[] for _ in range(k)]
    val: list[list[str]] = [[] for _ in range(k)]
    test: list[list[str]] = [[] for _ in range(k)]
    start = 0  # the fold the next line's first unit goes to
    for line in sorted(group["cell_line"].unique()):
        rows = group[group["cell_line"] == line]
        where = f"{dataset} {line}"
        if order_by is not None:
            _ordered_line(rows, order_by, fractions, k, where, per_fold_train, val, test)
            continue
        units = _units(rows, group_by, where)
        names = sorted(units)
        if len(names) < 2:
            what = f"{group_by} group" if group_by else "image"
            raise NucflowError(f"splits.folds: {where} has one {what}; with {k} folds its test fold would "
                               f"leave nothing of it to train on")
        order = [names[i] for i in _rng(seed, dataset, line).permutation(len(names))]
        fold_of = {unit: (start + j) % k for j, unit in enumerate(order)}
        start = (start + len(order)) % k
        for f in range(k):
            rest = [u for u in order if fold_of[u] != f]
            rest = [rest[i] for i in _rng(seed, dataset, line, f"fold{f}").permutation(len(rest))]
            n_train, _ = train_val_counts(len(rest), fractions, where)
            per_fold_train[f].append([i for u in rest[:n_train] for i in units[u]])
            val[f] += [i for u in rest[n_train:] for i in units[u]]
            test[f] += [i for u in order if fold_of[u] == f for i in units[u]]
    return [{"train": _round_robin(per_fold_train[f]), "val": val[f], "test": test[f]} for f in range(k)]


def _ordered_line(rows: pd.DataFrame, column: str, fractions, k: int, where: str, per_fold_train, val, test) -> None:
    """One line of an ``order_by`` data set: k consecutive test blocks, the rest in order."""
    if column not in rows.columns:
        raise NucflowError(f"splits.order_by: {where} has no column {column!r}")
    order = list(rows.sort_values([column, "image_id"], kind="stable")["image_id"])
    if len(order) < k:
        raise NucflowError(f"splits.folds: {where} has {len(order)} images, fewer than {k} folds")
    blocks = np.array_split(np.arange(len(order)), k)
    for f, block in enumerate(blocks):
        tested = set(block.tolist())
        rest = [image for i, image in enumerate(order) if i not in tested]
        n_train, _ = train_val_counts(len(rest), fractions, where)
        per_fold_train[f].append(rest[:n_train])
        val[f] += rest[n_train:]
        test[f] += [order[i] for i in block]
