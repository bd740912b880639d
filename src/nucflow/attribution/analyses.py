"""The study's error analyses of one evaluation, as functions: each reads its inputs, computes its
tables and summary, and returns them as :class:`Outputs` (file name -> table or JSON object);
``nucflow attribute`` writes them. Every summary carries percentile bootstrap CIs over images
(seeded, :class:`Bootstrap`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.attribution.artifacts import artifact_effect, artifact_table
from nucflow.attribution.composition import composition_table
from nucflow.attribution.density import density_correlation, require_columns, size_bins
from nucflow.attribution.images import check_shape, manifest_image, read_manifest_rows, read_prediction
from nucflow.attribution.label_noise import label_noise_counts, label_noise_summary, label_noise_table, read_probabilities
from nucflow.attribution.stats import bootstrap_ci, mann_whitney_table
from nucflow.errors import NucflowError
from nucflow.io import read_image

#: pixel thresholds of the error curve (the paper's Fig. 6 range)
ERROR_CURVE_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


@dataclass(frozen=True)
class Bootstrap:
    """Percentile bootstrap over images: resamples, confidence level, seed."""

    n_boot: int = 2000
    level: float = 0.95
    seed: int = 0

    def kwargs(self) -> dict:
        return {"n_boot": self.n_boot, "level": self.level, "seed": self.seed}


@dataclass(frozen=True)
class Outputs:
    """What one analysis writes into its folder: CSV tables and JSON summaries, by file name."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    summaries: dict[str, dict] = field(default_factory=dict)


def read_table(path: Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise NucflowError(f"{path}: file not found")
    try:
        return pd.read_csv(path)
    except Exception as exc:
        raise NucflowError(f"{path}: not a readable CSV ({type(exc).__name__}: {exc})") from None


def _ratio_of_sums(values: np.ndarray) -> float:
    total = values[:, 1].sum()
    return float(values[:, 0].sum() / total) if total else math.nan


def _mean_model_share(values: np.ndarray) -> float:
    """values (images, models, 2) of (part, errors): mean over models of pooled part / errors."""
    part, errors = values[..., 0].sum(axis=0), values[..., 1].sum(axis=0)
    shares = part[errors > 0] / errors[errors > 0]
    return float(shares.mean()) if shares.size else math.nan


def error_tables(per_image_path: Path, per_object_path: Path | None = None, *, id_col: str = "image_id",
                 count_col: str = "n_true", score_col: str = "f1", group_col: str | None = "cell_line",
                 fn_col: str = "pixel_fn", fp_col: str = "pixel_fp", area_col: str = "area_px2",
                 iou_col: str = "best_iou", size_edges: Sequence[float] | None = None, n_bins: int = 5,
                 iou_threshold: float = 0.5, bootstrap: Bootstrap = Bootstrap()) -> Outputs:
    """Density (score against nuclei per image, per group), FN/FP composition and, with a per-object
    table, detection by nucleus size: ``density.csv``, ``composition.csv``, ``size_bins.csv`` and
    ``attribution.json``, from the per-image and per-object tables of one run (no images needed)."""
    per_image = read_table(per_image_path)
    boot = bootstrap.kwargs()
    summary: dict = {"per_image": str(per_image_path), "n_images": len(per_image)}
    density = density_correlation(per_image, count_col, score_col, group_col or None, **boot)
    summary["density"] = density.to_dict(orient="records")
    require_columns(per_image, [id_col, fn_col, fp_col], str(per_image_path))
    composition, pooled = composition_table(per_image, fn_col, fp_col, id_col)
    ci = bootstrap_ci(composition[["n_fn", "n_errors"]].to_numpy(float), _ratio_of_sums, **boot)
    summary["composition"] = {"n_fn": pooled.n_fn, "n_fp": pooled.n_fp, "fn_share_pooled": ci.as_dict(),
                              "fn_share_per_image_range": [float(composition["fn_share"].min()),
                                                           float(composition["fn_share"].max())]}
    tables = {"density.csv": density, "composition.csv": composition}
    if per_object_path is not None:
        per_object = read_table(per_object_path)
        bins = size_bins(per_object, area_col, iou_col, size_edges, n_bins, iou_threshold)
        tables["size_bins.csv"] = bins
        summary["size_bins"] = bins.to_dict(orient="records")
    return Outputs(tables, {"attribution.json": summary})


def label_noise(manifest: Path, pred_dirs: Sequence[Path], names: Sequence[str] | None = None, *,
                min_agree: int = 4, ids: Sequence[str] | None = None,
                bootstrap: Bootstrap = Bootstrap()) -> Outputs:
    """Share of each model's errors that the label, not the model, may be wrong about
    (``label_noise.csv``, ``label_noise.json``): pixels where at least ``min_agree`` of the models
    contradict the label, beside the simulator's truth where the manifest has it."""
    names = list(names or [Path(p).name for p in pred_dirs])
    if len(names) != len(pred_dirs):
        raise NucflowError(f"--model-names: {len(names)} names for {len(pred_dirs)} --pred-dirs")
    if not 1 <= min_agree <= len(pred_dirs):
        raise NucflowError(f"--min-agree: must lie in 1..{len(pred_dirs)}, got {min_agree}")
    image_ids, counts = [], []
    for _, row in read_manifest_rows(manifest, ids).iterrows():
        labels = manifest_image(manifest, row, "labels")
        labels_true = manifest_image(manifest, row, "labels_true")
        preds = [check_shape(read_prediction(d, row["image_id"]), labels.shape, f"{d}/{row['image_id']}")
                 for d in pred_dirs]
        if labels_true is not None:
            check_shape(labels_true, labels.shape, f"{row['image_id']} labels_true")
        probs = read_probabilities(pred_dirs, row["image_id"], labels.shape)
        counts.append(label_noise_counts(preds, labels, labels_true, min_agree, probs=probs))
        image_ids.append(row["image_id"])
    summary = {"models": names, "min_agree": min_agree, "n_images": len(counts), **label_noise_summary(counts)}
    boot = bootstrap.kwargs()
    flagged = np.array([[c.flagged_errors, c.errors] for c in counts], float).transpose(0, 2, 1)
    summary["flagged_share_ci"] = bootstrap_ci(flagged, _mean_model_share, **boot).as_dict()
    if all(c.true_noise_errors is not None for c in counts):
        true = np.array([[c.true_noise_errors, c.errors] for c in counts], float).transpose(0, 2, 1)
        summary["true_share_ci"] = bootstrap_ci(true, _mean_model_share, **boot).as_dict()
    return Outputs({"label_noise.csv": label_noise_table(image_ids, counts, names)}, {"label_noise.json": summary})


def has_artifact_masks(manifest: Path, ids: Sequence[str] | None = None) -> bool:
    rows = read_manifest_rows(manifest, ids)
    return "artifacts" in rows.columns and rows["artifacts"].fillna("").astype(str).str.strip().ne("").any()


def artifacts(manifest: Path, pred_dir: Path, *, ids: Sequence[str] | None = None,
              bootstrap: Bootstrap = Bootstrap()) -> Outputs:
    """F1 gained by ignoring annotated artifacts, and the share of errors inside them
    (``artifacts.csv``, ``artifacts.json``), over the images with an artifacts mask."""
    effects = {}
    for _, row in read_manifest_rows(manifest, ids).iterrows():
        mask = manifest_image(manifest, row, "artifacts")
        if mask is None:
            continue
        labels = manifest_image(manifest, row, "labels")
        pred = check_shape(read_prediction(pred_dir, row["image_id"]), labels.shape, f"{pred_dir}/{row['image_id']}")
        effects[row["image_id"]] = artifact_effect(labels, pred, check_shape(mask, labels.shape,
                                                                             f"{row['image_id']} artifacts"))
    if not effects:
        raise NucflowError(f"{manifest}: no image has an artifacts mask")
    table = artifact_table(effects)
    boot = bootstrap.kwargs()
    summary: dict = {"n_images": len(table)}
    for column in ("f1_gain", "error_share_in_artifacts"):
        values = table[column].dropna().to_numpy(float)
        summary[column] = {"mean_ci": bootstrap_ci(values, **boot).as_dict() if values.size else None,
                           "min": float(values.min()) if values.size else math.nan,
                           "max": float(values.max()) if values.size else math.nan}
    summary["error_share_in_artifacts_pooled"] = _ratio_of_sums(
        table[["n_errors_in_artifacts", "n_errors"]].to_numpy(float))
    return Outputs({"artifacts.csv": table}, {"artifacts.json": summary})


def morphology(tables: Sequence[Path], features: Sequence[str], names: Sequence[str] | None = None, *,
               correction: str = "holm") -> Outputs:
    """Pairwise Mann-Whitney tests of morphology features between the per-object tables of several
    instance methods (``mann_whitney.csv``)."""
    names = list(names or [Path(p).stem for p in tables])
    if len(names) != len(tables) or len(set(names)) != len(names):
        raise NucflowError(f"--names: need {len(tables)} distinct names, got {names}")
    frames = []
    for path, name in zip(tables, names):
        frame = read_table(path)
        require_columns(frame, features, str(path))
        frames.append(frame[list(features)].assign(method=name))
    table = mann_whitney_table(pd.concat(frames, ignore_index=True), "method", features, names, correction)
    return Outputs({"mann_whitney.csv": table})


def error_curve(manifest: Path, prob_dir: Path, *, ids: Sequence[str] | None = None, truth: str = "labels",
                thresholds: Sequence[float] = ERROR_CURVE_THRESHOLDS) -> Outputs:
    """``error_curve.csv``: one row per image and threshold (``image_id, pixel_threshold, merges,
    splits, missed, n_true, n_pred``); labels come from the published post-processing (threshold,
    components, objects and holes under 25 px removed) at each threshold."""
    from nucflow.evaluation.errors import error_curve as curve_of
    from nucflow.postprocess.registry import postprocess

    if any(not 0 < t < 1 for t in thresholds):
        raise NucflowError(f"--thresholds {list(thresholds)}: each must lie in (0, 1)")
    frames = []
    for _, row in read_manifest_rows(manifest, ids).iterrows():
        labels = manifest_image(manifest, row, truth)
        if labels is None:
            raise NucflowError(f"{manifest}: image {row['image_id']} has no {truth}")
        path = Path(prob_dir) / f"{row['image_id']}_prob.tif"
        if not path.is_file():
            raise NucflowError(f"{path}: probability map not found")
        prob = read_image(path)
        prob = prob if prob.ndim == 2 else 1.0 - prob[0]  # 3-class maps: 1 - P(background)
        curve = curve_of(labels, check_shape(prob, labels.shape, str(path)), list(thresholds),
                         postprocess=lambda p, t: postprocess("published", p, threshold=t))
        frames.append(curve.rename(columns={"threshold": "pixel_threshold"}).assign(image_id=row["image_id"]))
    table = pd.concat(frames, ignore_index=True)
    return Outputs({"error_curve.csv": table[["image_id", *[c for c in table.columns if c != "image_id"]]]})
