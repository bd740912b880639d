"""Tests of the data overview figure."""

from __future__ import annotations

import pandas as pd
import pytest

from nucflow.cli import main as cli_main
from nucflow.config import validate_config
from nucflow.data.overview import choose_rows, draw_overview
from nucflow.simulator.simulate import SimulationConfig, simulate
from nucflow.errors import NucflowError


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sim")
    sim = {"n_planes": 5, "artifact_fraction": 1.0,
           "datasets": {"a": {"instrument": "A", "lines": ["HeLa", "HepG2"], "wells_per_line": 1,
                              "fields_per_well": 2, "image_size": [64, 64]},
                        "b": {"instrument": "B", "lines": ["LNCaP"], "wells_per_line": 1,
                              "fields_per_well": 1, "image_size": [64, 48]}}}
    config = SimulationConfig.from_dict(validate_config({"simulation": sim, "tiles": {"size": 32}})["simulation"])
    simulate(config, folder)
    return folder / "manifest.csv"


def test_overview_writes_png_and_pdf(tiny_data, tmp_path):
    png, pdf = draw_overview(tiny_data, tmp_path / "fig" / "overview.png", seed=1)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000
    assert pdf.name == "overview.pdf"


def test_rows_are_one_per_line_deterministic_and_use_defocus_titles(tiny_data):
    manifest = pd.read_csv(tiny_data)
    n_planes = dict(zip(manifest["image_id"], manifest["n_planes"]))
    defocus = {"A": [-6.0, -2.0, 2.0, 6.0, 10.0], "B": [-10.0, -6.0, -2.0, 2.0, 6.0]}
    rows = choose_rows(manifest, 3, n_planes, defocus)
    assert [r.cell_line for r in rows] == ["HeLa", "HepG2", "LNCaP"]
    assert rows == choose_rows(manifest, 3, n_planes, defocus)
    assert rows[0].planes == (0, 1, 4)
    assert rows[0].plane_titles[0] == "brightfield z = -6 µm"


def test_cli_overview_and_bad_manifest(tiny_data, tmp_path, capsys):
    assert cli_main(["overview", "--manifest", str(tiny_data), "--out", str(tmp_path / "o.png")]) == 0
    assert (tmp_path / "o.pdf").is_file()
    bad = tmp_path / "bad.csv"
    pd.read_csv(tiny_data).drop(columns=["labels"]).to_csv(bad, index=False)
    with pytest.raises(NucflowError, match="labels"):
        draw_overview(bad, tmp_path / "x.png")
    assert cli_main(["overview", "--manifest", str(tmp_path / "none.csv"), "--out", str(tmp_path / "y.png")]) == 2
    assert "none.csv" in capsys.readouterr().err
