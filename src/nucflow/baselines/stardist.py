"""StarDist as a baseline: trained from scratch on a study's own images, then applied to any
manifest's images, writing instance labels that ``nucflow evaluate`` scores like every other
prediction.

StarDist (star-convex polygons, Schmidt et al. 2018) is what users compare a nucleus segmenter
with, and the CLL study compares its networks with it. It runs on TensorFlow, which nucflow
otherwise does not need, so it is an optional extra (``pip install 'nucflow[baselines]'``); every
function here imports it on call and refuses with one line when it is missing. This module
imports no torch, so it runs in an environment that has only TensorFlow.

Training follows StarDist's own example for 2-D nuclei (32 rays, grid 2, random flips and quarter
turns) on the same data and percentile normalisation as the study's networks, either

* :func:`train_from_tiles`: the very tile sets a model comparison condition trains and validates
  on (the workflow's ``baselines`` arm; any modality: the tiles' channels, e.g. brightfield
  planes, are StarDist's input channels, and the patch is the tile), or
* :func:`train_from_manifest`: the whole fluorescence fields of a data set's train / val split.

Its probability and overlap thresholds are optimised on the validation images afterwards, as
StarDist recommends. The model folder holds StarDist's files plus ``baseline.json``: the data it
learnt from, its modality and planes, normalisation, pixel size and settings, so that
:func:`predict` feeds other images the same way and can bring them to that pixel size.

Hand-written because no library ties StarDist to a nucflow manifest; the network, the training
loop and the polygon post-processing are StarDist's.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import numpy as np

from nucflow.data.manifest import Manifest, scale_factor
from nucflow.data.normalise import percentile_normalise
from nucflow.errors import NucflowError
from nucflow.io import read_image, write_json, write_tiff

EXTRA_MISSING = ("the StarDist baseline needs TensorFlow and StarDist, which nucflow leaves out by default: "
                 "pip install 'nucflow[baselines]' (or use envs/baselines.yaml)")
PERCENTILES = (1.0, 99.8)


def _stardist():
    try:
        import tensorflow  # noqa: F401
        import stardist.models  # noqa: F401
    except (ImportError, RuntimeError):  # stardist without TensorFlow raises RuntimeError
        raise NucflowError(EXTRA_MISSING) from None
    return stardist.models


def available() -> bool:
    """Whether the optional extra is installed (tests skip without it)."""
    try:
        _stardist()
    except NucflowError:
        return False
    return True


def normalise(image: np.ndarray, percentiles=PERCENTILES) -> np.ndarray:
    """The study's percentile normalisation of one (C, H, W) or (H, W) image, float32, same shape."""
    return percentile_normalise(image[None] if image.ndim == 2 else image, *percentiles).reshape(image.shape)


def _channels_last(image: np.ndarray) -> np.ndarray:
    """(C, H, W) -> StarDist's (H, W) for one channel, (H, W, C) for several."""
    return image[0] if len(image) == 1 else np.ascontiguousarray(np.moveaxis(image, 0, -1))


def _input(manifest: Manifest, image_id: str, modality: str, planes) -> np.ndarray:
    """The raw (C, H, W) input of one field, as the study's tiles are cut from."""
    from nucflow.data.tiles import load_input

    image = load_input(manifest, image_id, modality, list(planes) if planes else None)
    if modality == "fluorescence" and len(image) != 1:
        raise NucflowError(f"{manifest.file(image_id, modality)}: expected one fluorescence plane, got shape "
                           f"{image.shape}")
    return image


def _labels(manifest: Manifest, image_id: str) -> np.ndarray:
    path = manifest.file(image_id, "labels")
    if path is None:
        raise NucflowError(f"{manifest.path}: image {image_id} has no labels")
    return np.squeeze(read_image(path)).astype(np.int32)


def _augment(image: np.ndarray, labels: np.ndarray):
    """A random flip and quarter turn of one training patch (StarDist's example augmenter)."""
    turns = np.random.randint(4)
    image, labels = np.rot90(image, turns, axes=(0, 1)), np.rot90(labels, turns)
    if np.random.rand() < 0.5:
        image, labels = image[:, ::-1], labels[:, ::-1]
    return np.ascontiguousarray(image), np.ascontiguousarray(labels)


def train(x_train: list, y_train: list, x_val: list, y_val: list, out: Path, *, epochs: int = 40,
          steps_per_epoch: int = 100, batch_size: int = 4, patch: int = 128, seed: int = 0,
          percentiles=PERCENTILES, record: dict | None = None) -> dict:
    """Train StarDist2D from scratch into ``out`` on (H, W[, C]) images normalised with
    ``percentiles`` and their instance labels; write and return ``baseline.json`` (``record`` adds
    what the data was)."""
    models = _stardist()
    import tensorflow as tf
    from stardist import fill_label_holes

    if not x_train or not x_val:
        raise NucflowError(f"{out}: the StarDist baseline needs training and validation images "
                           f"(got {len(x_train)} and {len(x_val)})")
    random.seed(seed)
    np.random.seed(seed)
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    # StarDist learns star-convex objects; a label with a hole has no well-defined distances
    y_train = [fill_label_holes(y.astype(np.int32)) for y in y_train]
    y_val = [fill_label_holes(y.astype(np.int32)) for y in y_val]
    smallest = min(min(x.shape[:2]) for x in x_train + x_val)
    if smallest < patch:
        raise NucflowError(f"{out}: an image is {smallest} px on a side, smaller than the {patch}-px training patch")
    n_channel = 1 if x_train[0].ndim == 2 else x_train[0].shape[-1]
    config = models.Config2D(n_rays=32, grid=(2, 2), n_channel_in=n_channel, train_patch_size=(patch, patch),
                             train_batch_size=batch_size, train_epochs=epochs,
                             train_steps_per_epoch=steps_per_epoch)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = models.StarDist2D(config, name="stardist", basedir=str(out))
    start = time.perf_counter()
    model.train(x_train, y_train, validation_data=(x_val, y_val), augmenter=_augment, epochs=epochs,
                steps_per_epoch=steps_per_epoch)
    seconds = time.perf_counter() - start
    thresholds = model.optimize_thresholds(x_val, y_val)
    written = {"method": "stardist", "modality": "fluorescence", "planes": None, "pixel_size_um": None,
               **(record or {}), "train_images": len(x_train), "val_images": len(x_val), "epochs": epochs,
               "steps_per_epoch": steps_per_epoch, "batch_size": batch_size, "patch": patch, "seed": seed,
               "n_rays": 32, "grid": [2, 2], "n_channel_in": int(n_channel),
               "normalisation": {"percentiles": list(percentiles)},
               "thresholds": {k: float(v) for k, v in thresholds.items()}, "train_seconds": round(seconds, 1)}
    write_json(out / "baseline.json", written)
    return written


def train_from_manifest(manifest: Manifest, train_ids: list[str], val_ids: list[str], out: Path, *,
                        data_label: str = "", **settings) -> dict:
    """:func:`train` on whole fluorescence fields of ``manifest`` (``settings``: its keywords)."""
    _stardist()
    x_train = [normalise(_input(manifest, i, "fluorescence", None))[0] for i in train_ids]
    x_val = [normalise(_input(manifest, i, "fluorescence", None))[0] for i in val_ids]
    y_train, y_val = [_labels(manifest, i) for i in train_ids], [_labels(manifest, i) for i in val_ids]
    sizes = [s for s in (manifest.pixel_size(i) for i in train_ids) if s is not None]
    record = {"data": data_label or str(manifest.path), "pixel_size_um": float(np.median(sizes)) if sizes else None}
    return train(x_train, y_train, x_val, y_val, out, record=record, **settings)


def train_from_tiles(train_path: Path, val_path: Path, out: Path, **settings) -> dict:
    """:func:`train` on two tile sets of ``nucflow tiles`` (already normalised), patch = tile side.

    The tiles' modality, planes, normalisation and pixel size go into ``baseline.json``. Tiles
    normalised with ``foreground`` are refused: that normalisation needs the labels of the image
    being predicted.
    """
    from nucflow.data.tiles import load_tiles

    _stardist()
    train_set, val_set = load_tiles(train_path), load_tiles(val_path)
    meta = train_set.meta
    if meta.get("normalisation", "percentile") != "percentile":
        raise NucflowError(f"{train_path}: tiles with {meta['normalisation']!r} normalisation; the StarDist baseline "
                           "predicts whole images and needs percentile normalisation")
    for other, name in ((val_set.meta, val_path),):
        if (other.get("modality"), other.get("planes")) != (meta.get("modality"), meta.get("planes")):
            raise NucflowError(f"{name}: its modality / planes differ from {train_path}")
    record = {"data": f"{train_path} / {val_path}", "modality": meta["modality"], "planes": meta.get("planes"),
              "pixel_size_um": meta.get("pixel_size_um"),
              "train_fields": len(meta.get("ids", [])), "val_fields": len(val_set.meta.get("ids", []))}
    x_train = [_channels_last(t) for t in train_set.images]
    x_val = [_channels_last(t) for t in val_set.images]
    settings.setdefault("patch", int(train_set.images.shape[-1]))
    return train(x_train, list(train_set.labels), x_val, list(val_set.labels), out, record=record,
                 percentiles=tuple(meta.get("percentiles", PERCENTILES)), **settings)


def model_record(model_dir: Path) -> dict:
    """``baseline.json`` of a model folder (a one-line error when it is not one)."""
    record_path = Path(model_dir) / "baseline.json"
    if not record_path.is_file():
        raise NucflowError(f"{model_dir}: no baseline.json (not a model folder of nucflow baseline train)")
    return json.loads(record_path.read_text())


def _resize(image: np.ndarray, shape: tuple[int, int], order: int) -> np.ndarray:
    from skimage.transform import resize

    return resize(image, shape, order=order, preserve_range=True, anti_aliasing=order > 0 and image.shape[0] > shape[0])


def predict(model_dir: Path, manifest: Manifest, ids: list[str], out: Path, *, rescale: bool = False) -> dict:
    """Write ``<image_id>_labels.tif`` for every image of ``ids`` into ``out`` (and ``ids.txt``).

    ``rescale`` first brings each image to the training pixel size (``baseline.json``), as
    ``nucflow predict --rescale`` does for the study's networks; the labels are resized back
    (nearest neighbour) to the image. Each image is fed as the model learnt: its modality and
    planes and percentiles from ``baseline.json`` (fluorescence for a model that records none).
    """
    models = _stardist()
    model_dir = Path(model_dir)
    record = model_record(model_dir)
    model = models.StarDist2D(None, name="stardist", basedir=str(model_dir))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    modality, planes = record.get("modality", "fluorescence"), record.get("planes")
    percentiles = tuple(record.get("normalisation", {}).get("percentiles", PERCENTILES))
    for image_id in ids:
        image = _input(manifest, image_id, modality, planes)
        factor = scale_factor(manifest.pixel_size(image_id), record.get("pixel_size_um")) if rescale else 1.0
        shape = image.shape[1:]
        if factor != 1.0:
            size = tuple(max(1, round(d * factor)) for d in shape)
            image = np.stack([_resize(channel, size, order=1) for channel in image])
        labels, _ = model.predict_instances(_channels_last(normalise(image, percentiles)))
        if factor != 1.0:
            labels = _resize(labels, shape, order=0)
        labels = np.asarray(labels)
        dtype = np.uint16 if int(labels.max(initial=0)) <= np.iinfo(np.uint16).max else np.uint32
        write_tiff(out / f"{image_id}_labels.tif", labels.astype(dtype))
    (out / "ids.txt").write_text("".join(f"{i}\n" for i in ids))
    return {"images": len(ids), "rescale": rescale, "seconds": round(time.perf_counter() - start, 1)}
