"""config/reference.yaml: the demo's arms at a budget that learns, with enough images for the claims."""

from __future__ import annotations

from pathlib import Path

from nucflow.config import load_config
from nucflow.data.split import split_counts

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = load_config(ROOT / "config" / "reference.yaml")
DEMO = load_config(ROOT / "config" / "config.yaml")


def test_every_data_set_has_at_least_28_test_images():
    for name, dataset in REFERENCE["simulation"]["datasets"].items():
        fields = len(dataset["lines"]) * dataset["wells_per_line"] * dataset["fields_per_well"]
        fractions = REFERENCE["splits"]["fractions"].get(name, REFERENCE["splits"]["fractions"]["default"])
        assert split_counts(fields, tuple(fractions))[2] >= 28, name


def test_the_demo_arms_at_the_published_protocol_with_rates_from_range_tests():
    assert {arm for arm, settings in REFERENCE["arms"].items() if settings.get("enabled", True)} == {
        arm for arm, settings in DEMO["arms"].items() if settings.get("enabled", True)}
    training = REFERENCE["training"]
    assert training["lr_from"] == "lr_find" and REFERENCE["arms"]["lr_range"]["num_steps"] == 100
    assert training["width"] == 0.25 and training["max_epochs"] * training["steps_per_epoch"] == 4000
    assert 0 < training["lr_patience"] < training["stop_patience"] < training["max_epochs"]
    assert REFERENCE["arms"]["model_comparison"]["seeds"] == [0, 1]
    assert set(REFERENCE["arms"]["model_comparison"]["models"]) == set(REFERENCE["models"])
