"""Shared by every importer: coerce arrays to the manifest's contract and write a checked data set.

An importer turns someone else's layout into a list of :class:`ImportedField` (arrays in memory,
already in the manifest's axis order) and hands it to :func:`write_import`, which writes

* ``DIR/<dataset>/{fluorescence,brightfield,labels}/<image_id>.tif`` (zlib TIFFs),
* ``DIR/manifest.csv`` (columns :data:`nucflow.data.manifest.COLUMNS`, paths relative to ``DIR``),
* ``DIR/import.json`` (which importer ran, with which arguments),

and then validates the manifest with :func:`nucflow.data.manifest.load_manifest` (``deep=True``), so
an import that would give a bad manifest fails at once with the validator's one-line messages.

An import is all or nothing: everything is written into a staging folder beside ``DIR`` and swapped
in only once the whole import validated; a failed import leaves ``DIR`` as it was. A non-empty
``DIR`` is refused unless ``overwrite`` (then it is replaced whole). Importers only read their
inputs; :func:`check_out_dir` refuses an output folder that is, or holds, one of them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nucflow import __version__
from nucflow.data.manifest import COLUMNS, Manifest, load_manifest
from nucflow.data.normalise import as_float32
from nucflow.errors import ManifestError, NucflowError
from nucflow.io import replace_dir, staging_dir, write_csv, write_json, write_tiff

IMAGE_SUFFIXES = (".tif", ".tiff", ".png")
UNCHECKED_NAME = "manifest.unchecked.csv"


@dataclass(frozen=True)
class ImportedField:
    """One field of view, ready to write.

    ``fluorescence``: (H, W) uint8/uint16/float32 or None; ``brightfield``: (n_planes, H, W) planes
    first, or None; ``labels``: (H, W) unsigned integer instance labels (0 = background).
    ``field`` is the field number within its well (or the time point, for time series).
    ``label_source`` says where ``labels`` came from (:mod:`nucflow.labels.stain_labels`): ``given``
    for masks that came with the data, ``classical(d=12.0um)`` or ``model:<run id>`` for labels made
    from the nuclear stain. ``labels`` None with ``left_out`` (the reason): a field whose stain gave
    no labels; it is listed in ``left_out.csv`` and not written.
    """

    image_id: str
    cell_line: str
    labels: np.ndarray | None
    fluorescence: np.ndarray | None = None
    brightfield: np.ndarray | None = None
    well: str = ""
    field: int | None = None
    instrument: str = ""
    label_source: str = "given"
    left_out: str = ""


#: the fields an import or relabelling left out, and why (beside ``manifest.csv``)
LEFT_OUT = "left_out.csv"


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _squeeze_leading(array: np.ndarray, keep: int) -> np.ndarray:
    """Drop leading singleton axes until ``array`` has ``keep`` dimensions (or none are left to drop)."""
    while array.ndim > keep and array.shape[0] == 1:
        array = array[0]
    return array


def as_intensity(array: np.ndarray, source: Path | str) -> np.ndarray:
    """A 2-D intensity image as uint8/uint16/float32 (other integers converted where they fit; those
    that do not become float32 by :func:`~nucflow.data.normalise.as_float32`, which drops a large
    offset rather than the signal).

    Raises NucflowError naming ``source`` for boolean, complex or out-of-range data.
    """
    array = np.asarray(array)
    if array.dtype == np.bool_ or np.iscomplexobj(array):
        raise NucflowError(f"{source}: intensity image has unsupported dtype {array.dtype}")
    if array.dtype in (np.uint8, np.uint16, np.float32):
        return array
    if np.issubdtype(array.dtype, np.integer):
        if array.size and (array.min() < 0 or array.max() > np.iinfo(np.uint16).max):
            return as_float32(array)
        return array.astype(np.uint16)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise NucflowError(f"{source}: image contains NaN or inf")
        return as_float32(array)
    raise NucflowError(f"{source}: intensity image has unsupported dtype {array.dtype}")


def as_plane(array: np.ndarray, source: Path | str) -> np.ndarray:
    """A single (H, W) intensity image; leading singleton axes are dropped, RGB is refused."""
    array = _squeeze_leading(np.asarray(array), 2)
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        raise NucflowError(f"{source}: looks like an RGB image {array.shape}; give a single-channel image")
    if array.ndim != 2:
        raise NucflowError(f"{source}: expected a 2-D (H, W) image, got shape {array.shape}")
    return as_intensity(array, source)


def as_stack(array: np.ndarray, source: Path | str) -> np.ndarray:
    """A brightfield plane stack (n_planes, H, W); a 2-D image becomes a 1-plane stack."""
    array = _squeeze_leading(np.asarray(array), 3)
    if array.ndim == 2:
        array = array[np.newaxis]
    if array.ndim != 3:
        raise NucflowError(f"{source}: expected a (n_planes, H, W) stack, got shape {array.shape}")
    if array.shape[-1] in (3, 4) and array.shape[0] > 4:
        raise NucflowError(f"{source}: shape {array.shape} looks like RGB or planes-last; "
                           "give a planes-first (n_planes, H, W) grey stack")
    return as_intensity(array, source)


def _binary_regions(array: np.ndarray) -> int:
    """Connected regions (4-connected) of the one non-zero value of ``array``; 0 when it has several
    values or one value forming a single region (a one-nucleus instance mask)."""
    from skimage.measure import label as label_regions

    values = np.unique(array)
    values = values[values != 0]
    if len(values) != 1:
        return 0
    n = int(label_regions(array == values[0], connectivity=1).max())
    return n if n > 1 else 0


def as_labels(array: np.ndarray, source: Path | str, *, binary_masks: bool = False) -> np.ndarray:
    """Instance labels (H, W) as uint16 (uint32 above 65535). Refuses binary, negative or fractional masks.

    A mask is binary when it is boolean, or when its single non-zero value (1, 255, ...) covers
    several separate regions: one label for many nuclei. With ``binary_masks`` such a mask is
    turned into instance labels instead, one per 4-connected region (touching nuclei stay one).
    """
    array = _squeeze_leading(np.asarray(array), 2)
    if array.ndim != 2:
        raise NucflowError(f"{source}: expected a 2-D (H, W) label image, got shape {array.shape}")
    regions = 0 if np.issubdtype(array.dtype, np.floating) else _binary_regions(array)
    if binary_masks and (array.dtype == np.bool_ or regions):
        from skimage.measure import label as label_regions

        array = label_regions(array != 0, connectivity=1)
    elif array.dtype == np.bool_ or regions:
        found = "boolean" if array.dtype == np.bool_ else f"one value, {int(array.max())}, in {regions} separate regions"
        raise NucflowError(f"{source}: binary mask ({found}); instance labels (one integer per nucleus) are "
                           "needed, or give --binary-masks to label its connected regions")
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or not np.array_equal(array, np.round(array)):
            raise NucflowError(f"{source}: labels must be whole numbers, got fractional values ({array.dtype})")
    elif not np.issubdtype(array.dtype, np.integer):
        raise NucflowError(f"{source}: labels must be integers, got {array.dtype}")
    if array.size and array.min() < 0:
        raise NucflowError(f"{source}: negative label {array.min()}")
    top = int(array.max()) if array.size else 0
    if top > np.iinfo(np.uint32).max:
        raise NucflowError(f"{source}: label {top} does not fit in uint32")
    return array.astype(np.uint16 if top <= np.iinfo(np.uint16).max else np.uint32)


def check_same_shape(shape: tuple[int, ...], labels_shape: tuple[int, ...], source: Path | str,
                     labels_source: Path | str) -> None:
    """Image planes (last two axes of ``shape``) must match the label image."""
    if tuple(shape[-2:]) != tuple(labels_shape):
        raise NucflowError(f"{source}: image of shape {tuple(shape)} does not match mask "
                           f"{labels_source} of shape {tuple(labels_shape)}")


def check_out_dir(out_dir: Path, inputs: Iterable[Path | None], overwrite: bool = False) -> Path:
    """``out_dir`` resolved; refuses an input folder or a folder holding one (importers never modify
    inputs, and an import replaces its output folder whole), a file, and a non-empty folder unless
    ``overwrite``."""
    out = Path(out_dir).resolve()
    for item in inputs:
        if item is None:
            continue
        item = Path(item).resolve()
        if item == out:
            raise NucflowError(f"--out {out_dir}: is an input folder; importers never write into their inputs")
        if out in item.parents:
            raise NucflowError(f"--out {out_dir}: holds the input {item}; an import replaces its output folder, "
                               "so give a separate one")
    if out.exists() and not out.is_dir():
        raise NucflowError(f"--out {out_dir}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise NucflowError(f"--out {out_dir}: is not empty; give --overwrite to replace it with this import, "
                           "or an empty or new folder")
    return out


def check_pixel_size(pixel_size_um: float) -> float:
    value = float(pixel_size_um)
    if not np.isfinite(value) or value <= 0:
        raise NucflowError(f"--pixel-size-um: must be a positive number of µm, got {pixel_size_um}")
    return value


def check_name(value: str, option: str) -> str:
    """A data set / id component usable in a file name (no separators, not empty)."""
    text = str(value).strip()
    if not text or any(ch in text for ch in "/\\") or text in (".", ".."):
        raise NucflowError(f"{option}: {value!r} is not a usable name (empty or contains a path separator)")
    return text


def relative_paths(dataset: str, image_id: str) -> dict[str, str]:
    """Manifest-relative paths of one field's files (same layout as the simulator's)."""
    return {kind: f"{dataset}/{kind}/{image_id}.tif" for kind in ("fluorescence", "brightfield", "labels")}


def _row(field: ImportedField, dataset: str, pixel_size_um: float, paths: Mapping[str, str]) -> dict:
    return {
        "image_id": field.image_id, "dataset": dataset, "cell_line": field.cell_line,
        "well": field.well, "field": field.field, "instrument": field.instrument,
        "pixel_size_um": pixel_size_um,
        "fluorescence": paths["fluorescence"] if field.fluorescence is not None else "",
        "brightfield": paths["brightfield"] if field.brightfield is not None else "",
        "n_planes": int(field.brightfield.shape[0]) if field.brightfield is not None else None,
        "labels": paths["labels"],
        "label_source": field.label_source,
    }


def write_import(out_dir: str | os.PathLike, fields: Iterable[ImportedField], *, dataset: str,
                 pixel_size_um: float, importer: str, arguments: Mapping, overwrite: bool = False) -> Manifest:
    """Write the fields' TIFFs, ``manifest.csv`` and ``import.json`` as folder ``out_dir``; return the
    validated manifest.

    Everything goes into a staging folder beside ``out_dir``; the manifest is checked there with
    ``load_manifest(..., deep=True)`` (every pixel read), and only a valid import replaces
    ``out_dir`` (a non-empty one only with ``overwrite``). On any failure the staging folder is
    removed, the error (e.g. the validator's :class:`~nucflow.errors.ManifestError`) propagates and
    ``out_dir`` is untouched.

    ``arguments`` (JSON-serialisable) is recorded in ``import.json`` with the importer's name.
    """
    out = check_out_dir(Path(out_dir), [], overwrite)
    dataset = check_name(dataset, "--dataset")
    pixel_size_um = check_pixel_size(pixel_size_um)
    staging = staging_dir(out, "import")
    try:
        try:
            _write_staged(staging, fields, dataset, pixel_size_um, importer, arguments)
        except ManifestError as exc:  # name the files where they were to go, not the staging folder
            staged = str(staging / UNCHECKED_NAME), str(staging)
            raise ManifestError([p.replace(staged[0], str(out / "manifest.csv")).replace(staged[1], str(out))
                                 for p in exc.problems]) from None
        check_out_dir(out, [], overwrite)  # nothing appeared in the meantime
        replace_dir(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return load_manifest(out / "manifest.csv", check_files=False)


def _write_staged(out: Path, fields: Iterable[ImportedField], dataset: str, pixel_size_um: float,
                  importer: str, arguments: Mapping) -> None:
    """Write the import into folder ``out`` and validate it there."""
    rows, seen, left_out = [], set(), []
    for field in fields:
        check_name(field.image_id, "image id")
        if field.image_id in seen:
            raise NucflowError(f"image id {field.image_id!r}: occurs twice in the input")
        seen.add(field.image_id)
        if field.fluorescence is None and field.brightfield is None:
            raise NucflowError(f"image {field.image_id}: has neither fluorescence nor brightfield")
        if field.labels is None:
            left_out.append({"image_id": field.image_id, "reason": field.left_out})
            continue
        paths = relative_paths(dataset, field.image_id)
        write_tiff(out / paths["labels"], field.labels)
        if field.fluorescence is not None:
            write_tiff(out / paths["fluorescence"], field.fluorescence)
        if field.brightfield is not None:
            write_tiff(out / paths["brightfield"], field.brightfield)
        rows.append(_row(field, dataset, pixel_size_um, paths))
    if not rows:
        raise NucflowError(f"{importer} import: no images found to import"
                           + (f" ({len(left_out)} left out: no labels from their stain)" if left_out else ""))
    if left_out:
        write_csv(out / LEFT_OUT, pd.DataFrame(left_out, columns=["image_id", "reason"]))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["field"] = frame["field"].astype("Int64")
    frame["n_planes"] = frame["n_planes"].astype("Int64")
    # validate under a provisional name, so a failed import never leaves a manifest.csv behind
    unchecked = write_csv(out / UNCHECKED_NAME, frame)
    try:
        load_manifest(unchecked, deep=True)
    except NucflowError:
        unchecked.unlink()
        raise
    os.replace(unchecked, out / "manifest.csv")
    write_json(out / "import.json", {"importer": importer, "arguments": dict(arguments),
                                     "dataset": dataset, "n_images": len(rows), "n_left_out": len(left_out),
                                     "nucflow_version": __version__})
