"""Whether a study reached the targets a reference result must meet, read from its result tables.

The targets are those of the reference study (``config/reference.yaml``):

* ``unet_brightfield``: U-Net on one brightfield plane of the seven-line test images reaches pixel
  F1 >= 0.80 and object F1 at IoU 0.5 >= 0.60 (means over test images; each seed and their mean);
* ``fluorescence``: every fluorescence run of the model comparison reaches pixel F1 >= 0.95;
* ``not_degenerate``: no run of any arm ends all background or all foreground;
* ``not_cut_short``: no run of any arm was stopped by its step cap while its validation loss still
  fell by more than 1 % over the last tenth of its steps (``convergence.csv``); each run's best
  step, cap and tail change are listed;
* ``claims_have_images``: no claim is inconclusive for lack of images (fewer than
  :data:`ENOUGH_IMAGES` test images, or too few for an estimate).

One row per check and subject (a run, a model, a claim), with the value, the threshold and
whether it is met; nothing is computed that the tables do not hold.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nucflow.errors import NucflowError

#: the fewest test images per data set and modality a claim may rest on (the reference study's design)
ENOUGH_IMAGES = 28
COLUMNS = ["target", "subject", "value", "threshold", "met", "note"]


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise NucflowError(f"{path}: not found (run the study to the end first)")
    return pd.read_csv(path, dtype={"planes": str, "degenerate": str, "note": str})


def _row(target: str, subject: str, value, threshold: str, met: bool, note: str = "") -> dict:
    return {"target": target, "subject": subject, "value": value, "threshold": threshold, "met": bool(met),
            "note": note}


def _one_plane(planes: pd.Series) -> pd.Series:
    return planes.astype(str).str.fullmatch(r"\d+")


def model_targets(runs: pd.DataFrame, dataset: str = "seven_lines") -> list[dict]:
    """U-Net brightfield (one plane) and every fluorescence run, from the model comparison's
    per-run table (published post-processing, the data set's test images)."""
    rows = []
    test = runs[(runs["arm"] == "model_comparison") & (runs["dataset"] == dataset)
                & (runs["method"] == "published") & (runs["eval_set"] == f"{dataset}-test")]
    unet = test[(test["model"] == "unet") & (test["modality"] == "brightfield") & _one_plane(test["planes"])]
    if unet.empty:
        rows.append(_row("unet_brightfield", "U-Net", None, "pixel F1 >= 0.80, object F1@0.5 >= 0.60", False,
                         "no U-Net brightfield run on one plane"))
    for seed, part in [*((f"seed {int(s)}", p) for s, p in unet.groupby("seed")), ("mean over seeds", unet)]:
        if part.empty:
            continue
        pixel = float(part["f1_mean_over_images"].mean())
        objects = float(part["f1_iou0.50_mean_over_images"].mean())
        rows.append(_row("unet_brightfield", f"U-Net, {seed}", f"{pixel:.3f} / {objects:.3f}",
                         "pixel F1 >= 0.80, object F1@0.5 >= 0.60", pixel >= 0.80 and objects >= 0.60))
    fluorescence = test[test["modality"] == "fluorescence"]
    if fluorescence.empty:
        rows.append(_row("fluorescence", "every model", None, "pixel F1 >= 0.95", False, "no fluorescence runs"))
    for _, run in fluorescence.iterrows():
        value = float(run["f1_mean_over_images"])
        rows.append(_row("fluorescence", str(run["run_id"]), round(value, 4), "pixel F1 >= 0.95", value >= 0.95))
    return rows


def degenerate_targets(runs: pd.DataFrame) -> list[dict]:
    """One row per run and evaluation that ended degenerate, or one row saying none did."""
    flagged = runs[runs["degenerate"].fillna("").astype(str).str.len() > 0]
    if flagged.empty:
        return [_row("not_degenerate", f"all {runs['run_id'].nunique()} runs", 0, "no degenerate run", True)]
    return [_row("not_degenerate", f"{r.run_id} ({r.eval_set}, {r.method})", r.degenerate, "no degenerate run",
                 False) for r in flagged.itertuples()]


def convergence_targets(convergence: pd.DataFrame) -> list[dict]:
    """One row per run: best step, steps run, cap, how training stopped and the tail change."""
    rows = []
    for run in convergence.drop_duplicates("run_id").itertuples():
        cut = str(run.cut_short).lower() == "true"
        change = float(run.tail_change)
        note = (f"best step {int(run.best_step)} of {int(run.steps_run)} (cap {int(run.cap)}), "
                f"stopped by {run.stopped}, validation loss change over the last tenth {change:+.1%}")
        rows.append(_row("not_cut_short", str(run.run_id), round(change, 4), "not stopped by the cap while the "
                         "loss fell > 1 % per tenth", not cut, note))
    return rows


def claim_targets(claims: pd.DataFrame, enough: int = ENOUGH_IMAGES) -> list[dict]:
    """One row per claim row: inconclusive for lack of images (fewer than ``enough`` test images,
    or too few for an estimate) fails."""
    rows = []
    for row in claims.itertuples():
        n_images = int(row.n_images) if pd.notna(row.n_images) else 0
        note = str(row.note) if isinstance(row.note, str) else ""
        lacking = row.verdict == "inconclusive" and (n_images < enough or "fewer than" in note)
        subject = f"claim {int(row.claim)}: {row.subject}" if isinstance(row.subject, str) else f"claim {int(row.claim)}"
        rows.append(_row("claims_have_images", subject, n_images, f"not inconclusive with < {enough} images",
                         not lacking, f"{row.verdict}" + (f"; {note}" if note else "")))
    return rows


def check_targets(results: str | Path) -> pd.DataFrame:
    """Every target's rows for the study under ``results`` (its ``tables/`` folder)."""
    tables = Path(results) / "tables"
    runs = _read(tables / "model_comparison" / "per_run.csv")
    every_run = pd.concat([_read(p) for p in sorted(tables.glob("*/per_run.csv"))], ignore_index=True)
    convergence = pd.concat([_read(p) for p in sorted(tables.glob("*/convergence.csv"))], ignore_index=True)
    rows = (model_targets(runs) + degenerate_targets(every_run) + convergence_targets(convergence)
            + claim_targets(_read(tables / "claims.csv")))
    return pd.DataFrame(rows, columns=COLUMNS)
