"""Config validation: defaults filled, misspelt keys named, every shipped config valid."""

from __future__ import annotations

import json
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


def test_postprocess_method_and_params_are_checked_before_any_job():
    """Regression: 'watershedd' and bad params were only caught by the postprocess job, after training."""
    with pytest.raises(NucflowError) as info:
        validate_config({"postprocess": {"method": "watershedd"}}, source="c.yaml")
    assert str(info.value) == ("c.yaml: config key postprocess/method: 'watershedd' is not a post-processing method "
                               "(choose from published, watershed, three_class, seeded, multiscale)")
    with pytest.raises(NucflowError) as info:
        validate_config({"postprocess": {"method": "watershed", "params": {"treshold": 0.4}}}, source="c.yaml")
    assert str(info.value).startswith("c.yaml: config key postprocess/params: post-processing method 'watershed': "
                                      "unknown parameter 'treshold'; valid: ")
    with pytest.raises(NucflowError, match=r"config key postprocess/params: .*parameter 'threshold': expected float"):
        validate_config({"postprocess": {"params": {"threshold": "high"}}})
    with pytest.raises(NucflowError, match=r"config key arms/extensions/multiscale: .*unknown parameter 'scale'"):
        validate_config({"arms": {"extensions": {"multiscale": {"scale": 2}}}})
    assert validate_config({"postprocess": {"method": "seeded", "params": {"threshold": 0.4}}})


def test_tile_size_is_checked_against_the_simulated_images():
    """Regression: tiles.size larger than the images was accepted (one tiles job wrote 537 MB for 4 images)."""
    with pytest.raises(NucflowError) as info:
        validate_config({"tiles": {"size": 2048}}, source="c.yaml")
    assert str(info.value) == ("c.yaml: config key tiles/size: 2048 px: larger than the 256 x 256 px images of "
                               "simulated data set lncap (more than half of each tile would be padding); use at "
                               "most 362 px")
    assert validate_config({"tiles": {"size": 2048}, "data": {"source": "manifest", "manifest": __file__}})


def test_missing_manifest_is_named_before_any_job(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = {"data": {"source": "manifest", "manifest": "resources/mine/manifest.csv"}}
    with pytest.raises(NucflowError) as info:
        validate_config(dict(config), source="c.yaml")
    assert str(info.value).startswith(f"c.yaml: config key data/manifest: resources/mine/manifest.csv (from "
                                      f"{tmp_path}): file not found; data.source is 'manifest'")
    assert validate_config(dict(config), check_paths=False)["data"]["manifest"] == "resources/mine/manifest.csv"
    (tmp_path / "resources" / "mine").mkdir(parents=True)
    (tmp_path / "resources" / "mine" / "manifest.csv").write_text("image_id\n")
    assert validate_config(dict(config))["data"]["source"] == "manifest"


def test_a_data_section_snapshot_is_not_checked_against_default_tiles(tmp_path):
    """Regression: the workflow's simulation.json snapshot (simulation section + seed) failed on the
    tiles.size default (288 px) against its 128-px images, which stopped the simulate job."""
    from nucflow.config import load_config

    snapshot = {"seed": 0, "simulation": {"datasets": {"lncap": {
        "instrument": "B", "lines": ["LNCaP"], "wells_per_line": 1, "fields_per_well": 1, "image_size": [128, 128]}}}}
    (tmp_path / "simulation.json").write_text(json.dumps(snapshot))
    assert load_config(tmp_path / "simulation.json")["simulation"]["datasets"]["lncap"]["image_size"] == [128, 128]
    whole = {**snapshot, "tiles": {"size": 288}}
    (tmp_path / "study.json").write_text(json.dumps(whole))
    with pytest.raises(NucflowError, match="tiles/size: 288 px"):
        load_config(tmp_path / "study.json")


def test_schema_ships_inside_the_package():
    """An installed nucflow (not a source checkout) must find its schema: it lives in the package,
    is declared package data, and config/schema.yaml is the same file."""
    import tomllib

    import nucflow
    from nucflow.config import SCHEMA_PATH

    assert SCHEMA_PATH.parent == Path(nucflow.__file__).parent and SCHEMA_PATH.is_file()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "schema.yaml" in project["tool"]["setuptools"]["package-data"]["nucflow"]
    assert (ROOT / "config" / "schema.yaml").resolve() == SCHEMA_PATH.resolve()


def test_commands_take_their_defaults_from_the_schema():
    """Options that mirror a config key default to None and fall back to the schema, the one home
    of defaults (tiles --size was 288 in argparse and in the schema)."""
    from nucflow.cli import build_parser
    from nucflow.config import schema_default
    from nucflow.data.tiles_cli import SCHEMA_OPTIONS, fill_schema_defaults

    args = build_parser("tiles").parse_args(["--manifest", "m.csv", "--splits", "s.json", "--dataset", "d",
                                             "--out", "t.npz", "--modality", "fluorescence"])
    assert all(getattr(args, option) is None for option in SCHEMA_OPTIONS)
    fill_schema_defaults(args)
    defaults = validate_config({})
    assert (args.size, args.overlap, args.normalisation, list(args.percentiles)) == (
        defaults["tiles"]["size"], defaults["tiles"]["overlap"], defaults["normalisation"]["method"],
        defaults["normalisation"]["percentiles"])
    predict = build_parser("predict").parse_args(["--model", "m", "--out", "o", "x.tif"])
    assert predict.overlap is None and predict.batch_size is None
    assert schema_default("inference", "overlap") == defaults["inference"]["overlap"]
    with pytest.raises(NucflowError, match="no default for tiles.nothing"):
        schema_default("tiles", "nothing")


def test_configs_that_opt_into_yte_are_found_without_running_them(tmp_path):
    """A study config with __use_yte__ runs Python when Snakemake loads it; nucflow cannot stop that,
    but finds such files (reading them runs nothing) so that the workflow can warn."""
    from nucflow.config import yte_configs

    marker = tmp_path / "ran"
    templated = tmp_path / "shared.yaml"
    templated.write_text(f"__use_yte__: true\nseeds: ?open('{marker}', 'w').close() or [0]\n")
    plain = tmp_path / "plain.yaml"
    plain.write_text("seeds: [0]\n__use_yte__: false\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("seeds: [0\n")
    assert yte_configs([plain, templated, broken, tmp_path / "missing.yaml"]) == [str(templated)]
    assert not marker.exists()


@pytest.mark.workflow
def test_the_workflow_warns_about_a_config_that_opts_into_yte(tmp_path):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    extra = tmp_path / "extra.yaml"
    extra.write_text("__use_yte__: true\nseeds: [0]\n")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run([str(Path(sys.executable).with_name("snakemake")), "--snakefile", str(root / "Snakefile"),
                             "--directory", str(tmp_path), "--configfile", str(root / "config" / "smoke.yaml"),
                             str(extra), "-n"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (f"nucflow: {extra} opts into YTE templating (__use_yte__): Snakemake has run the Python in it "
            "while loading it") in result.stdout + result.stderr
