"""Per-arm result tables: the per-image, per-object and per-run tables of every run of an arm,
each row tagged with the run's plan columns (model, modality, data set, seed, …).

Figures and the attribution step read only these tables.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from nucflow.errors import NucflowError
from nucflow.study.convergence import convergence, learning_curve
from nucflow.study.layout import LAYOUT, EvalSet
from nucflow.study.plan_table import with_focal_rounds

PLAN_COLUMNS = ("run_id", "arm", "dataset", "modality", "planes", "model", "width", "variant", "loss",
                "smoothing", "smoothing_from", "seed", "fold", "train_selection", "augment", "init_from", "n_train",
                "transfer", "target", "focal_round", "frem", "normalisation", "same_as")


def _tags(by_id: pd.DataFrame, run_id: str, eval_set: str, method: str) -> dict:
    """Plan columns of a run plus the evaluation's set, method and role (target / source / "")."""
    tags = {c: by_id.at[run_id, c] for c in PLAN_COLUMNS if c != "run_id" and c in by_id.columns}
    tags = {k: ("" if isinstance(v, float) and v != v and k in _TEXT_COLUMNS else v) for k, v in tags.items()}
    roles = {}
    if "eval_sets" in by_id.columns:
        sets = by_id.at[run_id, "eval_sets"]
        names = by_id.at[run_id, "eval_roles"] if "eval_roles" in by_id.columns else ()
        roles = {EvalSet.parse(s).key: r for s, r in zip(sets, names or ("",) * len(sets))}
    tags.update(run_id=run_id, eval_set=eval_set, method=method, eval_role=roles.get(eval_set, ""))
    tags.setdefault("fold", 0)  # a plan written before folds existed: its study has one split
    return tags


_TEXT_COLUMNS = ("transfer", "target", "smoothing_from", "init_from", "variant", "same_as")


def _tagged(table: pd.DataFrame, tags: dict) -> pd.DataFrame:
    """``table`` with the tag columns it lacks; its run id is always the tagged run's (a reused
    run's tables were written under the run they reuse)."""
    return table.assign(**{k: v for k, v in tags.items() if k not in table.columns or k == "run_id"})


def metrics_dir(run_id: str, eval_set: str, method: str) -> Path:
    return Path(LAYOUT.metrics(run_id, eval_set, method)).parent


def reusing_runs(plan: pd.DataFrame, arm: str | None) -> dict[str, str]:
    """{source run id: run id} of the runs of ``arm`` that reuse another arm's identical run."""
    if arm is None or "same_as" not in plan.columns:
        return {}
    rows = plan[(plan["arm"] == arm) & plan["same_as"].fillna("").astype(str).ne("")]
    return dict(zip(rows["same_as"].astype(str), rows["run_id"].astype(str)))


def collect(plan: pd.DataFrame, entries: list[tuple[str, str, str]], root: Path = Path("."),
            arm: str | None = None) -> dict[str, pd.DataFrame]:
    """Concatenate the tables of (run_id, eval_set, method) entries; returns per_image, per_object, per_pred_object
    (shapes of predicted objects, where evaluated), per_run, and per trained run its learning curve
    and how its training ended (learning_curves, convergence; see :mod:`nucflow.study.convergence`).

    ``plan`` is :func:`nucflow.study.plan_table.read_plan`'s table; runs a focal-plane search
    decided at run time are tagged from the round-1 row of their search.
    With ``arm``, an entry whose run belongs to another arm is read from that run's folder but
    tagged as the run of ``arm`` that reuses it (``same_as`` in the plan).
    """
    if not entries:
        raise NucflowError("nothing to aggregate: no (run, eval set, method) entries")
    alias = reusing_runs(plan, arm)
    by_id = with_focal_rounds(plan, [alias.get(e[0], e[0]) for e in entries]).set_index("run_id")
    images, objects, pred_objects, runs = [], [], [], []
    trained, curves, endings = {}, [], []
    for source_id, eval_set, method in entries:
        run_id = alias.get(source_id, source_id)
        tags = _tags(by_id, run_id, eval_set, method)
        folder = root / metrics_dir(source_id, eval_set, method)
        for name, sink in (("per_image.csv", images), ("per_object.csv", objects)):
            path = folder / name
            if not path.is_file():
                raise NucflowError(f"{path}: missing; evaluate this run first")
            sink.append(_tagged(pd.read_csv(path), tags))
        pred_path = folder / "per_pred_object.csv"
        if pred_path.is_file():
            pred_objects.append(_tagged(pd.read_csv(pred_path), tags))
        summary_path = folder / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        flat = {k: v for k, v in summary.items() if not isinstance(v, (dict, list))}
        runs.append({**tags, **flat})
        if run_id not in trained:  # once per run, whatever its evaluations
            run_tags = {k: v for k, v in tags.items() if k not in ("eval_set", "method", "eval_role")}
            run_dir = root / LAYOUT.run_dir(source_id)
            trained[run_id] = run_tags
            curves.append(_tagged(learning_curve(run_dir), run_tags))
            endings.append({**run_tags, **convergence(run_dir)})
    tables = {"per_image": pd.concat(images, ignore_index=True),
              "per_object": pd.concat(objects, ignore_index=True),
              "per_run": pd.DataFrame(runs),
              "learning_curves": pd.concat(curves, ignore_index=True),
              "convergence": pd.DataFrame(endings)}
    tables["per_pred_object"] = pd.concat(pred_objects, ignore_index=True) if pred_objects else pd.DataFrame()
    return tables


RUN_ANALYSES = {"tables": ("density.csv", "size_bins.csv", "composition.csv", "error_curve.csv"),
                "artifacts": ("artifacts.csv",)}
SUMMARIES = {"tables": "attribution.json", "artifacts": "artifacts.json"}


def _flat(prefix: str, summary: dict) -> dict:
    out = {}
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(f"{name}.", value))
        elif not isinstance(value, list):
            out[name] = value
    return out


def collect_attribution(plan: pd.DataFrame, entries: list[tuple[str, str, str]],
                        label_noise_dirs: list[Path] = (), root: Path = Path(".")) -> dict[str, pd.DataFrame]:
    """One table per analysis over all runs of an arm, rows tagged with their run's plan columns.

    Per run it reads ``results/runs/<run>/attribution/<eval_set>/<method>/{tables,artifacts}/``;
    label-noise folders are named ``<dataset>-s<seed>`` (``<dataset>-s<seed>-f<fold>`` with
    folds). Returns {name: table}, including
    ``summary`` (one row per run, every scalar of the JSON summaries).
    """
    by_id = with_focal_rounds(plan, [e[0] for e in entries]).set_index("run_id")
    tables: dict[str, list[pd.DataFrame]] = {}
    summaries = []
    for run_id, eval_set, method in entries:
        tags = _tags(by_id, run_id, eval_set, method)
        base = root / Path(LAYOUT.run_attribution(run_id, eval_set, method, "tables")).parent
        row = dict(tags)
        for sub, names in RUN_ANALYSES.items():
            for name in names:
                path = base / sub / name
                if path.is_file():
                    table = pd.read_csv(path)
                    tables.setdefault(name[:-4], []).append(table.assign(**{k: v for k, v in tags.items() if k not in table.columns}))
            summary_path = base / sub / SUMMARIES[sub]
            if summary_path.is_file():
                row.update(_flat(f"{sub}.", json.loads(summary_path.read_text())))
        summaries.append(row)
    for folder in label_noise_dirs:
        folder = Path(folder)
        dataset, _, seed_key = folder.name.rpartition("-s")
        seed, _, fold = seed_key.partition("-f")
        group = {"dataset": dataset, "seed": int(seed), "fold": int(fold) if fold else 0}
        path = folder / "label_noise.csv"
        if not path.is_file():
            raise NucflowError(f"{path}: missing; run the label_noise step first")
        tables.setdefault("label_noise", []).append(pd.read_csv(path).assign(**group))
        summary_path = folder / "label_noise.json"
        if summary_path.is_file():
            tables.setdefault("label_noise_summary", []).append(
                pd.DataFrame([{**group, **_flat("", json.loads(summary_path.read_text()))}]))
    out = {name: pd.concat(parts, ignore_index=True) for name, parts in tables.items()}
    out["summary"] = pd.DataFrame(summaries)
    return out


def collect_tradeoffs(plan: pd.DataFrame, paths: list[Path]) -> pd.DataFrame:
    """The multi-scale trade-off tables of several runs (``nucflow tradeoff``), rows tagged with
    their run's plan columns."""
    if not paths:
        raise NucflowError("no trade-off tables to collect")
    frames = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise NucflowError(f"{path}: missing; run nucflow tradeoff first")
        table = pd.read_csv(path)
        if "run_id" not in table.columns or table.empty:
            raise NucflowError(f"{path}: expected a non-empty table with a run_id column")
        run_id = str(table["run_id"].iloc[0])
        eval_set = path.parent.parent.name if path.parent.name == "multiscale" else ""
        by_id = with_focal_rounds(plan, [run_id]).set_index("run_id")
        tags = _tags(by_id, run_id, eval_set, "multiscale")
        frames.append(table.assign(**{k: v for k, v in tags.items() if k not in table.columns}))
    return pd.concat(frames, ignore_index=True)
