"""config/paper.yaml is the published design: image and pixel sizes, split counts, batch sizes,
training length and the arms' grids as Ali et al. (2021) report them."""

from __future__ import annotations

from pathlib import Path

from nucflow.config import load_config
from nucflow.simulator.lines import resolve_instrument
from nucflow.data.split import split_counts

PAPER = load_config(Path(__file__).resolve().parents[1] / "config" / "paper.yaml")


def test_image_and_pixel_sizes():
    """Regression: the two data sets' image sizes were swapped."""
    datasets = PAPER["simulation"]["datasets"]
    seven, lncap = datasets["seven_lines"], datasets["lncap"]
    assert (seven["instrument"], seven["image_size"]) == ("A", [1080, 1080])
    assert (lncap["instrument"], lncap["image_size"]) == ("B", [2156, 2556])  # (H, W): 2556 x 2156 px
    assert resolve_instrument("A").pixel_size_um == 0.59
    assert resolve_instrument("B").pixel_size_um == 0.325


def test_field_and_split_counts():
    seven = PAPER["simulation"]["datasets"]["seven_lines"]
    fields = len(seven["lines"]) * seven["wells_per_line"] * seven["fields_per_well"]
    assert fields == 3024
    assert split_counts(fields, tuple(PAPER["splits"]["fractions"]["default"])) == (2016, 504, 504)
    lncap = PAPER["simulation"]["datasets"]["lncap"]
    assert lncap["wells_per_line"] * lncap["fields_per_well"] == 784


def test_training_as_published():
    assert {m: s["batch_size"] for m, s in PAPER["models"].items()} == {
        "unet": 16, "unetpp": 8, "deeplabv3plus": 8, "tiramisu": 4, "ppunet": 8}
    training = PAPER["training"]
    assert (training["width"], training["max_epochs"], training["steps_per_epoch"]) == (1.0, 500, None)
    assert (training["lr_patience"], training["stop_patience"]) == (10, 20)
    assert PAPER["tiles"]["size"] == 288


def test_arms_grids():
    arms = PAPER["arms"]
    assert arms["data_size"]["sizes"] == [1, 2, 4, 8, 16, 32, 64, 286]
    assert arms["smoothing"]["factors"] == [0.05, 0.1, 0.15, 0.2]
    assert arms["transfer"]["sizes"] == [1, 2, 4, 8, 16, 32, 64, 128]
    assert (arms["focal_planes"]["candidates"], arms["focal_planes"]["rounds"]) == (list(range(9)), 9)
    assert arms["model_comparison"]["datasets"] == ["seven_lines", "lncap"]
