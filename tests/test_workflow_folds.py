"""End to end: splits.folds: 3 on the smoke study runs to its figures, every run once per fold,
every table with a fold column and every interval pooling the three folds."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from studies import SMOKE, snakemake

FOLDS = Path(__file__).parent / "configs" / "folds.yaml"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def folds_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("folds")
    # one --configfile option with both files: snakemake merges them (a second option would replace the first)
    snakemake(workdir, "--configfile", str(SMOKE), str(FOLDS))
    return workdir / "results"


def test_splits_have_three_disjoint_test_folds(folds_run):
    splits = json.loads((folds_run / "data" / "splits.json").read_text())
    manifest = pd.read_csv(folds_run.parent / "resources" / "simulated" / "manifest.csv")
    for dataset, entry in splits.items():
        assert len(entry["folds"]) == 3 and "test" not in entry
        tested = sorted(i for fold in entry["folds"] for i in fold["test"])
        assert tested == sorted(manifest.loc[manifest["dataset"] == dataset, "image_id"])
    # seven_lines: 7 lines x 3 fields, one field of every line in each test fold
    assert [len(f["test"]) for f in splits["seven_lines"]["folds"]] == [7, 7, 7]


def test_every_run_is_trained_once_per_fold(folds_run):
    plan = pd.read_csv(folds_run / "plan.csv")
    assert sorted(plan["fold"].unique()) == [0, 1, 2]
    assert plan["run_id"].str.endswith(tuple(f"-f{f}" for f in range(3))).all()
    assert (plan["run_id"].str[-1].astype(int) == plan["fold"]).all()
    assert plan.groupby(["arm", "fold"]).size().unstack().nunique(axis=1).eq(1).all()  # same runs in each fold
    for run_id in plan["run_id"]:
        assert (folds_run / "runs" / run_id / "model.pt").is_file()


@pytest.mark.parametrize("arm", ["model_comparison", "data_size", "transfer"])
def test_tables_carry_the_fold(folds_run, arm):
    per_image = pd.read_csv(folds_run / "tables" / arm / "per_image.csv")
    per_run = pd.read_csv(folds_run / "tables" / arm / "per_run.csv")
    assert sorted(per_image["fold"].unique()) == sorted(per_run["fold"].unique()) == [0, 1, 2]
    # a fold's evaluation set names the fold, and each test image is scored in one fold only
    assert (per_image["eval_set"].str.extract(r"-f(\d)-")[0].astype(int) == per_image["fold"]).all()
    assert per_image.groupby(["run_id", "image_id"]).size().max() == 1
    assert per_image.groupby(["eval_set", "image_id"])["fold"].nunique().max() == 1


def test_figures_pool_the_folds(folds_run):
    for stem in ("04_model_comparison", "09_data_size", "11_transfer"):
        assert (folds_run / "figures" / f"{stem}.png").is_file()
    curves = pd.read_csv(folds_run / "tables" / "figures" / "09_data_size" / "curves_f1.csv")
    assert curves["n_folds"].tolist() == [3, 3]
    # the A549 test images of all three folds: one field per fold
    assert curves["n_images"].tolist() == [3, 3]
    points = pd.read_csv(folds_run / "tables" / "figures" / "11_transfer" / "points.csv")
    assert set(points["n_folds"]) == {3}
    intervals = pd.read_csv(folds_run / "tables" / "figures" / "04_model_comparison" / "intervals.csv")
    assert set(intervals["n_folds"]) == {3} and set(intervals["n_images"]) == {6}  # every lncap image
    assert set(pd.read_csv(folds_run / "tables" / "claims.csv")["n_folds"]) == {3}
    assert (folds_run / "summary.md").is_file()
