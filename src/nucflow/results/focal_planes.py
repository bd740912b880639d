"""The focal-plane arm's tables as figure 12 and the report read them: each greedy search's
candidate runs and the run it picked in every round.

``tables/focal_planes/per_image.csv``: tags ``focal_round`` k = 1..K and ``planes`` (the distinct
planes in the order they were added, dot-separated, the candidate's new plane last); one run per
candidate, model and seed, each (model, seed) its own greedy search.
``tables/focal_planes/greedy.csv`` (optional): one row per search and round, ``round, planes,
added_plane`` and the ``run_id`` of the chosen run, or ``model`` where there is no run id.
Without it, a search's pick of a round is its candidate with the highest mean pixel F1.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nucflow.results.inputs import (FOCAL_GREEDY, FOCAL_PLANES, TEXT_COLUMNS, numeric, one_method, pick_eval_set,
                                    read_arm_table, read_table)
from nucflow.study.layout import PlaneSet

INPUTS = (FOCAL_PLANES,)


def plane_set(order) -> str:
    """A plane order as a set a reader can tell apart: ``8.0`` -> ``{8, 0}`` (8 first, then 0)."""
    return PlaneSet.parse(str(order)).label


def plane_order(planes) -> str:
    """Distinct planes in order of first appearance: ``4.2.4.2`` (cycled channels) -> ``4.2``."""
    return PlaneSet.parse(str(planes)).order().key


def load(results: Path) -> pd.DataFrame:
    """The focal-plane table: one method per run, one evaluation set, ``planes`` as plane order."""
    table = read_arm_table(results, FOCAL_PLANES, ("run_id", "image_id", "planes", "seed"), ("focal_round", "f1"))
    table, _ = pick_eval_set(one_method(table[table["focal_round"] > 0]))
    return table.assign(planes=table["planes"].map(plane_order))


def candidates(table: pd.DataFrame) -> pd.DataFrame:
    """One row per candidate run: ``run_id, model, seed, focal_round, planes, value`` (mean pixel
    F1 over its images, %)."""
    runs = table.groupby(["run_id", "model", "seed", "focal_round", "planes"], sort=True)["f1"].mean()
    return (runs * 100).rename("value").reset_index()


def _picks_from_file(results: Path, runs: pd.DataFrame) -> pd.DataFrame | None:
    """Run ids chosen by the workflow (``greedy.csv``), or None when the file cannot name them."""
    path = Path(results) / FOCAL_GREEDY
    if not path.is_file():
        return None
    greedy = numeric(read_table(path, ("round", "planes"), text_columns=TEXT_COLUMNS), ("round",), path)
    if "run_id" in greedy.columns and greedy["run_id"].isin(runs["run_id"]).all():
        return runs[runs["run_id"].isin(greedy["run_id"])]
    keys = ["focal_round", "planes"] + (["model"] if "model" in greedy.columns else [])
    if "model" not in greedy.columns and runs["model"].nunique() != 1:
        return None
    greedy = greedy.rename(columns={"round": "focal_round"}).assign(planes=greedy["planes"].map(plane_order))
    picks = runs.merge(greedy[keys].drop_duplicates(), on=keys)
    return picks if not picks.empty else None


def greedy_picks(table: pd.DataFrame, results: Path | None) -> pd.DataFrame:
    """The chosen run of every greedy search (model, seed) and round: ``greedy.csv`` when it names
    runs of the table, else the best candidate. Columns as :func:`candidates`."""
    runs = candidates(table)
    picks = _picks_from_file(results, runs) if results is not None else None
    if picks is None:
        picks = runs.loc[runs.sort_values(["value", "planes"], ascending=[False, True])
                         .groupby(["model", "seed", "focal_round"]).head(1).index]
    return picks.sort_values(["model", "seed", "focal_round"]).reset_index(drop=True)
