"""The baselines arm without TensorFlow: its plan, ids, table, figure-04 rows and claim 9, and the
job that stops in one line without the extra. (StarDist itself: tests/test_baselines.py; the
paper study's dry run scheduling the arm: tests/test_frem_search_arm.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nucflow.attribution.stats import Estimate
from nucflow.study.baseline_table import collect, write_tables
from nucflow.config import load_config, validate_config
from nucflow.errors import NucflowError
from nucflow.report.claims import claims_table
from nucflow.report.claims_baselines import MARGIN_PP, equivalence_verdict
from nucflow.results import model_comparison
from nucflow.results.inputs import condition_keys
from nucflow.study.baselines import baseline_plan
from nucflow.study.layout import LAYOUT
from nucflow.study.plan import plan_runs
from nucflow.study.run_ids import BaselineId, parse_run_id
from nucflow.study.targets import StudyTargets
from nucflow.worker import _launches_processes

ROOT = Path(__file__).resolve().parents[1]


def _smoke(**baselines) -> dict:
    config = load_config(ROOT / "config" / "smoke.yaml")
    config["arms"]["baselines"] = {"enabled": True, **baselines}
    return validate_config(config)


def test_the_arm_is_off_by_default_and_in_the_demo():
    for name in ("config.yaml", "smoke.yaml"):
        config = load_config(ROOT / "config" / name)
        assert config["arms"]["baselines"]["enabled"] is False
        assert baseline_plan(config, plan_runs(config)) == []
        assert StudyTargets(config).arm_targets("baselines") == []


def test_each_baseline_trains_on_its_model_comparison_condition_tiles():
    config = _smoke(seeds=[0, 1])
    runs = plan_runs(config)
    baselines = baseline_plan(config, runs)
    assert [b.baseline_id for b in baselines] == ["baselines-stardist-fl-lncap-s0", "baselines-stardist-fl-lncap-s1"]
    unet = next(r for r in runs if r.run_id == "model_comparison-unet-fl-lncap-s0")
    for b in baselines:
        assert (b.train_tiles, b.val_tiles) == (unet.train_tiles[0], unet.tiles(unet.val_selection))
        assert b.eval_set == "lncap:test" and b.eval_key == "lncap-test"
    assert baselines[0].tags() == {"arm": "baselines", "dataset": "lncap", "modality": "fluorescence",
                                   "planes": "none", "model": "stardist", "variant": "plain", "seed": 0,
                                   "fold": 0, "eval_set": "lncap-test", "method": "stardist", "eval_role": ""}


def test_with_folds_each_fold_has_its_baseline_on_that_fold_s_tiles_and_test_images():
    config = load_config(ROOT / "config" / "smoke.yaml")
    config["splits"]["folds"] = 3
    config["arms"]["baselines"] = {"enabled": True}
    config = validate_config(config)
    runs = plan_runs(config)
    baselines = baseline_plan(config, runs)
    assert [b.baseline_id for b in baselines] == [f"baselines-stardist-fl-lncap-s0-f{k}" for k in range(3)]
    for k, b in enumerate(baselines):
        unet = next(r for r in runs if r.run_id == f"model_comparison-unet-fl-lncap-s0-f{k}")
        assert (b.train_tiles, b.val_tiles, b.eval_set) == (unet.train_tiles[0], unet.tiles(unet.val_selection),
                                                             unet.eval_sets[0])
        assert b.fold == k and b.tags()["fold"] == k and parse_run_id(b.baseline_id).fold == k
    assert len({b.eval_key for b in baselines}) == 3


def test_brightfield_baselines_take_the_planes_and_modalities_can_be_chosen():
    config = load_config(ROOT / "config" / "smoke.yaml")
    config["arms"]["model_comparison"].update(modalities=["fluorescence", "brightfield"], planes=[2, 4, 6])
    config["arms"]["baselines"] = {"enabled": True, "modalities": ["brightfield"]}
    config = validate_config(config)
    (only,) = baseline_plan(config, plan_runs(config))
    assert only.baseline_id == "baselines-stardist-bf-lncap-s0" and only.planes == (2, 4, 6)
    assert only.train_tiles == "results/tiles/lncap/brightfield-2.4.6/train.npz"
    assert only.tags()["planes"] == "2.4.6"


def test_bad_arm_settings_are_one_line_errors():
    config = _smoke(modalities=["brightfield"])  # the smoke model comparison is fluorescence only
    with pytest.raises(NucflowError, match=r"arms.baselines.modalities: 'brightfield' is not a modality"):
        baseline_plan(config, plan_runs(config))
    config = _smoke()
    config["arms"]["model_comparison"]["enabled"] = False
    with pytest.raises(NucflowError, match="arms.model_comparison must be on"):
        baseline_plan(config, plan_runs(config))
    with pytest.raises(NucflowError, match="methods"):
        validate_config({**load_config(ROOT / "config" / "smoke.yaml"),
                         "arms": {"baselines": {"enabled": True, "methods": ["cellpose"]}}})


def test_baseline_ids_round_trip():
    key = BaselineId("stardist", "brightfield", "seven_lines", 3).key
    assert key == "baselines-stardist-bf-seven_lines-s3"
    assert parse_run_id(key) == BaselineId("stardist", "brightfield", "seven_lines", 3)


def test_targets_and_commands_of_the_arm():
    config = _smoke(epochs=3, steps_per_epoch=5, batch_size=2)
    study = StudyTargets(config)
    assert study.arm_targets("baselines") == ["results/tables/baselines/per_image.csv",
                                              "results/tables/baselines/per_object.csv"]
    assert set(study.arm_targets("baselines")) <= set(study.all_targets())
    assert "results/tables/baselines/per_image.csv" in study.claims_inputs()
    assert study.baseline_command() == "nucflow baseline"
    assert study.baseline_train_args("baselines-stardist-fl-lncap-s0") == (
        "--epochs 3 --steps-per-epoch 5 --batch-size 2 --seed 0")
    assert study.baseline_metrics() == ["results/baselines/baselines-stardist-fl-lncap-s0/metrics/lncap-test/per_image.csv"]
    other = StudyTargets(_smoke(python="/opt/tf env/bin/python"))
    assert other.baseline_command() == "'/opt/tf env/bin/python' -m nucflow baseline"
    with pytest.raises(NucflowError, match="not in the study"):
        study.get_baseline("baselines-stardist-bf-lncap-s0")


def test_tensorflow_commands_bypass_the_torch_job_worker():
    assert _launches_processes(["baseline", "train", "--tiles", "a.npz"])
    assert _launches_processes(["baseline", "predict", "--model", "m"])
    assert not _launches_processes(["baseline", "table", "--baselines", "{}"])


def _metrics(root: Path, baseline_id: str, eval_set: str, values: list[float]) -> None:
    folder = root / Path(LAYOUT.baseline_metrics(baseline_id, eval_set)).parent
    folder.mkdir(parents=True)
    images = [f"img{i}" for i in range(len(values))]
    pd.DataFrame({"run_id": baseline_id, "image_id": images, "dataset": "lncap", "f1": values,
                  "object_f1": values, "balanced_accuracy": values, "f1_iou0.50": values}).to_csv(
        folder / "per_image.csv", index=False)
    pd.DataFrame({"run_id": baseline_id, "image_id": images, "area": 10}).to_csv(folder / "per_object.csv", index=False)


def test_the_table_tags_every_row_and_names_a_missing_file(tmp_path):
    config = _smoke(seeds=[0, 1])
    study = StudyTargets(config)
    for seed, values in ((0, [0.5, 0.7]), (1, [0.6, 0.8])):
        _metrics(tmp_path, f"baselines-stardist-fl-lncap-s{seed}", "lncap-test", values)
    tags = json.loads(study.baseline_tags())
    written = write_tables(tags, tmp_path / "out", tmp_path)
    assert written == {"per_image.csv": 4, "per_object.csv": 4}
    table = pd.read_csv(tmp_path / "out" / "per_image.csv")
    assert table["run_id"].tolist() == ["baselines-stardist-fl-lncap-s0"] * 2 + ["baselines-stardist-fl-lncap-s1"] * 2
    assert set(table["model"]) == {"stardist"} and table["seed"].tolist() == [0, 0, 1, 1]
    assert table["f1"].tolist() == [0.5, 0.7, 0.6, 0.8] and set(table["arm"]) == {"baselines"}
    del tags["baselines-stardist-fl-lncap-s1"]["eval_set"]
    with pytest.raises(NucflowError, match="tags lack eval_set"):
        collect(tags, tmp_path)
    with pytest.raises(NucflowError, match=r"metrics/lncap-val/per_image.csv: missing"):
        collect({"baselines-stardist-fl-lncap-s0": {"eval_set": "lncap-val"}}, tmp_path)


def _comparison(results: Path, rows: dict[str, list[float]], baseline: list[float] | None,
                modality: str = "fluorescence") -> None:
    """Model comparison (and baseline) per-image tables: one seed, images img0.., every metric = value."""
    def frame(model, values, arm):
        n = len(values)
        return pd.DataFrame({"run_id": f"{arm}-{model}", "image_id": [f"img{i}" for i in range(n)], "model": model,
                             "dataset": "lncap", "modality": modality, "seed": 0, "method": (
                                 model if arm == "baselines" else "published"), "eval_set": "lncap-test",
                             "f1": values, "object_f1": values, "balanced_accuracy": values, "f1_iou0.50": values,
                             "n_true": 5})
    folder = results / "tables" / "model_comparison"
    folder.mkdir(parents=True)
    pd.concat([frame(m, v, "model_comparison") for m, v in rows.items()]).to_csv(folder / "per_image.csv", index=False)
    if baseline is not None:
        (results / "tables" / "baselines").mkdir(parents=True)
        frame("stardist", baseline, "baselines").to_csv(results / "tables" / "baselines" / "per_image.csv", index=False)


def test_figure_04_reads_the_baseline_as_one_more_model(tmp_path):
    _comparison(tmp_path, {"unet": [0.5, 0.6], "unetpp": [0.7, 0.8]}, [0.4, 0.5])
    table = model_comparison.load(tmp_path)
    assert table["model"].tolist() == ["unet", "unet", "unetpp", "unetpp", "stardist", "stardist"]
    assert condition_keys(table) == ["dataset", "modality"]  # its own method is not a condition
    assert len(model_comparison.load(tmp_path, baselines=False)) == 4


def test_a_baseline_condition_the_comparison_lacks_is_left_out(tmp_path):
    _comparison(tmp_path, {"unet": [0.5, 0.6]}, None)
    other = tmp_path / "other"
    _comparison(other, {"unet": [0.5]}, [0.4], modality="brightfield")
    (tmp_path / "tables" / "baselines").mkdir()
    (other / "tables" / "baselines" / "per_image.csv").rename(tmp_path / "tables" / "baselines" / "per_image.csv")
    assert set(model_comparison.load(tmp_path)["model"]) == {"unet"}


def test_equivalence_verdict():
    def estimate(value, low, high, n=10):
        return Estimate(value, low, high, n, 0.95, 1000)

    assert MARGIN_PP == 5.0
    assert equivalence_verdict(estimate(1, -4.9, 4.9), 5) == "agrees"
    assert equivalence_verdict(estimate(-1, -5.1, 3), 5) == "inconclusive"
    assert equivalence_verdict(estimate(-8, -12, -5.5), 5) == "disagrees"
    assert equivalence_verdict(estimate(8, 5.5, 9), 5) == "disagrees"
    assert equivalence_verdict(estimate(np.nan, np.nan, np.nan), 5) == "inconclusive"
    assert equivalence_verdict(estimate(0, 0, 0, n=0), 5) == "not run"


def test_claim_9_compares_stardist_with_the_best_network_paired_by_image(tmp_path):
    # U-Net++ is best (mean 0.75); StarDist is 0.02 below it on every image
    _comparison(tmp_path, {"unet": [0.5, 0.6, 0.55], "unetpp": [0.7, 0.8, 0.75]}, [0.68, 0.78, 0.73])
    table = claims_table(tmp_path, n_boot=200)
    (row,) = table[table["claim"] == 9].to_dict("records")
    assert row["subject"] == "LNCaP, fluorescence: StarDist − best network"
    assert "vs U-Net++" in row["quantity"]
    assert row["estimate"] == pytest.approx(-2.0) and row["ci_low"] == pytest.approx(-2.0)
    assert row["n_images"] == 3 and row["expected"] == "within ±5" and row["verdict"] == "agrees"


def test_claim_9_is_not_run_without_the_arm(tmp_path):
    _comparison(tmp_path, {"unet": [0.5]}, None)
    (row,) = claims_table(tmp_path, n_boot=10).query("claim == 9").to_dict("records")
    assert row["verdict"] == "not run" and row["note"] == "baselines arm off (missing tables/baselines/per_image.csv)"


@pytest.mark.workflow
def test_without_the_extra_the_first_baseline_job_stops_with_one_line(tmp_path):
    from nucflow.baselines.stardist import EXTRA_MISSING, available
    from tests.studies import snakemake

    if available():
        pytest.skip("the optional extra is installed here")
    override = tmp_path / "baselines.yaml"
    override.write_text("arms:\n  baselines:\n    enabled: true\n")
    result = snakemake(tmp_path, "arm_baselines", "--configfile", str(ROOT / "config" / "smoke.yaml"), str(override),
                       check=False)
    assert result.returncode != 0 and "Error in rule baseline_train" in result.stderr + result.stdout
    log = (tmp_path / "logs" / "baselines" / "baselines-stardist-fl-lncap-s0" / "train.log").read_text()
    assert log.strip() == f"nucflow baseline: error: {EXTRA_MISSING}"
    assert not (tmp_path / LAYOUT.baseline_model("baselines-stardist-fl-lncap-s0")).exists()
