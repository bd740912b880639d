"""plan.csv as the steps after the plan read it: list cells as JSON, focal rounds from round 1."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from nucflow.config import validate_config
from nucflow.errors import NucflowError
from nucflow.study.plan import focal_run, plan, plan_runs
from nucflow.study.plan_table import read_plan, with_focal_rounds


def _config():
    return validate_config({"seeds": [0], "arms": {
        "model_comparison": {"enabled": False},
        "transfer": {"enabled": True, "lolo": {"lines": ["HepG2"]}, "sizes": [2], "cross": []},
        "focal_planes": {"enabled": True, "models": ["unet"], "candidates": [0, 4, 8], "rounds": 2}}})


def test_list_cells_are_json_and_read_back_as_tuples(tmp_path):
    config = _config()
    plan(config).to_csv(tmp_path / "plan.csv", index=False)
    assert '"[""seven_lines:test:HepG2"", ""seven_lines:test:exHepG2""]"' in (tmp_path / "plan.csv").read_text()
    table = read_plan(tmp_path / "plan.csv").set_index("run_id")
    for run in plan_runs(config):
        row = table.loc[run.run_id]
        for column in ("eval_sets", "eval_roles", "select_sets", "methods", "extra_train"):
            assert row[column] == tuple(getattr(run, column)), (run.run_id, column)
    assert table.loc["transfer-unet-bf-loloHepG2-ft-target+source-n2-s0", "extra_train"] == (
        "results/tiles/seven_lines/brightfield-4/train-n2-exHepG2.npz",)
    assert table.loc["transfer-unet-bf-loloHepG2-source-s0", "extra_train"] == ()


def test_a_plan_with_the_old_joined_cells_is_a_one_line_error(tmp_path):
    plan(_config()).assign(eval_sets="seven_lines:test;lncap:test").to_csv(tmp_path / "plan.csv", index=False)
    with pytest.raises(NucflowError, match=r"plan.csv: column eval_sets holds 'seven_lines:test;lncap:test', "
                                           r"not a JSON list .*snakemake --forcerun plan"):
        read_plan(tmp_path / "plan.csv")
    with pytest.raises(NucflowError, match="no such plan"):
        read_plan(tmp_path / "missing.csv")
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(NucflowError, match="other.csv: no run_id column"):
        read_plan(tmp_path / "other.csv")


def test_a_later_focal_round_row_equals_the_row_the_plan_builder_would_write(tmp_path):
    config = _config()
    plan(config).to_csv(tmp_path / "plan.csv", index=False)
    table = read_plan(tmp_path / "plan.csv")
    later = focal_run(config, "unet", 0, (4, 8))
    rows = with_focal_rounds(table, [later.run_id, "focal_planes-unet-lncap-r1-p0-s0"]).set_index("run_id")
    assert len(rows) == len(table) + 1
    expected = later.as_row()
    got = rows.loc[later.run_id]
    for column in ("arm", "dataset", "modality", "model", "variant", "seed", "focal_round", "in_channels",
                   "eval_sets", "select_sets", "methods"):
        want = expected[column]
        want = tuple(json.loads(want)) if column in ("eval_sets", "select_sets", "methods") else want
        assert got[column] == want, column
    assert str(got["planes"]) == "4.8" and got["variant"] == "round2"
    assert [f.name for f in dataclasses.fields(type(later))]  # the row covers every Run field
    with pytest.raises(NucflowError, match="run 'focal_planes-unet-lncap-r2-p4.8-s3' is not in the plan"):
        with_focal_rounds(table, ["focal_planes-unet-lncap-r2-p4.8-s3"])
    with pytest.raises(NucflowError, match="run 'model_comparison-unet-bf-seven_lines-s0' is not in the plan"):
        with_focal_rounds(table, ["model_comparison-unet-bf-seven_lines-s0"])
