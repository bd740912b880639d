"""Reading fields for prediction: plane axis from metadata or plane count, pixel size from metadata."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from nucflow.errors import NucflowError
from nucflow.inference.images import read_field, read_pixel_size_um


def stack(n_planes: int = 9, shape=(40, 48)) -> np.ndarray:
    """(n_planes, H, W) uint16 whose plane p holds the value 10 * p + pixel row."""
    rows = np.arange(shape[0], dtype=np.uint16)[:, None] + np.zeros(shape, np.uint16)
    return np.stack([rows + 10 * p for p in range(n_planes)])


def test_planes_last_stack_is_found_by_the_plane_count(tmp_path):
    """Regression: a (H, W, 9) stack was read as H planes of W x 9 px and segmented."""
    planes_first = stack()
    tifffile.imwrite(tmp_path / "last.tif", np.moveaxis(planes_first, 0, -1), photometric="minisblack")
    np.testing.assert_array_equal(read_field(tmp_path / "last.tif", n_planes=9), planes_first)
    tifffile.imwrite(tmp_path / "first.tif", planes_first, photometric="minisblack")
    np.testing.assert_array_equal(read_field(tmp_path / "first.tif", n_planes=9), planes_first)
    with pytest.raises(NucflowError) as info:
        read_field(tmp_path / "last.tif", n_planes=3)
    assert str(info.value) == (f"{tmp_path / 'last.tif'}: cannot tell which axis holds 3 planes: shape (40, 48, 9) "
                               "(axes QYX, planes unnamed); give a planes-first (planes, H, W) stack or an OME-TIFF "
                               "with named axes")


def test_named_axes_decide(tmp_path):
    planes = stack(40, (40, 48))  # 40 planes of 40 x 48: the lengths alone cannot tell
    tifffile.imwrite(tmp_path / "z.ome.tif", planes, ome=True, metadata={"axes": "ZYX"})
    np.testing.assert_array_equal(read_field(tmp_path / "z.ome.tif", n_planes=40), planes)


def test_pixel_size_from_ome_and_imagej(tmp_path):
    image = stack(1)[0]
    tifffile.imwrite(tmp_path / "um.ome.tif", image, ome=True, metadata={"axes": "YX", "PhysicalSizeX": 0.65})
    tifffile.imwrite(tmp_path / "nm.ome.tif", image, ome=True,
                     metadata={"axes": "YX", "PhysicalSizeX": 325.0, "PhysicalSizeXUnit": "nm"})
    tifffile.imwrite(tmp_path / "ij.tif", image, imagej=True, resolution=(1 / 0.5, 1 / 0.5),
                     metadata={"unit": "micron"})
    tifffile.imwrite(tmp_path / "plain.tif", image)
    assert read_pixel_size_um(tmp_path / "um.ome.tif") == pytest.approx(0.65)
    assert read_pixel_size_um(tmp_path / "nm.ome.tif") == pytest.approx(0.325)
    assert read_pixel_size_um(tmp_path / "ij.tif") == pytest.approx(0.5)
    assert read_pixel_size_um(tmp_path / "plain.tif") is None
