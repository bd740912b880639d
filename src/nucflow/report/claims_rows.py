"""Rows of the claims table and their verdicts: the findings, the columns, one row per estimate.

:func:`claim_row` turns an estimate with its 95 % CI into a row with a verdict against the paper's
side of a threshold; :func:`not_run` records a claim that could not be computed and why. The claims themselves are
computed in :mod:`nucflow.report.claims`.
"""

from __future__ import annotations

import math
from nucflow.attribution.stats import Estimate
#: n_folds: the cross-validation folds every estimate pools (splits.folds; 1 with one split)
COLUMNS = ["claim", "finding", "subject", "quantity", "unit", "estimate", "ci_low", "ci_high", "n_images", "n_seeds",
           "n_folds", "paper", "expected", "verdict", "note"]
#: the columns every claims.csv has (one written before folds existed has no n_folds)
REQUIRED_COLUMNS = [c for c in COLUMNS if c != "n_folds"]
VERDICTS = ("agrees", "disagrees", "inconclusive", "not run")

FINDINGS = {
    1: "The deeper models beat U-Net on brightfield",
    2: "Fluorescence beats brightfield for every model",
    3: "Pixel F1 falls with cell density",
    4: "16 augmented images come within 5% of the full data set",
    5: "Augmentation and label smoothing help at small n",
    6: "One more focal plane helps",
    7: "The instrument shift costs more than the cell-line shift",
    8: "Fine-tuning raises target F1 and lowers source F1",
    9: "StarDist matches the best network (CLL study)",
}

def expectation(threshold: float, above: bool) -> str:
    """The paper's side of a threshold as text: ``> 0``, ``< 0``, ``> 95``."""
    return f"{'>' if above else '<'} {threshold:g}"


def verdict(estimate: Estimate, threshold: float, above: bool) -> str:
    """``agrees`` when the whole CI lies on the paper's side of ``threshold`` (above it when
    ``above``), ``disagrees`` when it lies wholly on the other side, ``inconclusive`` when it
    contains the threshold or the estimate or CI is undefined, ``not run`` when no image was
    scored (``estimate.n == 0``)."""
    if estimate.n == 0:
        return "not run"
    if not all(math.isfinite(v) for v in (estimate.value, estimate.low, estimate.high)):
        return "inconclusive"
    if estimate.low > threshold:
        return "agrees" if above else "disagrees"
    if estimate.high < threshold:
        return "disagrees" if above else "agrees"
    return "inconclusive"


def claim_row(claim: int, subject: str, quantity: str, unit: str, estimate: Estimate, n_seeds: int, paper: str,
              threshold: float, above: bool, note: str = "") -> dict:
    """One row of the claims table (see :data:`COLUMNS`)."""
    if estimate.n and not math.isfinite(estimate.value):
        note = "; ".join(filter(None, [note, "estimate undefined"]))
    return {"claim": claim, "finding": FINDINGS[claim], "subject": subject, "quantity": quantity, "unit": unit,
            "estimate": estimate.value, "ci_low": estimate.low, "ci_high": estimate.high, "n_images": estimate.n,
            "n_seeds": int(n_seeds), "paper": paper, "expected": expectation(threshold, above),
            "verdict": verdict(estimate, threshold, above), "note": note}


def not_run(claim: int, paper: str, reason: str, subject: str = "—") -> dict:
    """A claim (or sub-row) that could not be computed, with the reason."""
    return {"claim": claim, "finding": FINDINGS[claim], "subject": subject, "quantity": "", "unit": "",
            "estimate": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n_images": 0, "n_seeds": 0,
            "paper": paper, "expected": "", "verdict": "not run", "note": reason}
