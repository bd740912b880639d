"""The transfer arm's table as figure 11 and the report read it: the transfer settings, their
titles, and the un-tuned source model's scores on both domains (Ali et al. 2021, Fig. 8: 31% gap
for LNCaP -> seven lines).

``tables/transfer/per_image.csv``: tags ``transfer`` (``lolo`` = leave one line out, or
``<source>_to_<target>``), ``target`` (held-out line / target data set), ``variant`` (``source`` =
not fine-tuned, ``target``, ``target+source``), ``n_train`` (target images) and ``eval_role``
(``target`` or ``source``: which domain the images come from).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nucflow.results.inputs import TRANSFER, one_method, per_image_over_seeds, read_arm_table
from nucflow.results.names import dataset_name

INPUTS = (TRANSFER,)
#: the columns one point of a transfer curve is taken over
KEYS = ["model", "transfer", "variant", "eval_role", "n_train"]
#: the variant that is the source model, not fine-tuned
UNTUNED = "source"


def setting_title(transfer: str, n_targets: int) -> str:
    """``lolo`` -> leave one line out (mean over n lines); ``lncap_to_seven_lines`` -> LNCaP → seven lines."""
    if transfer == "lolo":
        return f"leave one line out (mean over {n_targets} held-out lines)"
    source, sep, target = transfer.partition("_to_")
    return f"{dataset_name(source)} → {dataset_name(target)}" if sep else transfer


def ordered_settings(settings) -> list[str]:
    names = sorted({str(s) for s in settings})
    return (["lolo"] if "lolo" in names else []) + [s for s in names if s != "lolo"]


def load(results: Path) -> pd.DataFrame:
    table = read_arm_table(results, TRANSFER, ("run_id", "image_id", "transfer", "target", "variant", "eval_role"),
                           ("n_train", "f1"))
    return one_method(table[table["transfer"] != ""])


def untuned_values(table: pd.DataFrame) -> pd.DataFrame:
    """Per model and setting: the un-tuned source model's pixel F1 (%) on source and on target
    images, for the summary. Columns ``model, transfer, source, target``: arrays of per-image
    values (each averaged over seeds; pooled over held-out lines for leave-one-line-out), and
    ``source_folds, target_folds``: the images' folds (None in a table without folds)."""
    images = per_image_over_seeds(table[table["variant"] == UNTUNED], ["model", "transfer", "eval_role"], ["f1"])
    rows = []
    for (model, transfer), part in images.groupby(["model", "transfer"], sort=True):
        roles = {role: part[part["eval_role"] == role] for role in ("source", "target")}
        values = {role: rows_of["f1"].to_numpy(float) * 100 for role, rows_of in roles.items()}
        folds = {f"{role}_folds": rows_of["fold"].to_numpy() if "fold" in rows_of.columns else None
                 for role, rows_of in roles.items()}
        if all(v.size for v in values.values()):
            rows.append({"model": model, "transfer": transfer, **values, **folds})
    return pd.DataFrame(rows, columns=["model", "transfer", "source", "target", "source_folds", "target_folds"])
