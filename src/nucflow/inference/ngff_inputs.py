"""OME-Zarr (NGFF) images as inputs of ``nucflow predict`` (user mode), and their labels written back.

An input folder that is an NGFF plate, well or image stands for its images (a plate: every field
of every well). Each image is read through :mod:`nucflow.data.ngff`:

* the channel that feeds the model is chosen by name (``--channel``; an image with one channel
  needs none). A fluorescence model gets its maximum projection over z, (H, W); a brightfield
  model gets its z planes as the plane stack, (Z, H, W);
* its pixel size is the image's own (NGFF scale and axis unit);
* its provenance hash covers the channel's pixels, shape, dtype and name, so a rerun redoes an
  image whose pixels changed, and not one whose labels were added by a previous run;
* its output stem is ``<plate>_<well>_f<field>`` (``plate_B03_f0``) or the image's name.

After the TIFF outputs, the labels are written into the image's ``labels/`` group as entry
``name`` (``nucflow`` by default) with the provenance record under ``nucflow``; the image arrays
are never changed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from nucflow.data import ngff


def is_ngff_input(path: Path) -> bool:
    """True for a folder that is an NGFF image (what :func:`expand` lists)."""
    return Path(path).is_dir() and ngff.kind(path) == "image"


def expand(path: Path) -> list[Path]:
    """The image folders an NGFF plate, well or image folder stands for, in plate order."""
    return [image.path for image in ngff.list_images(path)]


def image_at(path: Path) -> ngff.NgffImage:
    """The image at ``path``, with its plate, well and field when it is a plate field."""
    return ngff.list_images(path)[0]


def read_input(path: Path, channel: str | None, modality: str) -> np.ndarray:
    """The field a model of ``modality`` takes: (H, W) for fluorescence (max over z), else (Z, H, W)."""
    image = image_at(path)
    planes = ngff.read_channel(image, ngff.channel_index(image, channel))
    if modality == "fluorescence":
        return planes[0] if len(planes) == 1 else planes.max(axis=0)
    return planes


def input_sha256(path: Path, channel: str | None) -> str:
    """SHA-256 of the channel's name, dtype, shape and pixels (C order)."""
    image = image_at(path)
    index = ngff.channel_index(image, channel)
    planes = np.ascontiguousarray(ngff.read_channel(image, index))
    digest = hashlib.sha256()
    digest.update(f"{image.channel_names[index] if image.channel_names else index}|{planes.dtype.str}|"
                  f"{planes.shape}|".encode())
    digest.update(planes.tobytes())
    return digest.hexdigest()


def write_back(path: Path, name: str, labels: np.ndarray, record: dict) -> Path:
    """Write ``labels`` (H, W) as labels entry ``name`` of the image at ``path``; returns its folder."""
    return ngff.write_labels(image_at(path), name, labels, properties=record)


def labels_record(path: Path, name: str) -> dict | None:
    """The nucflow record of labels entry ``name`` of the image at ``path``: None when there is no
    such entry, ``{}`` when the entry was not written by nucflow (no record: someone's own labels)."""
    image = image_at(path)
    if name not in image.labels:
        return None
    import zarr

    try:
        record = zarr.open_group(str(image.path / "labels" / name), mode="r").attrs.get("nucflow")
    except Exception:  # an entry we cannot read is not one we wrote
        return {}
    return record if isinstance(record, dict) else {}


def has_labels(path: Path, name: str) -> bool:
    return name in image_at(path).labels
