"""Import a folder of images with instance masks named as Cellpose or StarDist expect.

Two layouts are recognised (``.tif``, ``.tiff`` or ``.png``, any case):

* **Cellpose**, side by side: ``DIR/x.tif`` and its mask ``DIR/x_masks.tif``;
* **StarDist**, two folders: ``DIR/images/x.tif`` and ``DIR/masks/x.tif`` (same stem).

If ``DIR`` holds both ``images/`` and ``masks/`` folders the StarDist layout is used, otherwise the
Cellpose one. The image id is the image's file stem. Every mask needs one image, and every image
one mask, with two exceptions for fluorescence images: a folder without any mask gets its labels
made from the stain (``labels_from``, ``classical`` by default; see
:mod:`nucflow.labels.stain_labels`), and with ``labels_from`` given, the images that lack a mask get
theirs made so. Anything else (or a shape mismatch) is an error naming the file.

Fluorescence images must be 2-D (H, W). For brightfield a 2-D image becomes a 1-plane stack and a
3-D image is read as a plane stack (n_planes, H, W), planes first (multi-page TIFF order).

An optional metadata CSV has a column ``image_id`` (the file stem) and any of ``cell_line``,
``well``, ``field``, ``instrument``. When given it must list every image (a forgotten image would
silently fall into the wrong stratum); without it the cell line is ``unknown``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nucflow.data.importers.common import (ImportedField, as_labels, as_plane, as_stack, check_out_dir,
                                           check_pixel_size, check_same_shape, is_image_file, write_import)
from nucflow.data.manifest import Manifest
from nucflow.labels.stain_labels import DEFAULT_DIAMETER_UM, ClassicalLabeller, StainLabeller
from nucflow.errors import NucflowError
from nucflow.io import read_image

MODALITIES = ("fluorescence", "brightfield")
METADATA_COLUMNS = ("cell_line", "well", "field", "instrument")
MASK_SUFFIX = "_masks"
DEFAULT_CELL_LINE = "unknown"


@dataclass(frozen=True)
class ImageMaskPair:
    """One image file and its mask file (None: no mask); ``image_id`` is the image's stem."""

    image_id: str
    image: Path
    mask: Path | None


def _by_stem(paths: list[Path], what: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(paths):
        if path.stem in found:
            raise NucflowError(f"{path}: {what} {path.stem!r} also exists as {found[path.stem].name}")
        found[path.stem] = path
    return found


def _match(images: dict[str, Path], masks: dict[str, Path], allow_missing: bool) -> list[ImageMaskPair]:
    for stem, path in masks.items():
        if stem not in images:
            raise NucflowError(f"{path}: mask has no image")
    for stem, path in images.items():
        if stem not in masks and not allow_missing:
            raise NucflowError(f"{path}: image has no mask")
    return [ImageMaskPair(stem, images[stem], masks.get(stem)) for stem in sorted(images)]


def detect_layout(root: Path) -> str:
    """``stardist`` when ``root`` has ``images/`` and ``masks/`` folders, else ``cellpose``."""
    root = Path(root)
    if not root.is_dir():
        raise NucflowError(f"{root}: image folder not found")
    return "stardist" if (root / "images").is_dir() and (root / "masks").is_dir() else "cellpose"


def find_pairs(root: Path, allow_missing: bool = False) -> list[ImageMaskPair]:
    """Image/mask pairs under ``root`` in either layout, sorted by image id; with ``allow_missing``
    an image without a mask is paired with None instead of being an error."""
    root = Path(root)
    if detect_layout(root) == "stardist":
        images = _by_stem([p for p in (root / "images").iterdir() if is_image_file(p)], "image")
        masks = _by_stem([p for p in (root / "masks").iterdir() if is_image_file(p)], "mask")
        pairs = _match(images, masks, allow_missing)
    else:
        files = [p for p in root.iterdir() if is_image_file(p)]
        mask_files = [p for p in files if p.stem.endswith(MASK_SUFFIX)]
        image_files = [p for p in files if not p.stem.endswith(MASK_SUFFIX)]
        images = _by_stem(image_files, "image")
        masks = {stem[: -len(MASK_SUFFIX)]: path for stem, path in _by_stem(mask_files, "mask").items()}
        pairs = _match(images, masks, allow_missing)
    if not pairs:
        raise NucflowError(f"{root}: no images found (expected x.tif + x_masks.tif, or images/ + masks/)")
    return pairs


def read_metadata(path: Path, image_ids: list[str]) -> dict[str, dict]:
    """Per image id, the metadata columns given in ``path`` (empty cells dropped)."""
    path = Path(path)
    if not path.is_file():
        raise NucflowError(f"{path}: metadata CSV not found")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise NucflowError(f"{path}: not a readable CSV ({type(exc).__name__})") from None
    if "image_id" not in table.columns:
        raise NucflowError(f"{path}: missing column 'image_id'")
    unknown = [c for c in table.columns if c != "image_id" and c not in METADATA_COLUMNS]
    if unknown:
        raise NucflowError(f"{path}: unknown column {unknown[0]!r} (allowed: image_id, {', '.join(METADATA_COLUMNS)})")
    table["image_id"] = table["image_id"].str.strip()
    duplicated = table["image_id"][table["image_id"].duplicated()]
    if len(duplicated):
        raise NucflowError(f"{path}: image_id {duplicated.iloc[0]!r} is listed twice")
    known = set(image_ids)
    for number, image_id in enumerate(table["image_id"], start=1):
        if image_id not in known:
            raise NucflowError(f"{path} row {number}: image_id {image_id!r} matches no image")
    listed = set(table["image_id"])
    for image_id in image_ids:
        if image_id not in listed:
            raise NucflowError(f"{path}: image {image_id!r} is not listed (every image needs a row)")
    metadata: dict[str, dict] = {}
    for number, record in enumerate(table.to_dict("records"), start=1):
        values = {k: v.strip() for k, v in record.items() if k != "image_id" and v.strip() != ""}
        if "field" in values:
            try:
                values["field"] = int(values["field"])
            except ValueError:
                raise NucflowError(f"{path} row {number}, column field: {values['field']!r} is not an integer") from None
        metadata[record["image_id"]] = values
    return metadata


def _read_field(pair: ImageMaskPair, modality: str, meta: dict, instrument: str, binary_masks: bool = False,
                labeller: StainLabeller | None = None, pixel_size_um: float = 1.0) -> ImportedField:
    raw = read_image(pair.image)
    if modality == "fluorescence":
        fluorescence, brightfield = as_plane(raw, pair.image), None
        shape = fluorescence.shape
    else:
        fluorescence, brightfield = None, as_stack(raw, pair.image)
        shape = brightfield.shape
    if pair.mask is None:  # import_folder checked that a labeller exists and the images are fluorescence
        labels, source = labeller(fluorescence, pixel_size_um, str(pair.image)), labeller.source.text
    else:
        labels, source = as_labels(read_image(pair.mask), pair.mask, binary_masks=binary_masks), "given"
        check_same_shape(shape, labels.shape, pair.image, pair.mask)
    return ImportedField(image_id=pair.image_id, cell_line=meta.get("cell_line", DEFAULT_CELL_LINE),
                         labels=labels, fluorescence=fluorescence, brightfield=brightfield,
                         well=meta.get("well", ""), field=meta.get("field"),
                         instrument=meta.get("instrument", instrument), label_source=source,
                         left_out=labeller.left_out.get(str(pair.image), "") if labels is None else "")


def _labeller_for(pairs: list[ImageMaskPair], modality: str, labeller: StainLabeller | None,
                  diameter_um: float) -> StainLabeller | None:
    """The labeller for images without a mask (None when every image has one)."""
    missing = [pair for pair in pairs if pair.mask is None]
    if not missing:
        return None
    if labeller is None and len(missing) < len(pairs):
        raise NucflowError(f"{missing[0].image}: image has no mask; give --labels-from classical (or "
                           "model:RUN) to make the missing masks from the stain")
    if modality != "fluorescence":
        raise NucflowError(f"{missing[0].image}: image has no mask and there is no nuclear channel "
                           f"(--modality {modality}) to make labels from; give masks (x_masks.tif)")
    return labeller or ClassicalLabeller(diameter_um)


def import_folder(images_dir: str | Path, out_dir: str | Path, *, modality: str, pixel_size_um: float,
                  dataset: str, metadata_csv: str | Path | None = None,
                  instrument: str = "", overwrite: bool = False, binary_masks: bool = False,
                  labeller: StainLabeller | None = None,
                  nucleus_diameter_um: float = DEFAULT_DIAMETER_UM) -> Manifest:
    """Convert a Cellpose/StarDist-style folder into ``out_dir`` (manifest.csv, TIFFs, import.json).

    ``modality`` says what the images are (``fluorescence`` or ``brightfield``). A non-empty
    ``out_dir`` is replaced only with ``overwrite``; ``binary_masks`` labels the connected regions of
    binary masks instead of refusing them. Fluorescence images without masks get labels made from
    the stain by ``labeller`` (``--labels-from``; by default, when the folder has no mask at all,
    the classical pipeline tuned for ``nucleus_diameter_um``). Returns the validated manifest.
    """
    if modality not in MODALITIES:
        raise NucflowError(f"--modality: {modality!r} is not one of {', '.join(MODALITIES)}")
    images_dir = Path(images_dir)
    out = check_out_dir(Path(out_dir), [images_dir, images_dir / "images", images_dir / "masks", metadata_csv],
                        overwrite)
    pixel_size_um = check_pixel_size(pixel_size_um)
    pairs = find_pairs(images_dir, allow_missing=True)
    ids = [p.image_id for p in pairs]
    metadata = read_metadata(Path(metadata_csv), ids) if metadata_csv is not None else {}
    labeller = _labeller_for(pairs, modality, labeller, nucleus_diameter_um)

    def fields() -> Iterator[ImportedField]:
        for pair in pairs:
            yield _read_field(pair, modality, metadata.get(pair.image_id, {}), instrument, binary_masks,
                              labeller, pixel_size_um)

    arguments = {"images": str(images_dir), "modality": modality, "pixel_size_um": float(pixel_size_um),
                 "dataset": dataset, "metadata": None if metadata_csv is None else str(metadata_csv),
                 "instrument": instrument, "layout": detect_layout(images_dir), "binary_masks": binary_masks,
                 "labels_from": None if labeller is None else labeller.describe()}
    return write_import(out, fields(), dataset=dataset, pixel_size_um=pixel_size_um, importer="folder",
                        arguments=arguments, overwrite=overwrite)

