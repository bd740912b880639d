"""Figure 06, error examples: a drawn run with one merge, split, missed nucleus, false positive on an
artifact and label-noise case, found and drawn deterministically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

from nucflow.figures.error_examples import fig_error_examples
from tests.test_figures_arms import TAGS, _metrics


def _disk(labels: np.ndarray, centre, radius, value) -> None:
    yy, xx = np.ogrid[:labels.shape[0], :labels.shape[1]]
    labels[(yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius ** 2] = value


def make_error_example_run(root: Path, run_id: str = "model_comparison-unet-bf-seven_lines-s0") -> Path:
    """A results folder with one brightfield run on two 96x96 images whose prediction has one merge,
    one split, one missed nucleus in a dense cluster, an artifact false positive and a region
    where the labels disagree with the exact truth. Returns the results folder."""
    results = root / "results"
    data = root / "resources/simulated"
    eval_set, method = "seven_lines-test", "published"
    prob_dir = results / "runs" / run_id / "prob" / eval_set
    inst_dir = results / "runs" / run_id / "instances" / eval_set / method
    for folder in (prob_dir, inst_dir, data / "img"):
        folder.mkdir(parents=True, exist_ok=True)
    rows, image_rows = [], []
    for k in range(2):
        image_id = f"seven_lines_HeLa_w01_f{k}"
        truth = np.zeros((96, 96), np.uint16)
        for i, (centre, radius) in enumerate([((20, 18), 7), ((20, 32), 7), ((60, 20), 9), ((70, 60), 5),
                                               ((70, 72), 5), ((80, 66), 5), ((60, 66), 5)], start=1):
            _disk(truth, centre, radius, i)
        pred = np.zeros_like(truth)
        _disk(pred, (20, 18), 7, 1)
        _disk(pred, (20, 32), 7, 1)                       # merge of true 1 and 2
        _disk(pred, (60, 20), 9, 2)
        pred[60:, :] = np.where(pred[60:, :] == 2, 3, pred[60:, :])  # split of true 3
        _disk(pred, (70, 72), 5, 4)
        _disk(pred, (80, 66), 5, 5)                       # true 4 and 7 missed in the dense cluster
        _disk(pred, (30, 75), 6, 6)                       # false positive on the artifact
        labels = truth.copy()
        if k == 1:  # label noise: a nucleus that is not there
            _disk(labels, (45, 80), 5, 9)
        artifacts = np.zeros((96, 96), np.uint8)
        artifacts[22:40, 66:86] = 1
        prob = np.where(pred > 0, 0.9, 0.05).astype(np.float32)
        bright = np.stack([np.random.default_rng(p).normal(100, 5, (96, 96)) + 30 * (truth > 0)
                           for p in range(3)]).astype(np.float32)
        paths = {}
        for name, array in (("labels", labels), ("labels_true", truth), ("artifacts", artifacts),
                            ("brightfield", bright), ("fluorescence", (truth > 0).astype(np.float32))):
            paths[name] = f"img/{image_id}_{name}.tif"
            tifffile.imwrite(data / paths[name], array, photometric="minisblack")
        tifffile.imwrite(prob_dir / f"{image_id}_prob.tif", prob)
        tifffile.imwrite(inst_dir / f"{image_id}_labels.tif", pred)
        image_rows.append({"image_id": image_id, "dataset": "seven_lines", "cell_line": "HeLa", "well": "w01",
                           "field": k, "instrument": "A", "pixel_size_um": 0.59, "n_planes": 3, **paths})
        rows.append({"run_id": run_id, "image_id": image_id, "cell_line": "HeLa", **_metrics(0.8, k),
                     **{**TAGS, "arm": "model_comparison", "planes": "0.1.2", "eval_set": eval_set, "method": method}})
    pd.DataFrame(image_rows).to_csv(data / "manifest.csv", index=False)
    (results / "tables/model_comparison").mkdir(parents=True)
    pd.DataFrame(rows).to_csv(results / "tables/model_comparison/per_image.csv", index=False)
    return results


def test_error_examples_find_every_error_type(tmp_path):
    from nucflow.figures.error_examples import find_examples

    results = make_error_example_run(tmp_path)
    examples = find_examples(results)
    assert [e.kind for e in examples] == ["merge", "split", "missed", "artifact", "label_noise"]
    merge = examples[0]
    assert merge.detail == "2 nuclei in 1"
    assert examples[4].image_id.endswith("f1")
    paths = fig_error_examples(results, tmp_path / "out")
    assert [p.name for p in paths] == ["06_error_examples.png", "06_error_examples.pdf"]
    again = fig_error_examples(results, tmp_path / "again")
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]


def test_error_examples_skip_missing_types(tmp_path):
    from nucflow.figures.error_examples import find_examples

    results = make_error_example_run(tmp_path)
    manifest = tmp_path / "resources/simulated/manifest.csv"
    table = pd.read_csv(manifest).drop(columns=["labels_true", "artifacts"])
    table.to_csv(manifest, index=False)
    kinds = [e.kind for e in find_examples(results)]
    assert kinds == ["merge", "split", "missed"]
    assert fig_error_examples(results, tmp_path / "out") is not None
