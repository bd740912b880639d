"""Per-arm result tables: the per-image, per-object and per-run tables of every run of an arm,
each row tagged with the run's plan columns (model, modality, data set, seed, …).

Figures and the attribution step read only these tables.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from nucflow.errors import NucflowError

PLAN_COLUMNS = ("run_id", "arm", "dataset", "modality", "planes", "model", "width", "variant", "loss",
                "smoothing", "seed", "train_selection", "augment", "init_from")


def metrics_dir(run_id: str, eval_set: str, method: str) -> Path:
    return Path("results/runs") / run_id / "metrics" / eval_set / method


def collect(plan: pd.DataFrame, entries: list[tuple[str, str, str]], root: Path = Path(".")) -> dict[str, pd.DataFrame]:
    """Concatenate the tables of (run_id, eval_set, method) entries; returns per_image, per_object, per_run."""
    if not entries:
        raise NucflowError("nothing to aggregate: no (run, eval set, method) entries")
    by_id = plan.set_index("run_id")
    images, objects, runs = [], [], []
    for run_id, eval_set, method in entries:
        if run_id not in by_id.index:
            raise NucflowError(f"run {run_id!r} is not in the plan")
        tags = {c: by_id.at[run_id, c] for c in PLAN_COLUMNS if c != "run_id" and c in by_id.columns}
        tags.update(run_id=run_id, eval_set=eval_set, method=method)
        folder = root / metrics_dir(run_id, eval_set, method)
        for name, sink in (("per_image.csv", images), ("per_object.csv", objects)):
            path = folder / name
            if not path.is_file():
                raise NucflowError(f"{path}: missing; evaluate this run first")
            table = pd.read_csv(path)
            sink.append(table.assign(**{k: v for k, v in tags.items() if k not in table.columns}))
        summary_path = folder / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        flat = {k: v for k, v in summary.items() if not isinstance(v, (dict, list))}
        runs.append({**tags, **flat})
    return {"per_image": pd.concat(images, ignore_index=True),
            "per_object": pd.concat(objects, ignore_index=True),
            "per_run": pd.DataFrame(runs)}
