"""Config validation: defaults filled, misspelt keys named, every shipped config valid."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nucflow.config import load_config, validate_config
from nucflow.errors import NucflowError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "config").glob("*.yaml") if p.name != "schema.yaml"))
def test_shipped_configs_are_valid(name):
    config = load_config(ROOT / "config" / name)
    assert config["simulation"]["n_planes"] >= 1


def test_defaults_filled():
    config = validate_config({})
    assert config["seed"] == 0
    assert config["tiles"]["size"] == 288
    assert config["normalisation"]["method"] == "percentile"
    assert set(config["simulation"]["datasets"]) == {"seven_lines", "lncap"}


def test_misspelt_key_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"simulaton": {}}))
    with pytest.raises(NucflowError, match=r"unknown config key 'simulaton' at top level"):
        load_config(path)
    with pytest.raises(NucflowError, match=r"unknown config key 'sise' at tiles"):
        validate_config({"tiles": {"sise": 3}})


def test_bad_value_is_named():
    with pytest.raises(NucflowError, match=r"normalisation/method"):
        validate_config({"normalisation": {"method": "zscore"}})
    with pytest.raises(NucflowError, match=r"simulation/datasets/x/lines/0"):
        validate_config({"simulation": {"datasets": {"x": {"instrument": "A", "lines": ["Foo"]}}}})


def test_unreadable_config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("a: [1,\n")
    with pytest.raises(NucflowError, match="invalid YAML"):
        load_config(path)
    with pytest.raises(NucflowError, match="config file not found"):
        load_config(tmp_path / "none.yaml")


def test_json_snapshot_keeps_exponent_numbers(tmp_path):
    """Regression: YAML 1.1 reads the JSON number 1e-10 as a string, so the workflow's JSON config
    snapshot failed validation (arms.lr_range.min_lr)."""
    import json

    from nucflow.config import load_config, validate_config

    path = tmp_path / "study.json"
    path.write_text(json.dumps(validate_config({"arms": {"lr_range": {"min_lr": 1e-10}}})))
    assert load_config(path)["arms"]["lr_range"]["min_lr"] == 1e-10
