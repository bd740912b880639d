"""Seeded, stratified train/val/test splits and nested training subsets.

``splits.json`` maps each data set to ``{"train": [...], "val": [...], "test": [...]}`` plus the
``seed`` and ``fractions`` that made it. Within a data set each cell line is split on its own
(stratification), with its images in a seeded random order. The ``train`` list interleaves the
lines round-robin in that order, which makes every training subset a *prefix*:

* ``training_subset(split, n)`` is the first ``n`` ids, so the n=4 set contains the n=2 set
  (learning curves need nested sets) and every line is represented as evenly as ``n`` allows;
* restricted to one line (``lines=["A549"]``) it is that line's first ``n`` training images.

Randomness is keyed by (seed, data set, cell line) through a stable CRC32, never Python's ``hash``,
so adding a data set or a line does not reshuffle the others.

``group_by`` (``splits.group_by`` in the config, e.g. ``{seven_lines: well}``) splits a data set's
groups instead of its images: the fields of one well then all land in the same split, so no test
field shares a well (and whatever the well's fields have in common) with a training field. The
fractions then count groups, and the groups' images follow in image-id order. Without it (the
default) images are split one by one, exactly as before.

``folds`` (``splits.folds``) k > 1 makes k-fold cross-validation splits instead
(:mod:`nucflow.data.folds`): a data set's entry then holds ``"folds": [{"train", "val", "test"},
...]`` (fold 0 first) instead of one ``train`` / ``val`` / ``test``, and :func:`select` takes the
fold. With k = 1 (the default) the file is exactly the single split above.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from nucflow.errors import NucflowError

SPLIT_NAMES = ("train", "val", "test")


def _rng(seed: int, *keys: str) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in keys)])


def split_counts(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Numbers of (train, val, test) images out of ``n``; val and test are rounded, train gets the rest.

    >>> split_counts(432, (2/3, 1/6, 1/6))
    (288, 72, 72)
    """
    train_f, val_f, test_f = fractions
    if min(fractions) < 0 or abs(train_f + val_f + test_f - 1.0) > 1e-3:
        raise NucflowError(f"split fractions {list(fractions)} must be non-negative and sum to 1")
    n_val, n_test = int(round(n * val_f)), int(round(n * test_f))
    if n >= 3:  # a split asked for must not come out empty when there are images to give it
        n_val = max(n_val, 1 if val_f > 0 else 0)
        n_test = max(n_test, 1 if test_f > 0 else 0)
    n_train = n - n_val - n_test
    if n_train < 1:
        raise NucflowError(f"{n} images are too few to split with fractions {list(fractions)}")
    return n_train, n_val, n_test


def make_splits(frame: pd.DataFrame, fractions: Mapping[str, Iterable[float]], seed: int,
                order_by: Mapping[str, str] | None = None, group_by: Mapping[str, str] | None = None,
                folds: int = 1) -> dict:
    """Split a manifest table (columns ``image_id, dataset, cell_line``) per data set.

    ``fractions`` maps a data set name (or ``"default"``) to (train, val, test).
    ``order_by`` maps a data set to a manifest column (e.g. ``field`` for a time series): its
    images are then taken in that column's order instead of a seeded shuffle, so train, val and
    test are consecutive blocks (no near-duplicate neighbours leak across splits).
    ``group_by`` maps a data set to a manifest column (e.g. ``well``) whose groups are split
    instead of single images (not together with ``order_by`` for the same data set).
    ``folds`` > 1: k-fold splits (:func:`nucflow.data.folds.fold_splits`) in ``"folds"`` instead of
    ``"train", "val", "test"``.
    Returns ``{dataset: {"train", "val", "test", "seed", "fractions"[, "order_by"][, "group_by"]}}``.
    """
    if int(folds) < 1:
        raise NucflowError(f"splits.folds must be at least 1, got {folds}")
    order_by, group_by = dict(order_by or {}), dict(group_by or {})
    both = sorted(set(order_by) & set(group_by))
    if both:
        raise NucflowError(f"splits: data set {both[0]!r} has both order_by and group_by; use one")
    splits: dict = {}
    for dataset in sorted(frame["dataset"].unique()):
        if dataset in fractions:
            fr = tuple(float(f) for f in fractions[dataset])
        elif "default" in fractions:
            fr = tuple(float(f) for f in fractions["default"])
        else:
            raise NucflowError(f"no split fractions for data set {dataset!r} (and no 'default')")
        group = frame[frame["dataset"] == dataset]
        if int(folds) > 1:
            from nucflow.data.folds import fold_splits  # it builds on this module's helpers

            splits[dataset] = {
                "folds": fold_splits(group, dataset, fr, seed, int(folds), order_by.get(dataset),
                                     group_by.get(dataset)),
                "seed": int(seed),
                "fractions": list(fr),
                **({"order_by": order_by[dataset]} if dataset in order_by else {}),
                **({"group_by": group_by[dataset]} if dataset in group_by else {}),
            }
            continue
        per_line_train: list[list[str]] = []
        val: list[str] = []
        test: list[str] = []
        for line in sorted(group["cell_line"].unique()):
            rows = group[group["cell_line"] == line]
            if dataset in order_by:
                column = order_by[dataset]
                if column not in rows.columns:
                    raise NucflowError(f"splits.order_by: data set {dataset!r} has no column {column!r}")
                order = list(rows.sort_values([column, "image_id"], kind="stable")["image_id"])
            elif dataset in group_by:
                train_ids, val_ids, test_ids = _split_groups(rows, group_by[dataset], fr, _rng(seed, dataset, line),
                                                             f"{dataset} {line}")
                per_line_train.append(train_ids)
                val += val_ids
                test += test_ids
                continue
            else:
                ids = sorted(rows["image_id"])
                order = [ids[i] for i in _rng(seed, dataset, line).permutation(len(ids))]
            n_train, n_val, _ = split_counts(len(order), fr)
            per_line_train.append(order[:n_train])
            val += order[n_train:n_train + n_val]
            test += order[n_train + n_val:]
        splits[dataset] = {
            "train": _round_robin(per_line_train),
            "val": val,
            "test": test,
            "seed": int(seed),
            "fractions": list(fr),
            **({"order_by": order_by[dataset]} if dataset in order_by else {}),
            **({"group_by": group_by[dataset]} if dataset in group_by else {}),
        }
    return splits


def _split_groups(rows: pd.DataFrame, column: str, fractions: tuple[float, float, float],
                  rng: np.random.Generator, where: str) -> tuple[list[str], list[str], list[str]]:
    """(train, val, test) image ids of one line's ``rows`` with whole groups of ``column`` in one
    split: the sorted groups in a seeded random order, counted by :func:`split_counts`, each
    group's images in image-id order."""
    if column not in rows.columns:
        raise NucflowError(f"splits.group_by: {where} has no manifest column {column!r}")
    if rows[column].isna().any():
        raise NucflowError(f"splits.group_by: {where} has images without a {column!r}")
    groups = sorted(rows[column].astype(str).unique())
    order = [groups[i] for i in rng.permutation(len(groups))]
    try:
        n_train, n_val, _ = split_counts(len(order), fractions)
    except NucflowError:
        raise NucflowError(f"splits.group_by: {where} has {len(groups)} {column} group(s), too few to split with "
                           f"fractions {list(fractions)}") from None
    members = {g: sorted(part["image_id"]) for g, part in rows.groupby(rows[column].astype(str))}

    def images(chosen: list[str]) -> list[str]:
        return [i for g in chosen for i in members[g]]

    return images(order[:n_train]), images(order[n_train:n_train + n_val]), images(order[n_train + n_val:])


def _round_robin(lists: list[list[str]]) -> list[str]:
    out: list[str] = []
    for i in range(max((len(x) for x in lists), default=0)):
        out += [x[i] for x in lists if i < len(x)]
    return out


def _dataset(splits: Mapping, dataset: str, fold: int | None = None) -> Mapping:
    """The ``train`` / ``val`` / ``test`` of a data set: its single split (``fold`` None), or fold
    ``fold`` of its k-fold splits."""
    if dataset not in splits:
        raise NucflowError(f"splits have no data set {dataset!r} (have: {', '.join(sorted(splits))})")
    entry = splits[dataset]
    folds = entry.get("folds")
    if folds is None:
        if fold is not None:
            raise NucflowError(f"splits of data set {dataset!r} have no folds (splits.folds: 1), "
                               f"but fold {fold} was asked for")
        return entry
    if fold is None:
        raise NucflowError(f"splits of data set {dataset!r} have {len(folds)} folds; name the fold")
    if not 0 <= fold < len(folds):
        raise NucflowError(f"splits of data set {dataset!r} have folds 0-{len(folds) - 1}, not {fold}")
    return folds[fold]


def select(splits: Mapping, frame: pd.DataFrame, dataset: str, split: str, *,
           lines: Iterable[str] | None = None, exclude_lines: Iterable[str] | None = None,
           n: int | None = None, fold: int | None = None) -> list[str]:
    """Ids of one split of one data set (of fold ``fold`` when the splits have folds), optionally
    restricted to / excluding cell lines, and for ``train`` optionally the nested subset of the
    first ``n``.

    Asking for more training images than exist is an error rather than a silent cap.
    """
    if split not in SPLIT_NAMES:
        raise NucflowError(f"unknown split {split!r}; choose from {', '.join(SPLIT_NAMES)}")
    ids = list(_dataset(splits, dataset, fold)[split])
    line_of = dict(zip(frame["image_id"], frame["cell_line"]))
    unknown = [i for i in ids if i not in line_of]
    if unknown:
        raise NucflowError(f"splits name image {unknown[0]!r}, which is not in the manifest")
    if lines is not None:
        keep = set(lines)
        ids = [i for i in ids if line_of[i] in keep]
    if exclude_lines is not None:
        drop = set(exclude_lines)
        ids = [i for i in ids if line_of[i] not in drop]
    if n is not None:
        if n < 1 or n > len(ids):
            raise NucflowError(f"asked for {n} {split} images of {dataset}{'' if fold is None else f' fold {fold}'}"
                               f"{' ' + ','.join(lines) if lines else ''}, but only {len(ids)} exist")
        ids = ids[:n]
    if not ids:
        where = f" fold {fold}" if fold is not None else ""
        raise NucflowError(f"no {split} images of {dataset}{where} match the selection")
    return ids


def leave_one_line_out(splits: Mapping, frame: pd.DataFrame, dataset: str, target_line: str,
                       fold: int | None = None) -> dict[str, list[str]]:
    """Transfer split: source = the other lines, target = ``target_line``, each with train/val/test."""
    lines = set(frame.loc[frame["dataset"] == dataset, "cell_line"])
    if target_line not in lines:
        raise NucflowError(f"cell line {target_line!r} is not in data set {dataset!r} (have: {', '.join(sorted(lines))})")
    out = {}
    for split in SPLIT_NAMES:
        out[f"source_{split}"] = select(splits, frame, dataset, split, exclude_lines=[target_line], fold=fold)
        out[f"target_{split}"] = select(splits, frame, dataset, split, lines=[target_line], fold=fold)
    return out
