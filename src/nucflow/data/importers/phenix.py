"""Import an Opera Phenix / Operetta (Harmony) image export: one TIFF per well, field, plane, channel.

File names (both forms may be mixed in one folder; matching is case-insensitive):

* newer Harmony export: ``r02c03f01p04-ch2sk1fk1fl1.tiff`` -- row 02, column 03, field 01,
  plane 04, channel 2, ``sk`` the time point (1-based); ``fk`` and ``fl`` are always 1 in the exports
  we know of and are kept only as part of the file's identity;
* older image id form (the ``id`` of an ``<Image>`` in Harmony's ``Index.idx.xml``):
  ``0203K1F1P4R2.tiff`` -- row 02, column 03, ``K`` time point, ``F`` field, ``P`` plane,
  ``R`` channel. ``K`` and ``sk`` are the same number and ``R`` is the same as ``ch`` (Harmony's
  index lists the pair ``0201K2F2P1R3`` / ``r02c01f02p01-ch3sk2fk1fl1.tiff`` for one image).
  Some third-party readers take ``K`` for the channel; we follow Harmony's index.

Other files in the folder (``Index.idx.xml``, thumbnails in other formats) are ignored; a ``.tif``/
``.tiff`` whose name has neither form is an error.

Per field of view (well, field, time point):

* the nuclear stain is channel ``nuclear_channel``: its single plane, or the maximum projection over
  planes when several were imaged (the stain is bright on a dark background, so the maximum keeps
  each nucleus at its sharpest plane);
* brightfield is channel ``brightfield_channel``: all its planes stacked in plane-number order,
  (n_planes, H, W); every field must have the same plane numbers;
* the ground truth is ``MASKS/<image_id>_masks.tif`` (``.tiff`` or ``.png`` too), where the image id
  is ``r02c03f01`` (row, column, field; two digits each), with the time point appended as
  ``r02c03f01sk2`` when the export holds more than one time point. Without a mask folder the labels
  are made from the nuclear stain (``labels_from``, ``classical`` by default; see
  :mod:`nucflow.labels.stain_labels`); with one, a missing mask is an error unless ``labels_from``
  is given, which then makes the missing ones.

The plate map (CSV, columns ``well`` and ``cell_line``; more columns are ignored) names the cell
line per well, wells written ``B03``, ``B3`` or ``r02c03``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.data.importers.common import (IMAGE_SUFFIXES, ImportedField, as_labels, as_plane, as_stack,
                                           check_out_dir, check_pixel_size, check_same_shape, write_import)
from nucflow.data.manifest import Manifest
from nucflow.labels.stain_labels import DEFAULT_DIAMETER_UM, ClassicalLabeller, StainLabeller
from nucflow.errors import NucflowError
from nucflow.io import read_image

NEW_NAME = re.compile(r"^r(?P<row>\d+)c(?P<column>\d+)f(?P<field>\d+)p(?P<plane>\d+)-ch(?P<channel>\d+)"
                      r"sk(?P<timepoint>\d+)fk(?P<fk>\d+)fl(?P<fl>\d+)\.tiff?$", re.IGNORECASE)
OLD_NAME = re.compile(r"^(?P<row>\d{2})(?P<column>\d{2})K(?P<timepoint>\d+)F(?P<field>\d+)P(?P<plane>\d+)"
                      r"R(?P<channel>\d+)\.tiff?$", re.IGNORECASE)
WELL_LETTERS = re.compile(r"^(?P<letters>[A-Za-z]{1,2})0*(?P<column>\d{1,3})$")
WELL_NUMBERS = re.compile(r"^r0*(?P<row>\d{1,3})c0*(?P<column>\d{1,3})$", re.IGNORECASE)
NAME_FORMS = "r01c01f01p01-ch1sk1fk1fl1.tiff or 0101K1F1P1R1.tiff"


@dataclass(frozen=True)
class PhenixPlane:
    """One exported TIFF: a single plane of one channel of one field. Numbers are 1-based as named."""

    path: Path
    row: int
    column: int
    field: int
    plane: int
    channel: int
    timepoint: int
    extra: tuple[int, int] = (1, 1)  # fk, fl of the newer form

    @property
    def field_key(self) -> tuple[int, int, int, int]:
        return (self.row, self.column, self.field, self.timepoint)


def parse_name(path: Path) -> PhenixPlane:
    """Parse either file-name form; NucflowError naming the file otherwise."""
    path = Path(path)
    match = NEW_NAME.match(path.name) or OLD_NAME.match(path.name)
    if match is None:
        raise NucflowError(f"{path}: not an Opera Phenix image name (expected {NAME_FORMS})")
    parts = match.groupdict()
    extra = (int(parts["fk"]), int(parts["fl"])) if "fk" in parts else (1, 1)
    return PhenixPlane(path, int(parts["row"]), int(parts["column"]), int(parts["field"]),
                       int(parts["plane"]), int(parts["channel"]), int(parts["timepoint"]), extra)


def well_name(row: int, column: int) -> str:
    """``B03`` for row 2, column 3; rows past Z continue AA, AB, ... (1536-well plates)."""
    letters, n = "", row
    while n > 0:
        n, rest = divmod(n - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return f"{letters}{column:02d}"


def parse_well(text: str) -> tuple[int, int]:
    """(row, column), 1-based, from ``B03``, ``b3``, ``AA01`` or ``r02c03``."""
    value = str(text).strip()
    match = WELL_NUMBERS.match(value)
    if match:
        row, column = int(match["row"]), int(match["column"])
    else:
        match = WELL_LETTERS.match(value)
        if match is None:
            raise ValueError(value)
        row = 0
        for letter in match["letters"].upper():
            row = row * 26 + (ord(letter) - ord("A") + 1)
        column = int(match["column"])
    if row < 1 or column < 1:
        raise ValueError(value)
    return row, column


def read_plate_map(path: Path) -> dict[tuple[int, int], str]:
    """Cell line per (row, column) from a CSV with columns ``well`` and ``cell_line``."""
    path = Path(path)
    if not path.is_file():
        raise NucflowError(f"{path}: plate map not found")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise NucflowError(f"{path}: not a readable CSV ({type(exc).__name__})") from None
    for column in ("well", "cell_line"):
        if column not in table.columns:
            raise NucflowError(f"{path}: missing column {column!r} (needs well, cell_line)")
    lines: dict[tuple[int, int], str] = {}
    for number, (well, line) in enumerate(zip(table["well"], table["cell_line"]), start=1):
        try:
            key = parse_well(well)
        except ValueError:
            raise NucflowError(f"{path} row {number}, column well: {well!r} is not a well (B03 or r02c03)") from None
        line = line.strip()
        if not line:
            raise NucflowError(f"{path} row {number}, column cell_line: empty")
        if key in lines and lines[key] != line:
            raise NucflowError(f"{path} row {number}: well {well_name(*key)} is listed twice "
                               f"({lines[key]!r} and {line!r})")
        lines[key] = line
    return lines


def scan_images(images_dir: Path) -> list[PhenixPlane]:
    """Every TIFF in ``images_dir`` parsed; duplicates (same field, plane, channel) are an error."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise NucflowError(f"{images_dir}: image folder not found")
    planes = [parse_name(p) for p in sorted(images_dir.iterdir())
              if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in (".tif", ".tiff")]
    if not planes:
        raise NucflowError(f"{images_dir}: no TIFF images found (expected names like {NAME_FORMS})")
    seen: dict[tuple, Path] = {}
    for item in planes:
        key = (*item.field_key, item.plane, item.channel)
        if key in seen:
            raise NucflowError(f"{item.path}: same well, field, plane, channel and time point as {seen[key].name}")
        seen[key] = item.path
    return planes


def image_id(key: tuple[int, int, int, int], with_timepoint: bool) -> str:
    row, column, field, timepoint = key
    return f"r{row:02d}c{column:02d}f{field:02d}" + (f"sk{timepoint}" if with_timepoint else "")


def find_mask_or_none(masks_dir: Path, name: str) -> Path | None:
    """:func:`find_mask`, or None when the field has no mask."""
    try:
        return find_mask(masks_dir, name)
    except NucflowError:
        return None


def find_mask(masks_dir: Path, name: str) -> Path:
    """``masks_dir/<name>_masks.{tif,tiff,png}``; NucflowError naming the expected file if absent."""
    for suffix in IMAGE_SUFFIXES:
        for candidate in (masks_dir / f"{name}_masks{suffix}", masks_dir / f"{name}_masks{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    raise NucflowError(f"{masks_dir / (name + '_masks.tif')}: mask not found (also tried .tiff, .png)")


def _channel_planes(group: list[PhenixPlane], channel: int, what: str, where: str) -> list[PhenixPlane]:
    planes = sorted((p for p in group if p.channel == channel), key=lambda p: p.plane)
    if not planes:
        have = sorted({p.channel for p in group})
        raise NucflowError(f"{where}: no image of channel {channel} ({what}); "
                           f"channels present: {', '.join(map(str, have))} (e.g. {group[0].path.name})")
    return planes


def _read_planes(planes: list[PhenixPlane]) -> list[np.ndarray]:
    arrays = [as_plane(read_image(p.path), p.path) for p in planes]
    for plane, array in zip(planes[1:], arrays[1:]):
        if array.shape != arrays[0].shape:
            raise NucflowError(f"{plane.path}: shape {array.shape} differs from {planes[0].path.name} {arrays[0].shape}")
    return arrays


def import_phenix(images_dir: str | Path, out_dir: str | Path, *, plate_map: str | Path,
                  masks_dir: str | Path | None, pixel_size_um: float, dataset: str,
                  nuclear_channel: int | None = None, brightfield_channel: int | None = None,
                  instrument: str = "Opera Phenix", overwrite: bool = False, binary_masks: bool = False,
                  labeller: StainLabeller | None = None,
                  nucleus_diameter_um: float = DEFAULT_DIAMETER_UM) -> Manifest:
    """Convert a Harmony export into ``out_dir`` (manifest.csv, TIFFs, import.json); see the module doc.

    At least one of ``nuclear_channel`` / ``brightfield_channel`` (1-based channel numbers as in
    the file names) must be given. ``overwrite``, ``binary_masks``, ``labeller`` and
    ``nucleus_diameter_um`` as in :func:`~nucflow.data.importers.folder.import_folder`;
    ``masks_dir`` None makes every field's labels from the nuclear stain. Returns the validated
    manifest.
    """
    if nuclear_channel is None and brightfield_channel is None:
        raise NucflowError("give --nuclear-channel, --brightfield-channel or both")
    if nuclear_channel is not None and nuclear_channel == brightfield_channel:
        raise NucflowError(f"--nuclear-channel and --brightfield-channel are both {nuclear_channel}")
    images_dir = Path(images_dir)
    masks_dir = None if masks_dir is None else Path(masks_dir)
    out = check_out_dir(Path(out_dir), [images_dir, masks_dir, plate_map], overwrite)
    pixel_size_um = check_pixel_size(pixel_size_um)
    if masks_dir is not None and not masks_dir.is_dir():
        raise NucflowError(f"{masks_dir}: mask folder not found")
    if masks_dir is None or labeller is not None:
        if nuclear_channel is None:
            raise NucflowError(f"{images_dir}: no masks (--masks) and no nuclear channel (--nuclear-channel) to "
                               "make labels from; give one of them")
        labeller = labeller or ClassicalLabeller(nucleus_diameter_um)
    lines = read_plate_map(Path(plate_map))
    groups: dict[tuple, list[PhenixPlane]] = defaultdict(list)
    for item in scan_images(images_dir):
        groups[item.field_key].append(item)
    for key, group in sorted(groups.items()):
        if key[:2] not in lines:
            raise NucflowError(f"well {well_name(*key[:2])} ({group[0].path}): not in plate map {plate_map}")
    with_timepoint = len({key[3] for key in groups}) > 1

    plane_numbers: list[int] | None = None
    first_where = ""
    jobs = []
    for key, group in sorted(groups.items()):
        name = image_id(key, with_timepoint)
        where = f"{images_dir}: well {well_name(*key[:2])} field {key[2]}"
        where += f" time point {key[3]}" if with_timepoint else ""
        nuclear = bright = None
        if nuclear_channel is not None:
            nuclear = _channel_planes(group, nuclear_channel, "nuclear", where)
        if brightfield_channel is not None:
            bright = _channel_planes(group, brightfield_channel, "brightfield", where)
        if bright is not None:
            numbers = [p.plane for p in bright]
            if plane_numbers is None:
                plane_numbers, first_where = numbers, where
            elif numbers != plane_numbers:
                raise NucflowError(f"{where}: brightfield planes {numbers} differ from {plane_numbers} "
                                   f"of {first_where}")
        mask = None
        if masks_dir is not None:
            mask = find_mask(masks_dir, name) if labeller is None else find_mask_or_none(masks_dir, name)
        jobs.append((key, name, nuclear, bright, mask))

    def fields() -> Iterator[ImportedField]:
        for key, name, nuclear, bright, mask_path in jobs:
            fluorescence = brightfield = None
            if nuclear is not None:
                arrays = _read_planes(nuclear)
                fluorescence = arrays[0] if len(arrays) == 1 else np.max(np.stack(arrays), axis=0)
            if bright is not None:
                brightfield = as_stack(np.stack(_read_planes(bright)), bright[0].path)
            if mask_path is None:
                labels = labeller(fluorescence, pixel_size_um, str(nuclear[0].path))
                source, mask_path = labeller.source.text, nuclear[0].path
            else:
                labels, source = as_labels(read_image(mask_path), mask_path, binary_masks=binary_masks), "given"
            if nuclear is not None and labels is not None:
                check_same_shape(fluorescence.shape, labels.shape, nuclear[0].path, mask_path)
            if bright is not None and labels is not None:
                check_same_shape(brightfield.shape, labels.shape, bright[0].path, mask_path)
            yield ImportedField(image_id=name, cell_line=lines[key[:2]], labels=labels,
                                fluorescence=fluorescence, brightfield=brightfield,
                                well=well_name(*key[:2]), field=key[2], instrument=instrument,
                                label_source=source,
                                left_out="" if labels is not None else labeller.left_out.get(str(nuclear[0].path), ""))

    arguments = {"images": str(images_dir), "plate_map": str(plate_map),
                 "masks": None if masks_dir is None else str(masks_dir),
                 "labels_from": None if labeller is None else labeller.describe(),
                 "pixel_size_um": float(pixel_size_um), "dataset": dataset, "instrument": instrument,
                 "nuclear_channel": nuclear_channel, "brightfield_channel": brightfield_channel,
                 "brightfield_planes": plane_numbers,
                 "nuclear_projection": "single plane, or maximum over planes when several",
                 "binary_masks": binary_masks}
    return write_import(out, fields(), dataset=dataset, pixel_size_um=pixel_size_um, importer="phenix",
                        arguments=arguments, overwrite=overwrite)
