"""``results/plan.csv``, written once by the ``plan`` rule and read here by everything after it.

One row per run (the fields of :class:`nucflow.study.run.Run`). Cells that hold several values
(``eval_sets``, ``eval_roles``, ``select_sets``, ``methods``, ``extra_train``) are JSON lists,
and :func:`read_plan` gives them back as tuples; ``model_options`` and ``training`` are JSON
objects. The steps after training (aggregation, tagging) read the plan through :func:`read_plan`
and :func:`with_focal_rounds` instead of rebuilding it from the config.

The focal-plane search decides its later rounds at run time, so those runs are not in the table:
:func:`with_focal_rounds` writes their rows from the round-1 row of the same search, which differs
from them only in its planes, round and id (the id says which).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from nucflow.errors import NucflowError
from nucflow.study.layout import FocalRunId

#: plan cells with several values: JSON lists in the file, tuples once read
LIST_COLUMNS = ("eval_sets", "eval_roles", "select_sets", "methods", "extra_train")
#: plan cells with settings: JSON objects in the file ("" when empty)
OBJECT_COLUMNS = ("model_options", "training")


def encode_list(values) -> str:
    return json.dumps(list(values))


def _decode_list(path: Path, column: str, cell) -> tuple:
    if cell is None or (isinstance(cell, float) and cell != cell) or cell == "":
        return ()
    try:
        values = json.loads(cell)
    except (TypeError, json.JSONDecodeError):
        values = None
    if not isinstance(values, list):
        raise NucflowError(f"{path}: column {column} holds {str(cell)[:40]!r}, not a JSON list (a plan written "
                           "by an older nucflow? rewrite it: snakemake --forcerun plan)")
    return tuple(str(v) for v in values)


def read_plan(path: str | Path) -> pd.DataFrame:
    """The plan table with its list cells as tuples; a one-line error for a missing file, a file
    without run ids, or a cell that is not what the plan writes."""
    path = Path(path)
    if not path.is_file():
        raise NucflowError(f"{path}: no such plan (the plan rule writes it: snakemake results/plan.csv)")
    try:
        table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise NucflowError(f"{path}: not a readable CSV ({str(error).splitlines()[0]})") from None
    if "run_id" not in table.columns:
        raise NucflowError(f"{path}: no run_id column (is this a plan.csv?)")
    for column in LIST_COLUMNS:
        if column in table.columns:
            table[column] = [_decode_list(path, column, cell) for cell in table[column]]
    return table


def with_focal_rounds(plan: pd.DataFrame, run_ids) -> pd.DataFrame:
    """``plan`` plus a row for each of ``run_ids`` that a focal-plane search decided at run time;
    an id that is neither in the plan nor such a run is an error."""
    known = set(plan["run_id"].astype(str))
    extra = []
    for run_id in dict.fromkeys(run_ids):
        if run_id in known:
            continue
        focal = FocalRunId.parse(run_id)
        first = None
        if focal is not None and "focal_round" in plan.columns:
            rows = plan[(plan["arm"] == "focal_planes") & (plan["model"] == focal.model)
                        & (plan["dataset"] == focal.dataset) & (plan["seed"].astype(int) == focal.seed)
                        & (plan["focal_round"].astype(int) == 1)]
            if "fold" in plan.columns:  # the round-1 run of the same search (fold)
                rows = rows[rows["fold"].astype(int) == (focal.fold or 0)]
            first = rows.iloc[0].to_dict() if not rows.empty else None
        if first is None:
            raise NucflowError(f"run {run_id!r} is not in the plan")
        first.update(run_id=run_id, planes=".".join(map(str, focal.order)), variant=f"round{focal.round}",
                     focal_round=focal.round)
        extra.append(first)
    if not extra:
        return plan
    return pd.concat([plan, pd.DataFrame(extra, columns=plan.columns)], ignore_index=True)
