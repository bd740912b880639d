"""A synthetic OME-Zarr plate without masks, end to end: ``nucflow import omezarr`` labels it from
the stain, a minimal Snakemake study (model comparison, one fluorescence U-Net, one seed, two
optimisation steps) trains and evaluates on the imported manifest, and ``nucflow predict`` writes
the trained model's labels back into a plate field's NGFF ``labels/`` group."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import zarr
from ome_zarr.format import FormatV05
from ome_zarr.writer import write_image, write_plate_metadata, write_well_metadata
from scipy import ndimage as ndi
from skimage.draw import disk

from nucflow.cli import main
from nucflow.data import ngff
from test_omezarr import array_digest

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
ROWS, COLUMNS, FIELDS = ("A", "B"), ("1", "2", "3"), ("0", "1")
SHAPE = (96, 96)
PIXEL_UM = 0.5
RUN = "model_comparison-unet-fl-plate-s0"
TARGET = "results/tables/model_comparison/per_run.csv"

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

#: the study: only the model comparison, one fluorescence U-Net, one seed, 1 epoch of 2 steps
CONFIG = """\
seed: 0
seeds: [0]
data:
  source: manifest
  manifest: {manifest}
splits:
  fractions:
    plate: [0.5, 0.17, 0.33]
tiles:
  size: 64
training:
  width: 0.0625
  max_epochs: 1
  steps_per_epoch: 2
  lr: 1.0e-3
  precision: "32-true"
  accelerator: cpu
models:
  unet: {{batch_size: 2}}
inference:
  batch_size: 4
  precision: "32-true"
arms:
  model_comparison:
    models: [unet]
    datasets: [plate]
    modalities: [fluorescence]
"""


def nuclei(seed: int) -> np.ndarray:
    """(96, 96) uint16 instance labels: 5-8 disks of radius 6-8 px (3-4 µm at 0.5 µm/px), apart."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(SHAPE, np.uint16)
    placed = []
    while len(placed) < rng.integers(5, 9):
        centre, radius = rng.integers(10, SHAPE[0] - 10, 2), int(rng.integers(6, 9))
        if all(np.hypot(*(centre - c)) > radius + r + 3 for c, r in placed):
            placed.append((centre, radius))
            rr, cc = disk(tuple(centre), radius, shape=SHAPE)
            labels[rr, cc] = len(placed)
    return labels


def field_pixels(seed: int) -> np.ndarray:
    """(c, z, y, x) uint16: Hoechst (bright disks, sharpest at z = 1) and brightfield (three planes,
    each a flat background with a weak copy of the nuclei, blurred more the further from focus)."""
    rng = np.random.default_rng(1000 + seed)
    stain = (nuclei(seed) > 0) * 1000.0
    hoechst = [ndi.gaussian_filter(stain, 1 + 2 * abs(z - 1)) * (1.0 - 0.3 * abs(z - 1)) for z in range(3)]
    bright = [2000 - 0.05 * ndi.gaussian_filter(stain, 1 + 3 * abs(z - 1)) for z in range(3)]
    planes = np.stack([np.stack(hoechst), np.stack(bright)]) + rng.normal(0, 10, (2, 3, *SHAPE)) + 100
    return np.clip(planes, 0, 65535).astype(np.uint16)


def write_plate(path: Path) -> Path:
    """An NGFF 0.5 plate: rows A-B x columns 1-3, two fields each, channels Hoechst and BF, 3 z planes."""
    fmt = FormatV05()
    root = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
    wells = [f"{row}/{column}" for row in ROWS for column in COLUMNS]
    write_plate_metadata(root, list(ROWS), list(COLUMNS), wells, fmt=fmt, field_count=len(FIELDS), name="synthetic")
    channels = [{"label": name, "color": "FFFFFF", "active": True,
                 "window": {"start": 0, "end": 1500, "min": 0, "max": 65535}} for name in ("Hoechst", "BF")]
    for seed, (well, field) in enumerate((w, f) for w in wells for f in FIELDS):
        row, column = well.split("/")
        group = root.require_group(row).require_group(column)
        if field == FIELDS[0]:
            write_well_metadata(group, [{"path": f} for f in FIELDS], fmt=fmt)
        write_image(field_pixels(seed), group.require_group(field), fmt=fmt, axes=["c", "z", "y", "x"],
                    scale_factors=[2], scale={"c": 1.0, "z": 2.0, "y": PIXEL_UM, "x": PIXEL_UM},
                    axes_units={"z": "micrometer", "y": "micrometer", "x": "micrometer"},
                    omero={"channels": channels})
    return path


def snakemake(workdir: Path, config: Path, *targets: str) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    command = [str(SNAKEMAKE), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--workflow-profile", str(ROOT / "profiles" / "default"), "--configfile", str(config),
               "--cores", "2", *targets]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir)
    if result.returncode != 0:
        logs = "\n".join(f"--- {p}\n{p.read_text()[-2000:]}" for p in sorted((workdir / "logs").rglob("*.log"))
                         if "rror" in p.read_text())
        pytest.fail(f"snakemake {' '.join(targets)} failed:\n{result.stderr[-4000:]}\n{logs}")


def test_plate_without_masks_through_the_study_and_back(tmp_path, capsys):
    plate = write_plate(tmp_path / "plate.zarr")
    field = plate / "A" / "1" / "0"
    before = array_digest(field)

    # import: no masks, so labels come from the Hoechst channel
    data = tmp_path / "data"
    assert main(["import", "omezarr", str(plate), "--dataset", "plate", "--nuclear-channel", "Hoechst",
                 "--brightfield-channel", "BF", "--nucleus-diameter-um", "7", "--out", str(data)]) == 0
    assert "labels were made from the nuclear stain by classical(d=7.0um)" in capsys.readouterr().out
    manifest = pd.read_csv(data / "manifest.csv")
    assert len(manifest) == 12 and set(manifest["label_source"]) == {"classical(d=7.0um)"}
    assert manifest["image_id"].tolist()[:3] == ["A01_f0", "A01_f1", "A02_f0"]
    assert set(manifest["n_planes"]) == {3} and set(manifest["pixel_size_um"]) == {PIXEL_UM}
    for seed, image_id in enumerate(manifest["image_id"]):  # the classical labels find the drawn nuclei
        labels = tifffile.imread(data / f"plate/labels/{image_id}.tif")
        assert int(labels.max()) == int(nuclei(seed).max()), image_id

    # the study on the imported manifest
    workdir = tmp_path / "study"
    workdir.mkdir()
    config = tmp_path / "plate.yaml"
    config.write_text(CONFIG.format(manifest=data / "manifest.csv"))
    # the run's error attribution too: real data have no artifact masks (a regression: it failed on them)
    attribution = f"results/runs/{RUN}/attribution/plate-test/published/tables"
    snakemake(workdir, config, TARGET, attribution)
    assert (workdir / attribution / "error_curve.csv").is_file()
    per_run = pd.read_csv(workdir / TARGET)
    assert per_run["run_id"].tolist() == [RUN]
    splits = json.loads((workdir / "results/data/splits.json").read_text())
    assert {part: len(splits["plate"][part]) for part in ("train", "val", "test")} == {"train": 6, "val": 2, "test": 4}

    # predict back into the plate's NGFF labels
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Reader

    out = tmp_path / "predicted"
    assert main(["predict", "--model", str(workdir / "results/runs" / RUN), "--out", str(out),
                 "--channel", "Hoechst", "--device", "cpu", str(field)]) == 0
    labels = tifffile.imread(out / "plate_A01_f0_labels.tif")
    assert labels.shape == SHAPE
    nodes = list(Reader(parse_url(str(field)))())  # what napari's OME-Zarr plugin reads
    label_nodes = [node for node in nodes if node.load(Label) is not None]
    assert [node.metadata["name"] for node in label_nodes] == ["nucflow"]
    assert np.array_equal(np.asarray(label_nodes[0].data[0]), labels)
    assert ngff.read_image(field).labels == ("nucflow",)
    assert array_digest(field) == before  # the image arrays are unchanged
