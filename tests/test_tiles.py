"""Tiles, augmentation and normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from nucflow.cli import main
from nucflow.data.augment import augment
from nucflow.data.manifest import load_manifest
from nucflow.data.normalise import foreground_normalise, normalise, percentile_normalise
from nucflow.data.tiles import TileSet, field_tiles, load_tiles, make_tiles, tile_starts
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
