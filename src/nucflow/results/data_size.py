"""The data-size arm's table as figure 09 and the report read it: pixel and object F1 against the
number of training images, and the paper's claim it is held to (Ali et al. 2021, Fig. 7: "16
images with augmentation are within 5% of the full data set").

``tables/data_size/per_image.csv``: one row per run and test image, tags ``variant`` (plain,
smooth, aug) and ``n_train`` (training images; 0 = the whole training split).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.results.inputs import DATA_SIZE, one_method, read_arm_table

INPUTS = (DATA_SIZE,)
METRICS = (("f1", "pixel F1 (%)"), ("object_f1", "object F1 (%)"))
#: "within 5%": the share of the full-data score (the plain variant at the largest n) to reach
REFERENCE_SHARE = 0.95
#: the paper's "16 images"
CLAIM_N = 16


def load(results: Path) -> pd.DataFrame:
    """The data-size table (one method per run) with ``x``: n_train, and 0 ("all") placed at
    twice the largest n."""
    head = read_arm_table(results, DATA_SIZE, ("run_id", "image_id", "variant", "seed"), ("n_train", "f1"))
    metrics = [m for m, _ in METRICS if m in head.columns]
    table = one_method(read_arm_table(results, DATA_SIZE, ("run_id", "image_id", "variant", "seed"),
                                      ("n_train",) + tuple(metrics)))
    counted = table.loc[table["n_train"] > 0, "n_train"]
    all_x = 2.0 * counted.max() if not counted.empty else 1.0
    return table.assign(x=np.where(table["n_train"] > 0, table["n_train"], all_x))
