"""Shape rules: which axis holds the planes, the smallest image, how far a tile may exceed an image."""

from __future__ import annotations

import pytest

from nucflow.data.shapes import check_min_size, check_tile_fits, max_tile_size, min_side, plane_axis
from nucflow.errors import NucflowError


@pytest.mark.parametrize("shape, axes, n_planes, expected", [
    ((9, 128, 128), "QYX", 9, 0),
    ((128, 128, 9), "QYX", 9, 2),      # planes last, found by the plane count
    ((3, 80, 96), "QYX", 9, 0),        # too few planes: first axis, the caller reports the count
    ((3, 80, 96), "QYX", None, 0),
    ((128, 128, 9), "ZYX", 9, 0),      # named axes win over lengths
    ((4, 128, 128), "CYX", 9, 0),
])
def test_plane_axis(shape, axes, n_planes, expected):
    assert plane_axis(shape, axes, n_planes, "x.tif") == expected


def test_plane_axis_refuses_what_it_cannot_tell():
    with pytest.raises(NucflowError) as info:
        plane_axis((128, 128, 3), "QYX", 9, "x.tif")
    assert str(info.value) == ("x.tif: cannot tell which axis holds 9 planes: shape (128, 128, 3) (axes QYX, "
                               "planes unnamed); give a planes-first (planes, H, W) stack or an OME-TIFF with "
                               "named axes")
    with pytest.raises(NucflowError, match="cannot tell which axis holds the 9 planes: shape \\(9, 64, 9\\)"):
        plane_axis((9, 64, 9), "QYX", 9, "x.tif")


def test_min_size():
    assert min_side() == 16 and min_side(8) == 8 and min_side(64) == 16
    check_min_size((3, 16, 40), "x.tif")
    with pytest.raises(NucflowError) as info:
        check_min_size((2, 2), "x.tif", tile=64)
    assert str(info.value) == "x.tif: image of 2 x 2 px is too small to segment (each side must be at least 16 px)"


def test_tile_may_exceed_the_image_by_less_than_half_padding():
    assert max_tile_size(256, 256) == 362   # 256**2 / 362**2 = 0.5001
    assert max_tile_size(210, 576) == 420   # one side padded: 210 / 420 = 0.5
    check_tile_fits(288, 256, 256, "tiles.size 288")
    with pytest.raises(NucflowError) as info:
        check_tile_fits(2048, 256, 256, "tiles.size 2048")
    assert str(info.value) == ("tiles.size 2048: larger than the 256 x 256 px images (more than half of each tile "
                               "would be padding); use at most 362 px")
