"""Study mode of prediction: probability maps of a run for the images of one evaluation set (the
workflow's predict rule, through ``nucflow predict --manifest``)."""

from __future__ import annotations

import time
from pathlib import Path

from nucflow.data.manifest import scale_factor
from nucflow.data.tiles import read_tile_meta
from nucflow.errors import NucflowError
from nucflow.inference.images import read_field
from nucflow.inference.model_spec import recorded_input
from nucflow.inference.predict import InferenceSettings, load_run, predict_field_rescaled, predict_field_scales
from nucflow.inference.window import check_window
from nucflow.io import ensure_dir, write_tiff


def training_input(run, run_dir=None) -> dict:
    """Tile size, normalisation and percentiles the run was trained with: as training recorded them
    in the run folder (``train_done.json``), else from its training tile set."""
    recorded = recorded_input(run_dir) if run_dir is not None else None
    return recorded if recorded is not None else read_tile_meta(run.train_tiles[0])


def manifest_planes(manifest, image_id: str, modality: str) -> int | None:
    """The manifest's plane count of an image's stack (1 for fluorescence; None when not given)."""
    if modality == "fluorescence":
        return 1
    value = manifest.row(image_id).get("n_planes")
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def predict_eval_set(run_dir: str | Path, manifest, ids: list[str], out: str | Path,
                     settings: InferenceSettings, *, window: int | None = None,
                     scales: list[float] | None = None, rescale: bool = False) -> dict:
    """Write ``<image_id>_prob.tif`` (and ``<image_id>_prob_scales.tif`` with ``scales``) into ``out``
    for every image of ``ids`` in ``manifest``, then ``ids.txt``; returns what ``predict.json``
    records (window, the training input spec, images, seconds).

    ``window`` (default: the training tile) is the sliding-window size. No rescaling happens by
    default: the study measures exactly the unrescaled shift between instruments. ``rescale`` brings
    each image to the training pixel size first, as ``nucflow predict`` does for a user's files
    (images from another source, scored the way a user would run the model on them).
    """

    model, run_config = load_run(run_dir, settings.device)
    trained = training_input(run_config, run_dir)
    if window:
        check_window(run_config.model, window, trained["tile"])
    window = window or trained["tile"]
    out = ensure_dir(out)
    start = time.perf_counter()
    for image_id in ids:
        path = manifest.file(image_id, run_config.modality)
        if path is None:
            raise NucflowError(f"{manifest.path}: image {image_id} has no {run_config.modality} image")
        raw = read_field(path, manifest_planes(manifest, image_id, run_config.modality))
        factor = scale_factor(manifest.pixel_size(image_id), trained.get("pixel_size_um")) if rescale else 1.0
        prob = predict_field_rescaled(model, run_config, raw, settings, factor, tile=window,
                                      normalisation=trained["normalisation"], percentiles=trained["percentiles"],
                                      name=str(path))
        write_tiff(out / f"{image_id}_prob.tif", prob[0] if len(prob) == 1 else prob)
        if scales:
            scaled = predict_field_scales(model, run_config, raw, settings, scales, tile=window,
                                          normalisation=trained["normalisation"],
                                          percentiles=trained["percentiles"], name=str(path))
            write_tiff(out / f"{image_id}_prob_scales.tif", scaled)
    seconds = time.perf_counter() - start
    (out / "ids.txt").write_text("".join(f"{i}\n" for i in ids))
    return {"images": len(ids), "window": window, "seconds": round(seconds, 3), **trained}
