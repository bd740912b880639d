"""Segment image files with a trained model: the user mode of ``nucflow predict``.

    nucflow predict --model RUN_OR_EXPORT --out DIR [--tta] images/ more/*.tif one.png

Inputs are files, folders (their TIFF / OME-TIFF / PNG files, not recursive) or globs. Each image
gives, in ``DIR``:

* ``<stem>_prob.tif`` float32 probabilities, (H, W) (or (3, H, W) for a three-class model);
* ``<stem>_labels.tif`` instance labels (H, W), uint16 (uint32 above 65 535 nuclei);
* ``<stem>_objects.csv`` one row per nucleus (:func:`object_table`);

and the run gives ``summary.csv``: one row per input with ``status`` ok / skipped / error, the
message, the nucleus count and mean area. Every file is written atomically; an image whose three
outputs exist is skipped unless ``overwrite``. A bad image is reported in one line naming it and
skipped (or, with ``fail_fast``, ends the run); the caller turns any error into a non-zero exit.
"""

from __future__ import annotations

import glob
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
import torch

from nucflow.errors import NucflowError
from nucflow.evaluation.morphology import object_morphology, unit_suffixes
from nucflow.inference.predict import InferenceSettings, predict_field, select_input
from nucflow.inference.sliding import window_starts
from nucflow.io import read_image, write_csv, write_tiff
from nucflow.postprocess import POSTPROCESSORS, postprocess

IMAGE_SUFFIXES = (".tif", ".tiff", ".png")
OUTPUTS = ("_prob.tif", "_labels.tif", "_objects.csv")
#: axes of a TIFF series that may hold the planes of one field (Z focus, C channel, Q/I unnamed)
PLANE_AXES = "ZCQI"


# ---------------------------------------------------------------------------------------------
# inputs


def output_stem(path: Path) -> str:
    """``a/x.ome.tif`` -> ``x``; ``a/x.png`` -> ``x``."""
    name = path.name
    for suffix in (".ome.tiff", ".ome.tif", ".tiff", ".tif", ".png"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def expand_inputs(items: list[str], out_dir: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Image paths named by files, folders and globs, in order, each once; and the (item, problem)
    pairs of items that name no image. Folders and globs never pick up files inside ``out_dir``."""
    out_dir = out_dir.resolve()
    found: list[Path] = []
    problems: list[tuple[str, str]] = []

    def outside_out(path: Path) -> bool:
        return path.resolve().parent != out_dir

    for item in items:
        path = Path(item)
        if path.is_dir():
            images = sorted(p for p in path.iterdir() if _is_image(p) and outside_out(p))
            if not images:
                problems.append((item, f"{item}: folder holds no TIFF or PNG images"))
            found += images
        elif path.exists() or not any(ch in item for ch in "*?["):
            found.append(path)  # a missing or unsupported file is reported when it is read
        else:
            images = [Path(p) for p in sorted(glob.glob(item, recursive=True))]
            images = [p for p in images if _is_image(p) and outside_out(p)]
            if not images:
                problems.append((item, f"{item}: no TIFF or PNG images match"))
            found += images
    unique, seen = [], set()
    for path in found:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique, problems


def read_field(path: Path) -> np.ndarray:
    """One field from an image file: (H, W), or (planes, H, W) for a stack.

    TIFF / OME-TIFF: the first series; singleton axes are dropped and one remaining non-spatial
    axis (Z, C or unnamed) holds the planes. PNG: grey, or RGB(A) whose colour channels are equal.
    """
    if not path.is_file():
        raise NucflowError(f"{path}: file not found")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise NucflowError(f"{path}: unsupported format {path.suffix!r}; give TIFF, OME-TIFF or PNG")
    if path.suffix.lower() == ".png":
        array = read_image(path)
        axes = "YXS"[: array.ndim]
    else:
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                axes, array = series.axes, series.asarray()
        except Exception as exc:  # tifffile raises many types; the user needs the file and the reason
            raise NucflowError(f"{path}: unreadable image ({type(exc).__name__}: {exc})") from None
    array = np.asarray(array)
    if array.size == 0:
        raise NucflowError(f"{path}: empty image, shape {array.shape}")
    keep = [i for i, extent in enumerate(array.shape) if extent > 1 or axes[i] in "YX"]
    array = array.reshape([array.shape[i] for i in keep])
    axes = "".join(axes[i] for i in keep)
    if "S" in axes:  # colour samples: fine when grey in disguise
        samples = np.moveaxis(array, axes.index("S"), 0)
        colour = samples[:3] if len(samples) in (3, 4) else samples[:1]  # drop alpha
        if not all(np.array_equal(colour[0], c) for c in colour[1:]):
            raise NucflowError(f"{path}: colour image (axes {axes}, shape {array.shape}); "
                               "give a single-channel image or a plane stack")
        array, axes = colour[0], axes.replace("S", "")
    if array.ndim == 2:
        return array
    if array.ndim == 3 and axes[-2:] == "YX" and axes[0] in PLANE_AXES:
        return array
    raise NucflowError(f"{path}: expected an (H, W) image or a (planes, H, W) stack, got shape "
                       f"{array.shape} (axes {axes})")


# ---------------------------------------------------------------------------------------------
# outputs


def channel_names(spec) -> list[str]:
    """Names of the model's input channels: ``fluorescence`` or ``plane<k>`` (stack index)."""
    if spec.modality == "fluorescence":
        return ["fluorescence"]
    return [f"plane{p}" for p in (spec.planes or range(spec.in_channels))]


def object_table(labels: np.ndarray, channels: np.ndarray, names: list[str],
                 pixel_size_um: float | None = None) -> pd.DataFrame:
    """One row per object of ``labels`` (H, W): ``id``, ``centroid_y``, ``centroid_x`` (px, row and
    column), the shape columns of :func:`~nucflow.evaluation.morphology.object_morphology` (units as
    suffixes) and ``mean_intensity_<name>`` of each raw input channel in ``channels`` (C, H, W), in the
    image's own units (integer images are averaged in float64)."""
    from skimage.measure import regionprops_table

    morphology = object_morphology(labels, pixel_size_um).rename(columns={"object_id": "id"})
    # per-object measurement keeps memory at the image itself, also for 10k x 10k fields
    props = regionprops_table(labels, intensity_image=np.moveaxis(np.asarray(channels), 0, -1),
                              properties=("label", "centroid", "intensity_mean"))
    table = pd.DataFrame({"id": np.asarray(props["label"], np.int64),
                          "centroid_y": props["centroid-0"], "centroid_x": props["centroid-1"]})
    table = table.merge(morphology, on="id")
    for index, name in enumerate(names):
        table[f"mean_intensity_{name}"] = np.asarray(props[f"intensity_mean-{index}"], np.float64)
    return table


def label_dtype(labels: np.ndarray):
    """uint16 when the ids fit (Fiji opens it everywhere), else uint32."""
    return np.uint16 if int(labels.max(initial=0)) <= np.iinfo(np.uint16).max else np.uint32


# ---------------------------------------------------------------------------------------------
# running


class _TileCounter(torch.nn.Module):
    """The network, reporting every tile it evaluates (predict_field takes no progress callback)."""

    def __init__(self, network, report):
        super().__init__()
        self.network, self.report, self.done = network, report, 0

    def forward(self, x):
        out = self.network(x)
        self.done += x.shape[0]
        self.report(self.done)
        return out


@dataclass
class FilesRun:
    """Settings of one user-mode run. ``params`` override the post-processing defaults of ``method``."""

    settings: InferenceSettings
    method: str
    params: dict = field(default_factory=dict)
    pixel_size_um: float | None = None
    overwrite: bool = False
    fail_fast: bool = False
    log: TextIO | None = None  # None: sys.stderr at run time


def check_method(method: str, out_channels: int) -> None:
    """Refuse a method that cannot run on this model's output."""
    if method not in POSTPROCESSORS:
        raise NucflowError(f"--method {method!r}: unknown; choose from {', '.join(POSTPROCESSORS)}")
    if method == "multiscale":
        raise NucflowError("--method multiscale merges maps predicted at several scales; predict writes one "
                           "scale (run nucflow postprocess on maps of several scales)")
    if method == "three_class" and out_channels != 3:
        raise NucflowError("--method three_class needs a three-class model; this one predicts one foreground map")


def tile_count(shape: tuple[int, int], spec, settings: InferenceSettings) -> int:
    """Network tile evaluations for one (H, W) field: windows x TTA transforms x passes."""
    padded = (max(shape[0], spec.tile), max(shape[1], spec.tile))
    windows = len(window_starts(padded, spec.tile, settings.overlap))
    return windows * (8 if settings.tta else 1) * (2 if spec.normalisation == "foreground" else 1)


def segment_file(network, spec, path: Path, out: Path, run: FilesRun, report=lambda done, total: None) -> dict:
    """Predict, label and measure one image; write its three outputs; return its summary row."""
    raw = read_field(path)
    select_input(raw, spec, str(path))  # plane count, NaN and shape checks, before any work
    stack = raw[None] if raw.ndim == 2 else raw
    channels = stack if spec.modality == "fluorescence" else stack[list(spec.planes or range(spec.in_channels))]
    total = tile_count(channels.shape[1:], spec, run.settings)
    prob = predict_field(_TileCounter(network, lambda done: report(done, total)), spec, raw, run.settings,
                         tile=spec.tile, normalisation=spec.normalisation, percentiles=spec.percentiles,
                         name=str(path))
    if run.method == "three_class":
        source = prob
    else:  # a three-class model's foreground is everything but background
        source = prob[0] if len(prob) == 1 else 1.0 - prob[0]
    labels = postprocess(run.method, source.astype(np.float64), **run.params)
    table = object_table(labels, channels, channel_names(spec), run.pixel_size_um)
    stem = output_stem(path)
    write_tiff(out / f"{stem}_labels.tif", labels.astype(label_dtype(labels)))
    write_csv(out / f"{stem}_objects.csv", table)
    write_tiff(out / f"{stem}_prob.tif", prob[0] if len(prob) == 1 else prob)
    return {"count": len(table), "mean_area": float(table[_area_column(run)].mean()) if len(table) else np.nan}


def _area_column(run: FilesRun) -> str:
    return f"area_{unit_suffixes(run.pixel_size_um)[1]}"


def _existing_row(out: Path, stem: str, run: FilesRun) -> dict:
    try:
        table = pd.read_csv(out / f"{stem}_objects.csv")
        return {"count": len(table), "mean_area": float(table[_area_column(run)].mean()) if len(table) else np.nan}
    except (OSError, ValueError, KeyError):  # an unreadable old table only leaves the summary blank
        return {"count": np.nan, "mean_area": np.nan}


def predict_files(network, spec, items: list[str], out: str | Path, run: FilesRun) -> pd.DataFrame:
    """Segment every image named by ``items``; write per-image outputs and ``summary.csv``.

    Returns the summary (columns ``image, status, message, count, mean_area_<unit>, seconds``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    check_method(run.method, spec.out_channels)
    paths, problems = expand_inputs(items, out)
    log = run.log or sys.stderr
    rows = [{"image": item, "status": "error", "message": message} for item, message in problems]
    for _, message in problems:
        print(f"nucflow predict: {message}", file=log)
    stems: dict[str, Path] = {}
    live = getattr(log, "isatty", lambda: False)()  # a terminal gets a live tile counter
    restart = "\r\033[K" if live else ""  # back to the line start and clear the counter
    for number, path in enumerate(paths, start=1):
        if run.fail_fast and any(row["status"] == "error" for row in rows):
            break
        prefix = f"[{number}/{len(paths)}] {path}"
        stem = output_stem(path)
        start = time.perf_counter()
        row = {"image": str(path)}
        try:
            if stem in stems:
                raise NucflowError(f"{path}: would write the same outputs ({stem}_*) as {stems[stem]}; "
                                   "rename one or predict them into separate folders")
            stems[stem] = path
            if not run.overwrite and all((out / f"{stem}{suffix}").is_file() for suffix in OUTPUTS):
                row.update(status="skipped", message="outputs exist (--overwrite to redo)",
                           **_existing_row(out, stem, run))
                print(f"{prefix}: skipped, outputs exist", file=log)
            else:
                def report(done, total, prefix=prefix):
                    if live:
                        print(f"\r{prefix}: tile {done}/{total}", end="", file=log, flush=True)

                row.update(status="ok", message="", **segment_file(network, spec, path, out, run, report))
                print(f"{restart}{prefix}: {row['count']} nuclei "
                      f"({time.perf_counter() - start:.1f} s)", file=log)
        except NucflowError as exc:
            message = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
            row.update(status="error", message=message)
            print(f"{restart}nucflow predict: {message}", file=log)
        row["seconds"] = round(time.perf_counter() - start, 3)
        rows.append(row)
    summary = pd.DataFrame(rows, columns=["image", "status", "message", "count", "mean_area", "seconds"])
    summary["count"] = summary["count"].astype("Int64")
    summary = summary.rename(columns={"mean_area": _area_column(run).replace("area", "mean_area", 1)})
    write_csv(out / "summary.csv", summary)
    return summary
