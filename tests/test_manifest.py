"""Manifest validation: each bad input gives exactly one clear line naming row, file and problem."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile

from nucflow.cli import main
from nucflow.data.manifest import load_manifest
from nucflow.errors import ManifestError


def _edit(manifest, **changes):
    """Apply {column: value} to row 2 (1-based) of the manifest."""
    frame = pd.read_csv(manifest)
    for column, value in changes.items():
        frame[column] = frame[column].astype(object)
        frame.loc[1, column] = value
    frame.to_csv(manifest, index=False)


def _problems(manifest, deep=True):
    with pytest.raises(ManifestError) as info:
        load_manifest(manifest, deep=deep)
    return info.value.problems


def test_valid_manifest_loads(toy_manifest):
    manifest = load_manifest(toy_manifest, deep=True)
    assert len(manifest.frame) == 12
    assert manifest.summary().endswith("12 images (toy: 12 images, 2 cell lines)")
    assert manifest.file("toy_HeLa_00", "labels").is_file()


def test_missing_file(toy_manifest):
    _edit(toy_manifest, labels="img/nope.tif")
    (line,) = _problems(toy_manifest)
    assert "row 2 (image_id=toy_HeLa_01), column labels" in line and "nope.tif: file not found" in line


def test_unreadable_tiff(toy_manifest):
    (toy_manifest.parent / "img" / "broken.tif").write_bytes(b"II*\x00garbage")
    _edit(toy_manifest, fluorescence="img/broken.tif")
    (line,) = _problems(toy_manifest)
    assert "row 2" in line and "broken.tif: unreadable image" in line


def test_shape_mismatch(toy_manifest):
    tifffile.imwrite(toy_manifest.parent / "img" / "small.tif", np.zeros((40, 48), np.uint16))
    _edit(toy_manifest, fluorescence="img/small.tif")
    (line,) = _problems(toy_manifest)
    assert "small.tif: shape (40, 48) does not match labels (48, 48)" in line


def test_float_labels(toy_manifest):
    tifffile.imwrite(toy_manifest.parent / "img" / "float.tif", np.ones((48, 48), np.float32))
    _edit(toy_manifest, labels="img/float.tif", labels_true="img/float.tif")
    problems = _problems(toy_manifest)
    assert len(problems) == 2  # one per column that names the file
    assert all("labels must be integers, got float32" in p for p in problems)


def test_negative_labels(toy_manifest):
    tifffile.imwrite(toy_manifest.parent / "img" / "neg.tif", -np.ones((48, 48), np.int16))
    _edit(toy_manifest, labels="img/neg.tif")
    (line,) = _problems(toy_manifest)
    assert "neg.tif: negative label -1" in line


def test_plane_count_mismatch(toy_manifest):
    _edit(toy_manifest, n_planes=9)
    (line,) = _problems(toy_manifest)
    assert "column n_planes: says 9 but" in line and "has 3 planes" in line


def test_missing_column(toy_manifest):
    pd.read_csv(toy_manifest).drop(columns=["labels"]).to_csv(toy_manifest, index=False)
    (line,) = _problems(toy_manifest)
    assert line.endswith("missing column 'labels'")


def test_empty_manifest(tmp_path):
    path = tmp_path / "manifest.csv"
    path.write_text("image_id,dataset,cell_line,pixel_size_um,labels,fluorescence\n")
    (line,) = _problems(path)
    assert line == f"{path}: empty manifest (header but no rows)"
    path.write_text("")
    (line,) = _problems(path)
    assert "empty manifest" in line


def test_duplicate_ids(toy_manifest):
    _edit(toy_manifest, image_id="toy_HeLa_00")
    (line,) = _problems(toy_manifest)
    assert "row 2, column image_id: duplicate id 'toy_HeLa_00'" in line


def test_bad_pixel_size(toy_manifest):
    _edit(toy_manifest, pixel_size_um=-1)
    (line,) = _problems(toy_manifest)
    assert "pixel_size_um: -1" in line and "not a positive number" in line


def test_cli_validate(toy_manifest, capsys):
    assert main(["validate", str(toy_manifest)]) == 0
    assert "valid; 12 images" in capsys.readouterr().out
    _edit(toy_manifest, labels="img/nope.tif")
    assert main(["validate", str(toy_manifest)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0] and "nope.tif: file not found" in err[0]


def test_cli_missing_manifest(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "none.csv")]) == 1
    assert capsys.readouterr().err.strip() == f"{tmp_path / 'none.csv'}: manifest not found"
