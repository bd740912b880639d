"""How close a set of labels is to the truth: the label noise a data set's ground truth carries.

:func:`label_agreement` scores one image's labels (e.g. made from the stain by the classical
pipeline) against its exact truth (``labels_true`` of simulated data) with the study's own
metrics: pixel counts (:mod:`nucflow.evaluation.pixel`), one-to-one matching at IoU 0.5
(:mod:`nucflow.evaluation.matching`) and Ali et al.'s merges, splits and missed nuclei
(:mod:`nucflow.evaluation.errors`). Results add up over images (``sum(results)``), so a data set
is scored on pooled counts:

* ``pixel_f1`` = 2 TP / (2 TP + FP + FN) over all pixels;
* ``object_f1`` = 2 TP / (2 TP + FP + FN) over all objects matched at IoU >= 0.5;
* ``merges_per_100`` / ``splits_per_100`` / ``missed_per_100``: Ali et al.'s counts per 100 true
  nuclei (a merge is a label object with IoU >= 0.1 to more than one true nucleus).
"""

from __future__ import annotations

from dataclasses import dataclass

from nucflow.evaluation.errors import error_counts
from nucflow.evaluation.matching import match_overlap
from nucflow.evaluation.overlap import compute_overlap
from nucflow.evaluation.pixel import PixelCounts, pixel_counts, pixel_metrics

AGREEMENT_COLUMNS = ("n_images", "n_true", "n_labels", "pixel_f1", "object_f1_iou50", "merges_per_100",
                     "splits_per_100", "missed_per_100")


@dataclass(frozen=True)
class LabelAgreement:
    """Pooled agreement counts of labels with the truth over ``n_images`` images.

    Attributes:
        n_images: images pooled.
        n_true, n_labels: objects in the truth and in the labels.
        pixels: pixel confusion counts (labels as the prediction).
        tp, fp, fn: objects matched one-to-one at IoU >= 0.5, unmatched label objects, unmatched true.
        merges, splits, missed: Ali et al.'s object error counts.
    """

    n_images: int
    n_true: int
    n_labels: int
    pixels: PixelCounts
    tp: int
    fp: int
    fn: int
    merges: int
    splits: int
    missed: int

    def __add__(self, other: LabelAgreement) -> LabelAgreement:
        if not isinstance(other, LabelAgreement):
            return NotImplemented
        return LabelAgreement(self.n_images + other.n_images, self.n_true + other.n_true,
                              self.n_labels + other.n_labels, self.pixels + other.pixels, self.tp + other.tp,
                              self.fp + other.fp, self.fn + other.fn, self.merges + other.merges,
                              self.splits + other.splits, self.missed + other.missed)

    def __radd__(self, other):
        if isinstance(other, int) and other == 0:  # builtin sum() starts from 0
            return self
        return NotImplemented

    @property
    def pixel_f1(self) -> float:
        return pixel_metrics(self.pixels)["f1"]

    @property
    def object_f1(self) -> float:
        """F1 of the one-to-one matching at IoU 0.5 (0 when nothing matched, as in matching.py)."""
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0

    def per_100(self, count: int) -> float:
        return 100.0 * count / self.n_true if self.n_true else float("nan")

    def as_row(self) -> dict:
        """The values of :data:`AGREEMENT_COLUMNS`."""
        return {"n_images": self.n_images, "n_true": self.n_true, "n_labels": self.n_labels,
                "pixel_f1": self.pixel_f1, "object_f1_iou50": self.object_f1,
                "merges_per_100": self.per_100(self.merges), "splits_per_100": self.per_100(self.splits),
                "missed_per_100": self.per_100(self.missed)}


def label_agreement(labels_true, labels) -> LabelAgreement:
    """Agreement of ``labels`` (H, W) with ``labels_true`` (H, W), both non-negative integer
    instance labels (0 = background).

    >>> import numpy as np
    >>> truth = np.zeros((8, 12), np.uint16); truth[2:6, 1:5] = 1; truth[2:6, 6:10] = 2
    >>> merged = (truth > 0).astype(np.uint16); merged[2:6, 5] = 1  # one object over both
    >>> a = label_agreement(truth, merged)
    >>> (a.n_true, a.n_labels, a.tp, a.merges, round(a.pixel_f1, 3), a.object_f1)
    (2, 1, 0, 1, 0.941, 0.0)
    """
    overlap = compute_overlap(labels_true, labels, names=("labels_true", "labels"))
    matched = match_overlap(overlap, 0.5)
    errors = error_counts(labels_true, labels, overlap=overlap)
    return LabelAgreement(n_images=1, n_true=overlap.n_true, n_labels=overlap.n_pred,
                          pixels=pixel_counts(labels_true, labels), tp=matched.tp, fp=matched.fp, fn=matched.fn,
                          merges=errors.merges, splits=errors.splits, missed=errors.missed)
