"""Segment image files with a trained model: the user mode of ``nucflow predict``.

    nucflow predict --model RUN_OR_EXPORT --out DIR [--tta] images/ more/*.tif one.png

Inputs are files, folders (their TIFF / OME-TIFF / PNG files, not recursive), globs, or OME-Zarr
(NGFF) images, wells and plates. Each image
gives, in ``DIR``:

* ``<stem>_prob.tif`` float32 probabilities, (H, W) (or (3, H, W) for a three-class model);
* ``<stem>_labels.tif`` instance labels (H, W), uint16 (uint32 above 65 535 nuclei);
* ``<stem>_objects.csv`` one row per nucleus (:func:`object_table`), in pixels and, where the
  image's pixel size is known, in µm;
* ``<stem>_objects.geojson`` the nuclei's outlines with their measurements, a FeatureCollection
  QuPath imports (:mod:`nucflow.inference.outlines`);

and, for an OME-Zarr (NGFF) image, its labels as an entry of the image's ``labels/`` group
(:mod:`nucflow.inference.ngff_inputs`; ``FilesRun.ngff_labels`` None turns this off). The run
gives ``summary.csv``: one row per input with ``status`` ok / skipped / error, the message, the
nucleus count and mean area, the pixel size, the rescale factor and the provenance key. Every
file is written atomically. An image is skipped only when its four outputs exist and its labels
record the same provenance (input bytes, model, method, parameters, settings; see
:mod:`nucflow.inference.provenance`), unless ``overwrite``; a folder filled by another model is
refused. An image whose pixel size (``FilesRun.pixel_size_um`` when given, else the file's)
differs from the model's training pixel size by more than 5 % is predicted rescaled to it,
outputs on the image's own grid; a factor beyond 8x either way, or a stated pixel size outside
0.01-50 µm, is refused in one line. A bad image is reported in one line naming it and skipped (or, with
``fail_fast``, ends the run); the caller turns any error into a non-zero exit.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
import torch

from nucflow.data.manifest import RESCALE_TOLERANCE, scale_factor
from nucflow.errors import NucflowError
from nucflow.evaluation.morphology import object_morphology, unit_suffixes
from nucflow.inference.images import expand_inputs, output_stem, read_field, read_pixel_size_um
from nucflow.inference.outlines import geojson_features, write_geojson
from nucflow.inference.predict import InferenceSettings, predict_field_rescaled, select_input
from nucflow.inference.provenance import check_same_model, description, provenance_key, recorded, recorded_key
from nucflow.inference.sliding import window_starts
from nucflow.io import ensure_dir, file_sha256, write_csv, write_tiff
from nucflow.postprocess import POSTPROCESSORS, postprocess

OUTPUTS = ("_prob.tif", "_labels.tif", "_objects.csv", "_objects.geojson")
#: bumped when the outputs of one image gain content, so a rerun redoes older outputs
OUTPUTS_VERSION = 2
#: rescaling by more than this factor either way is refused (memory grows with its square, and such a
#: factor almost always means a wrong pixel size)
MAX_RESCALE = 8.0
#: pixel sizes outside this range (µm) are taken for wrong metadata (nm for µm, a placeholder value)
PLAUSIBLE_PIXEL_UM = (0.01, 50.0)


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
    column), the shape columns of :func:`~nucflow.evaluation.morphology.object_morphology` in pixels
    (``area_px2``, ``perimeter_px``, ...) and ``mean_intensity_<name>`` of each raw input channel in
    ``channels`` (C, H, W), in the image's own units (integer images are averaged in float64).

    With ``pixel_size_um`` (the image's pixel edge, µm) the physical columns follow their pixel
    ones: ``centroid_y_um``, ``centroid_x_um`` (pixel centres at (index) x pixel size), ``area_um2``,
    ``perimeter_um``, ``equivalent_radius_um``, and a last column ``pixel_size_um``.
    """
    from skimage.measure import regionprops_table

    morphology = object_morphology(labels, None).rename(columns={"object_id": "id"})
    if pixel_size_um is not None:
        physical = object_morphology(labels, pixel_size_um)
        position = morphology.columns.get_loc("equivalent_radius_px") + 1
        for offset, column in enumerate(("area_um2", "perimeter_um", "equivalent_radius_um")):
            morphology.insert(position + offset, column, physical[column].to_numpy())
    # per-object measurement keeps memory at the image itself, also for 10k x 10k fields
    props = regionprops_table(labels, intensity_image=np.moveaxis(np.asarray(channels), 0, -1),
                              properties=("label", "centroid", "intensity_mean"))
    table = pd.DataFrame({"id": np.asarray(props["label"], np.int64),
                          "centroid_y": props["centroid-0"], "centroid_x": props["centroid-1"]})
    if pixel_size_um is not None:
        table["centroid_y_um"] = table["centroid_y"] * float(pixel_size_um)
        table["centroid_x_um"] = table["centroid_x"] * float(pixel_size_um)
    table = table.merge(morphology, on="id")
    for index, name in enumerate(names):
        table[f"mean_intensity_{name}"] = np.asarray(props[f"intensity_mean-{index}"], np.float64)
    if pixel_size_um is not None:
        table["pixel_size_um"] = float(pixel_size_um)
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
    """Settings of one user-mode run. ``params`` override the post-processing defaults of ``method``.

    ``pixel_size_um`` is the images' pixel size; it overrides what a file states (with a note) and
    makes object sizes µm; ``model`` the model's identity (:func:`~nucflow.inference.provenance.model_identity`),
    recorded in every output and compared with the folder's ``predict.json``.
    """

    settings: InferenceSettings
    method: str
    params: dict = field(default_factory=dict)
    pixel_size_um: float | None = None
    overwrite: bool = False
    fail_fast: bool = False
    log: TextIO | None = None  # None: sys.stderr at run time
    model: dict = field(default_factory=dict)
    channel: str | None = None  # NGFF inputs: the channel that feeds the model (None: the only one)
    ngff_labels: str | None = "nucflow"  # NGFF inputs: labels entry written back (None: none)
    geojson_type: str = "detection"  # QuPath object type of the GeoJSON features


def check_method(method: str, out_channels: int) -> None:
    """Refuse a method that cannot run on this model's output."""
    if method not in POSTPROCESSORS:
        raise NucflowError(f"--method {method!r}: unknown; choose from {', '.join(POSTPROCESSORS)}")
    reads = POSTPROCESSORS[method].reads
    if reads == "scales":
        raise NucflowError(f"--method {method} merges maps predicted at several scales; predict writes one "
                           "scale (run nucflow postprocess on maps of several scales)")
    if reads == "three_class" and out_channels != 3:
        raise NucflowError(f"--method {method} needs a three-class model; this one predicts one foreground map")


def tile_count(shape: tuple[int, int], spec, settings: InferenceSettings) -> int:
    """Network tile evaluations for one (H, W) field: windows x TTA transforms x passes."""
    padded = (max(shape[0], spec.tile), max(shape[1], spec.tile))
    windows = len(window_starts(padded, spec.tile, settings.overlap))
    return windows * (8 if settings.tta else 1) * (2 if spec.normalisation == "foreground" else 1)


def expected_planes(spec) -> int:
    """The plane count a stack for this model most likely has (finds the plane axis of plain TIFFs)."""
    if spec.modality == "fluorescence":
        return 1
    return max(spec.planes) + 1 if spec.planes else spec.in_channels


def provenance(path: Path, spec, run: FilesRun, pixel_size_um: float | None, factor: float) -> dict:
    """What the outputs of ``path`` depend on (see :mod:`nucflow.inference.provenance`)."""
    from nucflow.inference.ngff_inputs import input_sha256, is_ngff_input

    settings = run.settings
    digest = input_sha256(path, run.channel) if is_ngff_input(path) else file_sha256(path)
    return {"input_sha256": digest, "model": run.model, "method": run.method, "params": run.params,
            "tile": spec.tile, "planes": list(spec.planes), "normalisation": spec.normalisation,
            "percentiles": list(spec.percentiles), "overlap": settings.overlap, "tta": settings.tta,
            "autocast": str(settings.autocast_dtype), "image_pixel_size_um": pixel_size_um,
            "model_pixel_size_um": spec.pixel_size_um, "scale": factor, "units_pixel_size_um": run.pixel_size_um,
            "outputs_version": OUTPUTS_VERSION, "geojson_type": run.geojson_type, "channel": run.channel}


def segment_file(network, spec, path: Path, out: Path, run: FilesRun, record: dict,
                 report=lambda done, total: None) -> dict:
    """Predict, label and measure one image; write its four outputs (and its NGFF labels entry); return its summary row.

    ``record`` (:func:`provenance`) goes into the TIFFs' descriptions; its ``scale`` resizes the
    image for the network.
    """
    from nucflow.inference import ngff_inputs

    ngff_input = ngff_inputs.is_ngff_input(path)
    if ngff_input:
        raw = ngff_inputs.read_input(path, run.channel, spec.modality)
    else:
        raw = read_field(path, expected_planes(spec))
    select_input(raw, spec, str(path), spec.tile)  # plane count, size, NaN checks, before any work
    stack = raw[None] if raw.ndim == 2 else raw
    channels = stack if spec.modality == "fluorescence" else stack[list(spec.planes or range(spec.in_channels))]
    factor = record["scale"]
    scaled = tuple(max(1, round(d * factor)) for d in channels.shape[1:])
    total = tile_count(scaled, spec, run.settings)
    prob = predict_field_rescaled(_TileCounter(network, lambda done: report(done, total)), spec, raw, run.settings,
                                  factor, tile=spec.tile, normalisation=spec.normalisation,
                                  percentiles=spec.percentiles, name=str(path))
    if POSTPROCESSORS[run.method].reads == "three_class":
        source = prob
    else:  # a three-class model's foreground is everything but background
        source = prob[0] if len(prob) == 1 else 1.0 - prob[0]
    labels = postprocess(run.method, source.astype(np.float64), **run.params)
    table = object_table(labels, channels, channel_names(spec), record["image_pixel_size_um"])
    stem = output_stem(path)
    text = description(record)
    labels = labels.astype(label_dtype(labels))
    write_tiff(out / f"{stem}_prob.tif", prob[0] if len(prob) == 1 else prob, description=text)
    write_csv(out / f"{stem}_objects.csv", table)
    write_geojson(out / f"{stem}_objects.geojson", geojson_features(labels, table, stem, run.geojson_type))
    if ngff_input and run.ngff_labels:
        ngff_inputs.write_back(path, run.ngff_labels, labels, {**record, "key": provenance_key(record)})
    write_tiff(out / f"{stem}_labels.tif", labels, description=text)  # last: marks done
    return {"count": len(table), "mean_area": float(table[_area_column(run)].mean()) if len(table) else np.nan}


def _area_column(run: FilesRun) -> str:
    return f"area_{unit_suffixes(run.pixel_size_um)[1]}"


def check_replaceable(out: Path, stem: str, identity: dict) -> None:
    """Refuse to replace an image's existing outputs unless nucflow wrote them for this model: a
    user's own ``<stem>_labels.tif`` or ``_objects.csv`` beside the image (no provenance in either
    TIFF), or outputs another model made. ``--overwrite`` replaces them all the same."""
    existing = [out / f"{stem}{suffix}" for suffix in OUTPUTS if (out / f"{stem}{suffix}").exists()]
    if not existing:
        return
    records = [recorded(out / f"{stem}{suffix}") for suffix in ("_labels.tif", "_prob.tif")]
    mine = next((record for record in records if record is not None), None)
    if mine is None:
        raise NucflowError(f"{existing[0]}: exists and was not written by nucflow predict; it is not replaced "
                           "(give another --out, or --overwrite)")
    _refuse_other_model(existing[0], mine, identity, "--out")


def _refuse_other_model(what, record: dict, identity: dict, option: str) -> None:
    """Refuse when ``record`` (an output's provenance) names a model with other weights."""
    made_by = record.get("model") or {}
    if made_by.get("weights_sha256") and identity.get("weights_sha256") and \
            made_by["weights_sha256"] != identity["weights_sha256"]:
        raise NucflowError(f"{what}: written by nucflow predict with model {made_by.get('run_id')}; it is not "
                           f"replaced by model {identity.get('run_id')}'s (give another {option}, or --overwrite)")


def _is_ngff(path: Path) -> bool:
    from nucflow.inference.ngff_inputs import is_ngff_input

    return is_ngff_input(path)


def check_labels_replaceable(path: Path, name: str, identity: dict) -> None:
    """Refuse to replace labels entry ``name`` of an OME-Zarr input unless nucflow wrote it for this
    model (hand-made ground truth under that name, or another model's labels, stay as they are)."""
    from nucflow.inference.ngff_inputs import labels_record

    record = labels_record(path, name)
    if record is None:
        return
    entry = f"{path}/labels/{name}"
    if not record:
        raise NucflowError(f"{entry}: a labels entry nucflow did not write; it is not replaced (give another name "
                           "with --ngff-labels-name, or --overwrite)")
    _refuse_other_model(entry, record, identity, "--ngff-labels-name")


def _ngff_labels_done(path: Path, run: FilesRun) -> bool:
    """False for an NGFF input whose labels entry is to be written and is missing."""
    from nucflow.inference.ngff_inputs import has_labels, is_ngff_input

    return not (run.ngff_labels and is_ngff_input(path)) or has_labels(path, run.ngff_labels)


def _existing_row(out: Path, stem: str, run: FilesRun) -> dict:
    try:
        table = pd.read_csv(out / f"{stem}_objects.csv")
        return {"count": len(table), "mean_area": float(table[_area_column(run)].mean()) if len(table) else np.nan}
    except (OSError, ValueError, KeyError):  # an unreadable old table only leaves the summary blank
        return {"count": np.nan, "mean_area": np.nan}


def _pixel_size(path: Path, run: FilesRun) -> tuple[float | None, str]:
    """The image's pixel size -- the run's (``--pixel-size-um``) when given, else the file's own --
    and a note when the two disagree; NucflowError for an implausible value the file states."""
    stated = read_pixel_size_um(path)
    if run.pixel_size_um is not None:
        note = ""
        if stated is not None and abs(stated / run.pixel_size_um - 1.0) > RESCALE_TOLERANCE:
            note = f"the file states {stated:g} µm/px; using --pixel-size-um {run.pixel_size_um:g}"
        return run.pixel_size_um, note
    low, high = PLAUSIBLE_PIXEL_UM
    if stated is not None and not low <= stated <= high:
        raise NucflowError(f"{path}: the file states a pixel size of {stated:g} µm, outside {low:g}-{high:g} µm "
                           "(wrong metadata, or nm?); give the right one with --pixel-size-um")
    return stated, ""


def check_rescale(path: Path, image_um: float | None, model_um: float | None, factor: float) -> None:
    """Refuse a rescale by more than :data:`MAX_RESCALE` either way, naming both pixel sizes."""
    if factor > MAX_RESCALE or factor < 1.0 / MAX_RESCALE:
        raise NucflowError(f"{path}: pixel size {image_um:g} µm against the model's {model_um:g} µm would rescale "
                           f"the image x{factor:.3g}, beyond {MAX_RESCALE:g}x either way; check the pixel size "
                           "(--pixel-size-um)")


def _rescale_note(spec, run: FilesRun) -> str:
    """One line when images cannot be rescaled to the model's pixel size ('' when they can be)."""
    if spec.pixel_size_um is None:
        return (f"note: the training pixel size of model {spec.run_id} is unknown; images are not rescaled "
                "(export the model with --pixel-size-um to record it)")
    if run.pixel_size_um is None:
        return (f"note: model {spec.run_id} was trained at {spec.pixel_size_um:g} µm/px; images whose files "
                "state no pixel size are not rescaled (give --pixel-size-um)")
    return ""


def predict_files(network, spec, items: list[str], out: str | Path, run: FilesRun) -> pd.DataFrame:
    """Segment every image named by ``items``; write per-image outputs and ``summary.csv``.

    Returns the summary (columns ``image, status, message, count, mean_area_<unit>, seconds,
    pixel_size_um, scale, provenance``).
    """
    out = ensure_dir(out)
    check_method(run.method, spec.out_channels)
    if run.model:
        check_same_model(out, run.model, run.overwrite)
    paths, problems = expand_inputs(items, out)
    log = run.log or sys.stderr
    rows = [{"image": item, "status": "error", "message": message} for item, message in problems]
    for _, message in problems:
        print(f"nucflow predict: {message}", file=log)
    note = _rescale_note(spec, run)
    if note:
        print(f"nucflow predict: {note}", file=log)
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
            if not path.exists():
                raise NucflowError(f"{path}: file not found")
            pixel_size, note = _pixel_size(path, run)
            if note:
                print(f"{prefix}: note: {note}", file=log)
            factor = scale_factor(pixel_size, spec.pixel_size_um)
            check_rescale(path, pixel_size, spec.pixel_size_um, factor)
            record = provenance(path, spec, run, pixel_size, factor)
            key = provenance_key(record)
            row.update(pixel_size_um=pixel_size, scale=record["scale"], provenance=key)
            if (not run.overwrite and all((out / f"{stem}{suffix}").is_file() for suffix in OUTPUTS)
                    and recorded_key(out / f"{stem}_labels.tif") == key and _ngff_labels_done(path, run)):
                row.update(status="skipped", message="outputs exist from the same input, model and settings "
                                                     "(--overwrite to redo)", **_existing_row(out, stem, run))
                print(f"{prefix}: skipped, outputs exist", file=log)
            else:
                if not run.overwrite:
                    check_replaceable(out, stem, run.model)
                    if run.ngff_labels and _is_ngff(path):
                        check_labels_replaceable(path, run.ngff_labels, run.model)

                def report(done, total, prefix=prefix):
                    if live:
                        print(f"\r{prefix}: tile {done}/{total}", end="", file=log, flush=True)

                row.update(status="ok", message="", **segment_file(network, spec, path, out, run, record, report))
                rescaled = f", rescaled x{record['scale']:.3g}" if record["scale"] != 1.0 else ""
                print(f"{restart}{prefix}: {row['count']} nuclei{rescaled} "
                      f"({time.perf_counter() - start:.1f} s)", file=log)
        except NucflowError as exc:
            message = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
            row.update(status="error", message=message)
            print(f"{restart}nucflow predict: {message}", file=log)
        except OSError as exc:  # a full disk, a quota, a read-only folder: this image fails, the rest go on
            row.update(status="error", message=f"{path}: {os_problem(exc)}")
            print(f"{restart}nucflow predict: {row['message']}", file=log)
        row["seconds"] = round(time.perf_counter() - start, 3)
        rows.append(row)
    summary = pd.DataFrame(rows, columns=["image", "status", "message", "count", "mean_area", "seconds",
                                          "pixel_size_um", "scale", "provenance"])
    summary["count"] = summary["count"].astype("Int64")
    summary = summary.rename(columns={"mean_area": _area_column(run).replace("area", "mean_area", 1)})
    try:
        write_csv(out / "summary.csv", summary)
    except OSError as exc:
        raise NucflowError(f"{out / 'summary.csv'}: {os_problem(exc)}; the images before it were written "
                           "(see the log)") from None
    return summary


def os_problem(exc: OSError) -> str:
    """One line for an operating-system error: what failed and on which file (no traceback)."""
    what = exc.strerror or type(exc).__name__
    return f"{what} ({exc.filename})" if exc.filename else what
