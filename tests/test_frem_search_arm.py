"""The frem_search arm: its plan rows, run ids, the best.json -> run.json step, its targets and
the paper config's dry run (search -> run.json -> training, and figure 13)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nucflow.cli import main
from nucflow.config import load_config
from nucflow.errors import NucflowError
from nucflow.io import read_json
from nucflow.study.plan import frem_search_settings, plan_runs, run_config
from nucflow.study.run_ids import FremSearchId, parse_run_id
from nucflow.study.targets import StudyTargets
from tests.studies import snakemake

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "config" / "paper.yaml"
SEARCH = "unet-bf-seven_lines"
BEST = f"results/frem_search/{SEARCH}/best.json"


@pytest.fixture(scope="module")
def paper():
    return load_config(PAPER)


def test_plan_rows_of_the_paper_arm(paper):
    runs = {r.run_id: r for r in plan_runs(paper) if r.arm == "frem_search"}
    assert sorted(runs) == [f"frem_search-unet-{v}-bf-seven_lines-s0" for v in ("dropout", "frem", "plain", "se")]
    frem, se = runs["frem_search-unet-frem-bf-seven_lines-s0"], runs["frem_search-unet-se-bf-seven_lines-s0"]
    dropout, plain = runs["frem_search-unet-dropout-bf-seven_lines-s0"], runs["frem_search-unet-plain-bf-seven_lines-s0"]
    assert (frem.frem, frem.frem_from, frem.model_options) == (None, SEARCH, {})
    assert (se.frem_from, se.model_options) == ("", {"deep_block": {"kind": "se", "reduction": 16}})
    assert (dropout.frem_from, dropout.model_options) == (SEARCH, {"deep_block": {"kind": "dropout"}})
    assert plain.same_as == "model_comparison-unet-bf-seven_lines-s0"  # FREM off is trained once
    assert not frem.same_as and not dropout.same_as and not se.same_as
    assert parse_run_id(frem.run_id) == FremSearchId("unet", "frem", "brightfield", "seven_lines", 0)
    assert FremSearchId("unet", "frem", "brightfield", "seven_lines", 0).search == SEARCH
    with pytest.raises(NucflowError, match="variant 'off' is not one of plain, frem, se, dropout"):
        FremSearchId("unet", "off", "brightfield", "seven_lines", 0)
    assert frem_search_settings(paper) == {
        "n_trials": 30, "channels": [1, None], "factor": [1, 1000], "seed": 0, "max_epochs": None, "pruning": True,
        "pruner_startup_trials": 5, "pruner_warmup_epochs": 5}


def test_runs_take_the_searched_setting_from_best_json(paper):
    study = StudyTargets(paper)
    frem_id, dropout_id = "frem_search-unet-frem-bf-seven_lines-s0", "frem_search-unet-dropout-bf-seven_lines-s0"
    sources = study.run_config_sources(frem_id)
    assert sources == {"lr": "results/lr_find/unet-brightfield/lr.json", "frem": BEST}
    assert study.run_config_options({"frem": BEST}) == f"--frem-from {BEST}"
    assert study.run_config_sources("frem_search-unet-se-bf-seven_lines-s0") == {
        "lr": "results/lr_find/unet-brightfield/lr.json"}
    assert study.arm_targets("frem_search")[-2:] == [f"results/frem_search/{SEARCH}/trials.csv", BEST]
    assert f"results/frem_search/{SEARCH}/trials.csv" in study.figure_inputs()
    assert study.frem_search_base(SEARCH).run_id == f"frem_search-{SEARCH}"
    with pytest.raises(NucflowError, match="FREM search 'unet-fl-x' is not one of this config's"):
        study.frem_search_base("unet-fl-x")


def test_with_folds_each_fold_searches_on_its_own_validation_images(paper):
    config = dict(paper, splits={**paper["splits"], "folds": 3})
    study = StudyTargets(config)
    assert study.frem_searches() == [f"{SEARCH}-f{k}" for k in range(3)]
    for k in range(3):
        base = study.frem_search_base(f"{SEARCH}-f{k}")
        assert (base.run_id, base.fold) == (f"frem_search-{SEARCH}-f{k}", k)
        assert base.val_selection == f"f{k}-val"
        frem = study.get_run(f"frem_search-unet-frem-bf-seven_lines-s0-f{k}")
        assert frem.frem_from == f"{SEARCH}-f{k}" and frem.eval_sets == (f"seven_lines:f{k}:test",)
        assert parse_run_id(frem.run_id) == FremSearchId("unet", "frem", "brightfield", "seven_lines", 0, k)
    assert len(study.frem_search_outputs()) == 6


def test_run_config_reads_best_json(paper, tmp_path, capsys):
    best = tmp_path / "best.json"
    best.write_text(json.dumps({"channels": 12, "factor": 480.5, "value": 0.2, "trial": 3}))
    for run_id, check in (("frem_search-unet-frem-bf-seven_lines-s0",
                           lambda r: r["frem"] == {"channels": 12, "factor": 480.5} and r["model_options"] == {}),
                          ("frem_search-unet-dropout-bf-seven_lines-s0",
                           lambda r: r["frem"] is None
                           and r["model_options"] == {"deep_block": {"kind": "dropout", "channels": 12}})):
        run = next(r for r in plan_runs(paper) if r.run_id == run_id)
        out = tmp_path / f"{run_id}.json"
        assert main(["run-config", "--json", json.dumps(run_config(paper, run)), "--frem-from", str(best),
                     "--out", str(out)]) == 0
        assert check(read_json(out)), read_json(out)
    best.write_text(json.dumps({"channels": 0, "factor": 2.0}))
    assert main(["run-config", "--json", json.dumps(run_config(paper, run)), "--frem-from", str(best),
                 "--out", str(tmp_path / "x.json")]) != 0
    assert "best.json: expected a JSON object with an integer 'channels' >= 1" in capsys.readouterr().err


@pytest.mark.workflow
def test_paper_dry_run_includes_the_search_its_runs_and_figure_13_and_the_baselines(tmp_path):
    """``snakemake -n --configfile config/paper.yaml``: search -> run.json -> training, the figures
    job reads the search's trials, and the baselines arm is scheduled (one dry run for both: a
    paper-scale dry run takes about 10 s)."""
    result = snakemake(tmp_path, "-n", "--configfile", str(PAPER))
    jobs, rule = {}, None
    for line in result.stdout.splitlines():
        line = line.strip()
        if line.startswith(("rule ", "localrule ", "checkpoint ", "localcheckpoint ")) and line.endswith(":"):
            rule = line.split()[1].rstrip(":")
            jobs.setdefault(rule, [])
        elif rule and line.startswith(("input:", "wildcards:")):
            jobs[rule].append(line)
    assert {"frem_search_config", "frem_search", "figures"} <= set(jobs)
    trains = " ".join(jobs["train"])
    for variant in ("frem", "se", "dropout"):
        assert f"run_id=frem_search-unet-{variant}-bf-seven_lines-s0" in trains
    configs = " ".join(jobs["run_config"])
    assert f"input: results/lr_find/unet-brightfield/lr.json, {BEST}" in configs  # the search feeds run.json
    assert f"results/frem_search/{SEARCH}/trials.csv" in " ".join(jobs["figures"])
    # the same dry run schedules the baselines arm: StarDist on both modalities of both data sets,
    # trained, predicting, scored, tabulated, and its table read by the figures and the claims
    baselines = {f"baselines-stardist-{m}-{d}-s0" for m in ("fl", "bf") for d in ("seven_lines", "lncap")}
    for rule in ("baseline_train", "baseline_predict", "baseline_evaluate"):
        assert {w.split("baseline=")[1].split(",")[0] for w in jobs[rule] if w.startswith("wildcards:")} == baselines
    assert "baseline_table" in jobs
    assert "results/tables/baselines/per_image.csv" in " ".join(jobs["figures"] + jobs["claims"])
