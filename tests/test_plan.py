"""The study plan: config -> table of runs, stable readable ids, run.json content."""

from __future__ import annotations

import pytest

from nucflow.cli import main
from nucflow.config import validate_config
from nucflow.errors import NucflowError
from nucflow.study.plan import plan, plan_runs, run_config
from nucflow.training.config import RunConfig


def _config(**arms):
    return validate_config({"seeds": [0, 1], "arms": arms})


def test_model_comparison_is_the_full_cross_product():
    table = plan(_config())
    assert len(table) == 5 * 2 * 2 * 2  # models x modalities x data sets x seeds
    assert table["run_id"].is_unique
    assert "model_comparison-ppunet-bf-seven_lines-s1" in set(table["run_id"])
    bf = table[table["modality"] == "brightfield"]
    assert set(bf["planes"]) == {"4"} and set(table.loc[table["modality"] == "fluorescence", "planes"]) == {"none"}


def test_arm_seeds_override_and_disable():
    config = _config(model_comparison={"seeds": [7], "models": ["unet"], "datasets": ["lncap"]})
    assert [r.run_id for r in plan_runs(config)] == ["model_comparison-unet-fl-lncap-s7", "model_comparison-unet-bf-lncap-s7"]
    assert plan(_config(model_comparison={"enabled": False})).empty


def test_unknown_dataset_is_an_error():
    with pytest.raises(NucflowError, match="data set 'hela' is not simulated"):
        plan_runs(_config(model_comparison={"datasets": ["hela"]}))


def test_run_config_is_a_valid_run_json():
    config = _config(model_comparison={"models": ["tiramisu"], "planes": [2, 4, 6]})
    config["models"]["tiramisu"]["batch_size"] = 3
    run = [r for r in plan_runs(config) if r.modality == "brightfield" and r.dataset == "lncap"][0]
    content = run_config(config, run)
    parsed = RunConfig.from_dict(content)
    assert parsed.in_channels == 3 and parsed.batch_size == 3 and parsed.planes == (2, 4, 6)
    assert parsed.train_tiles == ("results/tiles/lncap/brightfield-2.4.6/train.npz",)
    assert parsed.val_tiles == ("results/tiles/lncap/brightfield-2.4.6/val.npz",)
    assert parsed.out_dir == f"results/runs/{run.run_id}"


def test_published_batch_sizes_are_the_default():
    config = validate_config({"models": {"unet": {"width": 0.5}}})
    sizes = {r.model: r.batch_size for r in plan_runs(config)}
    assert sizes == {"unet": 16, "unetpp": 8, "deeplabv3plus": 8, "tiramisu": 4, "ppunet": 8}
    assert {r.width for r in plan_runs(config) if r.model == "unet"} == {0.5}


def test_cli_plan(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("arms: {model_comparison: {models: [unet], datasets: [lncap]}}\n")
    out = tmp_path / "plan.csv"
    assert main(["plan", "--config", str(config), "--out", str(out)]) == 0
    assert "2 runs: model_comparison 2" in capsys.readouterr().out
    assert out.read_text().count("\n") == 3
