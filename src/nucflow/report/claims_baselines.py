"""Claim 9: StarDist agrees with ground truth about as well as the study's best network.

The CLL study (Vasinkova et al. 2024) compares its best network (U-Net++, 2- and 3-class) with
StarDist and finds that they differ in the shape of what they segment, not in their overall
agreement with ground truth. Here, per data set and modality that the baselines arm ran: StarDist's
object F1 at IoU 0.5 minus that of the best of the model comparison's networks (the highest mean
over the same test images), paired by image, each image averaged over seeds first, with a
bootstrap CI over images (:func:`nucflow.report.figure_tables.paired_difference`).

"About as well" is an equivalence claim, so its verdict is against a margin
(:data:`MARGIN_PP`), not one side of zero: ``agrees`` when the whole CI lies within ±margin,
``disagrees`` when it lies wholly outside, else ``inconclusive``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from nucflow.attribution.stats import Estimate
from nucflow.report.claims_rows import claim_row, not_run
from nucflow.report.figure_tables import paired_difference
from nucflow.results.inputs import BASELINES, PER_IMAGE, one_method, per_image_over_seeds, read_arm_table
from nucflow.results.names import dataset_name, model_name, ordered_datasets

CLAIM = 9
#: object F1 at IoU 0.5: the threshold the CLL study's instance comparison and StarDist's own use
METRIC = "f1_iou0.50"
#: equivalence margin, in percentage points of object F1
MARGIN_PP = 5.0
PAPER = "≈ 0: equal overall agreement with ground truth (CLL study, U-Net++ vs StarDist)"


def equivalence_verdict(estimate: Estimate, margin: float) -> str:
    """``agrees`` when the CI lies within ±``margin``, ``disagrees`` when wholly outside it."""
    if estimate.n == 0:
        return "not run"
    if not all(math.isfinite(v) for v in (estimate.value, estimate.low, estimate.high)):
        return "inconclusive"
    if -margin < estimate.low and estimate.high < margin:
        return "agrees"
    if estimate.low > margin or estimate.high < -margin:
        return "disagrees"
    return "inconclusive"


def _load(results: Path, relative: str) -> pd.DataFrame:
    return one_method(read_arm_table(results, relative, ("run_id", "image_id", "dataset", "modality", "seed"),
                                     (METRIC,)))


def baseline_claims(results: Path, n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """Claim 9's rows: one per baseline method, data set and modality."""
    results = Path(results)
    if not (results / BASELINES).is_file():
        return [not_run(CLAIM, PAPER, f"baselines arm off (missing {BASELINES})")]
    if not (results / PER_IMAGE).is_file():
        return [not_run(CLAIM, PAPER, f"missing {PER_IMAGE}")]
    networks, baselines = _load(results, PER_IMAGE), _load(results, BASELINES)
    rows = []
    for dataset in ordered_datasets(baselines["dataset"]):
        for modality in sorted(set(baselines.loc[baselines["dataset"] == dataset, "modality"])):
            mine = networks[(networks["dataset"] == dataset) & (networks["modality"] == modality)]
            theirs = baselines[(baselines["dataset"] == dataset) & (baselines["modality"] == modality)]
            for method in sorted(set(theirs["model"])):
                subject = f"{dataset_name(dataset)}, {modality}: {model_name(method)} − best network"
                if mine.empty:
                    rows.append(not_run(CLAIM, PAPER, "the model comparison did not run this condition", subject))
                    continue
                means = per_image_over_seeds(mine, ["model"], [METRIC]).groupby("model")[METRIC].mean()
                best = str(means.idxmax())
                this = per_image_over_seeds(theirs[theirs["model"] == method], [], [METRIC])
                other = per_image_over_seeds(mine[mine["model"] == best], [], [METRIC])
                estimate = paired_difference(this, other, METRIC, n_boot=n_boot, seed=seed)
                row = claim_row(CLAIM, subject, f"object F1 at IoU 0.5, paired by image, vs {model_name(best)} (pp)",
                                "pp", estimate, min(theirs["seed"].nunique(), mine["seed"].nunique()), PAPER, 0.0,
                                True, "" if estimate.n else "no test image was scored by both")
                row.update(expected=f"within ±{MARGIN_PP:g}", verdict=equivalence_verdict(estimate, MARGIN_PP))
                rows.append(row)
    return rows or [not_run(CLAIM, PAPER, "the baselines table has no rows")]
