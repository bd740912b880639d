"""The baselines arm's result tables: every baseline's per-image and per-object metrics in one
table each, tagged like the model comparison's rows (``model`` is the method, ``arm`` is
``baselines``), so figure 04 and the claims read them beside the five networks.

Hand-written rather than :mod:`nucflow.study.aggregate`: a baseline is not a planned training
run, so it has no plan row, ``run.json`` or learning curve to tag its rows from; the tags come
from :meth:`nucflow.study.baselines.Baseline.tags` through the workflow.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nucflow.errors import NucflowError
from nucflow.io import write_csv
from nucflow.study.layout import LAYOUT

TABLES = ("per_image.csv", "per_object.csv")


def collect(baselines: dict[str, dict], root: Path = Path(".")) -> dict[str, pd.DataFrame]:
    """{table name: the baselines' rows}, in ``baselines`` order; ``baselines``: {baseline id: its
    tag columns, with ``eval_set`` in path form}."""
    if not baselines:
        raise NucflowError("nothing to tabulate: no baselines (is arms.baselines on?)")
    tables: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES}
    for baseline_id, tags in baselines.items():
        if "eval_set" not in tags:
            raise NucflowError(f"baseline {baseline_id}: its tags lack eval_set")
        for name in TABLES:
            path = Path(root) / LAYOUT.baseline_metrics(baseline_id, tags["eval_set"], name)
            if not path.is_file():
                raise NucflowError(f"{path}: missing (run the baseline's evaluation first)")
            table = pd.read_csv(path)
            extra = {k: v for k, v in tags.items() if k not in table.columns}
            tables[name].append(table.assign(run_id=baseline_id, **extra))
    return {name: pd.concat(parts, ignore_index=True) for name, parts in tables.items()}


def write_tables(baselines: dict[str, dict], out_dir: Path, root: Path = Path(".")) -> dict[str, int]:
    """Write :func:`collect`'s tables into ``out_dir`` (atomically); returns their row counts."""
    written = {}
    for name, table in collect(baselines, root).items():
        write_csv(Path(out_dir) / name, table)
        written[name] = len(table)
    return written
