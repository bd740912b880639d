"""Tests of the simulator: determinism, manifest contract, ground truth, overrides, difficulty order."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import ndimage as ndi

from nucflow.cli import main as cli_main
from nucflow.config import validate_config
from nucflow.labels.classical import classical_labels
from nucflow.simulator.groundtruth import place_nuclei, rasterise
from nucflow.simulator.lines import CELL_LINES, INSTRUMENTS, plane_defocus_um, resolve_line
from nucflow.simulator.simulate import (MANIFEST_COLUMNS, DatasetSpec, FieldKey, SimulationConfig,
                                   has_artifacts, simulate, simulate_field)
from nucflow.errors import NucflowError
from nucflow.io import read_image


def tiny_simulation(**changes) -> dict:
    sim = {"seed": 3, "n_planes": 3, "artifact_fraction": 0.5,
           "datasets": {"a": {"instrument": "A", "lines": ["HepG2", "NIH3T3"], "wells_per_line": 1,
                              "fields_per_well": 2, "image_size": [64, 64]},
                        "b": {"instrument": "B", "lines": ["LNCaP"], "wells_per_line": 1,
                              "fields_per_well": 1, "image_size": [48, 64]}}}
    sim.update(changes)
    return validate_config({"simulation": sim, "tiles": {"size": 32}})["simulation"]  # tiles must fit the images


def files_of(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    config = SimulationConfig.from_dict(tiny_simulation())
    simulate(config, tmp_path / "one")
    simulate(config, tmp_path / "two", workers=2)
    names = files_of(tmp_path / "one")
    assert names == files_of(tmp_path / "two")
    assert len(names) == 2 + 5 * 5  # manifest, simulation.json, five files per field
    for name in names:
        assert filecmp.cmp(tmp_path / "one" / name, tmp_path / "two" / name, shallow=False), name
    other = SimulationConfig.from_dict(tiny_simulation(seed=4))
    simulate(other, tmp_path / "three")
    images = [n for n in names if len(n.parts) == 3 and n.parts[1] in ("fluorescence", "brightfield")]
    assert len(images) == 10
    for name in images:
        assert not filecmp.cmp(tmp_path / "one" / name, tmp_path / "three" / name, shallow=False), name


def test_field_content_does_not_depend_on_other_fields():
    small = SimulationConfig.from_dict(tiny_simulation())
    spec = small.datasets[0]
    bigger = DatasetSpec(spec.name, spec.instrument, ("MCF7", *spec.lines), 3, 4, spec.image_size)
    key = FieldKey("a", "NIH3T3", 1, 2)
    one = simulate_field(small, spec, key)
    two = simulate_field(small, bigger, key)
    assert np.array_equal(one.fluorescence, two.fluorescence)
    assert np.array_equal(one.brightfield, two.brightfield)


def test_manifest_columns_dtypes_and_shapes(tmp_path):
    config = SimulationConfig.from_dict(tiny_simulation())
    simulate(config, tmp_path)
    manifest = pd.read_csv(tmp_path / "manifest.csv")
    assert list(manifest.columns) == MANIFEST_COLUMNS
    assert manifest["image_id"].is_unique
    assert manifest["image_id"].iloc[0] == "a_HepG2_w01_f1"
    assert list(manifest["dataset"]) == ["a"] * 4 + ["b"]
    assert set(manifest["pixel_size_um"]) == {0.59, 0.325}
    for row in manifest.itertuples():
        shape = (64, 64) if row.dataset == "a" else (48, 64)
        fl = read_image(tmp_path / row.fluorescence)
        bf = read_image(tmp_path / row.brightfield)
        labels = read_image(tmp_path / row.labels)
        truth = read_image(tmp_path / row.labels_true)
        artifacts = read_image(tmp_path / row.artifacts)
        assert fl.dtype == np.uint16 and fl.shape == shape
        assert bf.dtype == np.uint16 and bf.shape == (3, *shape) and row.n_planes == 3
        assert labels.dtype in (np.uint16, np.uint32) and labels.shape == shape
        assert truth.dtype in (np.uint16, np.uint32) and truth.shape == shape
        assert artifacts.dtype == np.uint8 and artifacts.shape == shape
        assert set(np.unique(artifacts)) <= {0, 1}
        if row.instrument == "B":
            assert fl.max() <= 4095 and bf.max() <= 4095  # 12-bit instrument
    saved = json.loads((tmp_path / "simulation.json").read_text())
    assert saved["seed"] == 3
    assert saved["lines"]["HepG2"]["diameter_um"] == CELL_LINES["HepG2"].diameter_um
    assert saved["instruments"]["A"]["plane_defocus_um"] == plane_defocus_um(INSTRUMENTS["A"], 3)


def test_labels_true_counts_every_nucleus_of_a_constructed_layout():
    line = resolve_line("HeLa", {"clustering": 0.0, "overlap_fraction": 0.0, "density_per_mm2": 300.0})
    rng = np.random.default_rng(0)
    layout = place_nuclei(rng, line, (200, 200), 0.59)
    maps = rasterise(layout, line, (200, 200), 0.59, rng)
    assert layout.count > 0
    assert np.array_equal(np.unique(maps.labels_true), np.arange(layout.count + 1))


def test_overlapping_pixels_belong_to_the_upper_nucleus():
    line = resolve_line("HepG2", {"overlap_fraction": 1.0, "clustering": 1.0, "cluster_radius_um": 4.0,
                                  "density_per_mm2": 3000.0})
    rng = np.random.default_rng(1)
    layout = place_nuclei(rng, line, (120, 120), 0.59)
    maps = rasterise(layout, line, (120, 120), 0.59, rng)
    assert maps.stain.max() > 1.5 * np.median(maps.stain[maps.labels_true > 0])  # stain adds up
    top = layout.count
    mask_top = maps.labels_true == top
    assert mask_top.any()  # the last-drawn nucleus is never covered


def test_classical_pipeline_finds_separated_disks_exactly():
    yy, xx = np.mgrid[:120, :120]
    image = np.full((120, 120), 200.0)
    centres = [(25, 25), (25, 90), (90, 30), (85, 90)]
    for cy, cx in centres:
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < 12**2] = 3000.0
    image += np.random.default_rng(0).normal(0, 20, image.shape)
    labels = classical_labels(image.astype(np.uint16), 0.59, 14.0)
    assert labels.max() == 4
    for cy, cx in centres:
        assert labels[cy, cx] > 0
    empty = classical_labels(np.random.default_rng(1).normal(200, 10, (64, 64)).astype(np.uint16), 0.59, 12.0)
    assert empty.max() == 0


@pytest.mark.parametrize("section,name", [("line_overrides", "HeLa"), ("instrument_overrides", "A")])
def test_unknown_override_parameter_is_named(section, name):
    sim = tiny_simulation(**{section: {name: {"diamter_um": 3.0}}})
    with pytest.raises(NucflowError, match="diamter_um"):
        SimulationConfig.from_dict(sim)


def test_override_changes_the_resolved_parameters():
    sim = tiny_simulation(line_overrides={"HepG2": {"diameter_um": 9}})
    config = SimulationConfig.from_dict(sim)
    assert config.lines["HepG2"].diameter_um == 9.0
    with pytest.raises(NucflowError, match="Hela"):
        SimulationConfig.from_dict(tiny_simulation(line_overrides={"Hela": {"diameter_um": 9}}))


@pytest.mark.parametrize("fraction", [0.0, 0.5, 1.0])
def test_artifacts_appear_in_the_drawn_fields(fraction):
    sim = tiny_simulation(artifact_fraction=fraction)
    sim["datasets"]["a"].update(wells_per_line=2, fields_per_well=4, image_size=[48, 48])
    config = SimulationConfig.from_dict(sim).select(["a"])
    spec = config.datasets[0]
    keys = [FieldKey("a", line, w, f) for line in spec.lines for w in (1, 2) for f in (1, 2, 3, 4)]
    expected = [has_artifacts(config, k) for k in keys]
    found = [bool(simulate_field(config, spec, k).artifacts.any()) for k in keys]
    assert found == expected
    if fraction == 0.0:
        assert not any(found)
    elif fraction == 1.0:
        assert all(found)
    else:
        assert 0 < sum(found) < len(found)


def test_hepg2_is_denser_than_nih3t3():
    sim = tiny_simulation(artifact_fraction=0.0)
    sim["datasets"]["a"].update(wells_per_line=2, fields_per_well=2, image_size=[160, 160])
    config = SimulationConfig.from_dict(sim).select(["a"])
    spec = config.datasets[0]
    density = {}
    for line in ("HepG2", "NIH3T3"):
        counts = [len(np.unique(simulate_field(config, spec, FieldKey("a", line, w, f)).labels_true)) - 1
                  for w in (1, 2) for f in (1, 2)]
        density[line] = np.mean(counts) / (160 * 160 * 0.59**2 / 1e6)
    assert density["HepG2"] > 2 * density["NIH3T3"]


def nucleus_contrast(plane: np.ndarray, truth: np.ndarray) -> float:
    """|mean inside nuclei − mean in a 3-px ring outside| / background level."""
    inside = truth > 0
    ring = ndi.binary_dilation(inside, iterations=3) & ~inside
    return abs(plane[inside].mean() - plane[ring].mean()) / plane.mean()


def test_in_focus_plane_shows_less_nucleus_contrast_than_defocused_planes():
    sim = tiny_simulation(n_planes=9, artifact_fraction=0.0,
                          instrument_overrides={"A": {"focus_jitter_um": 0.0, "registration_sd_um": 0.0}})
    sim["datasets"]["a"].update(image_size=[160, 160])
    config = SimulationConfig.from_dict(sim).select(["a"])
    field = simulate_field(config, config.datasets[0], FieldKey("a", "NIH3T3", 1, 1))
    defocus = plane_defocus_um(config.instruments["A"], 9)
    focus = defocus.index(0.0)
    contrast = [nucleus_contrast(p.astype(float), field.labels_true) for p in field.brightfield]
    assert contrast[focus] < 0.5 * max(contrast)
    assert focus != 4  # the in-focus plane is not the middle of the stack


def test_cli_simulate_writes_a_manifest(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    sim = {"n_planes": 2, "datasets": {"tiny": {"instrument": "B", "lines": ["LNCaP"], "wells_per_line": 1,
                                                "fields_per_well": 1, "image_size": [40, 40]}}}
    config.write_text(yaml.safe_dump({"simulation": sim, "tiles": {"size": 32}}))
    assert cli_main(["simulate", "--config", str(config), "--out", str(tmp_path / "out"), "--seed", "5"]) == 0
    assert (tmp_path / "out" / "manifest.csv").is_file()
    assert json.loads((tmp_path / "out" / "simulation.json").read_text())["seed"] == 5
    assert cli_main(["simulate", "--config", str(config), "--out", str(tmp_path / "o2"),
                     "--datasets", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
