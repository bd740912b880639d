"""The study plan: config -> table of runs, stable readable ids, run.json content."""

from __future__ import annotations

import dataclasses

import pytest

from nucflow.cli import main
from nucflow.config import validate_config
from nucflow.errors import NucflowError
from nucflow.study.plan import LEFT_OUT_AT_DEFAULT, NOT_PLANNED, plan, plan_runs, run_config
from nucflow.training.config import RunConfig


def _config(**arms):
    return validate_config({"seeds": [0, 1], "arms": arms})


def test_model_comparison_is_the_full_cross_product():
    table = plan(_config())
    assert len(table) == 5 * 2 * 2 * 2  # models x modalities x data sets x seeds
    assert table["run_id"].is_unique
    assert "model_comparison-ppunet-bf-seven_lines-s1" in set(table["run_id"])
    bf = table[table["modality"] == "brightfield"]
    assert set(bf["planes"]) == {"4"} and set(table.loc[table["modality"] == "fluorescence", "planes"]) == {"none"}


def test_arm_seeds_override_and_disable():
    config = _config(model_comparison={"seeds": [7], "models": ["unet"], "datasets": ["lncap"]})
    assert [r.run_id for r in plan_runs(config)] == ["model_comparison-unet-fl-lncap-s7", "model_comparison-unet-bf-lncap-s7"]
    assert plan(_config(model_comparison={"enabled": False})).empty


def test_unknown_dataset_is_an_error():
    with pytest.raises(NucflowError, match="data set 'hela' is not simulated"):
        plan_runs(_config(model_comparison={"datasets": ["hela"]}))


def test_run_config_is_a_valid_run_json():
    config = _config(model_comparison={"models": ["tiramisu"], "planes": [2, 4, 6]})
    config["models"]["tiramisu"]["batch_size"] = 3
    run = [r for r in plan_runs(config) if r.modality == "brightfield" and r.dataset == "lncap"][0]
    content = run_config(config, run)
    parsed = RunConfig.from_dict(content)
    assert parsed.in_channels == 3 and parsed.batch_size == 3 and parsed.planes == (2, 4, 6)
    assert parsed.train_tiles == ("results/tiles/lncap/brightfield-2.4.6/train.npz",)
    assert parsed.val_tiles == ("results/tiles/lncap/brightfield-2.4.6/val.npz",)
    assert parsed.out_dir == f"results/runs/{run.run_id}"
    # one source: the run's RunConfig; the workflow's JSON leaves out only what the study never sets
    assert run.to_run_config(config) == parsed
    assert set(parsed.to_dict()) - set(content) == set(NOT_PLANNED) | set(LEFT_OUT_AT_DEFAULT)
    defaults = RunConfig.__dataclass_fields__
    assert all(getattr(parsed, key) == defaults[key].default for key in NOT_PLANNED + LEFT_OUT_AT_DEFAULT)
    # a later field is planned once it differs from its default (so old studies do not rerun)
    config["training"]["degenerate_restarts"] = 0
    assert run_config(config, run)["degenerate_restarts"] == 0
    assert run.to_run_config(config, lr=0.05).lr == 0.05 and run_config(config, run, lr=0.05)["lr"] == 0.05
    with pytest.raises(NucflowError, match="batch_size: must be >= 1"):
        dataclasses.replace(run, batch_size=0).to_run_config(config)


def test_published_batch_sizes_are_the_default():
    config = validate_config({"models": {"unet": {"width": 0.5}}})
    sizes = {r.model: r.batch_size for r in plan_runs(config)}
    assert sizes == {"unet": 16, "unetpp": 8, "deeplabv3plus": 8, "tiramisu": 4, "ppunet": 8}
    assert {r.width for r in plan_runs(config) if r.model == "unet"} == {0.5}


def test_cli_plan(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("arms: {model_comparison: {models: [unet], datasets: [lncap]}}\n")
    out = tmp_path / "plan.csv"
    assert main(["plan", "--config", str(config), "--out", str(out)]) == 0
    assert "2 runs: model_comparison 2" in capsys.readouterr().out
    assert out.read_text().count("\n") == 3


# ---- the other arms ------------------------------------------------------------------------------
def _only(**arms):
    """Config with model_comparison off and the given arms on."""
    arms = {name: {"enabled": True, **settings} for name, settings in arms.items()}
    arms.setdefault("model_comparison", {"enabled": False})
    return validate_config({"seeds": [0], "arms": arms})


def test_published_design_run_counts():
    names = ("data_size", "smoothing", "ablation", "transfer", "focal_planes", "extensions")
    counts = plan(_only(**{n: {} for n in names})).groupby("arm").size().to_dict()
    assert counts == {
        "data_size": 5 * 8 * 3,          # models x sizes x {plain, smooth, aug}
        "smoothing": 5 * 4,              # models x factors
        "ablation": 2 + 3 + 1,           # U-Net plain + 3 variants, U-Net++ plain + 1
        "transfer": 8 * (1 + 2 * 8),     # (7 held-out lines + lncap->seven_lines) x (source + 2 modes x 8 sizes)
        "focal_planes": 5 * 9,           # round 1 only: later rounds are decided by the checkpoint
        "extensions": 6,
    }


def test_data_size_runs_are_nested_subsets_of_one_line():
    runs = plan_runs(_only(data_size={"models": ["ppunet"], "sizes": [1, 16]}))
    by_id = {r.run_id: r for r in runs}
    aug = by_id["data_size-ppunet-bf-A549-n16-aug-s0"]
    assert aug.train_tiles == ["results/tiles/seven_lines/brightfield-4/train-n16-linesA549.aug.npz"]
    assert aug.eval_sets == ("seven_lines:test:A549",) and aug.n_train == 16
    smooth = by_id["data_size-ppunet-bf-A549-n1-smooth-s0"]
    assert smooth.loss == "bce_smooth" and smooth.smoothing == 0.1 and smooth.smoothing_from == ""
    # with the smoothing arm covering the model, the factor comes from its best.json
    tuned = plan_runs(_only(data_size={"models": ["ppunet"], "sizes": [1]}, smoothing={"models": ["ppunet"]}))
    assert {r.smoothing_from for r in tuned if r.variant == "smooth" and r.arm == "data_size"} == {"smoothing"}


def test_unknown_line_is_an_error():
    with pytest.raises(NucflowError, match="cell line 'A594' is not in data set 'seven_lines'"):
        plan_runs(_only(data_size={"line": "A594"}))
    with pytest.raises(NucflowError, match="cell line 'Hela'"):
        plan_runs(_only(transfer={"lolo": {"lines": ["Hela"]}}))


def test_smoothing_runs_choose_on_validation_and_report_on_test():
    runs = plan_runs(_only(smoothing={"models": ["unet"], "factors": [0.05, 0.2]}))
    assert [r.run_id for r in runs] == ["smoothing-unet-bf-seven_lines-ls0.05-s0", "smoothing-unet-bf-seven_lines-ls0.2-s0"]
    assert runs[0].select_sets == ("seven_lines:val",) and runs[0].eval_sets == ("seven_lines:test",)
    assert RunConfig.from_dict(run_config(validate_config({}), runs[1])).smoothing == 0.2
    assert RunConfig.from_dict(run_config(validate_config({}), runs[1], smoothing=0.05)).smoothing == 0.05


def test_ablation_variants_add_options_to_the_model_settings():
    config = _only(ablation={})
    config["models"]["unet"]["options"] = {"batch_norm": False}
    runs = {r.variant: r for r in plan_runs(config) if r.model == "unet"}
    assert set(runs) == {"plain", "double_skips", "batch_norm", "double_skips+batch_norm+filters"}
    assert runs["plain"].model_options == {"batch_norm": False}
    assert runs["double_skips+batch_norm+filters"].model_options == {
        "batch_norm": True, "double_skips": True, "filters": [64, 128, 256, 512, 1024]}


def test_transfer_source_and_finetune_runs():
    config = _only(transfer={"lolo": {"lines": ["HepG2"]}, "sizes": [2], "finetune": {"max_epochs": 3}})
    runs = {r.run_id: r for r in plan_runs(config)}
    source = runs["transfer-unet-bf-loloHepG2-source-s0"]
    assert source.train_selection == "train-exHepG2" and source.init_from is None
    assert source.eval_sets == ("seven_lines:test:HepG2", "seven_lines:test:exHepG2")
    assert source.eval_roles == ("target", "source")
    both = runs["transfer-unet-bf-loloHepG2-ft-target+source-n2-s0"]
    assert both.init_from == "results/runs/transfer-unet-bf-loloHepG2-source-s0/model.pt"
    assert both.train_tiles == ["results/tiles/seven_lines/brightfield-4/train-n2-linesHepG2.npz",
                                "results/tiles/seven_lines/brightfield-4/train-n2-exHepG2.npz"]
    content = RunConfig.from_dict(run_config(config, both))
    assert content.max_epochs == 3 and content.init_from == both.init_from
    cross = runs["transfer-unet-bf-lncap_to_seven_lines-ft-target+source-n2-s0"]
    assert cross.train_tiles == ["results/tiles/seven_lines/brightfield-4/train-n2.npz",
                                 "results/tiles/lncap/brightfield-4/train-n2.npz"]
    assert cross.eval_sets == ("seven_lines:test", "lncap:test") and cross.transfer == "lncap_to_seven_lines"
    assert runs["transfer-unet-bf-lncap_to_seven_lines-source-s0"].dataset == "lncap"


def _with_plate2(config: dict) -> dict:
    config["simulation"]["datasets"]["plate2"] = {"instrument": "A", "lines": ["A549", "HepG2"], "wells_per_line": 4,
                                                  "fields_per_well": 3, "image_size": [256, 256]}
    return config


def test_lolo_target_images_may_come_from_a_second_plate():
    config = _with_plate2(_only(transfer={"lolo": {"lines": ["HepG2"], "target_dataset": "plate2"}, "sizes": [2],
                                          "cross": []}))
    runs = {r.run_id: r for r in plan_runs(config)}
    source = runs["transfer-unet-bf-loloHepG2-source-s0"]
    # the source trains and is scored on the other six lines of its own data set ...
    assert source.dataset == "seven_lines" and source.train_selection == "train-exHepG2"
    assert source.eval_sets == ("plate2:test:HepG2", "seven_lines:test:exHepG2")
    # ... and the held-out line's fine-tuning and test images are the second plate's
    both = runs["transfer-unet-bf-loloHepG2-ft-target+source-n2-s0"]
    assert both.train_tiles == ["results/tiles/plate2/brightfield-4/train-n2-linesHepG2.npz",
                                "results/tiles/seven_lines/brightfield-4/train-n2-exHepG2.npz"]
    assert RunConfig.from_dict(run_config(config, both)).val_tiles == ("results/tiles/plate2/brightfield-4/val-linesHepG2.npz",)
    assert both.eval_sets == source.eval_sets
    # unset, the target is the source data set (the earlier behaviour, same ids and tiles)
    same = {r.run_id: r for r in plan_runs(_only(transfer={"lolo": {"lines": ["HepG2"]}, "sizes": [2], "cross": []}))}
    assert same["transfer-unet-bf-loloHepG2-source-s0"].eval_sets == ("seven_lines:test:HepG2", "seven_lines:test:exHepG2")


def test_a_second_plate_without_the_held_out_line_is_an_error():
    config = _with_plate2(_only(transfer={"lolo": {"lines": ["MCF7"], "target_dataset": "plate2"}}))
    with pytest.raises(NucflowError, match=r"lolo.lines \(target_dataset\): cell line 'MCF7' is not in data set 'plate2'"):
        plan_runs(config)


def test_data_size_on_a_second_plate():
    runs = plan_runs(_with_plate2(_only(data_size={"dataset": "plate2", "sizes": [1]})))
    assert {r.dataset for r in runs} == {"plate2"}
    assert {r.eval_sets for r in runs} == {("plate2:test:A549",)}


def test_focal_planes_round_one_and_ids_of_later_rounds():
    from nucflow.study.plan import focal_candidates, focal_run_from_id

    config = _only(focal_planes={"models": ["unet"], "candidates": [1, 4, 7], "rounds": 2})
    runs = plan_runs(config)
    assert [r.run_id for r in runs] == [f"focal_planes-unet-lncap-r1-p{p}-s0" for p in (1, 4, 7)]
    assert runs[0].planes == (1,) * 9 and runs[0].in_channels == 9
    second = focal_candidates(config, "unet", 0, (4,))
    assert [r.run_id for r in second] == ["focal_planes-unet-lncap-r2-p4.1-s0", "focal_planes-unet-lncap-r2-p4.7-s0"]
    assert second[0].planes == (4, 1, 4, 1, 4, 1, 4, 1, 4) and second[0].as_row()["planes"] == "4.1"
    assert focal_run_from_id(config, "focal_planes-unet-lncap-r2-p4.1-s0") == second[0]
    assert focal_run_from_id(config, "focal_planes-unet-lncap-r3-p4.1-s0") is None   # round != planes
    with pytest.raises(NucflowError, match="plane 9 does not exist"):
        plan_runs(_only(focal_planes={"candidates": [0, 9], "rounds": 1}))
    with pytest.raises(NucflowError, match="3 rounds need"):
        plan_runs(_only(focal_planes={"candidates": [0, 1], "rounds": 3}))


def test_extension_variants():
    runs = {r.variant: r for r in plan_runs(_only(extensions={}))}
    assert runs["frem"].frem == {"channels": 2, "factor": 250}
    assert runs["foreground"].train_tiles == ["results/tiles/seven_lines/brightfield-4/train-fg.npz"]
    assert runs["three_class"].methods == ("three_class",)
    assert runs["baseline"].methods == ("published", "watershed", "seeded", "multiscale")
    assert RunConfig.from_dict(run_config(validate_config({}), runs["three_class"])).out_channels == 3


def test_lr_find_keys_cover_the_arm_and_runs_that_use_a_range_test():
    from nucflow.study.plan import lr_find_keys

    config = validate_config({"training": {"lr_from": "lr_find"},
                              "arms": {"model_comparison": {"models": ["unet"], "modalities": ["brightfield"]}}})
    assert lr_find_keys(config) == [("unet", "brightfield")]
    config = _only(lr_range={"models": ["ppunet"], "modalities": ["fluorescence"]})
    assert lr_find_keys(config) == [("ppunet", "fluorescence")]


def test_one_model_can_take_its_rate_from_the_range_test():
    """models.<m>.lr_from overrides training.lr_from for that model only; its range tests join the
    plan and its run.json reads the rate from them."""
    from nucflow.study.plan import lr_find_keys
    from nucflow.study.targets import StudyTargets

    config = validate_config({"models": {"ppunet": {"batch_size": 4, "lr_from": "lr_find"}},
                              "arms": {"model_comparison": {"datasets": ["seven_lines"], "seeds": [0]},
                                       "lr_range": {"enabled": False}}})
    sources = {r.model: r.lr_source for r in plan_runs(config)}
    assert sources == {"unet": "fixed", "unetpp": "fixed", "deeplabv3plus": "fixed", "tiramisu": "fixed",
                       "ppunet": "lr_find"}
    assert lr_find_keys(config) == [("ppunet", "fluorescence"), ("ppunet", "brightfield")]
    study = StudyTargets(config)
    assert study.run_config_sources("model_comparison-ppunet-bf-seven_lines-s0") == {
        "lr": "results/lr_find/ppunet-brightfield/lr.json"}
    assert study.run_config_sources("model_comparison-unet-bf-seven_lines-s0") == {}
    with pytest.raises(NucflowError, match="lr_from"):
        validate_config({"models": {"ppunet": {"lr_from": "guess"}}})


def test_identical_runs_are_trained_once():
    """The ablation's plain variants and the extensions baseline train exactly a model-comparison
    run: they reuse it instead of training it again, and the reused run predicts for every method."""
    from nucflow.study.plan import evaluation_methods

    config = validate_config({"seeds": [0], "arms": {
        "model_comparison": {"datasets": ["seven_lines"]}, "ablation": {"enabled": True},
        "extensions": {"enabled": True}}})
    runs = plan_runs(config)
    by_id = {r.run_id: r for r in runs}
    assert by_id["ablation-unet-plain-bf-seven_lines-s0"].same_as == "model_comparison-unet-bf-seven_lines-s0"
    assert by_id["ablation-unetpp-plain-bf-seven_lines-s0"].same_as == "model_comparison-unetpp-bf-seven_lines-s0"
    assert by_id["extensions-unet-baseline-bf-seven_lines-s0"].same_as == "model_comparison-unet-bf-seven_lines-s0"
    assert by_id["extensions-unet-baseline-bf-seven_lines-s0"].source_id == "model_comparison-unet-bf-seven_lines-s0"
    reused = {r.run_id for r in runs if r.same_as}
    assert reused == {"ablation-unet-plain-bf-seven_lines-s0", "ablation-unetpp-plain-bf-seven_lines-s0",
                      "extensions-unet-baseline-bf-seven_lines-s0"}
    assert not any(by_id[r].same_as for r in {by_id[r].same_as for r in reused})  # sources are trained
    assert evaluation_methods(runs, "model_comparison-unet-bf-seven_lines-s0") == (
        "published", "watershed", "seeded", "multiscale")
    # a different seed, model option or learning-rate source is a different model
    config["arms"]["ablation"]["seeds"] = [1]
    assert not any(r.same_as for r in plan_runs(config) if r.arm == "ablation")


def test_reused_runs_are_tagged_with_their_own_arm(tmp_path):
    """aggregate --arm reads a reused run's metrics from the run it reuses and tags the rows with
    the reusing run's arm, variant and id."""
    import json

    import pandas as pd

    from nucflow.study.aggregate import collect
    from nucflow.study.plan_table import read_plan

    config = validate_config({"seeds": [0], "arms": {
        "model_comparison": {"datasets": ["seven_lines"], "models": ["unet"], "modalities": ["brightfield"]},
        "ablation": {"enabled": True, "variants": {"unet": {"double_skips": {"double_skips": True}}}}}})
    plan(config).to_csv(tmp_path / "plan.csv", index=False)
    table = read_plan(tmp_path / "plan.csv")  # what nucflow aggregate reads
    source = "model_comparison-unet-bf-seven_lines-s0"
    folder = tmp_path / "results/runs" / source / "metrics/seven_lines-test/published"
    folder.mkdir(parents=True)
    pd.DataFrame({"run_id": [source], "image_id": ["a"], "f1": [0.5]}).to_csv(folder / "per_image.csv", index=False)
    pd.DataFrame({"run_id": [source], "image_id": ["a"], "iou": [0.7]}).to_csv(folder / "per_object.csv", index=False)
    run_dir = tmp_path / "results/runs" / source  # what training left: the curve is read from there too
    (run_dir / "run.json").write_text(json.dumps({"batch_size": 4, "steps_per_epoch": 10, "max_epochs": 2}))
    (run_dir / "train_done.json").write_text(json.dumps({"best_epoch": 1, "stopped_early": False}))
    pd.DataFrame({"epoch": [0, 1], "train_loss": [0.9, 0.8], "val_loss": [0.7, 0.6], "val_f1": [0.4, 0.5],
                  "lr": [1e-3, 1e-3], "train_seconds": [1.0, 1.0]}).to_csv(run_dir / "log.csv", index=False)
    tables = collect(table, [(source, "seven_lines-test", "published")], root=tmp_path, arm="ablation")
    row = tables["per_image"].iloc[0]
    assert (row["run_id"], row["arm"], row["variant"], row["same_as"]) == (
        "ablation-unet-plain-bf-seven_lines-s0", "ablation", "plain", source)
    assert tables["learning_curves"]["run_id"].tolist() == ["ablation-unet-plain-bf-seven_lines-s0"] * 2
    assert tables["learning_curves"]["step"].tolist() == [10, 20]
    assert tables["convergence"][["run_id", "best_step", "cap", "stopped"]].values.tolist() == [
        ["ablation-unet-plain-bf-seven_lines-s0", 20, 20, "cap"]]
    plain = collect(table, [(source, "seven_lines-test", "published")], root=tmp_path, arm="model_comparison")
    assert plain["per_image"].iloc[0]["run_id"] == source and plain["per_image"].iloc[0]["arm"] == "model_comparison"


def test_a_range_test_is_not_rerun_for_settings_it_does_not_read():
    """Regression: raising training.max_epochs changed every range test's run.json, so the workflow
    reran all of them (and the reference study lost 4 minutes to curves identical to the last)."""
    from nucflow.study.plan import NOT_READ_BY_RANGE_TEST, lr_find_config

    config = _config(model_comparison={"models": ["unet"], "datasets": ["seven_lines"]})
    before = lr_find_config(config, "unet", "brightfield")
    config["training"].update(max_epochs=7, stop_patience=3, lr_patience=1, steps_per_epoch=11, val_max_tiles=5)
    assert lr_find_config(config, "unet", "brightfield") == before
    assert not set(NOT_READ_BY_RANGE_TEST) & set(before)
    config["training"]["width"] = 0.5
    assert lr_find_config(config, "unet", "brightfield")["width"] == 0.5
    parsed = RunConfig.from_dict(before)  # still a valid run.json for nucflow lr-find
    assert parsed.model == "unet" and parsed.in_channels == 1


def test_folds_repeat_every_run_and_name_the_fold_in_its_sets():
    """splits.folds: 3 on the smoke study: three runs where there was one, each training,
    validating and scored on its own fold's images; the range test sweeps on fold 0."""
    from nucflow.config import load_config
    from nucflow.study.targets import StudyTargets

    config = load_config("config/smoke.yaml")
    single = plan_runs(config)
    config["splits"]["folds"] = 3
    folded = plan_runs(config)
    assert len(folded) == 3 * len(single)
    by_id = {r.run_id: r for r in folded}
    run = by_id["data_size-unet-bf-A549-n1-plain-s0-f2"]
    assert (run.fold, run.train_selection, run.val_selection, run.eval_sets) == (
        2, "f2-train-n1-linesA549", "f2-val-linesA549", ("seven_lines:f2:test:A549",))
    source = by_id["transfer-unet-bf-loloA549-source-s0-f1"]
    assert (source.train_selection, source.eval_sets) == ("f1-train-exA549",
                                                          ("seven_lines:f1:test:A549", "seven_lines:f1:test:exA549"))
    tuned = by_id["transfer-unet-bf-loloA549-ft-target+source-n1-s0-f1"]
    assert tuned.init_from == "results/runs/transfer-unet-bf-loloA549-source-s0-f1/model.pt"
    assert tuned.extra_train == ("results/tiles/seven_lines/brightfield-4/f1-train-n1-exA549.npz",)
    study = StudyTargets(config, focal_choice=lambda group, round_: (6,))
    assert study.choice_eval_set("model_comparison-unet-fl-lncap-s0-f1") == "lncap:f1:val"
    assert sorted(study.label_noise_groups()) == [("lncap", "0-f0"), ("lncap", "0-f1"), ("lncap", "0-f2")]
    assert study.label_noise_inputs("lncap", "0-f1")[0] == (
        "results/runs/model_comparison-deeplabv3plus-fl-lncap-s0-f1/prob/lncap-f1-test")
    assert study.smoothing_runs()["smoothing-unet-bf-seven_lines-ls0.1-s0-f2"] == {"model": "unet", "factor": 0.1,
                                                                                   "fold": 2}
    assert study.focal_round_dirs()[:2] == ["results/focal_planes/unet-s0-f0/round1",
                                            "results/focal_planes/unet-s0-f0/round2"]
    from nucflow.study.plan import lr_find_run

    assert lr_find_run(config, "unet", "brightfield").train_selection == "f0-train"
    single_study = StudyTargets(load_config("config/smoke.yaml"))
    assert "fold" not in single_study.smoothing_runs()["smoothing-unet-bf-seven_lines-ls0.1-s0"]

