"""StarDist as a baseline: trained from scratch on a study's own fluorescence images, then applied
to any manifest's images, writing instance labels that ``nucflow evaluate`` scores like every
other prediction.

StarDist (star-convex polygons, Schmidt et al. 2018) is what users compare a nucleus segmenter
with, and the CLL study compares its networks with it. It runs on TensorFlow, which nucflow
otherwise does not need, so it is an optional extra (``pip install 'nucflow[baselines]'``); every
function here imports it on call and refuses with one line when it is missing. This module
imports no torch, so it runs in an environment that has only TensorFlow.

Training follows StarDist's own example for 2-D nuclei (32 rays, grid 2, 128-px patches, random
flips and quarter turns) on the same images and percentile normalisation as the study's
networks: the training and validation split of one data set. Its probability and overlap
thresholds are optimised on the validation images afterwards, as StarDist recommends. The model
folder holds StarDist's files plus ``baseline.json``: the data it learnt from, its pixel size and
the settings, so that :func:`predict` can bring other images to that pixel size.

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


def normalise(image: np.ndarray) -> np.ndarray:
    """The study's percentile normalisation of one (H, W) image, float32."""
    return percentile_normalise(image[None], *PERCENTILES)[0]


def _fluorescence(manifest: Manifest, image_id: str) -> np.ndarray:
    path = manifest.file(image_id, "fluorescence")
    if path is None:
        raise NucflowError(f"{manifest.path}: image {image_id} has no fluorescence image")
    image = np.squeeze(read_image(path))
    if image.ndim != 2:
        raise NucflowError(f"{path}: expected one fluorescence plane, got shape {image.shape}")
    return image


def _labels(manifest: Manifest, image_id: str) -> np.ndarray:
    from stardist import fill_label_holes

    path = manifest.file(image_id, "labels")
    if path is None:
        raise NucflowError(f"{manifest.path}: image {image_id} has no labels")
    # StarDist learns star-convex objects; a label with a hole has no well-defined distances
    return fill_label_holes(np.squeeze(read_image(path)).astype(np.int32))


def _augment(image: np.ndarray, labels: np.ndarray):
    """A random flip and quarter turn of one training patch (StarDist's example augmenter)."""
    turns = np.random.randint(4)
    image, labels = np.rot90(image, turns), np.rot90(labels, turns)
    if np.random.rand() < 0.5:
        image, labels = image[:, ::-1], labels[:, ::-1]
    return np.ascontiguousarray(image), np.ascontiguousarray(labels)


def train(manifest: Manifest, train_ids: list[str], val_ids: list[str], out: Path, *, epochs: int = 40,
          steps_per_epoch: int = 100, batch_size: int = 4, patch: int = 128, seed: int = 0,
          data_label: str = "") -> dict:
    """Train StarDist2D from scratch into ``out`` and return what ``baseline.json`` records."""
    models = _stardist()
    import tensorflow as tf

    if not train_ids or not val_ids:
        raise NucflowError(f"{manifest.path}: the StarDist baseline needs training and validation images "
                           f"(got {len(train_ids)} and {len(val_ids)})")
    random.seed(seed)
    np.random.seed(seed)
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    x_train = [normalise(_fluorescence(manifest, i)) for i in train_ids]
    y_train = [_labels(manifest, i) for i in train_ids]
    x_val = [normalise(_fluorescence(manifest, i)) for i in val_ids]
    y_val = [_labels(manifest, i) for i in val_ids]
    smallest = min(min(x.shape) for x in x_train + x_val)
    if smallest < patch:
        raise NucflowError(f"{manifest.path}: an image is {smallest} px on a side, smaller than the "
                           f"{patch}-px training patch")
    config = models.Config2D(n_rays=32, grid=(2, 2), n_channel_in=1, train_patch_size=(patch, patch),
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
    sizes = [s for s in (manifest.pixel_size(i) for i in train_ids) if s is not None]
    record = {"method": "stardist", "data": data_label or str(manifest.path), "train_images": len(train_ids),
              "val_images": len(val_ids), "pixel_size_um": float(np.median(sizes)) if sizes else None,
              "epochs": epochs, "steps_per_epoch": steps_per_epoch, "batch_size": batch_size, "patch": patch,
              "seed": seed, "n_rays": 32, "grid": [2, 2], "normalisation": {"percentiles": list(PERCENTILES)},
              "thresholds": {k: float(v) for k, v in thresholds.items()}, "train_seconds": round(seconds, 1)}
    write_json(out / "baseline.json", record)
    return record


def _resize(image: np.ndarray, shape: tuple[int, int], order: int) -> np.ndarray:
    from skimage.transform import resize

    return resize(image, shape, order=order, preserve_range=True, anti_aliasing=order > 0 and image.shape[0] > shape[0])


def predict(model_dir: Path, manifest: Manifest, ids: list[str], out: Path, *, rescale: bool = False) -> dict:
    """Write ``<image_id>_labels.tif`` for every image of ``ids`` into ``out`` (and ``ids.txt``).

    ``rescale`` first brings each image to the training pixel size (``baseline.json``), as
    ``nucflow predict --rescale`` does for the study's networks; the labels are resized back
    (nearest neighbour) to the image.
    """
    models = _stardist()
    model_dir = Path(model_dir)
    record_path = model_dir / "baseline.json"
    if not record_path.is_file():
        raise NucflowError(f"{model_dir}: no baseline.json (not a model folder of nucflow baseline train)")
    record = json.loads(record_path.read_text())
    model = models.StarDist2D(None, name="stardist", basedir=str(model_dir))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for image_id in ids:
        image = _fluorescence(manifest, image_id)
        factor = scale_factor(manifest.pixel_size(image_id), record.get("pixel_size_um")) if rescale else 1.0
        shape = image.shape
        if factor != 1.0:
            image = _resize(image.astype(np.float32), tuple(max(1, round(d * factor)) for d in shape), order=1)
        labels, _ = model.predict_instances(normalise(image))
        if factor != 1.0:
            labels = _resize(labels, shape, order=0)
        labels = np.asarray(labels)
        dtype = np.uint16 if int(labels.max(initial=0)) <= np.iinfo(np.uint16).max else np.uint32
        write_tiff(out / f"{image_id}_labels.tif", labels.astype(dtype))
    (out / "ids.txt").write_text("".join(f"{i}\n" for i in ids))
    return {"images": len(ids), "rescale": rescale, "seconds": round(time.perf_counter() - start, 1)}
