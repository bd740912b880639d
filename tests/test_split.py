"""Splits: seeded, stratified, nested subsets as prefixes, leave-one-line-out."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from nucflow.cli import main
from nucflow.data.split import leave_one_line_out, make_splits, select, split_counts
from nucflow.errors import NucflowError


def _frame(lines=("HeLa", "A549", "HepG2"), n=30, dataset="seven_lines"):
    return pd.DataFrame([dict(image_id=f"{dataset}_{line}_{i:03d}", dataset=dataset, cell_line=line)
                         for line in lines for i in range(n)])


FRACTIONS = {"default": (2 / 3, 1 / 6, 1 / 6), "lncap": (0.8, 0.1, 0.1)}


def test_published_proportions():
    assert split_counts(3024, (2 / 3, 1 / 6, 1 / 6)) == (2016, 504, 504)
    assert split_counts(784, (0.8, 0.1, 0.1)) == (628, 78, 78)
    with pytest.raises(NucflowError, match="sum to 1"):
        split_counts(10, (0.5, 0.5, 0.5))
    with pytest.raises(NucflowError, match="too few"):
        split_counts(2, (0.0, 0.5, 0.5))


def test_stratified_disjoint_and_complete():
    frame = _frame()
    splits = make_splits(frame, FRACTIONS, seed=3)["seven_lines"]
    train, val, test = (set(splits[k]) for k in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)
    assert train | val | test == set(frame["image_id"])
    line = dict(zip(frame["image_id"], frame["cell_line"]))
    for part, expected in ((splits["train"], 20), (splits["val"], 5), (splits["test"], 5)):
        counts = pd.Series([line[i] for i in part]).value_counts()
        assert counts.to_dict() == {"A549": expected, "HeLa": expected, "HepG2": expected}


def test_same_seed_same_splits_other_seed_differs():
    frame = _frame()
    assert make_splits(frame, FRACTIONS, 1) == make_splits(frame, FRACTIONS, 1)
    assert make_splits(frame, FRACTIONS, 1)["seven_lines"]["train"] != make_splits(frame, FRACTIONS, 2)["seven_lines"]["train"]


def test_adding_a_line_does_not_reshuffle_others():
    small = make_splits(_frame(("HeLa", "A549")), FRACTIONS, 0)["seven_lines"]
    big = make_splits(_frame(("HeLa", "A549", "MCF7")), FRACTIONS, 0)["seven_lines"]
    frame = _frame(("HeLa", "A549", "MCF7"))
    for line in ("HeLa", "A549"):
        assert select({"seven_lines": small}, frame, "seven_lines", "test", lines=[line]) == \
            select({"seven_lines": big}, frame, "seven_lines", "test", lines=[line])


def test_nested_subsets_and_round_robin():
    frame = _frame()
    splits = make_splits(frame, FRACTIONS, 0)
    one_line = [select(splits, frame, "seven_lines", "train", lines=["A549"], n=n) for n in (1, 2, 4, 8, 16)]
    for small, big in zip(one_line, one_line[1:]):
        assert big[:len(small)] == small
    mixed = select(splits, frame, "seven_lines", "train", n=6)
    assert sorted(frame.set_index("image_id").loc[mixed, "cell_line"]) == ["A549", "A549", "HeLa", "HeLa", "HepG2", "HepG2"]
    with pytest.raises(NucflowError, match="asked for 21 train images of seven_lines A549, but only 20 exist"):
        select(splits, frame, "seven_lines", "train", lines=["A549"], n=21)


def test_leave_one_line_out():
    frame = _frame()
    splits = make_splits(frame, FRACTIONS, 0)
    lolo = leave_one_line_out(splits, frame, "seven_lines", "HepG2")
    line = dict(zip(frame["image_id"], frame["cell_line"]))
    assert {line[i] for i in lolo["target_train"]} == {"HepG2"}
    assert {line[i] for i in lolo["source_test"]} == {"HeLa", "A549"}
    with pytest.raises(NucflowError, match="'MDCK' is not in data set"):
        leave_one_line_out(splits, frame, "seven_lines", "MDCK")


def test_cli_split(toy_manifest, tmp_path, capsys):
    out = tmp_path / "splits.json"
    assert main(["split", "--manifest", str(toy_manifest), "--out", str(out), "--seed", "5"]) == 0
    splits = json.loads(out.read_text())
    assert splits["toy"]["seed"] == 5
    assert len(splits["toy"]["train"]) + len(splits["toy"]["val"]) + len(splits["toy"]["test"]) == 12
    first = out.read_bytes()
    assert main(["split", "--manifest", str(toy_manifest), "--out", str(out), "--seed", "5"]) == 0
    assert out.read_bytes() == first


def test_order_by_gives_consecutive_blocks():
    frame = pd.DataFrame([dict(image_id=f"t{t:02d}", dataset="ts", cell_line="x", field=t) for t in range(10)])
    splits = make_splits(frame, {"ts": (0.7, 0.1, 0.2)}, seed=3, order_by={"ts": "field"})["ts"]
    assert splits["train"] == [f"t{t:02d}" for t in range(7)]
    assert splits["val"] == ["t07"] and splits["test"] == ["t08", "t09"] and splits["order_by"] == "field"
    with pytest.raises(NucflowError, match="has no column 'well'"):
        make_splits(frame, {"ts": (0.7, 0.1, 0.2)}, 0, order_by={"ts": "well"})
