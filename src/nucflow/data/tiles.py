"""Training tiles: normalised network inputs cut from whole fields, with their instance labels.

A tile set is one ``.npz`` (no pickles) holding

* ``images`` float32 (N, C, S, S), normalised;
* ``labels`` int32 (N, S, S), instance labels (0 = background), from which the training code
  derives binary, 3-class and border-weight targets;
* ``image_ids`` unicode (N,), the field each tile came from;
* ``meta`` 0-d unicode JSON: data set, modality, planes, size, overlap, normalisation, ids, and
  ``pixel_size_um`` of the fields (their median when they differ; ``pixel_sizes_um`` lists them),
  the scale the model learns, which ``nucflow predict`` rescales other images to.

Tiles lie on a regular grid that covers the whole field (the last tile is flush with the border,
so neighbours may overlap a little); fields smaller than a tile are reflect-padded.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nucflow.data.manifest import Manifest
from nucflow.data.normalise import as_float32, normalise
from nucflow.data.shapes import check_min_size, check_tile_fits
from nucflow.errors import NucflowError
from nucflow.io import ensure_dir, read_image

MODALITIES = ("fluorescence", "brightfield")


@dataclass(frozen=True)
class TileSet:
    images: np.ndarray
    labels: np.ndarray
    image_ids: np.ndarray
    meta: dict

    def __len__(self) -> int:
        return len(self.images)


def tile_starts(length: int, size: int, overlap: float = 0.0) -> list[int]:
    """Start offsets of tiles of ``size`` along an axis of ``length`` px, covering it completely.

    The step is ``size * (1 - overlap)`` at most; steps are spread evenly so the last tile ends at
    the border. ``length <= size`` gives one tile at 0 (the caller pads).

    >>> tile_starts(1080, 288)
    [0, 264, 528, 792]
    >>> tile_starts(256, 128, 0.5)
    [0, 64, 128]
    """
    if size < 1 or not 0 <= overlap < 1:
        raise NucflowError(f"tile size {size} must be >= 1 and overlap {overlap} within [0, 1)")
    if length <= size:
        return [0]
    max_step = max(1, int(size * (1 - overlap)))
    n = int(np.ceil((length - size) / max_step)) + 1
    return [int(round(i * (length - size) / (n - 1))) for i in range(n)]


def _pad_to(array: np.ndarray, size: int, mode: str) -> np.ndarray:
    h, w = array.shape[-2:]
    ph, pw = max(0, size - h), max(0, size - w)
    if not ph and not pw:
        return array
    pad = [(0, 0)] * (array.ndim - 2) + [(0, ph), (0, pw)]
    return np.pad(array, pad, mode=mode)


def load_input(manifest: Manifest, image_id: str, modality: str, planes: list[int] | None) -> np.ndarray:
    """The raw network input of one field as float32 (C, H, W): the fluorescence image, or the
    chosen brightfield planes in the given order (repeats allowed: one plane repeated 9 times is
    how the focal-plane arm feeds a single plane to a 9-channel model)."""
    if modality not in MODALITIES:
        raise NucflowError(f"unknown modality {modality!r}; choose from {', '.join(MODALITIES)}")
    path = manifest.file(image_id, modality)
    if path is None:
        raise NucflowError(f"{manifest.path}: image {image_id} has no {modality} image")
    image = as_float32(read_image(path))
    if modality == "fluorescence":
        return image[None] if image.ndim == 2 else image
    stack = image[None] if image.ndim == 2 else image
    if planes is None:
        return stack
    bad = [p for p in planes if not 0 <= p < len(stack)]
    if bad:
        raise NucflowError(f"{path}: has {len(stack)} planes; plane {bad[0]} does not exist")
    return stack[list(planes)]


def field_tiles(image: np.ndarray, labels: np.ndarray, size: int, overlap: float = 0.0):
    """Cut one normalised field (C, H, W) and its labels (H, W) into tiles (n, C, S, S), (n, S, S)."""
    image = _pad_to(image, size, "reflect")
    labels = _pad_to(labels, size, "constant")
    h, w = labels.shape
    ys, xs = tile_starts(h, size, overlap), tile_starts(w, size, overlap)
    images = np.stack([image[:, y:y + size, x:x + size] for y in ys for x in xs])
    label_tiles = np.stack([labels[y:y + size, x:x + size] for y in ys for x in xs])
    return images, label_tiles


def make_tiles(manifest: Manifest, ids: list[str], modality: str, planes: list[int] | None, *,
               size: int, overlap: float = 0.0, normalisation: str = "percentile",
               percentiles: tuple[float, float] = (1.0, 99.8), dataset: str = "") -> TileSet:
    """Normalise each field whole (so tiles share one scale), then tile it.

    Refuses a field under ``min(16, size)`` px a side and a tile ``size`` that would be more than
    half padding on a field (:mod:`nucflow.data.shapes`), naming the image and its size.
    """
    if not ids:
        raise NucflowError("no images selected for tiling")
    all_images, all_labels, all_ids = [], [], []
    for image_id in ids:
        raw = load_input(manifest, image_id, modality, planes)
        labels = read_image(manifest.file(image_id, "labels")).astype(np.int32)
        if raw.shape[1:] != labels.shape:
            raise NucflowError(f"{manifest.path}: image {image_id}: input {raw.shape[1:]} and labels {labels.shape} differ in shape")
        where = f"{manifest.path}: image {image_id}"
        check_min_size(labels.shape, where, size)
        check_tile_fits(size, *labels.shape, f"{where}: tile size {size}", "image")
        image = normalise(raw, normalisation, foreground=labels > 0, percentiles=percentiles)
        tiles, label_tiles = field_tiles(image, labels, size, overlap)
        all_images.append(tiles)
        all_labels.append(label_tiles)
        all_ids += [image_id] * len(tiles)
    pixel_sizes = [float(manifest.row(i)["pixel_size_um"]) for i in ids]
    meta = {"dataset": dataset, "modality": modality, "planes": planes, "size": size, "overlap": overlap,
            "normalisation": normalisation, "percentiles": list(percentiles), "ids": list(ids),
            "pixel_size_um": float(np.median(pixel_sizes)), "pixel_sizes_um": sorted(set(pixel_sizes))}
    return TileSet(np.concatenate(all_images).astype(np.float32), np.concatenate(all_labels).astype(np.int32),
                   np.asarray(all_ids, dtype=str), meta)


def save_tiles(path: str | os.PathLike, tiles: TileSet) -> Path:
    """Write a tile set atomically (``np.savez``, deterministic bytes)."""
    path = Path(path)
    if path.is_dir():
        raise NucflowError(f"--out {path}: is a folder; give the tile set's file name (.npz)")
    ensure_dir(path.parent, "the folder of --out")
    tmp = path.with_name(f".{path.name}.part")
    with open(tmp, "wb") as handle:
        np.savez(handle, images=tiles.images, labels=tiles.labels, image_ids=tiles.image_ids,
                 meta=np.asarray(json.dumps(tiles.meta, sort_keys=True)))
    os.replace(tmp, path)
    return path


def load_tiles(path: str | os.PathLike) -> TileSet:
    """Read a tile set; a missing, truncated or foreign file is one NucflowError naming it."""
    path = Path(path)
    if not path.is_file():
        raise NucflowError(f"{path}: tile set not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            return TileSet(data["images"], data["labels"], data["image_ids"], json.loads(str(data["meta"])))
    except Exception as exc:  # zipfile, zlib, numpy and json each raise their own types for a damaged file
        reason = " ".join(str(exc).split())[:200]
        raise NucflowError(f"{path}: not a readable nucflow tile set, the file is damaged or truncated "
                           f"({type(exc).__name__}: {reason}); delete it so the tiles step writes it again") from None


def read_tile_meta(path: str | os.PathLike) -> dict:
    """The input spec of a tile set, from its meta alone (the arrays are not read): tile size,
    normalisation, percentiles and pixel size (µm, None when the tile set does not record it)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
        return {"tile": int(meta["size"]), "normalisation": meta["normalisation"],
                "percentiles": tuple(meta.get("percentiles", (1.0, 99.8))),
                "pixel_size_um": meta.get("pixel_size_um")}
    except Exception as exc:  # a truncated or foreign file fails in zipfile, zlib, json or here
        raise NucflowError(f"{path}: cannot read the training tile metadata, the file is damaged or not a "
                           f"nucflow tile set ({type(exc).__name__})") from None
