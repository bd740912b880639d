"""Error composition: how many misclassified pixels are false negatives vs false positives.

``fn_share = FN / (FN + FP)`` per image and pooled over images (sum of FN over sum of FN + FP);
the paper finds 53–61% of erroneous pixels are false negatives. NaN for an image without errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nucflow.attribution.density import require_columns
from nucflow.evaluation.pixel import pixel_counts


@dataclass(frozen=True)
class ErrorComposition:
    """False-negative and false-positive pixel counts and the FN share of all errors."""

    n_fn: int
    n_fp: int

    @property
    def n_errors(self) -> int:
        return self.n_fn + self.n_fp

    @property
    def fn_share(self) -> float:
        return self.n_fn / self.n_errors if self.n_errors else math.nan

    @property
    def fp_share(self) -> float:
        return self.n_fp / self.n_errors if self.n_errors else math.nan


def error_composition(truth: np.ndarray, pred: np.ndarray, valid: np.ndarray | None = None) -> ErrorComposition:
    """FN / FP pixel counts of one image. truth, pred: (H, W), nonzero = foreground."""
    counts = pixel_counts(truth, pred, valid=valid)
    return ErrorComposition(n_fn=counts.fn, n_fp=counts.fp)


def composition_table(per_image: pd.DataFrame, fn_col: str = "fn", fp_col: str = "fp",
                      id_col: str = "image_id") -> tuple[pd.DataFrame, ErrorComposition]:
    """Per-image FN share from a per-image table of pixel counts, and the pooled composition.

    per_image: one row per image with integer pixel counts in ``fn_col`` and ``fp_col``.
    Returns (table with columns ``image_id, n_fn, n_fp, n_errors, fn_share``, pooled counts).
    """
    require_columns(per_image, [id_col, fn_col, fp_col], "per-image table")
    fn = per_image[fn_col].to_numpy(np.int64)
    fp = per_image[fp_col].to_numpy(np.int64)
    errors = fn + fp
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(errors > 0, fn / np.maximum(errors, 1), np.nan)
    table = pd.DataFrame({"image_id": per_image[id_col].to_numpy(), "n_fn": fn, "n_fp": fp,
                          "n_errors": errors, "fn_share": share})
    return table, ErrorComposition(n_fn=int(fn.sum()), n_fp=int(fp.sum()))
