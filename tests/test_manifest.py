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
    assert manifest.summary().endswith("12 images (toy: 12 images, 2 cell lines); labels: 12 given")
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


@pytest.mark.parametrize("image_id, problem", [("../escape", "contains a path separator"),
                                               ("a/b", "contains a path separator"),
                                               ("..", "is not a file name")])
def test_image_ids_must_be_plain_names(toy_manifest, image_id, problem):
    """Regression: ids with / or .. passed, and study-mode predict then wrote outside --out."""
    _edit(toy_manifest, image_id=image_id)
    (line,) = _problems(toy_manifest, deep=False)
    assert f"row 2, column image_id: {image_id!r} {problem}; ids must be plain names" in line


def test_pixel_size_in_nm_is_an_error(toy_manifest):
    _edit(toy_manifest, pixel_size_um=325)
    (line,) = _problems(toy_manifest, deep=False)
    assert line.endswith("column pixel_size_um: 325 µm per pixel is implausible (more than 50); is it in nm? "
                         "(0.325 µm)")


def test_mixed_pixel_sizes_warn(toy_manifest, capsys):
    _edit(toy_manifest, pixel_size_um=0.325)
    manifest = load_manifest(toy_manifest)
    expected = (f"{manifest.path}: warning: data set toy mixes pixel sizes (0.325, 0.59 µm/px); its nuclei "
                "appear at different scales to the network")
    assert manifest.warnings == (expected,)
    assert main(["validate", str(toy_manifest)]) == 0
    assert capsys.readouterr().err.strip() == expected


def _rewrite(manifest, column, array):
    path = manifest.parent / pd.read_csv(manifest)[column][1]
    tifffile.imwrite(path, array, photometric="minisblack")


def test_planes_last_stack_is_refused_with_its_axes(toy_manifest):
    """Regression: a (48, 48, 3) stack was read as 48 planes of 48 x 3 px."""
    _rewrite(toy_manifest, "brightfield", np.zeros((48, 48, 3), np.uint16))
    (line,) = _problems(toy_manifest, deep=False)
    assert line.endswith("column brightfield: " + str(toy_manifest.parent / "img/toy_HeLa_01_brightfield.tif")
                         + ": shape (48, 48, 3) (axes QYX) holds its 3 planes last; store plane stacks planes "
                         "first, (n_planes, H, W)")


def test_tiny_images_are_refused(toy_manifest):
    """Regression: 2 x 2 px images became one nucleus covering the image."""
    for column in ("fluorescence", "labels", "labels_true", "artifacts"):
        _rewrite(toy_manifest, column, np.ones((2, 2), np.uint16))
    _rewrite(toy_manifest, "brightfield", np.ones((3, 2, 2), np.uint16))
    (line,) = _problems(toy_manifest, deep=False)
    assert line.endswith("column labels: " + str(toy_manifest.parent / "img/toy_HeLa_01_labels.tif")
                         + ": image of 2 x 2 px is too small (each side must be at least 16 px)")
