"""Choices made from validation results: best smoothing factor, greedy focal-plane rounds."""

from __future__ import annotations

import json

import pytest

from nucflow.cli import main
from nucflow.errors import NucflowError
from nucflow.study.choose import best_smoothing, focal_greedy, focal_round


def summary(root, run_id, f1, eval_set="seven_lines-val"):
    path = root / "results/runs" / run_id / "metrics" / eval_set / "published" / "summary.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"f1_pooled": f1}))
    return path


def test_best_smoothing_is_the_mean_over_seeds_with_ties_to_the_smaller_factor(tmp_path):
    runs = {"a0": ("unet", 0.05), "a1": ("unet", 0.05), "b0": ("unet", 0.1), "b1": ("unet", 0.1),
            "c0": ("ppunet", 0.05), "d0": ("ppunet", 0.2)}
    scores = {"a0": 0.70, "a1": 0.80, "b0": 0.90, "b1": 0.68, "c0": 0.5, "d0": 0.5}
    paths = [summary(tmp_path, r, s) for r, s in scores.items()]
    # unet: 0.05 -> 0.75, 0.1 -> 0.79; ppunet: a tie, so the smaller factor
    assert best_smoothing(paths, runs) == {"ppunet": 0.05, "unet": 0.1}
    with pytest.raises(NucflowError, match="not a smoothing run"):
        best_smoothing(paths, {k: v for k, v in runs.items() if k != "d0"})


def test_choose_smoothing_takes_the_runs_as_json_and_names_a_bad_argument(tmp_path, capsys):
    """The workflow passes the smoothing runs as data (--runs) instead of a config file it would
    have to declare as an input."""
    paths = [summary(tmp_path, "s1", 0.6), summary(tmp_path, "s2", 0.7)]
    runs = json.dumps({"s1": {"model": "unet", "factor": 0.05}, "s2": {"model": "unet", "factor": 0.1}})
    out = tmp_path / "best.json"
    assert main(["choose", "smoothing", "--runs", runs, "--summaries", *map(str, paths), "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == {"unet": 0.1}
    assert main(["choose", "smoothing", "--runs", "[1, 2]", "--summaries", str(paths[0]), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        'nucflow choose: error: --runs: expected a JSON object {"RUN_ID": {"model": NAME, "factor": NUMBER}, ...}, '
        "got '[1, 2]'")


def test_with_folds_each_fold_gets_its_own_factor_and_its_runs_read_it(tmp_path):
    """splits.folds > 1: a factor per model and fold, chosen on that fold's validation images;
    run-config looks the run's fold up from its id."""
    head = "smoothing-unet-bf-seven_lines"
    ids = {f"{head}-ls0.05-s0-f0": (0.05, 0, 0.6), f"{head}-ls0.1-s0-f0": (0.1, 0, 0.7),
           f"{head}-ls0.05-s0-f1": (0.05, 1, 0.8), f"{head}-ls0.1-s0-f1": (0.1, 1, 0.5)}
    paths = [summary(tmp_path, run_id, f1) for run_id, (_, _, f1) in ids.items()]
    runs = json.dumps({run_id: {"model": "unet", "factor": factor, "fold": fold}
                       for run_id, (factor, fold, _) in ids.items()})
    best = tmp_path / "best.json"
    assert main(["choose", "smoothing", "--runs", runs, "--summaries", *map(str, paths), "--out", str(best)]) == 0
    assert json.loads(best.read_text()) == {"unet-f0": 0.1, "unet-f1": 0.05}
    settings = {"run_id": "data_size-unet-bf-A549-n1-smooth-s0-f1", "model": "unet", "in_channels": 1, "modality": "fluorescence",
                "train_tiles": ["t.npz"], "val_tiles": ["v.npz"], "batch_size": 2, "out_dir": "results/runs/x",
                "loss": "bce_smooth"}
    out = tmp_path / "run.json"
    assert main(["run-config", "--json", json.dumps(settings), "--smoothing-from", str(best), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["smoothing"] == 0.05
    settings["run_id"] = "data_size-unet-bf-A549-n1-smooth-s0"  # no fold: looked up as plain "unet"
    assert main(["run-config", "--json", json.dumps(settings), "--smoothing-from", str(best), "--out", str(out)]) == 2


def test_focal_round_picks_the_best_candidate_and_rejects_mixed_rounds(tmp_path):
    ids = {"focal_planes-unet-lncap-r2-p4.0-s0": 0.61, "focal_planes-unet-lncap-r2-p4.8-s0": 0.64,
           "focal_planes-unet-lncap-r2-p4.2-s0": 0.64}
    paths = [summary(tmp_path, r, s, "lncap-val") for r, s in ids.items()]
    choice = focal_round(2, paths)
    assert choice["order"] == [4, 2] and choice["added_plane"] == 2 and choice["score"] == 0.64  # tie -> plane 2
    assert [c["plane"] for c in choice["candidates"]] == [0, 2, 8]
    with pytest.raises(NucflowError, match="not a round-3"):
        focal_round(3, paths)
    other = summary(tmp_path, "focal_planes-unet-lncap-r2-p6.1-s0", 0.9, "lncap-val")
    with pytest.raises(NucflowError, match="different plane orders"):
        focal_round(2, [*paths, other])


def test_focal_greedy_table_and_cli(tmp_path, capsys):
    first = summary(tmp_path, "focal_planes-unet-lncap-r1-p4-s0", 0.6, "lncap-val")
    second = summary(tmp_path, "focal_planes-unet-lncap-r2-p4.2-s0", 0.65, "lncap-val")
    rounds = []
    for k, path in ((1, first), (2, second)):
        out = tmp_path / "focal" / f"round{k}"
        assert main(["choose", "focal-round", "--round", str(k), "--summaries", str(path), "--out", str(out)]) == 0
        rounds.append(str(out))
    table_path = tmp_path / "greedy.csv"
    assert main(["choose", "focal-greedy", "--rounds", *rounds[::-1], "--out", str(table_path)]) == 0
    table = focal_greedy([json.loads((tmp_path / "focal" / f"round{k}" / "choice.json").read_text()) for k in (2, 1)])
    assert table["round"].tolist() == [1, 2] and table["planes"].tolist() == ["4", "4.2"]
    assert table["added_plane"].tolist() == [4, 2] and table["f1"].tolist() == [0.6, 0.65]
    assert table_path.read_text().splitlines()[0] == "round,planes,added_plane,n_planes,f1,run_id"


# ---- the instance method of a model, chosen on validation -------------------------------------------

def test_method_choice_takes_the_best_object_f1_with_ties_to_the_first_listed():
    import pandas as pd

    from nucflow.study.method_choice import METRIC, choose, record

    table = pd.DataFrame({"method": ["published", "watershed", "seeded"], "n_images": [4, 4, 4],
                          METRIC: [0.70, 0.80, 0.80]})
    assert choose(table) == "watershed"
    assert choose(table.assign(**{METRIC: [float("nan"), 0.1, 0.0]})) == "watershed"
    chosen = record(table, {"published": {}, "watershed": {"min_distance": 5}, "seeded": {}}, "seven_lines:val")
    assert chosen["method"] == "watershed" and chosen["params"]["min_distance"] == 5
    assert chosen["scores"] == {"published": 0.7, "watershed": 0.8, "seeded": 0.8}
    assert chosen["chosen_on"] == "seven_lines:val" and chosen["n_images"] == 4


def test_study_methods_are_the_extensions_methods_that_read_one_map():
    from nucflow.config import load_config
    from nucflow.study.method_choice import check_methods, study_methods

    config = load_config("config/smoke.yaml")
    config["postprocess"]["params"] = {"threshold": 0.4}
    assert study_methods(config) == {"published": {"threshold": 0.4}, "watershed": {}, "seeded": {}}
    with pytest.raises(NucflowError, match="three_class"):
        check_methods({"three_class": {}})


def test_a_recorded_method_is_the_models_and_a_bad_record_is_one_line(tmp_path):
    from nucflow.inference.model_spec import recorded_method

    assert recorded_method(tmp_path, 1) is None
    (tmp_path / "instance_method.json").write_text(json.dumps({"method": "seeded", "params": {"threshold": 0.4}}))
    assert recorded_method(tmp_path, 1) == ("seeded", {"threshold": 0.4})
    with pytest.raises(NucflowError, match="instance_method.json: not a valid instance-method record for a 3-channel"):
        recorded_method(tmp_path, 3)
    (tmp_path / "instance_method.json").write_text(json.dumps({"method": "seeded", "params": {"nonsense": 1}}))
    with pytest.raises(NucflowError, match=r"instance_method.json: .*nonsense"):
        recorded_method(tmp_path, 1)
