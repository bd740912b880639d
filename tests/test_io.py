"""nucflow.io: compressed TIFFs as microscope software writes them read back exactly."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from nucflow.io import read_image


@pytest.mark.parametrize("compression", ["lzw", "zstd"])
def test_compressed_tiff_reads_through_read_image(tmp_path, compression):
    """Regression: LZW TIFFs (what many microscope exports write) were refused for want of imagecodecs."""
    image = (np.arange(64 * 48, dtype=np.uint32).reshape(64, 48) * 7 % 65521).astype(np.uint16)
    path = tmp_path / "x.tif"
    tifffile.imwrite(path, image, compression=compression)
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].compression.name == compression.upper()
    np.testing.assert_array_equal(read_image(path), image)


def test_jpeg_tiff_reads_through_read_image(tmp_path):
    image = np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))
    path = tmp_path / "x.tif"
    tifffile.imwrite(path, image, compression="jpeg", compressionargs={"level": 95})
    read = read_image(path)
    assert read.shape == (48, 64) and read.dtype == np.uint8
    assert np.abs(read.astype(int) - image).max() <= 8  # lossy, but the same picture


def test_writers_refuse_a_file_in_the_way_with_one_line(tmp_path):
    """Regression: an --out that is an existing file (or a folder where a file goes) gave a traceback."""
    from nucflow.errors import NucflowError
    from nucflow.io import ensure_dir, write_json, write_tiff

    blocker = tmp_path / "taken"
    blocker.write_text("a file")
    with pytest.raises(NucflowError) as info:
        write_tiff(blocker / "x.tif", np.zeros((4, 4), np.uint8))
    assert str(info.value) == f"cannot write x.tif: {tmp_path / 'taken'}: exists and is not a folder"
    with pytest.raises(NucflowError) as info:
        ensure_dir(blocker / "sub" / "deeper")
    assert str(info.value) == f"--out {blocker / 'sub' / 'deeper'}: {blocker} is a file, not a folder"
    (tmp_path / "folder").mkdir()
    with pytest.raises(NucflowError) as info:
        write_json(tmp_path / "folder", {})
    assert str(info.value) == f"{tmp_path / 'folder'}: is a folder; cannot write a file in its place"
    assert ensure_dir(tmp_path / "new" / "one").is_dir()


def test_file_sha256_is_the_standard_digest(tmp_path):
    from nucflow.io import file_sha256

    (tmp_path / "abc").write_bytes(b"abc")
    assert file_sha256(tmp_path / "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
