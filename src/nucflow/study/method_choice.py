"""The instance method of a trained model, chosen on its own validation images.

A network gives a probability map; turning it into nuclei is a separate choice. Threshold plus
connected components (``published``) merges nuclei that touch, the watershed methods split them
and can over-split, and which one wins depends on the model, the modality and the density of the
images. So the study scores every two-channel method on a run's validation images and records the
best in the run folder (``instance_method.json``); ``nucflow predict`` and ``nucflow export`` take
the model's method from there, and ``--method`` still overrides it.

The score is object F1 at IoU 0.5 pooled over the images (true positives, false positives and
false negatives summed first, as StarDist's ``matching_dataset`` does); ties go to the method
listed first, so the choice does not depend on anything but the scores.

Written here rather than as rules over the existing predict / postprocess / evaluate steps: the
choice needs every method's labels of the same maps and nothing of them afterwards, so one job
predicts once, post-processes in memory and keeps only the scores (no label folders per method).
The work itself is the library's: :func:`~nucflow.inference.eval_set.predict_eval_set`, the
post-processing registry and :func:`~nucflow.evaluation.folder.evaluate_folder`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.errors import NucflowError
from nucflow.inference.model_spec import FOREGROUND_METHODS
from nucflow.io import read_image, write_tiff

#: the summary key the choice ranks by: object F1 at IoU 0.5, pooled over images
#: (``evaluation.tables.threshold_key(0.5)``; spelt out so that the workflow's parse need not import evaluation)
METRIC = "f1_iou0.50_pooled"
#: summary keys kept in the choice table beside the metric
KEPT = ("n_images", METRIC, "object_f1_pooled", "f1_pooled", "n_true_total", "n_pred_total")


def study_methods(config: dict) -> dict[str, dict]:
    """{method: parameter overrides} a study chooses between: the extensions arm's methods that
    read one probability map, in its order; the study's own method carries ``postprocess.params``."""
    listed = config["arms"]["extensions"]["methods"]
    methods = {m: {} for m in listed if m in FOREGROUND_METHODS}
    if config["postprocess"]["method"] in methods:
        methods[config["postprocess"]["method"]] = dict(config["postprocess"]["params"])
    check_methods(methods)
    return methods


def check_methods(methods: dict[str, dict]) -> None:
    if not methods:
        raise NucflowError("no instance methods to choose from")
    wrong = [m for m in methods if m not in FOREGROUND_METHODS]
    if wrong:
        raise NucflowError(f"cannot choose between {', '.join(wrong)}: the choice is among the methods "
                           f"that read one foreground probability map ({', '.join(FOREGROUND_METHODS)})")


def label_maps(prob_dir: Path, ids: list[str], method: str, params: dict, out: Path) -> None:
    """``<id>_labels.tif`` in ``out`` for every map ``<id>_prob.tif`` of ``prob_dir``, as
    ``nucflow postprocess`` writes them (same dtype rule, same float64 input)."""
    from nucflow.inference.files import label_dtype
    from nucflow.postprocess.registry import postprocess

    out.mkdir(parents=True, exist_ok=True)
    for image_id in ids:
        path = prob_dir / f"{image_id}_prob.tif"
        prob = read_image(path).astype(np.float64, copy=False)
        try:
            labels = postprocess(method, prob, **params)
        except NucflowError as exc:
            raise NucflowError(f"{path}: {exc}") from None
        write_tiff(out / f"{image_id}_labels.tif", labels.astype(label_dtype(labels)))


def score_methods(run_dir: str | Path, manifest, ids: list[str], methods: dict[str, dict], settings, *,
                  truth: str = "labels", window: int | None = None, work: str | Path | None = None,
                  label: str | None = None, rescale: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per method: the summary keys of :data:`KEPT`; per-image table of every method)
    of a run's network on the images ``ids`` of ``manifest``, each method with its ``params``.

    The probability maps are predicted once into ``work`` (a temporary folder when None).
    """
    from nucflow.evaluation.folder import evaluate_folder
    from nucflow.inference.eval_set import predict_eval_set

    check_methods(methods)
    if not ids:
        raise NucflowError(f"{run_dir}: no images to choose the instance method on")
    with tempfile.TemporaryDirectory(prefix="nucflow-choice-", dir=work) as tmp:
        prob_dir = Path(tmp) / "prob"
        predict_eval_set(run_dir, manifest, ids, prob_dir, settings, window=window, rescale=rescale)
        rows, images = [], []
        for method, params in methods.items():
            label_maps(prob_dir, ids, method, params, Path(tmp) / method)
            result = evaluate_folder(manifest, ids, Path(tmp) / method, truth=truth, prob_dir=prob_dir,
                                     run_id=Path(run_dir).name, manifest_label=label)
            rows.append({"method": method, **{key: result.summary.get(key) for key in KEPT}})
            images.append(result.per_image.assign(method=method))
    return pd.DataFrame(rows), pd.concat(images, ignore_index=True)


def choose(table: pd.DataFrame) -> str:
    """The method with the highest :data:`METRIC`; the first listed among equals."""
    scores = pd.to_numeric(table[METRIC], errors="coerce").fillna(-np.inf).to_numpy()
    return str(table["method"].iloc[int(np.argmax(scores))])


def record(table: pd.DataFrame, methods: dict[str, dict], eval_set: str) -> dict:
    """What ``instance_method.json`` holds: the chosen method, its full parameters, the images and
    metric it was chosen on, and every candidate's score."""
    from nucflow.postprocess.registry import default_params

    chosen = choose(table)
    params = {**default_params(chosen), **methods[chosen]}
    return {"method": chosen, "params": params, "chosen_on": eval_set, "n_images": int(table["n_images"].iloc[0]),
            "metric": "object F1 at IoU 0.5, pooled over images",
            "scores": {str(row["method"]): (None if pd.isna(row[METRIC]) else round(float(row[METRIC]), 6))
                       for _, row in table.iterrows()}}


__all__ = ["METRIC", "check_methods", "choose", "record", "score_methods", "study_methods"]
