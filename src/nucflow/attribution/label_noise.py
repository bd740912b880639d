"""Label noise: pixels where most models agree with each other against the ground truth.

Definitions (Ali et al. 2021 flag a pixel when at least 4 of 5 models trained on fluorescence
images predict the opposite of its ground-truth label):

* gt = ``labels > 0``; model k predicts ``pred_k`` (bool (H, W)).
* flagged = pixels where at least ``min_agree`` of the K models predict ``not gt``.
* errors of model k: ``E_k = pred_k != gt``; flagged errors: ``E_k & flagged``.
* **flagged share** of model k = |E_k & flagged| / |E_k|; the reported share is the *mean over
  models* of the per-model share, each per-model share pooled over images (sum of flagged errors
  over sum of errors). This is "the fraction of errors these pixels account for" (paper: 3–5%).

With the exact truth (simulated data), the true noise is ``(labels > 0) != (labels_true > 0)``:

* precision = |flagged & noise| / |flagged|, recall = |flagged & noise| / |noise|;
* **true share** of model k = |E_k & noise| / |E_k| (its errors that are only errors because the
  annotation is wrong), averaged over models like the flagged share, so estimated and true share
  can be compared directly.

Pixels outside an optional ``valid`` mask are ignored everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nucflow.errors import NucflowError


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else math.nan


@dataclass(frozen=True)
class LabelNoiseCounts:
    """Pixel counts behind the label-noise estimate of one image (or pooled: ``a + b``).

    errors[k], flagged_errors[k], true_noise_errors[k]: counts for model k. The ``true_*`` fields
    are None without the exact truth.
    """

    n_pixels: int
    n_flagged: int
    errors: tuple[int, ...]
    flagged_errors: tuple[int, ...]
    n_true_noise: int | None = None
    n_flagged_true_noise: int | None = None
    true_noise_errors: tuple[int, ...] | None = None

    def __add__(self, other: "LabelNoiseCounts") -> "LabelNoiseCounts":
        if not isinstance(other, LabelNoiseCounts):
            return NotImplemented
        if len(self.errors) != len(other.errors):
            raise NucflowError("label noise: cannot pool counts over different numbers of models")
        has_truth = self.n_true_noise is not None and other.n_true_noise is not None

        def add(a, b):
            return tuple(x + y for x, y in zip(a, b))

        return LabelNoiseCounts(
            n_pixels=self.n_pixels + other.n_pixels,
            n_flagged=self.n_flagged + other.n_flagged,
            errors=add(self.errors, other.errors),
            flagged_errors=add(self.flagged_errors, other.flagged_errors),
            n_true_noise=self.n_true_noise + other.n_true_noise if has_truth else None,
            n_flagged_true_noise=self.n_flagged_true_noise + other.n_flagged_true_noise if has_truth else None,
            true_noise_errors=add(self.true_noise_errors, other.true_noise_errors) if has_truth else None,
        )

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
        shares = [s for s in self.flagged_share_per_model if not math.isnan(s)]
        return float(np.mean(shares)) if shares else math.nan

    @property
    def true_share_per_model(self) -> tuple[float, ...] | None:
        if self.true_noise_errors is None:
            return None
        return tuple(_ratio(t, e) for t, e in zip(self.true_noise_errors, self.errors))

    @property
    def true_share(self) -> float | None:
        """Mean over models of the share of each model's errors caused by true label noise."""
        if self.true_noise_errors is None:
            return None
        shares = [s for s in self.true_share_per_model if not math.isnan(s)]
        return float(np.mean(shares)) if shares else math.nan

    @property
    def precision(self) -> float | None:
        """Share of flagged pixels that are truly noisy (None without the exact truth)."""
        return None if self.n_true_noise is None else _ratio(self.n_flagged_true_noise, self.n_flagged)

    @property
    def recall(self) -> float | None:
        """Share of truly noisy pixels that are flagged (None without the exact truth)."""
        return None if self.n_true_noise is None else _ratio(self.n_flagged_true_noise, self.n_true_noise)

    def summary(self) -> dict:
        """JSON-ready dict of the counts and the derived shares."""
        out = {"n_models": len(self.errors), "n_pixels": self.n_pixels, "n_flagged": self.n_flagged,
               "errors": list(self.errors), "flagged_errors": list(self.flagged_errors),
               "flagged_share_per_model": list(self.flagged_share_per_model),
               "flagged_share": self.flagged_share}
        if self.n_true_noise is not None:
            out.update({"n_true_noise": self.n_true_noise, "n_flagged_true_noise": self.n_flagged_true_noise,
                        "true_noise_errors": list(self.true_noise_errors),
                        "true_share_per_model": list(self.true_share_per_model),
                        "true_share": self.true_share, "precision": self.precision, "recall": self.recall})
        return out


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


def label_noise_counts(preds: Sequence[np.ndarray], labels: np.ndarray, labels_true: np.ndarray | None = None,
                       min_agree: int = 4, valid: np.ndarray | None = None) -> LabelNoiseCounts:
    """Count flagged pixels and each model's (flagged / truly noisy) errors on one image.

    preds: K bool / 0-1 / label (H, W) predictions (nonzero = foreground), one per model.
    labels: int (H, W) ground-truth labels used for training and scoring.
    labels_true: optional int (H, W) exact labels (simulated data).
    valid: optional bool (H, W); only these pixels are counted.
    """
    truth = _as_mask(labels, "labels", None)
    flagged = flag_label_noise(preds, labels, min_agree)
    keep = np.ones(truth.shape, bool) if valid is None else _as_mask(valid, "valid", truth.shape)
    errors = [(_as_mask(p, f"preds[{k}]", truth.shape) != truth) & keep for k, p in enumerate(preds)]
    flagged &= keep
    counts = dict(
        n_pixels=int(keep.sum()), n_flagged=int(flagged.sum()),
        errors=tuple(int(e.sum()) for e in errors),
        flagged_errors=tuple(int((e & flagged).sum()) for e in errors),
    )
    if labels_true is not None:
        noise = (truth != _as_mask(labels_true, "labels_true", truth.shape)) & keep
        counts.update(n_true_noise=int(noise.sum()), n_flagged_true_noise=int((noise & flagged).sum()),
                      true_noise_errors=tuple(int((e & noise).sum()) for e in errors))
    return LabelNoiseCounts(**counts)
