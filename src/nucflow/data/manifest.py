"""The manifest: one row per field of view, the contract between data and everything else.

Columns (see README, "Your own data"). Paths are relative to the manifest's folder.

========================  ========  ===================================================
column                    required  meaning
========================  ========  ===================================================
image_id                  yes       unique id of the field of view
dataset                   yes       data set name (e.g. ``seven_lines``)
cell_line                 yes       cell line (stratification, per-line analyses)
well, field               no        plate well and field number
instrument                no        microscope name
pixel_size_um             yes       pixel edge in µm (> 0, at most 50)
fluorescence              one of    nuclear-stain image, (H, W)
brightfield               one of    focal-plane stack, (n_planes, H, W), planes first
n_planes                  with bf   number of brightfield planes
labels                    yes       instance labels used as ground truth, integer (H, W)
label_source              no        where ``labels`` came from: ``given`` (also: empty, or no column),
                                    ``manual``, ``classical(d=12.0um)``, ``model:<run id>``
labels_true               no        exact truth (simulated data only), integer (H, W)
artifacts                 no        binary mask of annotated artifact regions, (H, W)
========================  ========  ===================================================

:func:`load_manifest` checks every row: each problem becomes one line naming the row, the column,
the file and what is wrong, collected into one :class:`~nucflow.errors.ManifestError`. Image ids
must be plain names (they become file names: no path separators, not ``.`` or ``..``); a pixel
size above :data:`MAX_PIXEL_SIZE_UM` is refused (a value in nm given as µm); a data set mixing
pixel sizes is accepted with a warning (``Manifest.warnings``); a plane stack stored planes-last
and an image under 16 px a side are refused.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

from nucflow.data.shapes import MIN_SIDE_PX, plane_axis
from nucflow.errors import ManifestError, NucflowError

REQUIRED = ("image_id", "dataset", "cell_line", "pixel_size_um", "labels")
IMAGE_COLUMNS = ("fluorescence", "brightfield")
OPTIONAL = ("well", "field", "instrument", "n_planes", "label_source", "labels_true", "artifacts")
COLUMNS = ("image_id", "dataset", "cell_line", "well", "field", "instrument", "pixel_size_um",
           "fluorescence", "brightfield", "n_planes", "labels", "label_source", "labels_true", "artifacts")
LABEL_COLUMNS = ("labels", "labels_true")
#: no microscope image used for nuclei has pixels this large; a larger value is in nm (325 for 0.325)
MAX_PIXEL_SIZE_UM = 50.0


@dataclass(frozen=True)
class ImageInfo:
    """Shape and dtype of one image file, read from its header (or its pixels when ``deep``)."""

    shape: tuple[int, ...]
    dtype: np.dtype
    minimum: float | None = None
    finite: bool = True
    axes: str = ""


@dataclass(frozen=True)
class Manifest:
    """A validated manifest. ``frame`` holds one row per image, indexed by position; ``warnings``
    are one-line notes on things that are allowed but suspicious (mixed pixel sizes)."""

    path: Path
    frame: pd.DataFrame
    warnings: tuple[str, ...] = ()

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def ids(self) -> list[str]:
        return self.frame["image_id"].tolist()

    def row(self, image_id: str) -> pd.Series:
        rows = self.frame[self.frame["image_id"] == image_id]
        if rows.empty:
            raise NucflowError(f"{self.path}: no image_id {image_id!r}")
        return rows.iloc[0]

    def pixel_size(self, image_id: str) -> float | None:
        """The image's ``pixel_size_um``; None when missing or not a positive number."""
        try:
            value = float(self.row(image_id).get("pixel_size_um"))
        except (TypeError, ValueError):
            return None
        return value if value > 0 else None

    def file(self, image_id: str, column: str) -> Path | None:
        """Absolute path of ``column`` for ``image_id``; None where the cell is empty."""
        value = self.row(image_id).get(column)
        if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
            return None
        return (self.root / str(value)).resolve()

    def select(self, dataset: str | None = None, cell_lines=None) -> pd.DataFrame:
        frame = self.frame
        if dataset is not None:
            frame = frame[frame["dataset"] == dataset]
        if cell_lines is not None:
            frame = frame[frame["cell_line"].isin(list(cell_lines))]
        return frame

    def label_sources(self) -> pd.Series:
        """Per row, where its ``labels`` came from (``given`` where the cell or column is empty)."""
        from nucflow.labels.stain_labels import parse_label_source

        return self.frame["label_source"].map(lambda value: parse_label_source(value).text)

    def summary(self) -> str:
        parts = []
        for dataset, group in self.frame.groupby("dataset", sort=True):
            parts.append(f"{dataset}: {len(group)} images, {group['cell_line'].nunique()} cell lines")
        counts = self.label_sources().value_counts()
        sources = ", ".join(f"{counts[name]} {name}" for name in sorted(counts.index))
        return f"{self.path}: valid; {len(self.frame)} images ({'; '.join(parts)}); labels: {sources}"


#: rescale an image to a model's pixel size when the two differ by more than this fraction
RESCALE_TOLERANCE = 0.05


def scale_factor(image_um: float | None, model_um: float | None) -> float:
    """Image / model pixel size when both are known and differ by more than 5 %, else 1."""
    if image_um is None or model_um is None:
        return 1.0
    factor = float(image_um) / float(model_um)
    return factor if abs(factor - 1.0) > RESCALE_TOLERANCE else 1.0


def _image_info(path: Path, deep: bool) -> ImageInfo:
    if path.suffix.lower() == ".png":
        from nucflow.io import read_image

        array = read_image(path)
        return ImageInfo(array.shape, array.dtype, float(array.min()) if array.size else None,
                         axes="YXS"[: array.ndim])
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        shape, dtype, axes = tuple(series.shape), np.dtype(series.dtype), series.axes
        if not deep:
            return ImageInfo(shape, dtype, axes=axes)
        array = series.asarray()
    minimum = float(array.min()) if array.size else None
    finite = bool(np.isfinite(array).all()) if np.issubdtype(dtype, np.floating) else True
    return ImageInfo(shape, dtype, minimum, finite, axes)


def _is_empty(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == ""


def _check_row(manifest_path: Path, number: int, row: pd.Series, deep: bool) -> list[str]:
    """All problems of one row; ``number`` is the 1-based data row (line number - 1)."""
    root = manifest_path.parent
    where = f"{manifest_path} row {number} (image_id={row['image_id']})"
    problems: list[str] = []
    infos: dict[str, ImageInfo] = {}

    try:
        size = float(row["pixel_size_um"])
        if not np.isfinite(size) or size <= 0:
            raise ValueError
        if size > MAX_PIXEL_SIZE_UM:
            problems.append(f"{where}, column pixel_size_um: {size:g} µm per pixel is implausible (more than "
                            f"{MAX_PIXEL_SIZE_UM:g}); is it in nm? ({size / 1000:g} µm)")
    except (TypeError, ValueError):
        problems.append(f"{where}, column pixel_size_um: {row['pixel_size_um']!r} is not a positive number")

    if all(_is_empty(row.get(c)) for c in IMAGE_COLUMNS):
        problems.append(f"{where}: neither fluorescence nor brightfield is given")
    problem = label_source_problem(row.get("label_source"))
    if problem:
        problems.append(f"{where}, column label_source: {problem}")

    for column in IMAGE_COLUMNS + LABEL_COLUMNS + ("artifacts",):
        value = row.get(column)
        if _is_empty(value):
            if column == "labels":
                problems.append(f"{where}, column labels: empty")
            continue
        path = root / str(value)
        if not path.is_file():
            problems.append(f"{where}, column {column}: {path}: file not found")
            continue
        try:
            infos[column] = _image_info(path, deep)
        except Exception as exc:  # any reader failure is the user's unreadable file
            problems.append(f"{where}, column {column}: {path}: unreadable image ({type(exc).__name__})")

    for column in LABEL_COLUMNS:
        info = infos.get(column)
        if info is None:
            continue
        path = root / str(row[column])
        if not np.issubdtype(info.dtype, np.integer) and info.dtype != np.bool_:
            problems.append(f"{where}, column {column}: {path}: labels must be integers, got {info.dtype}")
        elif info.minimum is not None and info.minimum < 0:
            problems.append(f"{where}, column {column}: {path}: negative label {info.minimum:g}")
        if len(info.shape) != 2:
            problems.append(f"{where}, column {column}: {path}: expected a 2-D (H, W) label image, got shape {info.shape}")

    reference = infos.get("labels")
    ref_shape = reference.shape if reference is not None and len(reference.shape) == 2 else None
    if ref_shape is not None and min(ref_shape) < MIN_SIDE_PX:
        problems.append(f"{where}, column labels: {root / str(row['labels'])}: image of {ref_shape[0]} x "
                        f"{ref_shape[1]} px is too small (each side must be at least {MIN_SIDE_PX} px)")
    for column in ("fluorescence", "labels_true", "artifacts"):
        info = infos.get(column)
        if info is None or ref_shape is None:
            continue
        shape = info.shape[-2:] if column == "fluorescence" and len(info.shape) == 3 and info.shape[0] == 1 else info.shape
        if tuple(shape) != ref_shape:
            problems.append(f"{where}, column {column}: {root / str(row[column])}: shape {info.shape} does not match labels {ref_shape}")
        if column == "fluorescence" and not info.finite:
            problems.append(f"{where}, column fluorescence: {root / str(row[column])}: contains NaN or inf")
    bright = infos.get("brightfield")
    if bright is not None:
        path = root / str(row["brightfield"])
        shape = bright.shape if len(bright.shape) == 3 else (1,) + tuple(bright.shape)
        planes_at = _plane_axis_problem(bright, row.get("n_planes"), path)
        if len(bright.shape) not in (2, 3):
            problems.append(f"{where}, column brightfield: {path}: expected (n_planes, H, W), got shape {bright.shape}")
        elif planes_at:
            problems.append(f"{where}, column brightfield: {planes_at}")
        else:
            if ref_shape is not None and tuple(shape[-2:]) != ref_shape:
                problems.append(f"{where}, column brightfield: {path}: planes of shape {shape[-2:]} do not match labels {ref_shape}")
            declared = row.get("n_planes")
            if _is_empty(declared):
                problems.append(f"{where}, column n_planes: empty although brightfield is given")
            else:
                try:
                    if int(float(declared)) != shape[0]:
                        problems.append(f"{where}, column n_planes: says {int(float(declared))} but {path} has {shape[0]} planes")
                except (TypeError, ValueError):
                    problems.append(f"{where}, column n_planes: {declared!r} is not an integer")
        if not bright.finite:
            problems.append(f"{where}, column brightfield: {path}: contains NaN or inf")
    return problems


def _plane_axis_problem(info: ImageInfo, declared, path: Path) -> str:
    """'' when a 3-D stack holds its planes first, else the problem (planes last, or undecidable)."""
    if len(info.shape) != 3:
        return ""
    try:
        n_planes = None if _is_empty(declared) else int(float(declared))
    except (TypeError, ValueError):
        n_planes = None
    try:
        axis = plane_axis(info.shape, info.axes, n_planes, str(path))
    except NucflowError as exc:
        return str(exc)
    if axis == 0:
        return ""
    return (f"{path}: shape {info.shape} (axes {info.axes}) holds its {info.shape[axis]} planes last; "
            "store plane stacks planes first, (n_planes, H, W)")


def label_source_problem(value) -> str:
    """'' for a valid ``label_source`` cell (empty included), else what is wrong with it."""
    from nucflow.labels.stain_labels import parse_label_source

    try:
        parse_label_source(value)
    except NucflowError as exc:
        return str(exc)
    return ""


def id_problem(image_id) -> str:
    """'' for an image id usable as a file name, else what is wrong with it (ids name output files,
    so a separator or ``..`` would write outside the output folder)."""
    text = str(image_id)
    if text != text.strip():
        return "starts or ends with white space"
    if any(ch in text for ch in "/\\\0"):
        return "contains a path separator"
    if text in (".", ".."):
        return "is not a file name"
    return ""


def pixel_size_warnings(path: Path, frame: pd.DataFrame) -> list[str]:
    """One line per data set whose images have different pixel sizes (allowed, but the networks then
    see nuclei at different scales)."""
    sizes = pd.to_numeric(frame["pixel_size_um"], errors="coerce")
    lines = []
    for dataset, group in sizes.groupby(frame["dataset"], sort=True):
        values = sorted(group.dropna().unique())
        if len(values) > 1:
            shown = ", ".join(f"{v:g}" for v in values[:5]) + (" ..." if len(values) > 5 else "")
            lines.append(f"{path}: warning: data set {dataset} mixes pixel sizes ({shown} µm/px); its nuclei "
                         "appear at different scales to the network")
    return lines


def read_manifest_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read the CSV and check its columns (no file checks). Raises ManifestError."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError([f"{path}: manifest not found"])
    try:
        frame = pd.read_csv(path, dtype={"image_id": str, "dataset": str, "cell_line": str, "well": str,
                                         "label_source": str})
    except pd.errors.EmptyDataError:
        raise ManifestError([f"{path}: empty manifest (no header, no rows)"]) from None
    except Exception as exc:
        raise ManifestError([f"{path}: not a readable CSV ({type(exc).__name__}: {exc})"]) from None
    missing = [c for c in REQUIRED if c not in frame.columns]
    if not any(c in frame.columns for c in IMAGE_COLUMNS):
        missing.append("fluorescence or brightfield")
    if missing:
        raise ManifestError([f"{path}: missing column {', '.join(repr(m) for m in missing)}"])
    if frame.empty:
        raise ManifestError([f"{path}: empty manifest (header but no rows)"])
    for column in COLUMNS:
        if column not in frame.columns:
            frame[column] = np.nan
    problems = []
    for column in ("image_id", "dataset", "cell_line"):
        for index in np.flatnonzero(frame[column].isna().to_numpy()):
            problems.append(f"{path} row {index + 1}, column {column}: empty")
    for index, image_id in frame["image_id"].dropna().items():
        problem = id_problem(image_id)
        if problem:
            problems.append(f"{path} row {index + 1}, column image_id: {image_id!r} {problem}; ids must be "
                            "plain names (they name output files)")
    duplicated = frame["image_id"][frame["image_id"].duplicated(keep="first")]
    for index, image_id in duplicated.items():
        problems.append(f"{path} row {index + 1}, column image_id: duplicate id {image_id!r}")
    if problems:
        raise ManifestError(problems)
    return frame


def load_manifest(path: str | os.PathLike, *, check_files: bool = True, deep: bool = False,
                  workers: int = 4) -> Manifest:
    """Read and validate a manifest.

    ``check_files`` opens every file named (header only unless ``deep``, which reads the pixels to
    find negative labels and NaNs). All problems are collected and raised together as one
    :class:`ManifestError` whose ``problems`` are single lines.
    """
    path = Path(path).resolve() if Path(path).is_file() else Path(path)
    frame = read_manifest_table(path)
    if check_files:
        rows = list(frame.iterrows())
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = pool.map(lambda item: _check_row(path, item[0] + 1, item[1], deep), rows)
        problems = [p for result in results for p in result]
        if problems:
            raise ManifestError(problems)
    frame = frame.reset_index(drop=True)
    return Manifest(path=path, frame=frame, warnings=tuple(pixel_size_warnings(path, frame)))
