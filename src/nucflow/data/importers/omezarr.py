"""Import an OME-Zarr (NGFF 0.4 or 0.5) HCS plate, one of its wells, or a plain NGFF image.

Each image (plate field) becomes one field of view; channels are chosen by their names in the
image's ``omero`` metadata:

* the nuclear stain is channel ``nuclear_channel``: its single z plane, or the maximum projection
  over z when several were imaged (as the Phenix importer does);
* brightfield is channel ``brightfield_channel``: its z planes, in order, as the plane stack
  (n_planes, H, W); every field must have the same number of planes;
* the ground truth is the image's NGFF labels entry ``label_image`` (e.g. ``nuclei``) when given;
  without it the labels are made from the nuclear stain (``labels_from``, ``classical`` by
  default; see :mod:`nucflow.labels.stain_labels`), and the manifest's ``label_source`` says so.

Image ids are ``<well>_f<field>`` for plate fields (``B03_f0``: well B03, the first image the well
lists) and the store's name for a plain image (``cells.ome.zarr`` -> ``cells``). The pixel size is
the full-resolution ``scale`` of the y/x axes in their unit; ``pixel_size_um`` overrides it and is
needed when the axes carry no unit. Cell lines come from a plate map (CSV ``well, cell_line``) or
one ``cell_line`` for all. Images with several time points are refused, and so is a well whose
fields differ in shape (H, W).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from nucflow.data import ngff
from nucflow.data.importers.common import (ImportedField, as_labels, as_plane, as_stack, check_name, check_out_dir,
                                           check_pixel_size, check_same_shape, write_import)
from nucflow.data.importers.phenix import parse_well, read_plate_map
from nucflow.data.manifest import Manifest
from nucflow.labels.stain_labels import DEFAULT_DIAMETER_UM, ClassicalLabeller, StainLabeller
from nucflow.errors import NucflowError

DEFAULT_CELL_LINE = "unknown"
#: fields of one import may differ in pixel size by this fraction
PIXEL_SIZE_TOLERANCE = 0.01


def image_id(image: ngff.NgffImage) -> str:
    """``B03_f0`` for a plate field, the store's name for a plain image."""
    return f"{image.well}_f{image.field}" if image.well else ngff.zarr_stem(image.path)


def _pixel_size(images: list[ngff.NgffImage], given: float | None, source: Path) -> float:
    if given is not None:
        return check_pixel_size(given)
    sizes = [image.pixel_size_um for image in images]
    unknown = [image for image, size in zip(images, sizes) if size is None]
    if unknown:
        raise NucflowError(f"{unknown[0].path}: the image states no physical pixel size (y/x axes without a "
                           "known unit); give --pixel-size-um")
    if max(sizes) - min(sizes) > PIXEL_SIZE_TOLERANCE * min(sizes):
        raise NucflowError(f"{source}: fields have different pixel sizes ({min(sizes):g} to {max(sizes):g} µm); "
                           "import them as separate data sets")
    return float(sizes[0])


def _check_well_shapes(images: list[ngff.NgffImage]) -> None:
    """The fields of one well must share one (H, W) shape; names the first well where they do not."""
    wells: dict[Path, list[ngff.NgffImage]] = {}
    for image in images:
        if image.well:
            wells.setdefault(image.path.parent, []).append(image)
    for folder, fields in wells.items():
        shapes = [(image.size("y"), image.size("x")) for image in fields]
        if len(set(shapes)) > 1:
            listed = ", ".join(f"f{image.field} {h} x {w}" for image, (h, w) in zip(fields, shapes))
            raise NucflowError(f"{folder}: well {fields[0].well} has fields of different shapes ({listed} px); "
                               "the fields of one well must have one shape")


def _cell_lines(images: list[ngff.NgffImage], plate_map: Path | None, cell_line: str) -> dict[str, str]:
    """Cell line per image id."""
    if plate_map is None:
        return {image_id(image): cell_line for image in images}
    lines = read_plate_map(Path(plate_map))
    out = {}
    for image in images:
        if not image.well:
            raise NucflowError(f"{image.path}: a plain image has no well; --plate-map is for plates")
        key = parse_well(image.well)
        if key not in lines:
            raise NucflowError(f"well {image.well} ({image.path}): not in plate map {plate_map}")
        out[image_id(image)] = lines[key]
    return out


def _read_nuclear(image: ngff.NgffImage, name: str) -> np.ndarray:
    planes = ngff.read_channel(image, ngff.channel_index(image, name, "--nuclear-channel"))
    projected = planes[0] if len(planes) == 1 else planes.max(axis=0)
    return as_plane(projected, f"{image.path} (channel {name})")


def _labels(image: ngff.NgffImage, label_image: str | None, labeller: StainLabeller | None,
            fluorescence: np.ndarray | None, pixel_size_um: float, binary_masks: bool) -> tuple[np.ndarray, str]:
    """(labels, label_source) of one image."""
    if label_image is not None and (label_image in image.labels or labeller is None):
        where = f"{image.path}/labels/{label_image}"
        return as_labels(ngff.read_labels(image, label_image), where, binary_masks=binary_masks), "given"
    return labeller(fluorescence, pixel_size_um, str(image.path)), labeller.source.text


def import_omezarr(source: str | Path, out_dir: str | Path, *, dataset: str, nuclear_channel: str | None = None,
                   brightfield_channel: str | None = None, label_image: str | None = None,
                   labeller: StainLabeller | None = None, nucleus_diameter_um: float = DEFAULT_DIAMETER_UM,
                   pixel_size_um: float | None = None, plate_map: str | Path | None = None,
                   cell_line: str = DEFAULT_CELL_LINE, instrument: str = "", overwrite: bool = False,
                   binary_masks: bool = False) -> Manifest:
    """Convert an NGFF plate, well or image into ``out_dir`` (manifest.csv, TIFFs, import.json).

    At least one of ``nuclear_channel`` / ``brightfield_channel`` (channel names) must be given.
    ``label_image`` names the NGFF labels entry holding instance masks; where it is not given (or,
    with ``labeller`` given, where a field lacks it) labels are made from the nuclear stain by
    ``labeller`` (``--labels-from``; default: classical, tuned for ``nucleus_diameter_um``). ``overwrite``,
    ``binary_masks`` as in :func:`~nucflow.data.importers.folder.import_folder`. Returns the
    validated manifest.
    """
    if nuclear_channel is None and brightfield_channel is None:
        raise NucflowError("give --nuclear-channel, --brightfield-channel or both (channel names)")
    if nuclear_channel is not None and nuclear_channel == brightfield_channel:
        raise NucflowError(f"--nuclear-channel and --brightfield-channel are both {nuclear_channel!r}")
    source = Path(source)
    out = check_out_dir(Path(out_dir), [source, plate_map], overwrite)
    images = ngff.list_images(source)
    size = _pixel_size(images, pixel_size_um, source)
    _check_well_shapes(images)
    lines = _cell_lines(images, plate_map, check_name(cell_line, "--cell-line"))
    for image in images:  # every channel name and labels entry before any pixel is read
        for name, option in ((nuclear_channel, "--nuclear-channel"), (brightfield_channel, "--brightfield-channel")):
            if name is not None:
                ngff.channel_index(image, name, option)
    needs_stain = label_image is None or labeller is not None
    if needs_stain:
        if nuclear_channel is None:
            raise NucflowError(f"{source}: no masks (--label-image) and no nuclear channel (--nuclear-channel) "
                               "to make labels from; give one of them")
        labeller = labeller or ClassicalLabeller(nucleus_diameter_um)
    else:
        missing = [image for image in images if label_image not in image.labels]
        if missing:
            ngff.read_labels(missing[0], label_image)  # raises, naming the image and its entries
    plane_counts = {image.size("z") for image in images} if brightfield_channel is not None else set()
    if len(plane_counts) > 1:
        raise NucflowError(f"{source}: fields have different numbers of z planes ({sorted(plane_counts)}); the "
                           "brightfield stacks must all have the same planes")

    def fields() -> Iterator[ImportedField]:
        for image in images:
            fluorescence = _read_nuclear(image, nuclear_channel) if nuclear_channel is not None else None
            brightfield = None
            if brightfield_channel is not None:
                index = ngff.channel_index(image, brightfield_channel, "--brightfield-channel")
                brightfield = as_stack(ngff.read_channel(image, index), f"{image.path} (channel {brightfield_channel})")
            labels, label_source = _labels(image, label_image, labeller, fluorescence, size, binary_masks)
            shape = fluorescence.shape if fluorescence is not None else brightfield.shape
            if labels is not None:
                check_same_shape(shape, labels.shape, image.path, f"{image.path} labels")
            name = image_id(image)
            yield ImportedField(image_id=name, cell_line=lines[name], labels=labels, fluorescence=fluorescence,
                                brightfield=brightfield, well=image.well, field=image.field,
                                instrument=instrument, label_source=label_source,
                                left_out="" if labels is not None else labeller.left_out.get(str(image.path), ""))

    arguments = {"source": str(source), "ngff_version": sorted({image.version for image in images}),
                 "dataset": dataset, "nuclear_channel": nuclear_channel, "brightfield_channel": brightfield_channel,
                 "nuclear_projection": "single z plane, or maximum over z when several",
                 "label_image": label_image, "labels_from": None if labeller is None else labeller.describe(),
                 "pixel_size_um": size, "pixel_size_from": "--pixel-size-um" if pixel_size_um is not None else "NGFF",
                 "plate_map": None if plate_map is None else str(plate_map), "cell_line": cell_line,
                 "instrument": instrument, "binary_masks": binary_masks}
    return write_import(out, fields(), dataset=dataset, pixel_size_um=size, importer="omezarr",
                        arguments=arguments, overwrite=overwrite)
