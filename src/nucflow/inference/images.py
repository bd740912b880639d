"""Image files for prediction: which files the arguments name, and one field read from each.

* :func:`expand_inputs` -- files, folders (not recursive) and globs, in order, each once; a folder
  that is an OME-Zarr (NGFF) plate, well or image stands for its images
  (:mod:`nucflow.inference.ngff_inputs`);
* :func:`read_field` -- (H, W), or a plane stack (planes, H, W) planes first whatever the file's
  axis order: named axes (OME-XML, ImageJ) decide, else the axis whose length is the expected plane
  count (:func:`nucflow.data.shapes.plane_axis`); undecidable stacks are refused with their axes;
* :func:`read_pixel_size_um` -- the pixel edge (µm) a TIFF states (OME ``PhysicalSizeX``, or
  ImageJ's resolution in microns), or None.
"""

from __future__ import annotations

import glob
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from nucflow.data.shapes import plane_axis
from nucflow.errors import NucflowError
from nucflow.io import read_image

IMAGE_SUFFIXES = (".tif", ".tiff", ".png")
#: axes of a TIFF series that may hold the planes of one field (Z focus, C channel, Q/I unnamed)
PLANE_AXES = "ZCQI"
#: OME length units in µm
OME_UNITS_UM = {"µm": 1.0, "um": 1.0, "micron": 1.0, "nm": 1e-3, "mm": 1e3, "m": 1e6, "Å": 1e-4}


def output_stem(path: Path) -> str:
    """``a/x.ome.tif`` -> ``x``; ``a/x.png`` -> ``x``; an NGFF plate field -> ``plate_B03_f0``."""
    from nucflow.inference.ngff_inputs import image_at, is_ngff_input

    if is_ngff_input(path):
        return image_at(path).stem
    name = path.name
    for suffix in (".ome.tiff", ".ome.tif", ".tiff", ".tif", ".png"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def in_out_dir(item: str, out_dir: Path) -> str:
    """The problem of an input whose images all lie directly in ``--out``."""
    return (f"{item}: its images lie in --out ({out_dir}), where predict writes its outputs, so they "
            "are not read as inputs; pass another --out")


def expand_inputs(items: list[str], out_dir: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Image paths named by files, folders and globs, in order, each once; and the (item, problem)
    pairs of items that name no image. Folders and globs never pick up files inside ``out_dir``."""
    out_dir = out_dir.resolve()
    found: list[Path] = []
    problems: list[tuple[str, str]] = []

    def outside_out(path: Path) -> bool:
        return path.resolve().parent != out_dir

    from nucflow.data.ngff import is_ngff
    from nucflow.inference.ngff_inputs import expand

    for item in items:
        path = Path(item)
        if path.is_dir() and is_ngff(path):
            try:
                found += expand(path)
            except NucflowError as exc:
                problems.append((item, str(exc)))
        elif path.is_dir():
            candidates = sorted(p for p in path.iterdir() if _is_image(p))
            images = [p for p in candidates if outside_out(p)]
            if not images:
                problems.append((item, in_out_dir(item, out_dir) if candidates else
                                 f"{item}: folder holds no TIFF or PNG images"))
            found += images
        elif path.exists() or not any(ch in item for ch in "*?["):
            found.append(path)  # a missing or unsupported file is reported when it is read
        else:
            candidates = [p for p in map(Path, sorted(glob.glob(item, recursive=True))) if _is_image(p)]
            images = [p for p in candidates if outside_out(p)]
            if not images:
                problems.append((item, in_out_dir(item, out_dir) if candidates else
                                 f"{item}: no TIFF or PNG images match"))
            found += images
    unique, seen = [], set()
    for path in found:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique, problems


def _read_with_axes(path: Path) -> tuple[np.ndarray, str]:
    if path.suffix.lower() == ".png":
        array = read_image(path)
        return array, "YXS"[: array.ndim]
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            return series.asarray(), series.axes
    except Exception as exc:  # tifffile raises many types; the user needs the file and the reason
        raise NucflowError(f"{path}: unreadable image ({type(exc).__name__}: {exc})") from None


def read_field(path: Path, n_planes: int | None = None) -> np.ndarray:
    """One field from an image file: (H, W), or (planes, H, W) for a stack.

    TIFF / OME-TIFF: the first series; singleton axes are dropped and one remaining non-spatial
    axis (Z, C or unnamed) holds the planes; ``n_planes`` (the plane count expected, when known)
    finds it in a plain TIFF, whose axes are unnamed; samples stored planar, before the image axes
    (a 3-plane stack saved as RGB), are planes, as ``nucflow import`` reads them. PNG and
    contiguous RGB TIFF: grey, or RGB(A) whose colour channels are equal.
    """
    path = Path(path)
    if not path.is_file():
        raise NucflowError(f"{path}: file not found")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise NucflowError(f"{path}: unsupported format {path.suffix!r}; give TIFF, OME-TIFF or PNG")
    array, axes = _read_with_axes(path)
    array = np.asarray(array)
    if array.size == 0:
        raise NucflowError(f"{path}: empty image, shape {array.shape}")
    keep = [i for i, extent in enumerate(array.shape) if extent > 1 or axes[i] in "YX"]
    array = array.reshape([array.shape[i] for i in keep])
    axes = "".join(axes[i] for i in keep)
    if "S" in axes and axes.index("S") < axes.index("Y"):
        # samples stored as separate planes before the image axes: a plane stack that the writer
        # labelled RGB (tifffile does so for 3- and 4-plane arrays), which `nucflow import` reads as
        # planes too. Colour images keep their samples last (contiguous), handled below.
        axes = axes.replace("S", "Z")
    if "S" in axes:  # colour samples: fine when grey in disguise
        samples = np.moveaxis(array, axes.index("S"), 0)
        colour = samples[:3] if len(samples) in (3, 4) else samples[:1]  # drop alpha
        if not all(np.array_equal(colour[0], c) for c in colour[1:]):
            raise NucflowError(f"{path}: colour image (axes {axes}, shape {array.shape}); "
                               "give a single-channel image or a plane stack")
        array, axes = colour[0], axes.replace("S", "")
    if array.ndim == 2:
        return array
    if array.ndim == 3 and all(a in PLANE_AXES + "YX" for a in axes):
        return np.moveaxis(array, plane_axis(array.shape, axes, n_planes, str(path)), 0)
    raise NucflowError(f"{path}: expected an (H, W) image or a (planes, H, W) stack, got shape "
                       f"{array.shape} (axes {axes})")


def _ome_pixel_size_um(ome_xml: str) -> float | None:
    try:
        root = ET.fromstring(ome_xml)
    except ET.ParseError:
        return None
    pixels = next((el for el in root.iter() if el.tag.endswith("Pixels")), None)
    if pixels is None or pixels.get("PhysicalSizeX") is None:
        return None
    factor = OME_UNITS_UM.get(pixels.get("PhysicalSizeXUnit", "µm"))
    try:
        return float(pixels.get("PhysicalSizeX")) * factor if factor is not None else None
    except ValueError:
        return None


def read_pixel_size_um(path: Path) -> float | None:
    """The pixel edge in µm stated by a TIFF (OME ``PhysicalSizeX`` with its unit, or an ImageJ
    TIFF's X resolution with unit micron), or by an NGFF image (its scale and axis unit); None for
    PNGs, other TIFFs and unreadable metadata."""
    from nucflow.inference.ngff_inputs import image_at, is_ngff_input

    path = Path(path)
    if is_ngff_input(path):
        return image_at(path).pixel_size_um
    if path.suffix.lower() not in (".tif", ".tiff"):
        return None
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            if tif.ome_metadata:
                return _ome_pixel_size_um(tif.ome_metadata)
            unit = str((tif.imagej_metadata or {}).get("unit", "")).replace("\\u00B5", "µ")
            if tif.is_imagej and unit in ("micron", "µm", "um"):
                numerator, denominator = tif.pages[0].tags["XResolution"].value
                return denominator / numerator if numerator else None
    except Exception:  # metadata we cannot read is metadata we do not have; the pixels are read later
        return None
    return None
