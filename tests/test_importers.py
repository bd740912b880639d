"""nucflow import {folder,phenix,ndev}: tiny hand-made inputs, exact manifest contents, one-line errors."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from skimage.io import imsave

from nucflow.data import import_cli
from nucflow.data.importers.common import UNCHECKED_NAME, ImportedField, write_import
from nucflow.data.importers.folder import import_folder
from nucflow.data.importers.phenix import import_phenix, parse_name, parse_well, well_name
from nucflow.data.manifest import COLUMNS, load_manifest
from nucflow.labels.stain_labels import ClassicalLabeller
from nucflow.errors import ManifestError, NucflowError

SHAPE = (16, 20)


def labels_image(n: int = 2) -> np.ndarray:
    """(16, 20) uint16 with ``n`` square nuclei labelled 1..n."""
    labels = np.zeros(SHAPE, np.uint16)
    for i in range(n):
        labels[2 + 6 * i:6 + 6 * i, 3:9] = i + 1
    return labels


def constant(value: int, shape=SHAPE) -> np.ndarray:
    return np.full(shape, value, np.uint16)


def read_stack(path) -> np.ndarray:
    """A brightfield stack as (n_planes, H, W): a 1-plane TIFF reads back as (H, W)."""
    array = tifffile.imread(path)
    return array.reshape((-1, *array.shape[-2:]))


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    import_cli.add_arguments(parser)
    return import_cli.run(parser.parse_args(argv))


# --------------------------------------------------------------------------- folder

def cellpose_folder(root: Path) -> Path:
    root.mkdir(parents=True)
    tifffile.imwrite(root / "a.tif", constant(100))
    tifffile.imwrite(root / "a_masks.tif", labels_image(2))
    imsave(root / "b.png", constant(7).astype(np.uint8), check_contrast=False)
    imsave(root / "b_masks.png", labels_image(1).astype(np.uint8), check_contrast=False)
    return root


def stardist_folder(root: Path, n_planes: int = 3) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    stack = np.stack([constant(10 * (p + 1)) for p in range(n_planes)])
    tifffile.imwrite(root / "images" / "x1.tiff", stack, photometric="minisblack")
    tifffile.imwrite(root / "masks" / "x1.tiff", labels_image(2))
    return root


def test_folder_cellpose_layout_with_metadata(tmp_path):
    source = cellpose_folder(tmp_path / "in")
    meta = tmp_path / "meta.csv"
    meta.write_text("image_id,cell_line,well,field\na,HeLa,B03,2\nb,A549,,\n")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in source.iterdir())
    out = tmp_path / "out"
    assert run_cli(["folder", str(source), "--modality", "fluorescence", "--pixel-size-um", "0.5",
                    "--dataset", "mine", "--metadata", str(meta), "--out", str(out)]) == 0
    table = pd.read_csv(out / "manifest.csv", dtype=str, keep_default_na=False)
    assert list(table.columns) == list(COLUMNS)
    assert table["image_id"].tolist() == ["a", "b"]
    assert table["cell_line"].tolist() == ["HeLa", "A549"]
    assert table["well"].tolist() == ["B03", ""]
    assert table["field"].tolist() == ["2", ""]
    assert table["brightfield"].tolist() == ["", ""]
    manifest = load_manifest(out / "manifest.csv", deep=True)
    assert np.array_equal(tifffile.imread(manifest.file("a", "labels")), labels_image(2))
    assert tifffile.imread(manifest.file("b", "fluorescence")).tolist() == constant(7).tolist()
    assert json.loads((out / "import.json").read_text())["importer"] == "folder"
    assert sorted((p.name, p.stat().st_mtime_ns) for p in source.iterdir()) == before  # inputs untouched


def test_folder_stardist_layout_brightfield_stack(tmp_path):
    source = stardist_folder(tmp_path / "in")
    manifest = import_folder(source, tmp_path / "out", modality="brightfield", pixel_size_um=0.65, dataset="sd")
    row = manifest.row("x1")
    assert row["cell_line"] == "unknown" and int(row["n_planes"]) == 3
    stack = tifffile.imread(manifest.file("x1", "brightfield"))
    assert stack.shape == (3, *SHAPE) and stack[:, 0, 0].tolist() == [10, 20, 30]


@pytest.mark.parametrize("case, expected", [
    ("no_mask", "b.tif: image has no mask"),
    ("no_image", "c_masks.tif: mask has no image"),
    ("shape", "b.tif: image of shape (16, 21) does not match mask"),
    ("binary", "b_masks.tif: binary mask"),
    ("meta_missing", "image 'b' is not listed"),
])
def test_folder_errors_name_the_file(tmp_path, case, expected):
    root = tmp_path / "in"
    root.mkdir()
    tifffile.imwrite(root / "a.tif", constant(1))
    tifffile.imwrite(root / "a_masks.tif", labels_image())
    metadata = None
    if case == "no_mask":
        tifffile.imwrite(root / "b.tif", constant(1))
    elif case == "no_image":
        tifffile.imwrite(root / "c_masks.tif", labels_image())
    elif case == "shape":
        tifffile.imwrite(root / "b.tif", constant(1, (16, 21)))
        tifffile.imwrite(root / "b_masks.tif", labels_image())
    elif case == "binary":
        tifffile.imwrite(root / "b.tif", constant(1))
        tifffile.imwrite(root / "b_masks.tif", labels_image() > 0)
    else:
        tifffile.imwrite(root / "b.tif", constant(1))
        tifffile.imwrite(root / "b_masks.tif", labels_image())
        metadata = tmp_path / "meta.csv"
        metadata.write_text("image_id,cell_line\na,HeLa\n")
    with pytest.raises(NucflowError) as info:
        import_folder(root, tmp_path / "out", modality="fluorescence", pixel_size_um=1.0, dataset="d",
                      metadata_csv=metadata)
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_folder_refuses_to_write_into_its_input(tmp_path):
    source = cellpose_folder(tmp_path / "in")
    with pytest.raises(NucflowError, match="is an input folder"):
        import_folder(source, source, modality="fluorescence", pixel_size_um=1.0, dataset="d")


def test_write_import_leaves_no_manifest_when_validation_fails(tmp_path):
    bad = ImportedField(image_id="a", cell_line="x", labels=labels_image(), fluorescence=constant(1, (16, 21)))
    with pytest.raises(ManifestError) as info:
        write_import(tmp_path, [bad], dataset="d", pixel_size_um=1.0, importer="test", arguments={})
    assert "column fluorescence" in str(info.value) and "does not match labels" in str(info.value)
    assert not (tmp_path / "manifest.csv").exists() and not (tmp_path / UNCHECKED_NAME).exists()


def test_cli_reports_a_bad_import_as_one_line(tmp_path, monkeypatch, capsys):
    from nucflow import cli

    monkeypatch.setitem(cli.COMMANDS, "import", ("nucflow.data.import_cli", "import a data set"))
    source = cellpose_folder(tmp_path / "in")
    (source / "b_masks.png").unlink()
    status = cli.main(["import", "folder", str(source), "--modality", "fluorescence", "--pixel-size-um", "1",
                       "--dataset", "d", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "b.png: image has no mask" in err


def test_reimport_is_all_or_nothing(tmp_path):
    """Regression: re-running into an existing --out overwrote x.tif, then failed on a later bad file and
    left the old manifest and import.json beside the new images."""
    source = cellpose_folder(tmp_path / "in")
    out = tmp_path / "out"
    import_folder(source, out, modality="fluorescence", pixel_size_um=1.0, dataset="d")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(NucflowError) as info:
        import_folder(source, out, modality="fluorescence", pixel_size_um=1.0, dataset="d")
    assert str(info.value) == (f"--out {out.resolve()}: is not empty; give --overwrite to replace it with this "
                               "import, or an empty or new folder")
    tifffile.imwrite(source / "a.tif", constant(555))        # new data for a, then a bad image after it
    tifffile.imwrite(source / "c.tif", constant(1, (16, 21)))
    tifffile.imwrite(source / "c_masks.tif", labels_image())
    with pytest.raises(NucflowError, match="c.tif: image of shape"):
        import_folder(source, out, modality="fluorescence", pixel_size_um=1.0, dataset="d", overwrite=True)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]  # no staging folder left
    (source / "c.tif").unlink()
    (source / "c_masks.tif").unlink()
    (out / "stray.txt").write_text("replaced with the folder")
    manifest = import_folder(source, out, modality="fluorescence", pixel_size_um=1.0, dataset="d", overwrite=True)
    assert int(tifffile.imread(manifest.file("a", "fluorescence"))[0, 0]) == 555
    assert not (out / "stray.txt").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]


def test_validation_failure_names_the_output_not_the_staging_folder(tmp_path):
    bad = ImportedField(image_id="a", cell_line="x", labels=labels_image(), fluorescence=constant(1, (16, 21)))
    with pytest.raises(ManifestError) as info:
        write_import(tmp_path / "out", [bad], dataset="d", pixel_size_um=1.0, importer="test", arguments={})
    assert str(info.value).startswith(f"{tmp_path / 'out' / 'manifest.csv'} row 1 (image_id=a), column fluorescence: "
                                      f"{tmp_path / 'out' / 'd/fluorescence/a.tif'}: shape (16, 21)")


def test_every_importer_refuses_a_non_empty_out(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    images, masks, plate_map = phenix_export(tmp_path / "plate", old_form=False)
    with pytest.raises(NucflowError, match="is not empty; give --overwrite"):
        import_phenix(images, out, plate_map=plate_map, masks_dir=masks, pixel_size_um=1.0, dataset="p",
                      nuclear_channel=1)
    from nucflow.data.importers.ndev import import_ndev

    with pytest.raises(NucflowError, match="is not empty; give --overwrite"):
        import_ndev(out, path=tmp_path / "any.tiff")
    with pytest.raises(NucflowError, match="holds the input"):
        import_phenix(images, tmp_path / "plate", plate_map=plate_map, masks_dir=masks, pixel_size_um=1.0,
                      dataset="p", nuclear_channel=1, overwrite=True)
    assert (out / "keep.txt").read_text() == "mine"


def binary_folder(root: Path) -> Path:
    """a.tif with a uint8 0/1 mask of three separate squares (semantic, not instance, labels)."""
    root.mkdir(parents=True)
    tifffile.imwrite(root / "a.tif", constant(100))
    mask = np.zeros(SHAPE, np.uint8)
    mask[1:4, 1:4] = mask[8:12, 2:6] = mask[10:14, 12:18] = 1
    tifffile.imwrite(root / "a_masks.tif", mask)
    return root


def test_binary_mask_is_refused_or_labelled_on_request(tmp_path, capsys):
    """Regression: a uint8 0/1 mask was taken as instance labels (three nuclei as one)."""
    source = binary_folder(tmp_path / "in")
    with pytest.raises(NucflowError) as info:
        import_folder(source, tmp_path / "out", modality="fluorescence", pixel_size_um=1.0, dataset="d")
    assert str(info.value) == (f"{source / 'a_masks.tif'}: binary mask (one value, 1, in 3 separate regions); "
                               "instance labels (one integer per nucleus) are needed, or give --binary-masks to "
                               "label its connected regions")
    assert run_cli(["folder", str(source), "--modality", "fluorescence", "--pixel-size-um", "1", "--dataset", "d",
                    "--binary-masks", "--out", str(tmp_path / "out")]) == 0
    assert "--binary-masks: binary masks were labelled by connected regions" in capsys.readouterr().out
    labels = tifffile.imread(tmp_path / "out" / "d" / "labels" / "a.tif")
    assert labels.dtype == np.uint16 and sorted(np.unique(labels)) == [0, 1, 2, 3]
    assert [int((labels == i).sum()) for i in (1, 2, 3)] == [9, 16, 24]
    assert json.loads((tmp_path / "out" / "import.json").read_text())["arguments"]["binary_masks"] is True


# --------------------------------------------------------------------------- phenix

def test_phenix_name_forms_agree():
    new = parse_name(Path("r02c03f01p04-ch2sk1fk1fl1.tiff"))
    old = parse_name(Path("0203K1F1P4R2.tiff"))
    assert (new.row, new.column, new.field, new.plane, new.channel, new.timepoint) == (2, 3, 1, 4, 2, 1)
    assert (old.row, old.column, old.field, old.plane, old.channel, old.timepoint) == (2, 3, 1, 4, 2, 1)
    assert parse_well("B03") == parse_well("b3") == parse_well("r02c03") == (2, 3)
    assert parse_well("AA01") == (27, 1) and well_name(27, 1) == "AA01" and well_name(2, 3) == "B03"


def phenix_export(root: Path, old_form: bool, n_planes: int = 3) -> tuple[Path, Path, Path]:
    """Two wells (B03: 2 fields, C05: 1 field); ch1 nuclear (2 planes), ch2 brightfield (n planes).

    Pixel values encode what they are: nuclear = 1000 + 10*field + plane, brightfield = 100*plane + channel.
    """
    images, masks = root / "Images", root / "masks"
    images.mkdir(parents=True)
    masks.mkdir()
    for row, column, n_fields in ((2, 3, 2), (3, 5, 1)):
        for field in range(1, n_fields + 1):
            for channel, planes in ((1, (1, 2)), (2, range(1, n_planes + 1))):
                for plane in planes:
                    name = (f"{row:02d}{column:02d}K1F{field}P{plane}R{channel}.tiff" if old_form
                            else f"r{row:02d}c{column:02d}f{field:02d}p{plane:02d}-ch{channel}sk1fk1fl1.tiff")
                    value = 1000 + 10 * field + plane if channel == 1 else 100 * plane + channel
                    tifffile.imwrite(images / name, constant(value))
            tifffile.imwrite(masks / f"r{row:02d}c{column:02d}f{field:02d}_masks.tif", labels_image(field))
    (images / "Index.idx.xml").write_text("<EvaluationInputData/>")  # ignored
    plate_map = root / "plate.csv"
    plate_map.write_text("well,cell_line,treatment\nB03,HeLa,none\nr03c05,HepG2,none\nD01,MCF7,none\n")
    return images, masks, plate_map


@pytest.mark.parametrize("old_form", [False, True])
def test_phenix_import(tmp_path, old_form):
    images, masks, plate_map = phenix_export(tmp_path / "plate", old_form)
    out = tmp_path / "out"
    assert run_cli(["phenix", "--images", str(images), "--plate-map", str(plate_map), "--masks", str(masks),
                    "--nuclear-channel", "1", "--brightfield-channel", "2", "--pixel-size-um", "0.59",
                    "--dataset", "plate1", "--out", str(out)]) == 0
    manifest = load_manifest(out / "manifest.csv", deep=True)
    frame = manifest.frame
    assert frame["image_id"].tolist() == ["r02c03f01", "r02c03f02", "r03c05f01"]
    assert frame["cell_line"].tolist() == ["HeLa", "HeLa", "HepG2"]
    assert frame["well"].tolist() == ["B03", "B03", "C05"]
    assert frame["field"].tolist() == [1, 2, 1]
    assert frame["n_planes"].tolist() == [3, 3, 3]
    assert set(frame["instrument"]) == {"Opera Phenix"}
    bright = tifffile.imread(manifest.file("r02c03f02", "brightfield"))
    assert bright.shape == (3, *SHAPE) and bright[:, 0, 0].tolist() == [102, 202, 302]  # plane order, channel 2
    nuclear = tifffile.imread(manifest.file("r02c03f02", "fluorescence"))
    assert nuclear.shape == SHAPE and int(nuclear[0, 0]) == 1022  # max over planes 1, 2 of field 2
    labels = tifffile.imread(manifest.file("r02c03f02", "labels"))
    assert np.array_equal(labels, labels_image(2))


def test_phenix_brightfield_only_single_plane(tmp_path):
    images, masks, plate_map = phenix_export(tmp_path / "plate", old_form=False, n_planes=1)
    manifest = import_phenix(images, tmp_path / "out", plate_map=plate_map, masks_dir=masks, pixel_size_um=1.0,
                             dataset="p", brightfield_channel=2)
    assert manifest.frame["fluorescence"].isna().all()
    assert read_stack(manifest.file("r03c05f01", "brightfield")).shape == (1, *SHAPE)


def test_phenix_time_points_get_their_own_ids(tmp_path):
    images, masks = tmp_path / "Images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for t in (1, 2):
        tifffile.imwrite(images / f"0101K{t}F1P1R1.tiff", constant(10 * t))
        tifffile.imwrite(masks / f"r01c01f01sk{t}_masks.tif", labels_image(t))
    plate_map = tmp_path / "plate.csv"
    plate_map.write_text("well,cell_line\nA01,HeLa\n")
    manifest = import_phenix(images, tmp_path / "out", plate_map=plate_map, masks_dir=masks, pixel_size_um=1.0,
                             dataset="p", nuclear_channel=1)
    assert manifest.ids == ["r01c01f01sk1", "r01c01f01sk2"]
    assert int(tifffile.imread(manifest.file("r01c01f01sk2", "fluorescence"))[0, 0]) == 20
    assert int(tifffile.imread(manifest.file("r01c01f01sk2", "labels")).max()) == 2


@pytest.mark.parametrize("case, expected", [
    ("malformed", "r02c03_f01.tiff: not an Opera Phenix image name"),
    ("no_channel", "well C05 field 1: no image of channel 2 (brightfield)"),
    ("no_well", "well C05 ("),
    ("no_mask", "r03c05f01_masks.tif: mask not found"),
    ("planes", "well C05 field 1: brightfield planes [1, 2] differ from [1, 2, 3]"),
    ("duplicate", "r02c03f01p01-ch1sk1fk1fl1.tiff: same well, field, plane, channel and time point as 0203K1F1P1R1"),
])
def test_phenix_errors_name_the_file_or_well(tmp_path, case, expected):
    images, masks, plate_map = phenix_export(tmp_path / "plate", old_form=False)
    if case == "malformed":
        tifffile.imwrite(images / "r02c03_f01.tiff", constant(1))
    elif case == "no_channel":
        for path in images.glob("r03c05f01p*-ch2*.tiff"):
            path.unlink()
    elif case == "no_well":
        plate_map.write_text("well,cell_line\nB03,HeLa\n")
    elif case == "no_mask":
        (masks / "r03c05f01_masks.tif").unlink()
    elif case == "duplicate":
        tifffile.imwrite(images / "0203K1F1P1R1.tiff", constant(1))  # old-form twin of r02c03f01p01-ch1sk1
    else:
        (images / "r03c05f01p03-ch2sk1fk1fl1.tiff").unlink()
    with pytest.raises(NucflowError) as info:
        import_phenix(images, tmp_path / "out", plate_map=plate_map, masks_dir=masks, pixel_size_um=1.0,
                      dataset="p", nuclear_channel=1, brightfield_channel=2)
    message = str(info.value)
    assert expected in message and "\n" not in message
    if case == "no_well":
        assert "not in plate map" in message


# --------------------------------------------------------------------------- ndev

def test_ndev_missing_package_names_the_install_command(monkeypatch):
    from nucflow.data.importers import ndev

    monkeypatch.setattr(ndev.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(NucflowError, match="pip install ndev-sampledata"):
        ndev.sample_path()


@pytest.mark.skipif(importlib.util.find_spec("ndev_sampledata") is None,
                    reason="optional extra: pip install ndev-sampledata")
def test_ndev_scratch_assay(tmp_path):
    # find_spec rather than importorskip: importing the package needs bioio, which the importer does not
    manifest = import_ndev_via_cli(tmp_path / "out")
    frame = manifest.frame
    assert frame["image_id"].tolist() == [f"ndev_t{t:02d}" for t in range(10)]
    assert frame["field"].tolist() == list(range(10))
    assert set(frame["pixel_size_um"]) == {0.619} and set(frame["n_planes"]) == {1}
    from nucflow.data.importers.ndev import sample_path

    source = tifffile.imread(sample_path())  # (C, T, Y, X)
    assert source.shape == (4, 10, 210, 576)
    assert np.array_equal(tifffile.imread(manifest.file("ndev_t03", "fluorescence")), source[0, 3])
    assert np.array_equal(read_stack(manifest.file("ndev_t03", "brightfield")), source[1, 3][None])
    assert np.array_equal(tifffile.imread(manifest.file("ndev_t03", "labels")), source[2, 3])


def import_ndev_via_cli(out: Path):
    assert run_cli(["ndev", "--out", str(out)]) == 0
    return load_manifest(out / "manifest.csv", deep=True)


def test_real_sample_config_is_valid():
    from nucflow.config import load_config

    config = load_config(Path(__file__).resolve().parents[1] / "config" / "real_sample.yaml")
    assert config["data"] == {"source": "manifest", "manifest": "resources/ndev/manifest.csv"}
    assert config["arms"]["model_comparison"]["datasets"] == ["ndev"]


def test_phenix_without_masks_labels_from_the_stain(tmp_path):
    images, masks, plate_map = phenix_export(tmp_path / "plate", old_form=False)
    # these stains are flat: no field has nuclei to label, so every one is left out, not kept empty
    with pytest.raises(NucflowError, match=r"phenix import: no images found to import \(3 left out: no labels "
                                           r"from their stain\)"):
        import_phenix(images, tmp_path / "out", plate_map=plate_map, masks_dir=None, pixel_size_um=1.0,
                      dataset="p", nuclear_channel=1, brightfield_channel=2)
    assert not (tmp_path / "out").exists()
    (masks / "r03c05f01_masks.tif").unlink()
    with pytest.raises(NucflowError, match="r03c05f01_masks.tif: mask not found"):
        import_phenix(images, tmp_path / "out2", plate_map=plate_map, masks_dir=masks, pixel_size_um=1.0,
                      dataset="p", nuclear_channel=1)
    manifest = import_phenix(images, tmp_path / "out2", plate_map=plate_map, masks_dir=masks, pixel_size_um=1.0,
                             dataset="p", nuclear_channel=1, labeller=ClassicalLabeller(8))
    assert manifest.label_sources().tolist() == ["given", "given"]  # the unmasked field's flat stain: left out
    left_out = pd.read_csv(tmp_path / "out2" / "left_out.csv")
    assert left_out["image_id"].tolist() == ["r03c05f01"] and left_out["reason"][0].startswith("flat: ")
    with pytest.raises(NucflowError, match="no masks .--masks. and no nuclear channel .--nuclear-channel."):
        import_phenix(images, tmp_path / "out3", plate_map=plate_map, masks_dir=None, pixel_size_um=1.0,
                      dataset="p", brightfield_channel=2)
