"""nucflow.study.targets: what the workflow builds and the options its rules pass, without Snakemake."""

from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path

import pytest

from nucflow.config import load_config
from nucflow.errors import NucflowError
from nucflow.study.targets import StudyTargets, entries_of, manifest_path, snapshot

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def smoke():
    return load_config(ROOT / "config" / "smoke.yaml")


def test_default_targets_of_the_smoke_study(smoke):
    assert StudyTargets(smoke).all_targets() == [
        "results/data/overview.png", "results/data/splits.json", "results/plan.csv",
        "results/tables/model_comparison/per_image.csv", "results/tables/model_comparison/learning_curves.csv",
        "results/tables/model_comparison/convergence.csv", "results/attribution/model_comparison/tables",
        "results/tables/model_comparison/method_choice.csv",
        "results/lr_find/unet-brightfield/lr.json",
        "results/tables/data_size/per_image.csv", "results/tables/data_size/learning_curves.csv",
        "results/tables/data_size/convergence.csv",
        "results/tables/smoothing/per_image.csv", "results/tables/smoothing/learning_curves.csv",
        "results/tables/smoothing/convergence.csv", "results/tables/smoothing/best.json",
        "results/tables/ablation/per_image.csv", "results/tables/ablation/learning_curves.csv",
        "results/tables/ablation/convergence.csv",
        "results/tables/transfer/per_image.csv", "results/tables/transfer/learning_curves.csv",
        "results/tables/transfer/convergence.csv",
        "results/tables/focal_planes/per_image.csv", "results/tables/focal_planes/learning_curves.csv",
        "results/tables/focal_planes/convergence.csv", "results/tables/focal_planes/greedy.csv",
        "results/tables/extensions/per_image.csv", "results/tables/extensions/learning_curves.csv",
        "results/tables/extensions/convergence.csv", "results/tables/extensions/multiscale_tradeoff.csv",
        "results/tables/extensions/method_choice.csv", "results/summary.md",
    ]


def test_the_instance_method_is_chosen_for_every_trained_model_comparison_run(smoke):
    study = StudyTargets(smoke)
    runs = study.method_choice_runs()
    compared = [r.source_id for r in study.runs.values() if r.arm == "model_comparison"]
    baseline = [r.source_id for r in study.runs.values() if r.arm == "extensions" and r.variant == "baseline"]
    assert runs == list(dict.fromkeys(compared + baseline)) and len(runs) == len(set(runs))
    assert study.method_choice_runs("model_comparison") == list(dict.fromkeys(compared))
    assert study.method_choice_runs("extensions") == baseline
    assert study.choice_eval_set(runs[0]) == f"{study.get_run(runs[0]).dataset}:val"
    assert "--scales" not in study.inference_args(baseline[0], scales=False)
    assert "--scales" in study.inference_args(baseline[0])      # the baseline's maps go through multiscale
    config = copy.deepcopy(smoke)
    config["arms"]["extensions"]["choose_method"] = False
    assert StudyTargets(config).method_choice_runs() == []
    assert "results/tables/extensions/method_choice.csv" not in StudyTargets(config).arm_targets("extensions")


def test_an_arm_that_is_off_has_no_targets_and_no_claims_inputs(smoke):
    config = copy.deepcopy(smoke)
    config["arms"]["transfer"]["enabled"] = False
    study = StudyTargets(config)
    assert study.arm_targets("transfer") == [] and "transfer" not in study.arms_on
    assert "results/tables/transfer/per_image.csv" not in study.claims_inputs()
    assert "results/tables/transfer/per_image.csv" not in study.figure_inputs()
    # the aggregate job also writes each arm's learning curves and how its runs' training ended
    assert StudyTargets(smoke).claims_inputs() == [
        "results/tables/model_comparison/per_image.csv", "results/tables/model_comparison/learning_curves.csv",
        "results/tables/model_comparison/convergence.csv",
        "results/tables/data_size/per_image.csv", "results/tables/data_size/learning_curves.csv",
        "results/tables/data_size/convergence.csv",
        "results/tables/focal_planes/per_image.csv", "results/tables/focal_planes/learning_curves.csv",
        "results/tables/focal_planes/convergence.csv", "results/tables/focal_planes/greedy.csv",
        "results/tables/transfer/per_image.csv",
        "results/tables/transfer/learning_curves.csv", "results/tables/transfer/convergence.csv"]


def test_tiles_options_of_a_selection(smoke):
    study = StudyTargets(smoke)
    assert study.tiles_args("brightfield", "4.0.8", "train-n16-linesA549-fg") == (
        "--split train --modality brightfield --n 16 --lines A549 --planes 4,0,8 --size 64 --overlap 0.0 "
        "--normalisation foreground --percentiles 1.0 99.8")
    assert study.tiles_args("fluorescence", "none", "val") == (
        "--split val --modality fluorescence --size 64 --overlap 0.0 --normalisation percentile "
        "--percentiles 1.0 99.8")


def test_predict_options_window_and_scales(smoke):
    config = copy.deepcopy(smoke)
    config["inference"]["window"] = 128
    study = StudyTargets(config)
    # the multi-scale merge is evaluated on the run that the extensions baseline reuses
    assert study.inference_args("ablation-unet-plain-bf-seven_lines-s0") == (
        "--overlap 0.5 --batch-size 4 --precision auto --window 128 --scales 0.75 1.0 1.25")
    # PPU-Net's window is fixed by its architecture: no --window
    assert study.inference_args("model_comparison-ppunet-fl-lncap-s0") == "--overlap 0.5 --batch-size 4 --precision auto"


def test_postprocess_params_per_method(smoke):
    config = copy.deepcopy(smoke)
    config["postprocess"]["params"] = {"threshold": 0.4}
    config["arms"]["extensions"]["multiscale"] = {"levels": [0.3, 0.5], "min_size": 5}
    study = StudyTargets(config)
    assert study.postprocess_params("published") == """--params-json '{"threshold": 0.4}'"""
    assert study.postprocess_params("multiscale") == """--params-json '{"levels": [0.3, 0.5], "min_size": 5}'"""
    assert study.postprocess_params("watershed") == ""


def test_run_settings_sources_and_their_options(smoke):
    study = StudyTargets(smoke)
    sources = study.run_config_sources("data_size-unet-bf-A549-n1-smooth-s0")
    assert sources == {"smoothing": "results/tables/smoothing/best.json"}
    assert study.run_config_options(sources) == "--smoothing-from results/tables/smoothing/best.json"
    assert study.run_config_options({"lr": "a/lr.json", "smoothing": "b.json"}) == "--lr-from a/lr.json --smoothing-from b.json"
    assert study.run_config_sources("model_comparison-unet-fl-lncap-s0") == {}


def test_focal_search_follows_the_choices_of_earlier_rounds(smoke):
    asked = []

    def choice(group, round_):
        asked.append((group, round_))
        return (6,) if round_ == 1 else (6, 2)

    study = StudyTargets(smoke, focal_choice=choice)
    assert [r.run_id for r in study.arm_runs("focal_planes")] == [
        "focal_planes-unet-lncap-r1-p2-s0", "focal_planes-unet-lncap-r1-p6-s0", "focal_planes-unet-lncap-r2-p6.2-s0"]
    assert asked == [("unet-s0", 1), ("unet-s0", 2)]
    assert study.focal_round_metrics("unet-s0", 2) == [
        "results/runs/focal_planes-unet-lncap-r2-p6.2-s0/metrics/lncap-val/published/summary.json"]
    assert study.focal_round_dirs() == ["results/focal_planes/unet-s0/round1", "results/focal_planes/unet-s0/round2"]
    # a later-round run is known by its id alone; its planes fill the arm's 3 input channels
    assert study.get_run("focal_planes-unet-lncap-r2-p6.2-s0").planes == (6, 2, 6)
    with pytest.raises(NucflowError, match="earlier rounds"):
        StudyTargets(smoke).arm_runs("focal_planes")


def test_label_noise_needs_five_fluorescence_models(smoke):
    study = StudyTargets(smoke)
    models = ["deeplabv3plus", "ppunet", "tiramisu", "unet", "unetpp"]
    assert study.label_noise_models("lncap", 0) == models
    assert study.label_noise_inputs("lncap", 0) == [
        f"results/runs/model_comparison-{m}-fl-lncap-s0/prob/lncap-test" for m in models]
    assert study.arm_label_noise("model_comparison") == ["results/attribution/model_comparison/label_noise/lncap-s0"]
    assert study.arm_label_noise("transfer") == []
    config = copy.deepcopy(smoke)
    config["arms"]["model_comparison"]["models"] = ["unet", "unetpp", "deeplabv3plus", "tiramisu"]
    assert StudyTargets(config).label_noise_groups() == {}


def test_a_reused_run_is_read_from_its_source(smoke):
    study = StudyTargets(smoke)
    run = study.get_run("extensions-unet-baseline-bf-seven_lines-s0")
    assert {entry[0] for entry in study.run_entries(run)} == {"ablation-unet-plain-bf-seven_lines-s0"}
    metrics = study.arm_metrics("extensions")
    assert "results/runs/ablation-unet-plain-bf-seven_lines-s0/metrics/seven_lines-test/multiscale/per_image.csv" in metrics
    assert entries_of(metrics[:1]) == "/".join(metrics[0].split("/")[2:3] + metrics[0].split("/")[4:6])


def test_unknown_run_is_one_line(smoke):
    with pytest.raises(NucflowError, match=r"^run 'nope' is not in the plan \(see results/plan.csv\)$"):
        StudyTargets(smoke).get_run("nope")


def test_snapshot_and_manifest(smoke):
    # splits.folds (added later) at its default 1 is left out, so a finished study's snapshots
    # stay byte for byte what they were and nothing after them reruns
    content = json.loads(shlex.split(snapshot(smoke, "splits"))[0])
    one_split = {k: v for k, v in smoke["splits"].items() if k != "folds"}
    assert smoke["splits"]["folds"] == 1
    assert content == {"splits": one_split, "seed": smoke["seed"]}
    assert json.loads(shlex.split(snapshot(smoke))[0]) == json.loads(json.dumps({**smoke, "splits": one_split}))
    folded = copy.deepcopy(smoke)
    folded["splits"]["folds"] = 3
    assert json.loads(shlex.split(snapshot(folded, "splits"))[0]) == {"splits": folded["splits"], "seed": 0}
    assert smoke["splits"]["folds"] == 1  # the config itself is left as it is
    assert manifest_path(smoke) == "resources/simulated/manifest.csv"
    config = copy.deepcopy(smoke)
    config["data"] = {**config["data"], "source": "manifest", "manifest": "my/manifest.csv"}
    assert manifest_path(config) == "my/manifest.csv"


def test_the_workflow_builds_the_plan_once_per_parse(smoke, monkeypatch):
    """Regression: the range tests' keys rebuilt the whole plan a second time on every parse."""
    from nucflow.study import plan as plan_module
    from nucflow.study import targets as targets_module

    calls = []
    original = plan_module.plan_runs

    def counting(config):
        calls.append(1)
        return original(config)

    monkeypatch.setattr(targets_module, "plan_runs", counting)
    monkeypatch.setattr(plan_module, "plan_runs", counting)
    study = StudyTargets(copy.deepcopy(smoke))
    assert len(calls) == 1 and study.lr_find
