"""The whole workflow on the smoke config, end to end, in a temporary working directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from nucflow.config import load_config
from nucflow.study.plan import plan_runs
from tests.studies import snakemake

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


@pytest.fixture
def smoke_run(smoke_study) -> Path:
    """The session's smoke study (tests/conftest.py), used in place: tests here may rerun parts of it."""
    return smoke_study


@pytest.mark.workflow
@pytest.mark.slow
def test_run_folders_record_their_input_spec(smoke_run):
    """A run folder alone is enough to predict: training writes the input spec of its tiles
    (tile size, normalisation, percentiles, pixel size) into train_done.json."""
    from nucflow.data.tiles import read_tile_meta
    from nucflow.training.config import RunConfig

    done_files = sorted((smoke_run / "results/runs").glob("*/train_done.json"))
    assert done_files
    for done in done_files:
        run = RunConfig.from_json(done.with_name("run.json"))
        expected = read_tile_meta(smoke_run / run.train_tiles[0])
        assert json.loads(done.read_text())["input"] == {**expected, "percentiles": list(expected["percentiles"])}


def test_smoke_run_writes_everything(smoke_run):
    assert (smoke_run / "resources/simulated/manifest.csv").is_file()
    assert (smoke_run / "results/data/overview.png").stat().st_size > 0
    plan = pd.read_csv(smoke_run / "results/plan.csv")
    per_run = pd.read_csv(smoke_run / "results/tables/model_comparison/per_run.csv")
    assert sorted(per_run["run_id"]) == sorted(plan.loc[plan["arm"] == "model_comparison", "run_id"])
    per_image = pd.read_csv(smoke_run / "results/tables/model_comparison/per_image.csv")
    assert set(per_image["model"]) == {"unet", "unetpp", "deeplabv3plus", "tiramisu", "ppunet"}
    reused = plan["same_as"].fillna("").astype(str)
    assert reused.ne("").any()  # the smoke study's extensions baseline is its ablation's plain U-Net
    for run_id, source in zip(plan["run_id"], reused):
        if source:  # trained once, under the run it reuses
            assert not (smoke_run / f"results/runs/{run_id}").exists() and source in set(plan["run_id"])
            continue
        assert (smoke_run / f"results/runs/{run_id}/checkpoints/last.ckpt").is_file()
        rule = "finetune" if "-ft-" in run_id else "train"
        assert (smoke_run / f"results/benchmarks/{rule}/{run_id}.tsv").is_file()
    # every arm's tables, and what arms choose or merge
    for arm in ("model_comparison", "data_size", "smoothing", "ablation", "transfer", "focal_planes", "extensions"):
        table = pd.read_csv(smoke_run / f"results/tables/{arm}/per_image.csv")
        assert not table.empty and set(table["arm"]) == {arm}
    transfer = pd.read_csv(smoke_run / "results/tables/transfer/per_run.csv")
    assert set(transfer["eval_role"]) == {"target", "source"}
    greedy = pd.read_csv(smoke_run / "results/tables/focal_planes/greedy.csv", dtype={"planes": str})
    assert greedy["round"].tolist() == [1, 2] and greedy["planes"].str.count(r"\.").tolist() == [0, 1]
    focal = pd.read_csv(smoke_run / "results/tables/focal_planes/per_run.csv")
    assert sorted(focal["focal_round"]) == [1, 1, 2]                     # 2 candidates, then the one left
    assert set(json.loads((smoke_run / "results/tables/smoothing/best.json").read_text())) == {"unet"}
    tradeoff = pd.read_csv(smoke_run / "results/tables/extensions/multiscale_tradeoff.csv")
    assert (tradeoff["tp"] + tradeoff["fp"] == tradeoff["n_objects"]).all()
    methods = set(pd.read_csv(smoke_run / "results/tables/extensions/per_run.csv")["method"])
    assert methods == {"published", "watershed", "seeded", "multiscale", "three_class"}
    # every model comparison run's instance method, chosen on its validation images and recorded
    # in its folder, where predict and export read it
    choice = pd.read_csv(smoke_run / "results/tables/model_comparison/method_choice.csv")
    compared = plan.loc[plan["arm"] == "model_comparison", "run_id"]
    assert set(compared) == set(choice["run_id"])
    baseline = pd.read_csv(smoke_run / "results/tables/extensions/method_choice.csv")
    assert set(baseline["run_id"]) == set(plan.loc[plan["variant"].eq("baseline") & plan["arm"].eq("extensions"),
                                                   "same_as"])            # the ablation's plain U-Net
    choice = pd.concat([choice, baseline], ignore_index=True)
    assert choice.groupby("run_id")["method"].apply(list).map(["published", "watershed", "seeded"].__eq__).all()
    assert (choice.groupby("run_id")["chosen"].sum() == 1).all()
    assert choice["eval_set"].str.endswith(":val").all() and (choice["n_images"] > 0).all()
    from nucflow.inference.model_spec import load_model

    for run_id, part in choice.groupby("run_id"):
        record = json.loads((smoke_run / f"results/runs/{run_id}/instance_method.json").read_text())
        best = part.loc[part["chosen"], "method"].item()
        assert record["method"] == best
        assert record["scores"] == {m: pytest.approx(v, abs=1e-6) for m, v in zip(part["method"], part["f1_iou0.50_pooled"])}
        assert load_model(smoke_run / f"results/runs/{run_id}")[1].method == best
    assert (smoke_run / "results/lr_find/unet-brightfield/lr.json").is_file()
    figures = sorted(p.name for p in (smoke_run / "results/figures").glob("*.png"))
    assert len(figures) == 14, figures                                     # 02-15 (01 is results/data/overview)


@pytest.mark.workflow
@pytest.mark.slow
def test_rerun_is_a_no_op(smoke_run):
    result = snakemake(smoke_run, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.workflow
@pytest.mark.slow
def test_figures_rebuild_from_tables_alone(smoke_run):
    jobs = dry_run_jobs(smoke_run, "figures", "--forcerun", "figures")
    assert [rule for rule, _ in jobs] == ["figures"]


@pytest.mark.workflow
@pytest.mark.slow
def test_changing_one_arm_setting_reruns_only_what_depends_on_it(smoke_run, tmp_path):
    """A new smoothing factor trains one new smoothing run; the data_size arm's smooth variant
    follows only because it takes the best factor; no other arm's run is touched."""
    changed = tmp_path / "changed.yaml"
    text = (ROOT / "config" / "smoke.yaml").read_text()
    assert "factors: [0.05, 0.1]" in text
    changed.write_text(text.replace("factors: [0.05, 0.1]", "factors: [0.05, 0.1, 0.15]"))
    jobs = dry_run_jobs(smoke_run, "--configfile", str(changed))
    trained = {w["run_id"] for rule, w in jobs if rule in ("train", "finetune")}
    new = "smoothing-unet-bf-seven_lines-ls0.15-s0"
    assert new in trained
    assert all(run_id.startswith("data_size-") and "-smooth-" in run_id for run_id in trained - {new}), trained
    touched = {w["run_id"].split("-")[0] for _, w in jobs if "run_id" in w}
    assert touched <= {"smoothing", "data_size"}, touched
    assert {w.get("arm") for rule, w in jobs if rule == "aggregate"} <= {"smoothing", "data_size"}


@pytest.mark.workflow
@pytest.mark.slow
def test_failed_figures_job_keeps_the_figures(smoke_run):
    """Regression: when the figures job failed, Snakemake deleted every figure it was to redraw;
    its outputs are update() now, so Snakemake puts the previous ones back."""
    models = smoke_run / "results" / "models.csv"
    kept = {p: p.read_bytes() for p in sorted((smoke_run / "results" / "figures").glob("*.p[nd][gf]"))}
    kept[smoke_run / "results" / "summary.md"] = (smoke_run / "results" / "summary.md").read_bytes()
    original, stat = models.read_bytes(), models.stat()
    try:
        models.write_text("model\n")  # a table without rows: figure 02 fails
        os.utime(models, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        result = snakemake(smoke_run, "figures", "--forcerun", "figures", check=False)
        assert result.returncode != 0 and "results/models.csv" in (smoke_run / "logs/figures/figures.log").read_text()
    finally:
        models.write_bytes(original)
        os.utime(models, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert len(kept) == 29 and {p: p.read_bytes() for p in kept if p.is_file()} == kept
    dry_run = snakemake(smoke_run, "-n")
    assert "Nothing to be done" in dry_run.stdout + dry_run.stderr


@pytest.mark.workflow
def test_inference_window_only_for_models_that_allow_it(tmp_path):
    """inference.window reaches predict for U-Net-like models, not for DeepLabv3+ and PPU-Net."""
    config = tmp_path / "window.yaml"
    config.write_text((ROOT / "config" / "smoke.yaml").read_text() + "\ninference: {window: 128}\n")
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(config))
    commands = [line for line in result.stdout.splitlines() if "nucflow predict " in line]
    by_model = {}
    for line in commands:
        model = line.split("--model results/runs/model_comparison-")[1].split("-")[0] if "model_comparison-" in line else None
        if model:
            by_model.setdefault(model, set()).add("--window 128" in line)
    assert by_model == {"unet": {True}, "unetpp": {True}, "tiramisu": {True}, "deeplabv3plus": {False},
                        "ppunet": {False}}, by_model


@pytest.mark.workflow
def test_lint_is_clean(tmp_path):
    result = snakemake(tmp_path, "--lint", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr, result.stdout + result.stderr


def test_snakefmt_is_clean():
    """The Snakefile and every rule file are formatted as the Snakemake workflow catalog expects."""
    snakefmt = Path(sys.executable).with_name("snakefmt")
    files = [str(ROOT / "Snakefile"), *sorted(str(p) for p in (ROOT / "workflow" / "rules").glob("*.smk"))]
    result = subprocess.run([str(snakefmt), "--check", *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.workflow
def test_misspelt_config_key_is_named(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text((ROOT / "config" / "smoke.yaml").read_text() + "\ntrainig: {}\n")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run([str(SNAKEMAKE), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
                             "--configfile", str(config), "-n"], capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert "unknown config key 'trainig' at top level" in result.stdout + result.stderr


def dry_run_jobs(workdir: Path, *targets: str) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job a dry run of ``targets`` would execute."""
    result = snakemake(workdir, "-n", *targets)
    jobs, rule = [], None
    for line in result.stdout.splitlines():
        line = line.strip()
        if line.startswith(("rule ", "checkpoint ", "localrule ", "localcheckpoint ")) and line.endswith(":"):
            rule = line.split()[1].rstrip(":")
            jobs.append((rule, {}))
        elif line.startswith("wildcards:") and jobs:
            pairs = (item.split("=", 1) for item in line.removeprefix("wildcards:").split(", "))
            jobs[-1][1].update({k.strip(): v for k, v in pairs})
    return jobs


#: Arms whose dry run may also include another arm's runs, because they use its results.
USES = {"data_size": {"smoothing"}}


@pytest.mark.workflow
@pytest.mark.parametrize("arm", ["model_comparison", "data_size", "smoothing", "ablation", "transfer",
                                 "focal_planes", "extensions", "lr_range"])
def test_arm_target_builds_only_that_arm(tmp_path, arm):
    jobs = dry_run_jobs(tmp_path, f"arm_{arm}")
    run_jobs = [(rule, w["run_id"]) for rule, w in jobs if "run_id" in w]
    allowed = {arm} | USES.get(arm, set())
    reused = {run.same_as for run in plan_runs(load_config(ROOT / "config" / "smoke.yaml"))
              if run.arm == arm and run.same_as}  # identical runs of other arms are trained once
    foreign = sorted({run_id for _, run_id in run_jobs
                      if run_id.split("-")[0] not in allowed and run_id not in reused})
    assert not foreign, f"arm_{arm} would also build {foreign[:5]}"
    rules = {rule for rule, _ in jobs}
    if arm == "lr_range":
        assert "lr_find" in rules and not run_jobs
    else:
        assert {"train", "predict", "evaluate", "aggregate"} <= rules
        assert any(run_id.startswith(f"{arm}-") for _, run_id in run_jobs)
    if arm == "transfer":
        assert "finetune" in rules
    if arm == "focal_planes":
        assert "focal_round" in rules
    other_tables = {w.get("arm") for rule, w in jobs if rule == "aggregate"} - allowed
    assert not other_tables
