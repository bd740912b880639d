"""k-fold cross-validation splits (splits.folds): disjoint test folds covering every image once,
wells never straddling train and test, stratification by line, seeded, and k = 1 unchanged."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from nucflow.data.folds import fold_splits, train_val_counts
from nucflow.data.split import make_splits, select
from nucflow.errors import NucflowError

FRACTIONS = {"default": (0.667, 0.1665, 0.1665), "lncap": (0.67, 0.165, 0.165)}


def _frame() -> pd.DataFrame:
    """seven_lines: HeLa 5 wells x 2 fields, A549 4 x 3, HepG2 3 x 1; lncap: 6 wells x 1 field."""
    rows = []
    for line, wells, fields in (("HeLa", 5, 2), ("A549", 4, 3), ("HepG2", 3, 1)):
        for w in range(wells):
            for f in range(fields):
                rows.append(dict(image_id=f"sl_{line}_w{w}_f{f}", dataset="seven_lines", cell_line=line,
                                 well=f"{line}{w}", field=f))
    for w in range(6):
        rows.append(dict(image_id=f"lncap_w{w}", dataset="lncap", cell_line="LNCaP", well=f"L{w}", field=w))
    return pd.DataFrame(rows)


def _digest(splits: dict) -> str:
    return hashlib.sha256(json.dumps(splits, sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize("name, options, digest", [
    ("images", {}, "99500d14fdf270f9ee81ae4a9171c8828081d2501e07d0de1517554df35f0919"),
    ("wells", dict(group_by={"seven_lines": "well"}), "c6a09adafd3a89047bb4d4a55dbd2b0db290445cb5beb4c9a3ca52714198b78b"),
    ("ordered", dict(order_by={"lncap": "field"}), "14b463bcd6fea94a56a9752546dd2370bbe95b15a296cc2a10e646d1ac540925"),
])
def test_one_fold_is_the_split_made_before_folds_existed(name, options, digest):
    """Pinned: the digests of make_splits' output before splits.folds was added (seed 7)."""
    assert _digest(make_splits(_frame(), FRACTIONS, 7, **options)) == digest
    assert _digest(make_splits(_frame(), FRACTIONS, 7, **options, folds=1)) == digest


@pytest.fixture(scope="module")
def folded() -> dict:
    return make_splits(_frame(), FRACTIONS, 7, group_by={"seven_lines": "well"}, folds=3)


def test_test_folds_are_disjoint_and_cover_every_image_once(folded):
    frame = _frame()
    for dataset, entry in folded.items():
        assert set(entry) == {"folds", "seed", "fractions", *(["group_by"] if dataset == "seven_lines" else [])}
        tested = [i for fold in entry["folds"] for i in fold["test"]]
        assert sorted(tested) == sorted(frame.loc[frame["dataset"] == dataset, "image_id"])
        for fold in entry["folds"]:
            train, val, test = (set(fold[k]) for k in ("train", "val", "test"))
            assert not (train & val or train & test or val & test)
            assert train | val | test == set(frame.loc[frame["dataset"] == dataset, "image_id"])


def test_no_well_in_two_splits_within_a_fold(folded):
    well = dict(zip(_frame()["image_id"], _frame()["well"]))
    for fold in folded["seven_lines"]["folds"]:
        wells = [{well[i] for i in fold[k]} for k in ("train", "val", "test")]
        assert not (wells[0] & wells[1] or wells[0] & wells[2] or wells[1] & wells[2])


def test_every_lines_wells_are_spread_over_the_folds(folded):
    """Stratified: each line's wells are dealt round-robin, so every fold tests every line with at
    least 3 wells, and the folds' sizes differ by at most one well per line."""
    frame = _frame().set_index("image_id")
    per_fold = [frame.loc[f["test"]].groupby("cell_line")["well"].nunique().to_dict()
                for f in folded["seven_lines"]["folds"]]
    assert [sorted(counts) for counts in per_fold] == [["A549", "HeLa", "HepG2"]] * 3
    assert sorted(c["HeLa"] for c in per_fold) == [1, 2, 2]
    assert sorted(c["A549"] for c in per_fold) == [1, 1, 2]
    assert [c["HepG2"] for c in per_fold] == [1, 1, 1]
    # the rest of each fold by the train:val ratio 0.667:0.1665 of the wells not tested
    for fold, counts in zip(folded["seven_lines"]["folds"], per_fold):
        trained = frame.loc[fold["train"]].groupby("cell_line")["well"].nunique().to_dict()
        assert trained == {line: train_val_counts({"HeLa": 5, "A549": 4, "HepG2": 3}[line] - n, FRACTIONS["default"],
                                                  line)[0] for line, n in counts.items()}


def test_train_interleaves_the_lines_for_nested_subsets(folded):
    frame = _frame()
    line = dict(zip(frame["image_id"], frame["cell_line"]))
    train = folded["seven_lines"]["folds"][0]["train"]
    assert [line[i] for i in train[:3]] == ["A549", "HeLa", "HepG2"]
    a549 = select(folded, frame, "seven_lines", "train", lines=["A549"], fold=0)
    assert select(folded, frame, "seven_lines", "train", lines=["A549"], n=2, fold=0) == a549[:2]


def test_folds_are_seeded():
    frame = _frame()
    assert make_splits(frame, FRACTIONS, 7, folds=3) == make_splits(frame, FRACTIONS, 7, folds=3)
    assert make_splits(frame, FRACTIONS, 7, folds=3) != make_splits(frame, FRACTIONS, 8, folds=3)


def test_images_are_the_units_without_group_by():
    """lncap: 6 single-field wells, 3 folds -> 2 test images each; of the other 4, by the ratio
    0.67:0.165 (val 0.198 of 4 rounds to 1), 3 train and 1 val."""
    folds = make_splits(_frame(), FRACTIONS, 7, folds=3)["lncap"]["folds"]
    assert [(len(f["train"]), len(f["val"]), len(f["test"])) for f in folds] == [(3, 1, 2)] * 3


def test_ordered_data_sets_take_consecutive_test_blocks():
    folds = make_splits(_frame(), FRACTIONS, 7, order_by={"lncap": "field"}, folds=3)["lncap"]["folds"]
    assert [f["test"] for f in folds] == [["lncap_w0", "lncap_w1"], ["lncap_w2", "lncap_w3"], ["lncap_w4", "lncap_w5"]]
    assert folds[1] == {"train": ["lncap_w0", "lncap_w1", "lncap_w4"], "val": ["lncap_w5"],
                        "test": ["lncap_w2", "lncap_w3"]}


def test_a_line_with_one_well_is_a_one_line_error():
    frame = _frame()
    frame.loc[frame["cell_line"] == "HepG2", "well"] = "HepG2_only"
    with pytest.raises(NucflowError, match=r"^splits.folds: seven_lines HepG2 has one well group; with 3 folds"):
        make_splits(frame, FRACTIONS, 7, group_by={"seven_lines": "well"}, folds=3)


def test_a_line_with_fewer_wells_than_folds_is_spread_over_as_many_folds():
    frame = _frame()
    folds = make_splits(frame, FRACTIONS, 7, group_by={"seven_lines": "well"}, folds=4)["seven_lines"]["folds"]
    line = dict(zip(frame["image_id"], frame["cell_line"]))
    tested = [sum(line[i] == "HepG2" for i in f["test"]) for f in folds]
    assert sorted(tested) == [0, 1, 1, 1]  # 3 wells of 1 field in 4 folds
    untested = tested.index(0)
    assert sum(line[i] == "HepG2" for i in folds[untested]["train"] + folds[untested]["val"]) == 3


def test_select_names_the_fold():
    frame = _frame()
    folded = make_splits(frame, FRACTIONS, 7, folds=3)
    single = make_splits(frame, FRACTIONS, 7)
    assert select(folded, frame, "lncap", "test", fold=2) == folded["lncap"]["folds"][2]["test"]
    with pytest.raises(NucflowError, match=r"^splits of data set 'lncap' have 3 folds; name the fold$"):
        select(folded, frame, "lncap", "test")
    with pytest.raises(NucflowError, match=r"^splits of data set 'lncap' have folds 0-2, not 3$"):
        select(folded, frame, "lncap", "test", fold=3)
    with pytest.raises(NucflowError, match=r"have no folds \(splits.folds: 1\), but fold 0 was asked for$"):
        select(single, frame, "lncap", "test", fold=0)
    with pytest.raises(NucflowError, match="at least 1"):
        make_splits(frame, FRACTIONS, 7, folds=0)
    with pytest.raises(NucflowError, match="k >= 2"):
        fold_splits(frame, "lncap", FRACTIONS["lncap"], 7, 1)
