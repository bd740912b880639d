"""Tile data module: the bounded validation subset."""

from __future__ import annotations

import numpy as np
import pytest

from nucflow.data.datamodule import TileArrays
from nucflow.errors import NucflowError
from nucflow.training.config import RunConfig


def _arrays(n):
    images = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1) * np.ones((1, 1, 4, 4), np.float32)
    return TileArrays(images, np.zeros((n, 1, 4, 4), np.float32), np.zeros((n, 4, 4), bool), None,
                      np.array([f"img{i}" for i in range(n)]))


def test_spread_keeps_evenly_spaced_tiles_including_both_ends():
    kept = _arrays(10).spread(4)
    assert kept.image_ids.tolist() == ["img0", "img3", "img6", "img9"]
    assert kept.images[:, 0, 0, 0].tolist() == [0, 3, 6, 9] and kept.weight is None
    assert _arrays(3).spread(4).image_ids.tolist() == ["img0", "img1", "img2"]
    assert len(_arrays(5).spread(None)) == 5


def test_val_max_tiles_is_checked():
    base = dict(run_id="r", model="unet", in_channels=1, modality="fluorescence", train_tiles=["t.npz"],
                val_tiles=["v.npz"], batch_size=2, out_dir="o")
    assert RunConfig.from_dict({**base, "val_max_tiles": 8}).val_max_tiles == 8
    with pytest.raises(NucflowError, match="val_max_tiles"):
        RunConfig.from_dict({**base, "val_max_tiles": 0})


def test_damaged_tile_set_stops_training_with_one_line(tmp_path):
    """Regression: a truncated tiles .npz gave a long zipfile traceback when training loaded it."""
    from nucflow.data.datamodule import load_tile_arrays
    from nucflow.data.tiles import TileSet, save_tiles

    path = tmp_path / "train.npz"
    save_tiles(path, TileSet(np.zeros((4, 1, 16, 16), np.float32), np.zeros((4, 16, 16), np.int32),
                             np.array(["a"] * 4), {"size": 16}))
    path.write_bytes(path.read_bytes()[:-200])  # the zip's central directory is gone
    with pytest.raises(NucflowError) as info:
        load_tile_arrays([str(path)], 1, "binary", with_weights=False)
    message = str(info.value)
    assert message.startswith(f"{path}: not a readable nucflow tile set, the file is damaged or truncated (BadZipFile")
    assert "\n" not in message
