"""Label noise: how many of each model's errors are only errors because the annotation is wrong.

Three estimates of one quantity, and the truth where the simulator knows it.

* gt = ``labels > 0``; model k predicts ``pred_k`` (bool (H, W)); its errors ``E_k = pred_k != gt``.
* **true share** of model k (simulated data only): noise = ``(labels > 0) != (labels_true > 0)``,
  share = |E_k & noise| / |E_k| (its errors that are only errors because the label is wrong).

Estimates, none of which reads ``labels_true`` on the image it is applied to:

1. **flagged share** (Ali et al. 2021): flagged = pixels where at least ``min_agree`` of the K
   models predict ``not gt``; share = |E_k & flagged| / |E_k| (paper: 3-5%). With the truth,
   precision = |flagged & noise| / |flagged| and recall = |flagged & noise| / |noise|.
2. **confident-learning share** (Northcutt et al. 2021, label-free; needs probability maps): on the
   ensemble mean probability p, class thresholds t_fg = mean p over label-fg pixels and
   t_bg = mean (1 - p) over label-bg pixels; a pixel is counted for class j when its probability of
   j reaches t_j (the larger probability wins when both do); the off-diagonal counts, calibrated to
   the label counts, give how many label-fg and label-bg pixels are wrong, and that many pixels of
   each label class with the largest margin against their label are the estimated noise N_cl
   (thresholds and counts per image). share = |E_k & N_cl| / |E_k|.
3. **calibrated share** (simulated data; see :func:`held_out_noise_errors`): each error pixel of
   model k falls into a cell (label class x how many of the other K - 1 models agree with model k
   x distance to the label boundary, 1, 2, 3, >= 4 px); the share of noise among model k's errors
   in that cell is measured on the *other* images of the set (leave one image out) and summed over
   the image's error pixels. It is validated on held-out images; on real data the rates would have
   to come from a simulation, which assumes the simulator's noise resembles the real annotation's.

Object-level noise that a pixel mask cannot show: a true nucleus is *hosted* by the labels object
that holds most of its pixels when that object holds more than half of them; a labels object
hosting m >= 2 true nuclei merges them, and ``m - 1`` of them count as merged nuclei.

Shares are pooled over images per model (sum of parts over sum of errors); the reported share is
the mean over models. Pixels outside an optional ``valid`` mask are ignored everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from nucflow.errors import NucflowError
from nucflow.evaluation.overlap import best_pred_per_true, compute_overlap
from nucflow.io import read_image

#: Distance bins of the calibrated estimate: 1, 2, 3 and >= 4 px from the label boundary.
DISTANCE_BINS = 4


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def _add(a, b):
    if a is None or b is None:
        return None
    if isinstance(a, np.ndarray):
        return a + b
    if isinstance(a, tuple):
        return tuple(x + y for x, y in zip(a, b))
    return a + b


def _mean(values) -> float:
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


@dataclass(frozen=True, eq=False)
class LabelNoiseCounts:
    """Pixel and object counts behind the label-noise estimates of one image (or pooled: ``a + b``).

    errors[k], flagged_errors[k], cl_errors[k], true_noise_errors[k]: pixel counts for model k.
    cell_errors, cell_noise_errors: int64 (K, n_cells) errors of model k per cell of the calibrated
    estimate (module docstring; :func:`error_cells`), all of them and those on true noise.
    ``cl_*`` fields are None without probability maps; ``true_*``, ``cell_noise_errors`` and the
    nucleus counts are None without the exact truth.
    """

    n_pixels: int
    n_flagged: int
    errors: tuple[int, ...]
    flagged_errors: tuple[int, ...]
    n_true_noise: int | None = None
    n_flagged_true_noise: int | None = None
    true_noise_errors: tuple[int, ...] | None = None
    n_cl_flagged: int | None = None
    cl_errors: tuple[int, ...] | None = None
    n_cl_flagged_true_noise: int | None = None
    cell_errors: np.ndarray | None = None
    cell_noise_errors: np.ndarray | None = None
    n_true_nuclei: int | None = None
    n_merged_nuclei: int | None = None

    def __add__(self, other: "LabelNoiseCounts") -> "LabelNoiseCounts":
        if not isinstance(other, LabelNoiseCounts):
            return NotImplemented
        if len(self.errors) != len(other.errors):
            raise NucflowError("label noise: cannot pool counts over different numbers of models")
        return LabelNoiseCounts(**{f.name: _add(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)})

    def __radd__(self, other):
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented

    @property
    def flagged_share_per_model(self) -> tuple[float, ...]:
        return tuple(_ratio(f, e) for f, e in zip(self.flagged_errors, self.errors))

    @property
    def flagged_share(self) -> float:
        """Mean over models of the share of each model's errors that are flagged as label noise."""
        return _mean(self.flagged_share_per_model)

    @property
    def cl_share_per_model(self) -> tuple[float, ...] | None:
        if self.cl_errors is None:
            return None
        return tuple(_ratio(c, e) for c, e in zip(self.cl_errors, self.errors))

    @property
    def cl_share(self) -> float | None:
        """Mean over models of the share of errors on confident-learning noise (None without probabilities)."""
        return None if self.cl_errors is None else _mean(self.cl_share_per_model)

    @property
    def true_share_per_model(self) -> tuple[float, ...] | None:
        if self.true_noise_errors is None:
            return None
        return tuple(_ratio(t, e) for t, e in zip(self.true_noise_errors, self.errors))

    @property
    def true_share(self) -> float | None:
        """Mean over models of the share of each model's errors caused by true label noise."""
        return None if self.true_noise_errors is None else _mean(self.true_share_per_model)

    @property
    def precision(self) -> float | None:
        """Share of flagged pixels that are truly noisy (None without the exact truth)."""
        return None if self.n_true_noise is None else _ratio(self.n_flagged_true_noise, self.n_flagged)

    @property
    def recall(self) -> float | None:
        """Share of truly noisy pixels that are flagged (None without the exact truth)."""
        return None if self.n_true_noise is None else _ratio(self.n_flagged_true_noise, self.n_true_noise)

    @property
    def merged_per_100_true(self) -> float | None:
        """Merged nuclei in the labels per 100 true nuclei (None without the exact truth)."""
        return None if self.n_true_nuclei is None else 100 * _ratio(self.n_merged_nuclei, self.n_true_nuclei)

    def summary(self) -> dict:
        """JSON-ready dict of the counts and the derived shares; ``*_error_pp_per_model`` is estimate
        minus true share in percentage points."""
        out = {"n_models": len(self.errors), "n_pixels": self.n_pixels, "n_flagged": self.n_flagged,
               "errors": list(self.errors), "flagged_errors": list(self.flagged_errors),
               "flagged_share_per_model": list(self.flagged_share_per_model),
               "flagged_share": self.flagged_share}
        if self.cl_errors is not None:
            out.update({"n_cl_flagged": self.n_cl_flagged, "cl_errors": list(self.cl_errors),
                        "cl_share_per_model": list(self.cl_share_per_model), "cl_share": self.cl_share})
        if self.n_true_noise is not None:
            true = self.true_share_per_model
            out.update({"n_true_noise": self.n_true_noise, "n_flagged_true_noise": self.n_flagged_true_noise,
                        "true_noise_errors": list(self.true_noise_errors),
                        "true_share_per_model": list(true),
                        "true_share": self.true_share, "precision": self.precision, "recall": self.recall,
                        "flagged_error_pp_per_model": _pp(self.flagged_share_per_model, true)})
            if self.cl_errors is not None:
                out.update({"n_cl_flagged_true_noise": self.n_cl_flagged_true_noise,
                            "cl_precision": _ratio(self.n_cl_flagged_true_noise, self.n_cl_flagged),
                            "cl_recall": _ratio(self.n_cl_flagged_true_noise, self.n_true_noise),
                            "cl_error_pp_per_model": _pp(self.cl_share_per_model, true)})
        if self.n_true_nuclei is not None:
            out.update({"n_true_nuclei": self.n_true_nuclei, "n_merged_nuclei": self.n_merged_nuclei,
                        "merged_per_100_true": self.merged_per_100_true})
        return out


def _pp(estimate: Sequence[float], true: Sequence[float]) -> list[float]:
    return [100 * (e - t) for e, t in zip(estimate, true)]


def _as_mask(array, name: str, shape: tuple[int, ...] | None) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2:
        raise NucflowError(f"{name}: expected a 2-D image, got shape {array.shape}")
    if shape is not None and array.shape != shape:
        raise NucflowError(f"{name}: shape {array.shape} differs from labels {shape}")
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isin(array, (0.0, 1.0))):
        raise NucflowError(f"{name}: float array must be binary (0/1); binarise probabilities first")
    return array != 0


def flag_label_noise(preds: Sequence[np.ndarray], labels: np.ndarray, min_agree: int = 4) -> np.ndarray:
    """Bool (H, W): pixels where at least ``min_agree`` of the K predictions contradict ``labels > 0``."""
    truth = _as_mask(labels, "labels", None)
    if len(preds) < 2:
        raise NucflowError(f"label noise: need predictions of at least 2 models, got {len(preds)}")
    if not 1 <= int(min_agree) <= len(preds):
        raise NucflowError(f"min_agree: must lie in 1..{len(preds)} (number of models), got {min_agree}")
    against = np.zeros(truth.shape, np.int32)
    for k, pred in enumerate(preds):
        against += _as_mask(pred, f"preds[{k}]", truth.shape) != truth
    return against >= int(min_agree)


def confident_noise(prob: np.ndarray, labels: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Bool (H, W): the confident-learning estimate of the mislabelled pixels (module docstring, 2).

    prob: float (H, W) foreground probability in [0, 1] (the ensemble mean); labels: (H, W), nonzero
    = foreground; valid: optional bool (H, W), pixels outside it are neither counted nor flagged.
    Ties in the margin ranking go to the lower flat index, so the result is deterministic.
    """
    truth = _as_mask(labels, "labels", None)
    prob = np.asarray(prob, np.float64)
    if prob.shape != truth.shape:
        raise NucflowError(f"prob: shape {prob.shape} differs from labels {truth.shape}")
    if not np.all(np.isfinite(prob)) or prob.min(initial=0) < 0 or prob.max(initial=0) > 1:
        raise NucflowError("prob: probabilities must be finite and in [0, 1]")
    keep = np.ones(truth.shape, bool) if valid is None else _as_mask(valid, "valid", truth.shape)
    noisy = np.zeros(truth.shape, bool)
    class_prob = (1 - prob, prob)  # probability of class 0 (background) and 1 (foreground)
    thresholds = [float(class_prob[j][keep & (truth == j)].mean()) if (keep & (truth == j)).any() else math.inf
                  for j in (0, 1)]
    confident = [class_prob[j] >= thresholds[j] for j in (0, 1)]
    for i in (0, 1):  # i: given label; j = 1 - i: the other class
        j = 1 - i
        other = confident[j] & (~confident[i] | (class_prob[j] > class_prob[i]))
        same = confident[i] & ~other
        given = keep & (truth == i)
        n_other, n_same = int((given & other).sum()), int((given & same).sum())
        n_wrong = int(round(_ratio(n_other, n_other + n_same) * given.sum())) if n_other else 0
        if n_wrong:
            index = np.flatnonzero(given)
            margin = (class_prob[j] - class_prob[i]).ravel()[index]
            chosen = index[np.argsort(-margin, kind="stable")[:n_wrong]]
            noisy.ravel()[chosen] = True
    return noisy


def error_cells(preds: Sequence[np.ndarray], labels: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Int64 (K, H, W): the cell of the calibrated estimate of every error pixel of model k, -1 elsewhere.

    cell = (label class * K + other models agreeing with model k) * DISTANCE_BINS + distance bin,
    with the distance to the label boundary (Euclidean, within the pixel's label class) floored
    and clipped to 1..DISTANCE_BINS px. n_cells = 2 * K * DISTANCE_BINS.
    """
    truth = _as_mask(labels, "labels", None)
    masks = [_as_mask(p, f"preds[{k}]", truth.shape) for k, p in enumerate(preds)]
    keep = np.ones(truth.shape, bool) if valid is None else _as_mask(valid, "valid", truth.shape)
    inside = ndi.distance_transform_edt(truth) if truth.any() else np.zeros(truth.shape)
    outside = ndi.distance_transform_edt(~truth) if truth.any() else np.full(truth.shape, np.inf)
    distance = np.where(truth, inside, outside)
    distance_bin = np.clip(np.floor(np.minimum(distance, DISTANCE_BINS)), 1, DISTANCE_BINS).astype(np.int64) - 1
    n_fg = np.sum(masks, axis=0)
    n_models = len(masks)
    cells = np.full((n_models,) + truth.shape, -1, np.int64)
    for k, mask in enumerate(masks):
        agree = np.where(mask, n_fg, n_models - n_fg) - 1  # other models predicting what model k predicts
        cell = (truth.astype(np.int64) * n_models + agree) * DISTANCE_BINS + distance_bin
        cells[k] = np.where((mask != truth) & keep, cell, -1)
    return cells


def merged_nuclei(labels: np.ndarray, labels_true: np.ndarray) -> tuple[int, int]:
    """(n_true_nuclei, n_merged_nuclei) of integer (H, W) ``labels`` against ``labels_true``.

    A true nucleus is hosted by the labels object sharing most pixels with it (ties: lower id) when
    that object covers more than half of it; an object hosting m >= 2 nuclei adds m - 1 merged nuclei.
    """
    overlap = compute_overlap(labels_true, labels, names=("labels_true", "labels"))
    host, shared = best_pred_per_true(overlap, by="intersection")
    hosted = host[(host >= 0) & (2 * shared > overlap.true_area)]
    per_host = np.bincount(hosted, minlength=overlap.n_pred)
    return overlap.n_true, int(np.maximum(per_host - 1, 0).sum())


def label_noise_counts(preds: Sequence[np.ndarray], labels: np.ndarray, labels_true: np.ndarray | None = None,
                       min_agree: int = 4, valid: np.ndarray | None = None,
                       probs: Sequence[np.ndarray] | None = None) -> LabelNoiseCounts:
    """Count flagged pixels and each model's (flagged / confident-learning / truly noisy) errors on one image.

    preds: K bool / 0-1 / label (H, W) predictions (nonzero = foreground), one per model.
    labels: int (H, W) ground-truth labels used for training and scoring.
    labels_true: optional int (H, W) exact labels (simulated data); merged nuclei are counted when
        both label images are integer instance labels.
    valid: optional bool (H, W); only these pixels are counted.
    probs: optional K float (H, W) foreground probabilities in [0, 1] (the confident-learning estimate).
    """
    truth = _as_mask(labels, "labels", None)
    flagged = flag_label_noise(preds, labels, min_agree)
    keep = np.ones(truth.shape, bool) if valid is None else _as_mask(valid, "valid", truth.shape)
    errors = [(_as_mask(p, f"preds[{k}]", truth.shape) != truth) & keep for k, p in enumerate(preds)]
    flagged &= keep
    cells = error_cells(preds, labels, keep)
    n_cells = 2 * len(preds) * DISTANCE_BINS
    counts = dict(
        n_pixels=int(keep.sum()), n_flagged=int(flagged.sum()),
        errors=tuple(int(e.sum()) for e in errors),
        flagged_errors=tuple(int((e & flagged).sum()) for e in errors),
        cell_errors=np.stack([np.bincount(c[c >= 0], minlength=n_cells) for c in cells]).astype(np.int64),
    )
    cl = None
    if probs is not None:
        if len(probs) != len(preds):
            raise NucflowError(f"label noise: {len(probs)} probability maps for {len(preds)} predictions")
        cl = confident_noise(np.mean([np.asarray(p, np.float64) for p in probs], axis=0), labels, keep)
        counts.update(n_cl_flagged=int(cl.sum()), cl_errors=tuple(int((e & cl).sum()) for e in errors))
    if labels_true is not None:
        noise = (truth != _as_mask(labels_true, "labels_true", truth.shape)) & keep
        counts.update(n_true_noise=int(noise.sum()), n_flagged_true_noise=int((noise & flagged).sum()),
                      true_noise_errors=tuple(int((e & noise).sum()) for e in errors),
                      cell_noise_errors=np.stack([np.bincount(c[(c >= 0) & noise], minlength=n_cells)
                                                  for c in cells]).astype(np.int64))
        if cl is not None:
            counts["n_cl_flagged_true_noise"] = int((cl & noise).sum())
        instance = [np.asarray(a) for a in (labels, labels_true)]
        if all(np.issubdtype(a.dtype, np.integer) for a in instance):
            counts["n_true_nuclei"], counts["n_merged_nuclei"] = merged_nuclei(instance[0], instance[1])
    return LabelNoiseCounts(**counts)


def held_out_noise_errors(counts: Sequence[LabelNoiseCounts]) -> np.ndarray | None:
    """Float (n_images, K): the calibrated estimate of each model's errors on label noise per image.

    For image i, model k and every cell, the image's errors in the cell times the share of noise
    among model k's errors in that cell on all *other* images; a cell never seen elsewhere takes
    model k's held-out share over all cells. None without the exact truth or with fewer than 2 images.
    """
    if len(counts) < 2 or any(c.cell_noise_errors is None for c in counts):
        return None
    errors = np.stack([c.cell_errors for c in counts]).astype(float)  # (n_images, K, n_cells)
    noise = np.stack([c.cell_noise_errors for c in counts]).astype(float)
    rest_errors, rest_noise = errors.sum(0) - errors, noise.sum(0) - noise
    with np.errstate(invalid="ignore", divide="ignore"):
        fallback = rest_noise.sum(2, keepdims=True) / rest_errors.sum(2, keepdims=True)
        rate = np.where(rest_errors > 0, rest_noise / rest_errors, np.broadcast_to(fallback, rest_errors.shape))
    return np.where(errors > 0, errors * np.nan_to_num(rate), 0.0).sum(2)


def label_noise_table(image_ids: Sequence[str], counts: Sequence[LabelNoiseCounts],
                      names: Sequence[str]) -> pd.DataFrame:
    """One row per image and model: the counts behind every estimate (label_noise.csv).

    Columns: image_id, model, n_errors, n_flagged_errors, n_flagged, n_cl_errors, n_cl_flagged,
    n_calibrated_noise_errors (float), n_true_noise_errors, n_true_noise, n_true_nuclei,
    n_merged_nuclei; a column is empty where its input (probabilities, truth) is missing.
    """
    calibrated = held_out_noise_errors(counts)
    rows = []
    for i, (image_id, image) in enumerate(zip(image_ids, counts)):
        for k, name in enumerate(names):
            rows.append({"image_id": image_id, "model": name, "n_errors": image.errors[k],
                         "n_flagged_errors": image.flagged_errors[k], "n_flagged": image.n_flagged,
                         "n_cl_errors": image.cl_errors[k] if image.cl_errors is not None else None,
                         "n_cl_flagged": image.n_cl_flagged,
                         "n_calibrated_noise_errors": float(calibrated[i, k]) if calibrated is not None else None,
                         "n_true_noise_errors": image.true_noise_errors[k] if image.true_noise_errors else None,
                         "n_true_noise": image.n_true_noise, "n_true_nuclei": image.n_true_nuclei,
                         "n_merged_nuclei": image.n_merged_nuclei})
    return pd.DataFrame(rows)


def label_noise_summary(counts: Sequence[LabelNoiseCounts]) -> dict:
    """JSON-ready pooled summary (:meth:`LabelNoiseCounts.summary`) plus the calibrated estimate:
    ``calibrated_noise_errors``, ``calibrated_share_per_model``, ``calibrated_share`` and
    ``calibrated_error_pp_per_model`` (estimate minus true share, percentage points)."""
    pooled = sum(counts)
    out = pooled.summary()
    calibrated = held_out_noise_errors(counts)
    if calibrated is not None:
        per_model = [_ratio(c, e) for c, e in zip(calibrated.sum(0), pooled.errors)]
        out.update({"calibrated_noise_errors": [float(c) for c in calibrated.sum(0)],
                    "calibrated_share_per_model": per_model, "calibrated_share": _mean(per_model),
                    "calibrated_error_pp_per_model": _pp(per_model, pooled.true_share_per_model)})
    return out


def read_probabilities(pred_dirs: Sequence[Path], image_id: str, shape: tuple[int, ...]) -> list[np.ndarray] | None:
    """The K float (H, W) ``<dir>/<image_id>_prob.tif`` maps, or None unless every folder has one."""
    paths = [Path(d) / f"{image_id}_prob.tif" for d in pred_dirs]
    if not all(p.is_file() for p in paths):
        return None
    probs = []
    for path in paths:
        prob = read_image(path)
        if prob.shape != shape or not np.issubdtype(prob.dtype, np.floating):
            raise NucflowError(f"{path}: expected a float {shape} probability map, got {prob.dtype} {prob.shape}")
        probs.append(prob)
    return probs
