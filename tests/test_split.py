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


def _wells(lines=("HeLa", "A549"), wells=12, fields=3):
    return pd.DataFrame([dict(image_id=f"seven_lines_{line}_w{w:02d}_f{f}", dataset="seven_lines", cell_line=line,
                              well=f"w{w:02d}") for line in lines for w in range(1, wells + 1)
                         for f in range(1, fields + 1)])


def test_group_by_well_keeps_every_well_in_one_split():
    frame = _wells()
    splits = make_splits(frame, FRACTIONS, 0, group_by={"seven_lines": "well"})["seven_lines"]
    assert splits["group_by"] == "well"
    well_of = dict(zip(frame["image_id"], frame["cell_line"] + "/" + frame["well"]))
    wells = {k: {well_of[i] for i in splits[k]} for k in ("train", "val", "test")}
    assert not (wells["train"] & wells["val"]) and not (wells["train"] & wells["test"]) \
        and not (wells["val"] & wells["test"])
    # 12 wells per line: 2 val and 2 test wells (split_counts of 12), all 3 fields each
    assert [len(wells[k]) for k in ("train", "val", "test")] == [16, 4, 4]
    assert [len(splits[k]) for k in ("train", "val", "test")] == [48, 12, 12]
    assert sorted(splits["train"] + splits["val"] + splits["test"]) == sorted(frame["image_id"])
    # a well's fields stay together and in order; the training list is still a round robin of the lines
    assert splits["test"][:3] == sorted(splits["test"][:3]) and len({well_of[i] for i in splits["test"][:3]}) == 1
    assert [i.split("_")[2] for i in splits["train"][:4]] == ["A549", "HeLa", "A549", "HeLa"]
    assert make_splits(frame, FRACTIONS, 0, group_by={"seven_lines": "well"}) == \
        make_splits(frame, FRACTIONS, 0, group_by={"seven_lines": "well"})


def test_without_group_by_the_split_is_what_it_was():
    """group_by is opt-in and absent from the config unless set: existing studies keep their
    splits (and so every result downstream) byte for byte."""
    from nucflow.config import validate_config

    frame = _wells()
    assert make_splits(frame, FRACTIONS, 0) == make_splits(frame, FRACTIONS, 0, group_by={})
    assert "group_by" not in validate_config({})["splits"]
    assert validate_config({"splits": {"group_by": {"seven_lines": "well"}}})["splits"]["group_by"] == \
        {"seven_lines": "well"}


def test_group_by_errors_name_the_data_set_and_column():
    frame = _wells()
    with pytest.raises(NucflowError, match="data set 'seven_lines' has both order_by and group_by"):
        make_splits(frame, FRACTIONS, 0, order_by={"seven_lines": "well"}, group_by={"seven_lines": "well"})
    with pytest.raises(NucflowError, match="splits.group_by: seven_lines A549 has no manifest column 'plate'"):
        make_splits(frame, FRACTIONS, 0, group_by={"seven_lines": "plate"})
    with pytest.raises(NucflowError, match=r"seven_lines A549 has 2 well group\(s\), too few to split"):
        make_splits(_wells(wells=2), {"default": (0.0, 0.5, 0.5)}, 0, group_by={"seven_lines": "well"})
