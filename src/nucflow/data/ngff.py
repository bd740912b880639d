"""OME-Zarr (NGFF) plates and images: what they hold, their pixels, and labels written back.

Reading and writing go through the ``ome-zarr`` library (``ome_zarr.io.parse_url`` and its reader
for the metadata and arrays, ``ome_zarr.writer.write_labels`` for the labels), which reads NGFF 0.4
(zarr v2) and 0.5 (zarr v3) alike; nothing here lays out NGFF groups by hand.

* :func:`list_images` -- the images a path names: every field of every well of an HCS plate (in
  the plate's well order, then the well's field order), the fields of one well, or one image;
* :func:`read_image` -- an image's axes, shape, channel names (``omero`` metadata), physical pixel
  size (µm, from the full-resolution ``scale`` transformation and the axis unit), its labels and,
  for a plate field, its well and field;
* :func:`read_channel` -- one channel of the full-resolution level as (Z, H, W);
* :func:`read_labels` -- one entry of the image's ``labels/`` group as (H, W);
* :func:`write_labels` -- (H, W) instance labels as a new entry of the image's ``labels/`` group
  (axes ``y, x`` with the image's pixel size, so viewers lay them over every plane); the image
  arrays are never touched.

Images with more than one time point are refused (nucflow reads one field per image). Every
problem is a :class:`~nucflow.errors.NucflowError` naming the path.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nucflow.errors import NucflowError

#: NGFF axis units, in µm
UNITS_UM = {"micrometer": 1.0, "nanometer": 1e-3, "millimeter": 1e3, "centimeter": 1e4, "meter": 1e6,
            "angstrom": 1e-4, "picometer": 1e-6}
#: y and x pixel edges may differ by this fraction before an image counts as anisotropic
ANISOTROPY_TOLERANCE = 0.01


@contextmanager
def _quiet():
    """Silence ome-zarr's log warnings (e.g. 'version mismatch' when it detects 0.4 data) for one call."""
    logger = logging.getLogger("ome_zarr")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _location(path: Path, what: str = "an OME-Zarr (NGFF) image or plate"):
    from ome_zarr.io import parse_url

    path = Path(path)
    if not path.exists():
        raise NucflowError(f"{path}: not found")
    with _quiet():
        try:
            location = parse_url(str(path))
        except Exception as exc:  # a damaged store fails in many ways inside zarr
            raise NucflowError(f"{path}: not {what} ({type(exc).__name__}: {exc})") from None
    if location is None:
        raise NucflowError(f"{path}: not {what} (no zarr group here)")
    return location


def kind(path: Path) -> str:
    """``plate``, ``well``, ``image`` or ``""`` (not an NGFF group) for ``path``."""
    try:
        attrs = _location(path).root_attrs
    except NucflowError:
        return ""
    for name in ("plate", "well", "multiscales"):
        if name in attrs:
            return "image" if name == "multiscales" else name
    return ""


def is_ngff(path: Path) -> bool:
    """True when ``path`` is a folder holding an NGFF plate, well or image."""
    return Path(path).is_dir() and kind(path) != ""


@dataclass(frozen=True)
class NgffImage:
    """One NGFF image (a plate field or a plain image) as described by its metadata.

    Attributes:
        path: the image group's folder.
        version: NGFF version (``0.4``, ``0.5``).
        axes: axis names of the arrays, e.g. ``("c", "z", "y", "x")``.
        shape: shape of the full-resolution array, in ``axes`` order.
        channel_names: names from the ``omero`` metadata (empty when it has none).
        pixel_size_um: pixel edge in µm, or None when the axes carry no known unit.
        labels: names of the entries of its ``labels/`` group.
        plate: the plate folder, or None for a plain image; well (e.g. ``B03``) and field (index
            in the well's image list) when it is a plate field.
    """

    path: Path
    version: str
    axes: tuple[str, ...]
    shape: tuple[int, ...]
    channel_names: tuple[str, ...]
    pixel_size_um: float | None
    labels: tuple[str, ...] = ()
    plate: Path | None = None
    well: str = ""
    field: int | None = None

    def size(self, axis: str) -> int:
        return self.shape[self.axes.index(axis)] if axis in self.axes else 1

    @property
    def n_channels(self) -> int:
        return self.size("c")

    @property
    def stem(self) -> str:
        """A file-name stem: ``<plate>_<well>_f<field>`` for a plate field, else ``<image>``."""
        if self.plate is not None:
            return f"{zarr_stem(self.plate)}_{self.well}_f{self.field}"
        return zarr_stem(self.path)


def zarr_stem(path: Path) -> str:
    """``plate.ome.zarr`` -> ``plate``, ``x.zarr`` -> ``x``."""
    name = Path(path).resolve().name
    for suffix in (".ome.zarr", ".zarr"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def well_name(row: str, column: str) -> str:
    """``("B", "3")`` -> ``B03``; a non-numeric column is kept as written."""
    return f"{row}{int(column):02d}" if str(column).isdigit() else f"{row}{column}"


def _plate_wells(plate: Path) -> list[tuple[str, str, str]]:
    """(well path, row name, column name) of every well of a plate, in the plate's order."""
    attrs = _location(plate).root_attrs["plate"]
    rows = [r["name"] for r in attrs.get("rows", [])]
    columns = [c["name"] for c in attrs.get("columns", [])]
    wells = []
    for well in attrs.get("wells", []):
        path = str(well["path"])
        try:
            row, column = rows[well["rowIndex"]], columns[well["columnIndex"]]
        except (KeyError, IndexError, TypeError):
            row, _, column = path.partition("/")
        wells.append((path, row, column))
    return wells


def _well_fields(well: Path) -> list[str]:
    attrs = _location(well).root_attrs.get("well", {})
    return [str(image["path"]) for image in attrs.get("images", [])]


def _image_refs(path: Path) -> list[tuple[Path, Path | None, str, int | None]]:
    """(image folder, plate folder, well name, field index) of every image ``path`` names."""
    found = kind(path)
    if found == "plate":
        refs = []
        for well_path, row, column in _plate_wells(path):
            for index, field in enumerate(_well_fields(path / well_path)):
                refs.append((path / well_path / field, path, well_name(row, column), index))
        return refs
    if found == "well":
        plate = path.parent.parent
        row, column = path.parent.name, path.name
        if kind(plate) != "plate":
            plate = None
        return [(path / field, plate, well_name(row, column), index)
                for index, field in enumerate(_well_fields(path))]
    if found == "image":
        well = path.parent
        if kind(well) == "well" and path.name in _well_fields(well) and kind(well.parent.parent) == "plate":
            index = _well_fields(well).index(path.name)
            return [(path, well.parent.parent, well_name(well.parent.name, well.name), index)]
        return [(path, None, "", None)]
    _location(path)  # a missing path or a non-zarr folder says so
    raise NucflowError(f"{path}: a zarr group, but not an NGFF plate, well or image (no plate, well or "
                       "multiscales metadata)")


def list_images(path: str | Path) -> list[NgffImage]:
    """Every image ``path`` names (a plate's fields in well order, a well's fields, or one image)."""
    path = Path(path)
    refs = _image_refs(path)
    if not refs:
        raise NucflowError(f"{path}: the plate or well lists no images")
    return [read_image(image, plate=plate, well=well, field=field) for image, plate, well, field in refs]


def _node(location):
    from ome_zarr.reader import Node

    with _quiet():
        return Node(location, [location])


def _pixel_size_um(attrs: dict, axes: list[dict], path: Path) -> float | None:
    """Pixel edge (µm) of the full-resolution level: its ``scale`` times any multiscale-level scale."""
    multiscale = attrs["multiscales"][0]
    names = [axis["name"] if isinstance(axis, dict) else str(axis) for axis in axes]
    scale = np.ones(len(names))
    for transforms in (multiscale["datasets"][0].get("coordinateTransformations", []),
                       multiscale.get("coordinateTransformations", [])):
        for transform in transforms or []:
            if transform.get("type") == "scale" and "scale" in transform:
                scale = scale * np.asarray(transform["scale"], dtype=np.float64)
    units = [axis.get("unit") if isinstance(axis, dict) else None for axis in axes]
    sizes = []
    for name in ("y", "x"):
        unit = units[names.index(name)]
        if unit not in UNITS_UM:
            return None
        sizes.append(float(scale[names.index(name)]) * UNITS_UM[unit])
    if not all(np.isfinite(sizes)) or min(sizes) <= 0:
        return None
    if abs(sizes[0] - sizes[1]) > ANISOTROPY_TOLERANCE * sizes[1]:
        raise NucflowError(f"{path}: pixels are {sizes[1]:g} µm wide but {sizes[0]:g} µm high; nucflow needs "
                           "square pixels")
    return sizes[1]


def read_image(path: str | Path, *, plate: Path | None = None, well: str = "", field: int | None = None) -> NgffImage:
    """The :class:`NgffImage` at ``path`` (an image group). Refuses images with several time points."""
    path = Path(path)
    location = _location(path, "an OME-Zarr (NGFF) image")
    attrs = location.root_attrs
    if "multiscales" not in attrs:
        raise NucflowError(f"{path}: not an NGFF image (no multiscales metadata)")
    try:
        node = _node(location)
        axes_meta = node.metadata["axes"]
        axes = tuple(axis["name"] if isinstance(axis, dict) else str(axis) for axis in axes_meta)
        shape = tuple(int(n) for n in node.data[0].shape)
    except NucflowError:
        raise
    except Exception as exc:  # malformed metadata fails in ome-zarr's parser
        raise NucflowError(f"{path}: unreadable NGFF image metadata ({type(exc).__name__}: {exc})") from None
    if "y" not in axes or "x" not in axes:
        raise NucflowError(f"{path}: image axes {', '.join(axes)} have no y and x")
    image = NgffImage(path=path, version=location.version, axes=axes, shape=shape,
                      channel_names=tuple(node.metadata.get("channel_names") or ()),
                      pixel_size_um=_pixel_size_um(attrs, axes_meta, path), labels=_label_names(path),
                      plate=plate, well=well, field=field)
    if image.size("t") > 1:
        raise NucflowError(f"{path}: has {image.size('t')} time points; nucflow reads NGFF images with one")
    return image


def _label_names(path: Path) -> tuple[str, ...]:
    labels = path / "labels"
    if not labels.is_dir():
        return ()
    try:
        return tuple(str(name) for name in _location(labels).root_attrs.get("labels", []))
    except NucflowError:
        return ()


def channel_index(image: NgffImage, name: str | None, option: str = "--channel") -> int:
    """Index of channel ``name`` -- a channel name, or a 0-based index given as digits where no
    channel has that name; None picks the only channel of a one-channel image. A name that several
    channels share is refused (taking the first would be a guess): give the index."""
    names = image.channel_names
    listed = ", ".join(f"{i}: {n}" for i, n in enumerate(names)) if names else "no channel names"
    if name is None:
        if image.n_channels == 1:
            return 0
        raise NucflowError(f"{image.path}: has {image.n_channels} channels ({listed}); say which with {option} NAME")
    matches = [i for i, n in enumerate(names) if n == name]
    if len(matches) > 1:
        raise NucflowError(f"{image.path}: channels {' and '.join(map(str, matches))} are both named {name!r}; "
                           f"give the one you mean by its index ({option} {matches[0]})")
    if matches:
        return matches[0]
    if name.isdigit():
        index = int(name)
        if index < image.n_channels:
            return index
        raise NucflowError(f"{image.path}: no channel {index} ({option}); the image has {image.n_channels} "
                           f"channels ({listed})")
    raise NucflowError(f"{image.path}: no channel named {name!r} ({option}); the image has {listed}")


def read_channel(image: NgffImage, index: int) -> np.ndarray:
    """Channel ``index`` of the full-resolution level as (Z, H, W) (Z = 1 without a z axis)."""
    location = _location(image.path)
    data = _node(location).data[0]
    picks = tuple(index if axis == "c" else 0 if axis == "t" else slice(None) for axis in image.axes)
    kept = [axis for axis in image.axes if axis not in ("c", "t")]
    try:
        array = np.asarray(data[picks])
    except Exception as exc:  # missing or damaged chunks
        raise NucflowError(f"{image.path}: cannot read the image data ({type(exc).__name__}: {exc})") from None
    if any(axis not in ("z", "y", "x") for axis in kept):
        raise NucflowError(f"{image.path}: unexpected axes {', '.join(image.axes)} (expected t, c, z, y, x)")
    array = np.moveaxis(array, [kept.index(a) for a in ("y", "x")], [-2, -1])
    return array.reshape((-1, *array.shape[-2:]))


def read_labels(image: NgffImage, name: str) -> np.ndarray:
    """Entry ``name`` of the image's ``labels/`` group, full resolution, as (H, W)."""
    if name not in image.labels:
        listed = ", ".join(image.labels) if image.labels else "none"
        raise NucflowError(f"{image.path}: no labels entry named {name!r} (entries: {listed})")
    labels_image = read_image(image.path / "labels" / name)
    array = read_channel(labels_image, 0)
    if array.shape[0] != 1:
        raise NucflowError(f"{labels_image.path}: labels have {array.shape[0]} planes; nucflow needs 2-D labels")
    return array[0]


def _no_scaler() -> dict:
    """``scaler=None`` where ``write_labels`` still has the deprecated ``scaler`` argument (its default
    would override ``scale_factors``), nothing where it is gone."""
    import inspect

    from ome_zarr.writer import write_labels as ome_write_labels

    return {"scaler": None} if "scaler" in inspect.signature(ome_write_labels).parameters else {}


def _level_factors(location) -> list[int]:
    """Downsampling factor (in y and x) of each lower-resolution level of an image, so its labels get
    as many levels as the image (NGFF validators compare the two)."""
    data = _node(location).data
    width = data[0].shape[-1]
    return [max(1, int(round(width / level.shape[-1]))) for level in data[1:]]


def write_labels(image: NgffImage, name: str, labels: np.ndarray, properties: dict | None = None) -> Path:
    """Write (H, W) instance labels as entry ``name`` of the image's ``labels/`` group; returns its folder.

    An entry of that name is replaced as a whole: the new entry is written under a hidden temporary
    name and swapped in by renaming folders, so a failed or killed write leaves the old entry (a
    leftover ``.<name>.part-*`` folder is removed by the next write). The other entries and the
    image arrays are left as they are. The labels carry axes ``y, x`` with the image's pixel size
    (µm), as many resolution levels as the image (nearest-neighbour downsampling), ``image-label``
    metadata pointing at the image (``source: ../../``), and ``properties`` (JSON-ready) under the
    key ``nucflow``.
    """
    import shutil
    import uuid

    import zarr
    from ome_zarr.writer import write_labels as ome_write_labels

    labels = np.asarray(labels)
    if labels.shape != (image.size("y"), image.size("x")):
        raise NucflowError(f"{image.path}: labels of shape {labels.shape} do not match the image's "
                           f"{image.size('y')} x {image.size('x')} pixels")
    location = _location(image.path)
    scale = image.pixel_size_um or 1.0
    units = {"y": "micrometer", "x": "micrometer"} if image.pixel_size_um is not None else None
    folder = image.path / "labels"
    staging = f".{name}.part-{uuid.uuid4().hex[:8]}"
    try:
        for stale in folder.glob(f".{name}.part-*") if folder.is_dir() else ():
            shutil.rmtree(stale, ignore_errors=True)  # a killed earlier write
        listed = list(dict.fromkeys(_location(folder).root_attrs.get("labels", []))) if folder.is_dir() else []
        with _quiet():
            group = zarr.open_group(str(image.path), mode="r+")
            ome_write_labels(labels, group, name=staging, fmt=location.fmt, axes=["y", "x"], **_no_scaler(),
                             scale_factors=_level_factors(location),
                             scale={"y": scale, "x": scale}, axes_units=units,
                             label_metadata={"source": {"image": "../../"}})
            staged = zarr.open_group(str(folder / staging), mode="r+")
            if properties is not None:
                staged.attrs["nucflow"] = properties
            _rename_multiscales(staged, staging, name)
            old = folder / f".{name}.old-{uuid.uuid4().hex[:8]}"
            if (folder / name).exists():
                os.replace(folder / name, old)
            os.replace(folder / staging, folder / name)
            shutil.rmtree(old, ignore_errors=True)
            _list_labels(folder, [*listed, *([name] if name not in listed else [])], location.fmt)  # once
    except NucflowError:
        raise
    except Exception as exc:  # a read-only store, a full disk
        shutil.rmtree(folder / staging, ignore_errors=True)
        try:  # the listing as it was (the failed write had added its staging name)
            _list_labels(folder, listed, location.fmt)
        except Exception:  # the entry list is metadata only; the data are safe either way
            pass
        raise NucflowError(f"{image.path}: cannot write labels {name!r} ({type(exc).__name__}: {exc})") from None
    return image.path / "labels" / name


def _list_labels(folder: Path, names: list[str], fmt) -> None:
    """Set the ``labels`` list of an image's ``labels/`` group."""
    import zarr
    from ome_zarr.writer import add_metadata

    group_meta = {"labels": list(names)}
    if fmt.zarr_format == 3:  # NGFF 0.5 wants the version in every 'ome' object
        group_meta["version"] = fmt.version
    add_metadata(zarr.open_group(str(folder), mode="r+"), group_meta, fmt=fmt)


def _rename_multiscales(group, old: str, new: str) -> None:
    """Where the entry's metadata names itself (``multiscales[].name``), the staging name becomes ``new``."""
    attrs = group.attrs.asdict()
    holder = attrs.get("ome", attrs)
    changed = False
    for scale in holder.get("multiscales", []):
        if scale.get("name") == old:
            scale["name"], changed = new, True
    if changed:
        group.attrs.update(attrs)
