"""Tiles, augmentation and normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from nucflow.cli import main
from nucflow.data.augment import augment
from nucflow.data.manifest import load_manifest
from nucflow.data.normalise import foreground_normalise, normalise, percentile_normalise
from nucflow.data.tiles import TileSet, field_tiles, load_tiles, make_tiles, save_tiles, tile_starts
from nucflow.errors import NucflowError


def test_tile_starts_cover_exactly():
    assert tile_starts(1080, 288) == [0, 264, 528, 792]
    assert tile_starts(288, 288) == [0]
    assert tile_starts(100, 288) == [0]
    assert tile_starts(256, 128, 0.5) == [0, 64, 128]
    for length, size in ((1080, 288), (2156, 288), (97, 32)):
        starts = tile_starts(length, size)
        assert starts[0] == 0 and starts[-1] + size == length
        assert all(b - a <= size for a, b in zip(starts, starts[1:]))


def test_field_tiles_pad_small_fields():
    image = np.arange(2 * 20 * 30, dtype=np.float32).reshape(2, 20, 30)
    labels = np.ones((20, 30), np.int32)
    tiles, label_tiles = field_tiles(image, labels, 32)
    assert tiles.shape == (1, 2, 32, 32) and label_tiles.shape == (1, 32, 32)
    assert label_tiles[0, 20:].sum() == 0 and label_tiles[0, :20, :30].all()
    np.testing.assert_array_equal(tiles[0, :, :20, :30], image)


def test_percentile_normalise_maps_percentiles():
    image = np.stack([np.linspace(0, 100, 101 * 101).reshape(101, 101)] * 2).astype(np.float32)
    out = percentile_normalise(image, 0, 100)
    assert out.dtype == np.float32 and out.min() == pytest.approx(0) and out.max() == pytest.approx(1)


def test_foreground_normalise_uses_foreground_stats():
    rng = np.random.default_rng(0)
    image = rng.normal(size=(1, 64, 64)).astype(np.float32)
    foreground = np.zeros((64, 64), bool)
    foreground[10:30, 10:30] = True
    image[0, foreground] += 5
    out = foreground_normalise(image, foreground)
    assert out[0, foreground].mean() == pytest.approx(0, abs=1e-5)
    assert out[0, foreground].std() == pytest.approx(1, abs=1e-4)
    with pytest.raises(NucflowError, match="needs a foreground mask"):
        normalise(image, "foreground")
    with pytest.raises(NucflowError, match="unknown normalisation 'zscore'"):
        normalise(image, "zscore")


def test_make_tiles_brightfield_planes_and_repeats(toy_manifest):
    manifest = load_manifest(toy_manifest)
    ids = manifest.ids[:2]
    tiles = make_tiles(manifest, ids, "brightfield", [2, 0], size=32)
    assert tiles.images.shape == (2 * 4, 2, 32, 32) and tiles.labels.shape == (8, 32, 32)
    assert list(tiles.image_ids[:4]) == [ids[0]] * 4
    repeated = make_tiles(manifest, ids, "brightfield", [1] * 9, size=32)
    assert repeated.images.shape[1] == 9
    np.testing.assert_array_equal(repeated.images[:, 0], repeated.images[:, 8])
    with pytest.raises(NucflowError, match="has 3 planes; plane 5 does not exist"):
        make_tiles(manifest, ids, "brightfield", [5], size=32)


def test_augment_five_copies():
    images = np.arange(2 * 1 * 4 * 4, dtype=np.float32).reshape(2, 1, 4, 4)
    labels = np.arange(2 * 4 * 4, dtype=np.int32).reshape(2, 4, 4)
    out = augment(TileSet(images, labels, np.array(["a", "b"]), {}))
    assert out.images.shape == (12, 1, 4, 4) and list(out.image_ids) == ["a", "b"] * 6
    np.testing.assert_array_equal(out.images[:2], images)
    np.testing.assert_array_equal(out.labels[2], labels[0][:, ::-1])       # horizontal flip
    np.testing.assert_array_equal(out.labels[4], labels[0][::-1, :])       # vertical flip
    np.testing.assert_array_equal(out.labels[6], np.rot90(labels[0], 1))   # 90°
    np.testing.assert_array_equal(out.labels[10], np.rot90(labels[0], 3))  # 270°
    for k in range(12):  # image and labels transformed identically
        np.testing.assert_array_equal(out.images[k, 0], out.labels[k].astype(np.float32))


def test_cli_tiles_and_augment(toy_manifest, tmp_path):
    splits = tmp_path / "splits.json"
    assert main(["split", "--manifest", str(toy_manifest), "--out", str(splits)]) == 0
    out = tmp_path / "t.npz"
    assert main(["tiles", "--manifest", str(toy_manifest), "--splits", str(splits), "--dataset", "toy",
                 "--modality", "brightfield", "--planes", "0,2", "--n", "2", "--lines", "A549",
                 "--size", "32", "--out", str(out)]) == 0
    tiles = load_tiles(out)
    assert tiles.images.shape == (8, 2, 32, 32) and tiles.meta["planes"] == [0, 2]
    assert all(i.startswith("toy_A549") for i in tiles.image_ids)
    first = out.read_bytes()
    assert main(["tiles", "--manifest", str(toy_manifest), "--splits", str(splits), "--dataset", "toy",
                 "--modality", "brightfield", "--planes", "0,2", "--n", "2", "--lines", "A549",
                 "--size", "32", "--out", str(out)]) == 0
    assert out.read_bytes() == first
    aug = tmp_path / "t.aug.npz"
    assert main(["augment", "--in", str(out), "--out", str(aug)]) == 0
    assert len(load_tiles(aug)) == 48


def test_tile_meta_records_the_pixel_size(toy_manifest):
    tiles = make_tiles(load_manifest(toy_manifest), ["toy_HeLa_00", "toy_A549_00"], "fluorescence", None, size=32)
    assert tiles.meta["pixel_size_um"] == 0.59 and tiles.meta["pixel_sizes_um"] == [0.59]


def test_tile_larger_than_the_images_is_refused(toy_manifest):
    """Regression: tiles.size larger than the images was accepted (537 MB of padding for 4 images)."""
    manifest = load_manifest(toy_manifest)
    with pytest.raises(NucflowError) as info:
        make_tiles(manifest, ["toy_HeLa_00"], "fluorescence", None, size=512)
    assert str(info.value) == (f"{manifest.path}: image toy_HeLa_00: tile size 512: larger than the 48 x 48 px "
                               "image (more than half of each tile would be padding); use at most 67 px")
    assert make_tiles(manifest, ["toy_HeLa_00"], "fluorescence", None, size=64).images.shape == (1, 1, 64, 64)


def test_corrupt_tile_set_is_one_line(tmp_path, capsys):
    """Regression: a truncated .npz gave a long traceback (zipfile.BadZipFile)."""
    path = tmp_path / "t.npz"
    save_tiles(path, TileSet(np.zeros((2, 1, 8, 8), np.float32), np.zeros((2, 8, 8), np.int32),
                             np.array(["a", "b"]), {"size": 8}))
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(NucflowError) as info:
        load_tiles(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not a readable nucflow tile set, the file is damaged or truncated (")
    assert message.endswith("delete it so the tiles step writes it again") and "\n" not in message
    assert main(["augment", "--in", str(path), "--out", str(tmp_path / "a.npz")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    (tmp_path / "file").write_text("")
    with pytest.raises(NucflowError, match="the folder of --out .*file: exists and is not a folder"):
        save_tiles(tmp_path / "file" / "t.npz", load_tiles_or_empty())


def load_tiles_or_empty() -> TileSet:
    return TileSet(np.zeros((1, 1, 8, 8), np.float32), np.zeros((1, 8, 8), np.int32), np.array(["a"]), {})
