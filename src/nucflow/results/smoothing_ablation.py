"""The smoothing and ablation arms' tables as figure 10 and the report read them: one evaluation
set and one post-processing method per run, and the order of the architecture ablations.

``tables/smoothing/per_image.csv`` (tag ``smoothing``: the label-smoothing factor) and
``tables/ablation/per_image.csv`` (tag ``variant``: ``plain`` = the baseline of each model).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nucflow.results.inputs import one_method, pick_eval_set, read_arm_table

#: the ablation variant every other one is compared with, per model
BASELINE = "plain"
ABLATION_ORDER = ("plain", "double_skips", "batch_norm", "filters", "double_skips+batch_norm+filters",
                  "half_skip_convs")


def load(results: Path, relative: str, extra: tuple[str, ...] = ()) -> tuple[pd.DataFrame, str]:
    """The arm table ``relative`` (one method per run, one evaluation set: the only one, else the
    first test set) and the name of that evaluation set."""
    table = read_arm_table(results, relative, ("run_id", "image_id", "variant"), ("f1",) + extra)
    return pick_eval_set(one_method(table))
