"""Choices the study makes from its own results, on validation images only.

* :func:`best_smoothing` -- per model, the label-smoothing factor with the highest pooled pixel F1
  (mean over seeds); the data_size arm's smooth variant trains with it.
* :func:`focal_round` -- one round of the greedy focal-plane search: the candidate run with the
  highest pooled pixel F1; its plane joins the input for the next round.
* :func:`focal_greedy` -- the rounds' choices as one table (the order in which planes were added).

Inputs are the ``summary.json`` files that ``nucflow evaluate`` writes under
``results/runs/<run_id>/metrics/<eval_set>/<method>/``; the run id is read from the path, so a
choice can always be traced back to the runs it compared. Ties go to the smaller factor / the
lower plane number, so the choice does not depend on file order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from nucflow.errors import NucflowError
from nucflow.io import read_json
from nucflow.study.layout import FocalRunId

SCORE = "f1_pooled"


def run_id_of(summary: Path) -> str:
    """``results/runs/<run_id>/metrics/<eval_set>/<method>/summary.json`` -> run id."""
    parts = Path(summary).parts
    if len(parts) < 5 or parts[-4] != "metrics":
        raise NucflowError(f"{summary}: expected .../<run_id>/metrics/<eval_set>/<method>/summary.json")
    return parts[-5]


def _score(summary: Path) -> float:
    content = read_json(summary)
    value = content.get(SCORE) if isinstance(content, dict) else None
    if not isinstance(value, (int, float)):
        raise NucflowError(f"{summary}: no numeric {SCORE!r}")
    return float(value)


def best_smoothing(summaries: Sequence[Path], runs: dict[str, tuple[str, float]]) -> dict:
    """{model: factor} from validation summaries; ``runs`` maps run id -> (model, factor)."""
    if not summaries:
        raise NucflowError("no smoothing runs to choose from")
    rows = []
    for path in summaries:
        run_id = run_id_of(path)
        if run_id not in runs:
            raise NucflowError(f"{path}: run {run_id!r} is not a smoothing run of this study")
        model, factor = runs[run_id]
        rows.append({"model": model, "factor": factor, "score": _score(path)})
    table = pd.DataFrame(rows).fillna({"score": -math.inf})
    means = table.groupby(["model", "factor"], as_index=False)["score"].mean()
    best = {}
    for model, part in means.groupby("model"):
        part = part.sort_values(["score", "factor"], ascending=[False, True])
        best[str(model)] = float(part.iloc[0]["factor"])
    return best


def focal_round(round_number: int, summaries: Sequence[Path]) -> dict:
    """The choice of one round: {round, order, added_plane, score, candidates}."""
    if not summaries:
        raise NucflowError(f"focal-plane round {round_number}: no candidate runs")
    candidates = []
    for path in summaries:
        run_id = run_id_of(path)
        focal = FocalRunId.parse(run_id)
        if focal is None or focal.round != round_number:
            raise NucflowError(f"{path}: run {run_id!r} is not a round-{round_number} focal-plane run")
        order = list(focal.order)
        score = _score(path)
        candidates.append({"run_id": run_id, "order": order, "plane": order[-1],
                           "score": score if math.isfinite(score) else None})
    prefixes = {tuple(c["order"][:-1]) for c in candidates}
    if len(prefixes) != 1:
        raise NucflowError(f"focal-plane round {round_number}: candidates extend different plane orders {sorted(prefixes)}")
    ranked = sorted(candidates, key=lambda c: (-(c["score"] if c["score"] is not None else -math.inf), c["plane"]))
    best = ranked[0]
    return {"round": round_number, "order": best["order"], "added_plane": best["plane"], "score": best["score"],
            "run_id": best["run_id"], "metric": SCORE, "candidates": sorted(candidates, key=lambda c: c["plane"])}


def focal_greedy(choices: Sequence[dict]) -> pd.DataFrame:
    """One row per round: round, planes (dot-separated order), added_plane, score, run_id."""
    rows = [{"round": c["round"], "planes": ".".join(map(str, c["order"])), "added_plane": c["added_plane"],
             "n_planes": len(c["order"]), "f1": c["score"], "run_id": c["run_id"]} for c in choices]
    return pd.DataFrame(rows).sort_values(["run_id"]).sort_values("round", kind="stable").reset_index(drop=True)
