"""Difficulty check of the simulator with a simple learned pixel classifier (not a unit test).

No trained CNN is needed: per pixel, ``skimage.feature.multiscale_basic_features`` (intensity,
edges and texture at several scales) of the fluorescence image, or of three brightfield planes
stacked, plus the local texture energy at three scales, feed a small L2-regularised logistic regression (Newton steps in numpy) fitted to
``labels_true > 0`` on a random subset of pixels of the training fields, pooled over the lines.
Pixel F1 is then measured on other fields, per modality and per line. The simulator is calibrated
so that fluorescence comes out above 0.9, brightfield clearly lower, and the dense lines (HepG2)
below the sparse ones (NIH3T3); ``docs/simulator.md`` records the numbers.

Run it with :func:`pixel_classifier_check` (the simulator benchmark prints it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from skimage.feature import multiscale_basic_features

from nucflow.simulator.lines import plane_defocus_um
from nucflow.simulator.simulate import DatasetSpec, FieldImages, FieldKey, SimulationConfig, simulate_field


@dataclass(frozen=True)
class LogisticModel:
    """Standardisation (mean, sd per feature) and weights (n_features + 1,) of a logistic regression."""

    mean: np.ndarray
    sd: np.ndarray
    weights: np.ndarray

    def probability(self, features: np.ndarray) -> np.ndarray:
        """P(nucleus) for features (n, n_features) float."""
        z = ((features - self.mean) / self.sd) @ self.weights[:-1] + self.weights[-1]
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def fit_logistic(features: np.ndarray, target: np.ndarray, l2: float = 1e-3,
                 iterations: int = 25) -> LogisticModel:
    """Fit by Newton's method; ``features`` (n, d) float, ``target`` (n,) bool."""
    mean, sd = features.mean(0), features.std(0) + 1e-8
    x = np.hstack([(features - mean) / sd, np.ones((len(features), 1))])
    y = target.astype(np.float64)
    w = np.zeros(x.shape[1])
    penalty = l2 * len(x) * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        gradient = x.T @ (p - y) + penalty @ w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return LogisticModel(mean, sd, w)


def _normalise(image: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(image, [1.0, 99.8])
    return (image.astype(np.float32) - lo) / max(float(hi - lo), 1e-6)


def pixel_features(field: FieldImages, modality: str, planes: tuple[int, ...]) -> np.ndarray:
    """(H*W, n_features) float32 features of the fluorescence or the chosen brightfield planes."""
    if modality == "fluorescence":
        stack = _normalise(field.fluorescence)[..., None]
    else:
        stack = np.stack([_normalise(field.brightfield[i]) for i in planes], axis=-1)
    feats = multiscale_basic_features(stack, sigma_min=1.0, sigma_max=16.0, num_sigma=5,
                                      channel_axis=-1)
    # local texture energy (a linear model cannot square the signed Hessian features itself)
    energy = []
    for c in range(stack.shape[-1]):
        detail = stack[..., c] - ndi.gaussian_filter(stack[..., c], 1.5)
        energy += [np.sqrt(ndi.gaussian_filter(detail * detail, s)) for s in (2.0, 4.0, 8.0)]
    feats = np.concatenate([feats, np.stack(energy, axis=-1)], axis=-1)
    return feats.reshape(-1, feats.shape[-1]).astype(np.float32)


def _f1(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    tp = float(np.sum(pred & truth))
    fp, fn = float(np.sum(pred & ~truth)), float(np.sum(~pred & truth))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return f1, precision, recall


def pixel_classifier_check(config: SimulationConfig, dataset: str = "seven_lines",
                           image_size: tuple[int, int] = (320, 320), train_fields: int = 3,
                           test_fields: int = 3, pixels_per_field: int = 3000,
                           seed: int = 0) -> pd.DataFrame:
    """Pixel F1 of a logistic pixel classifier per modality and cell line.

    ``train_fields`` and ``test_fields`` fields per line (different wells) of ``dataset``, at
    ``image_size``, simulated without artifacts (the check measures the intrinsic difficulty); brightfield uses the most negative, the nominal in-focus and the most positive
    plane. Returns columns modality, cell_line, f1, precision, recall, f1_vs_labels (the same
    prediction scored against the classical-pipeline labels).
    """
    config = dataclasses.replace(config, artifact_fraction=0.0)  # intrinsic difficulty only
    spec = next(d for d in config.datasets if d.name == dataset)
    spec = DatasetSpec(spec.name, spec.instrument, spec.lines, train_fields + test_fields, 1, image_size)
    defocus = plane_defocus_um(config.instruments[spec.instrument], config.n_planes)
    focus = int(np.argmin(np.abs(defocus)))
    planes = tuple(sorted({0, focus, config.n_planes - 1}))
    fields = {line: [simulate_field(config, spec, FieldKey(spec.name, line, w, 1))
                     for w in range(1, train_fields + test_fields + 1)] for line in spec.lines}
    rng = np.random.default_rng(seed)
    rows = []
    for modality in ("fluorescence", "brightfield"):
        xs, ys = [], []
        for line in spec.lines:
            for field in fields[line][:train_fields]:
                feats = pixel_features(field, modality, planes)
                pick = rng.choice(len(feats), size=min(pixels_per_field, len(feats)), replace=False)
                xs.append(feats[pick])
                ys.append(field.labels_true.ravel()[pick] > 0)
        model = fit_logistic(np.concatenate(xs).astype(np.float64), np.concatenate(ys))
        for line in spec.lines:
            preds, truths, published = [], [], []
            for field in fields[line][train_fields:]:
                preds.append(model.probability(pixel_features(field, modality, planes)) > 0.5)
                truths.append(field.labels_true.ravel() > 0)
                published.append(field.labels.ravel() > 0)
            pred, truth = np.concatenate(preds), np.concatenate(truths)
            f1, precision, recall = _f1(pred, truth)
            rows.append({"modality": modality, "cell_line": line, "f1": f1, "precision": precision,
                         "recall": recall, "f1_vs_labels": _f1(pred, np.concatenate(published))[0]})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class LabelNoise:
    """How the classical-pipeline ``labels`` differ from ``labels_true`` on one field.

    Attributes:
        foreground_disagreement: share of pixels where (labels > 0) != (labels_true > 0).
        instance_disagreement: share of pixels whose instance differs after one-to-one matching of
            objects at IoU ≥ 0.5 (unmatched objects count as wrong wherever they are foreground).
        merged_true: true nuclei whose pixels lie mostly in one labels object that holds ≥ 2 such
            nuclei.
        n_true, n_labels: object counts.
    """

    foreground_disagreement: float
    instance_disagreement: float
    merged_true: int
    n_true: int
    n_labels: int


def label_noise(labels: np.ndarray, labels_true: np.ndarray) -> LabelNoise:
    """Compare two (H, W) integer instance label images (0 = background); see :class:`LabelNoise`."""
    pred = np.unique(labels, return_inverse=True)[1].reshape(labels.shape)
    true = np.unique(labels_true, return_inverse=True)[1].reshape(labels_true.shape)
    has_bg_p, has_bg_t = bool((labels == 0).any()), bool((labels_true == 0).any())
    if not has_bg_p:
        pred = pred + 1
    if not has_bg_t:
        true = true + 1
    n_p, n_t = int(pred.max()) + 1, int(true.max()) + 1
    overlap = np.bincount((pred * n_t + true).ravel(), minlength=n_p * n_t).reshape(n_p, n_t)
    area_p, area_t = overlap.sum(1), overlap.sum(0)
    iou = overlap / np.maximum(area_p[:, None] + area_t[None, :] - overlap, 1)
    iou[0, :] = 0
    iou[:, 0] = 0
    lut = np.full(n_p, -1, dtype=np.int64)
    lut[0] = 0
    pairs = np.argwhere(iou >= 0.5)  # IoU ≥ 0.5 pairs are unique per object, so no conflicts
    lut[pairs[:, 0]] = pairs[:, 1]
    instance = float(np.mean(lut[pred] != true))
    foreground = float(np.mean((labels > 0) != (labels_true > 0)))
    host = np.argmax(overlap[1:, :], axis=0) + 1  # labels object holding most of each true nucleus
    mostly = overlap[host, np.arange(n_t)] > 0.5 * np.maximum(area_t, 1)
    mostly[0] = False
    hosts, counts = np.unique(host[mostly], return_counts=True)
    merged = int(counts[counts >= 2].sum())
    return LabelNoise(foreground, instance, merged, n_t - 1, n_p - 1)
