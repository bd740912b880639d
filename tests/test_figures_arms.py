"""Tests of the figures of the study arms beyond the model comparison (09-13; figure 06 in
test_figures_errors.py), the report captions and the arms' summary lines, on small synthetic
tables that follow the table contract: ``results/tables/<arm>/per_image.csv`` with every plan tag
column, "" for empty tags."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nucflow.errors import NucflowError

from nucflow.figures.data_size import fig_data_size
from nucflow.figures.extensions import fig_extensions
from nucflow.figures.focal_planes import fig_focal_planes
from nucflow.figures.registry import FIGURES
from nucflow.figures.smoothing_ablation import fig_smoothing_ablation
from nucflow.report.figure_tables import greedy_path, step_gains, write_figure_tables
from nucflow.report.summary import summary_lines
from nucflow.figures.transfer import fig_transfer
from nucflow.results.catalog import CATALOG
from nucflow.study.plan import ARMS

ROOT = Path(__file__).resolve().parents[1]
TAGS = {"arm": "", "dataset": "seven_lines", "modality": "brightfield", "planes": "4", "model": "unet", "width": 0.25,
        "variant": "plain", "loss": "bce", "smoothing": 0.0, "seed": 0, "train_selection": "train", "augment": False,
        "init_from": "", "eval_set": "seven_lines-test", "method": "published", "n_train": 0, "transfer": "",
        "target": "", "eval_role": "", "focal_round": 0, "frem": False, "normalisation": "percentile"}
IOU = [round(0.5 + 0.05 * i, 2) for i in range(10)]
LINES = ("HeLa", "MDCK", "HepG2", "A549")


def _metrics(f1: float, i: int) -> dict:
    f1 = float(np.clip(f1, 0.01, 0.99))
    row = {"f1": f1, "object_f1": f1 - 0.3, "balanced_accuracy": f1 + 0.04, "precision": f1 + 0.02,
           "recall": f1 - 0.02, "merges": 2 + i % 3, "splits": 1 + i % 2, "missed": 3 + i % 4, "n_true": 30 + 5 * i,
           "density_true_per_mm2": (30 + 5 * i) / 0.4, "pixel_tp": 3000, "pixel_fp": 400, "pixel_fn": 500,
           "pixel_tn": 60000}
    row.update({f"f1_iou{t:.2f}": max(0.0, (f1 - 0.1) * (1 - (t - 0.5) / 0.5)) for t in IOU})
    return row


def write_arm(root: Path, arm: str, runs: list[dict], score, n_images: int = 6, lines=("A549",),
              name: str = "per_image.csv") -> pd.DataFrame:
    """One row per run (dict of tags differing from :data:`TAGS`) and image; ``score(run, i)`` is
    the pixel F1 of image i. Also writes per_run.csv (pooled F1 per run and eval set)."""
    rng = np.random.default_rng(len(runs))
    rows = []
    for run in runs:
        tags = {**TAGS, "arm": arm, **run}
        tags.setdefault("run_id", "-".join([arm] + [str(v) for k, v in run.items() if k != "eval_set"]))
        prefix = run.get("image_prefix", tags["eval_set"])
        for i in range(n_images):
            line = run.get("cell_line", lines[i % len(lines)])
            rows.append({"run_id": tags["run_id"], "image_id": f"{prefix}-{i:02d}", "cell_line": line,
                         **_metrics(score(tags, i) + rng.normal(0, 0.01), i),
                         **{k: v for k, v in tags.items() if k not in ("run_id", "image_prefix", "cell_line")}})
    table = pd.DataFrame(rows)
    folder = root / "tables" / arm
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / name, index=False)
    per_run = table.groupby(["run_id", "eval_set"], as_index=False).agg(
        **{c: (c, "first") for c in TAGS if c not in ("eval_set",)}, f1_pooled=("f1", "mean"))
    per_run.to_csv(folder / "per_run.csv", index=False)
    return table


def make_data_size(root: Path, models=("unet", "ppunet"), seeds=(0, 1)) -> None:
    runs = [{"model": m, "variant": v, "n_train": n, "seed": s, "train_selection": f"train-n{n}-linesA549",
             "augment": v == "aug", "smoothing": 0.1 if v == "smooth" else 0.0, "eval_set": "seven_lines-test-A549"}
            for m in models for v in ("plain", "smooth", "aug") for n in (1, 2, 4, 8, 16, 32, 64) for s in seeds]
    bonus = {"plain": 0.0, "smooth": 0.01, "aug": 0.04}

    def score(run, i):
        return 0.84 - 0.25 / np.sqrt(run["n_train"]) + bonus[run["variant"]] + 0.002 * i

    write_arm(root, "data_size", runs, score, lines=("A549",))


def make_smoothing_ablation(root: Path, seeds=(0, 1)) -> None:
    models = ("unet", "unetpp", "ppunet")
    runs = [{"model": m, "smoothing": f, "seed": s, "variant": "smooth"} for m in models
            for f in (0.05, 0.1, 0.15, 0.2) for s in seeds]
    write_arm(root, "smoothing", runs,
              lambda r, i: 0.8 + 0.02 * ("ppunet" == r["model"]) - (r["smoothing"] - 0.1) ** 2 * 3)
    (root / "tables/smoothing/best.json").write_text(json.dumps({"unet": 0.1, "unetpp": 0.1, "ppunet": 0.05}))
    variants = {"unet": ("plain", "double_skips", "batch_norm", "filters", "double_skips+batch_norm+filters"),
                "unetpp": ("plain", "half_skip_convs")}
    gain = {"plain": 0.0, "double_skips": 0.01, "batch_norm": 0.02, "filters": 0.015,
            "double_skips+batch_norm+filters": 0.03, "half_skip_convs": -0.01}
    runs = [{"model": m, "variant": v, "seed": s} for m, vs in variants.items() for v in vs for s in seeds]
    write_arm(root, "ablation", runs, lambda r, i: 0.8 + gain[r["variant"]] + 0.003 * i)


def make_transfer(root: Path, seeds=(0,), lolo_lines=("HeLa", "HepG2", "A549")) -> None:
    runs = []
    settings = [("lolo", line) for line in lolo_lines] + [("lncap_to_seven_lines", "seven_lines")]
    for transfer, target in settings:
        for s in seeds:
            for role in ("target", "source"):
                dataset = "seven_lines" if transfer == "lolo" or role == "target" else "lncap"
                eval_set = f"{dataset}-test-{target if transfer == 'lolo' else role}"
                common = {"transfer": transfer, "target": target, "eval_role": role, "seed": s, "eval_set": eval_set,
                          "image_prefix": f"{transfer}-{target}-{role}"}
                runs.append({**common, "variant": "source", "n_train": 0,
                             "run_id": f"transfer-{transfer}-{target}-source-s{s}"})
                for variant in ("target", "target+source"):
                    for n in (1, 2, 4, 8, 16):
                        runs.append({**common, "variant": variant, "n_train": n,
                                     "run_id": f"transfer-{transfer}-{target}-{variant}-n{n}-s{s}"})
    shift = {"lolo": 0.08, "lncap_to_seven_lines": 0.3}

    def score(run, i):
        if run["eval_role"] == "source":
            return 0.85 - (0.0 if run["variant"] != "target" else 0.02 * np.log2(run["n_train"] + 1))
        if run["variant"] == "source":
            return 0.85 - shift[run["transfer"]]
        return 0.85 - shift[run["transfer"]] / (1 + 0.6 * run["n_train"]) - 0.01 * (run["variant"] == "target+source")

    write_arm(root, "transfer", runs, score)


def make_focal_planes(root: Path, models=("unet",), seeds=(0,), greedy_csv: bool = False) -> None:
    order = (4, 2, 6, 0, 8)
    value = {4: 0.05, 2: 0.04, 6: 0.035, 0: 0.01, 8: 0.015, 3: 0.02, 5: 0.02, 1: 0.0, 7: 0.005}
    runs = []
    for k in range(1, 4):
        chosen = order[:k - 1]
        for plane in range(9):
            if plane in chosen:
                continue
            planes = ".".join(str(p) for p in chosen + (plane,))
            for m in models:
                for s in seeds:
                    runs.append({"model": m, "planes": planes, "focal_round": k, "seed": s, "dataset": "lncap",
                                 "eval_set": "lncap-test"})

    def score(run, i):
        planes = [int(p) for p in run["planes"].split(".")]
        return 0.7 + sum(value[p] for p in planes) * (1 - 0.1 * (len(planes) - 1)) + 0.001 * i

    write_arm(root, "focal_planes", runs, score, lines=("LNCaP",))
    if greedy_csv:
        pd.DataFrame({"round": [1, 2, 3], "planes": ["4", "4.2", "4.2.6"], "added_plane": [4, 2, 6],
                      "f1": [0.75, 0.786, 0.81]}).to_csv(root / "tables/focal_planes/greedy.csv", index=False)


def make_extensions(root: Path, seeds=(0, 1)) -> None:
    variants = {"baseline": {}, "frem": {"frem": True}, "foreground": {"normalisation": "foreground"},
                "bce_dice": {"loss": "bce_dice"}, "bce_weighted": {"loss": "bce_weighted"},
                "three_class": {"loss": "three_class"}}
    gain = {"baseline": 0.0, "frem": 0.01, "foreground": -0.01, "bce_dice": 0.015, "bce_weighted": 0.005,
            "three_class": 0.02}
    methods = ("published", "watershed", "seeded", "multiscale", "three_class")
    runs = [{"model": m, "variant": v, "seed": s, "method": method, **tags}
            for m in ("unet", "ppunet") for v, tags in variants.items() for s in seeds for method in methods]
    table = write_arm(root, "extensions", runs, lambda r, i: 0.8 + gain[r["variant"]] + 0.002 * i)
    rng = np.random.default_rng(3)
    objects = []
    for row in table[table["variant"] == "baseline"].itertuples():
        k = list(methods).index(row.method)
        area = rng.gamma(6, 25 + 4 * k, 15)
        objects.append(pd.DataFrame({
            "run_id": row.run_id, "image_id": row.image_id, "object_id": np.arange(1, 16), "method": row.method,
            "model": row.model, "variant": row.variant, "seed": row.seed, "best_iou": rng.uniform(0.3, 0.95, 15),
            "area_px2": area, "area_um2": area * 0.35, "perimeter_px": 2 * np.sqrt(np.pi * area) * 1.1,
            "equivalent_radius_px": np.sqrt(area / np.pi),
            "circularity": np.clip(rng.normal(0.85 - 0.03 * k, 0.05, 15), 0, 1),
            "solidity": np.clip(rng.normal(0.95, 0.02, 15), 0, 1), "eccentricity": rng.uniform(0.1, 0.8, 15),
            "shape_index": rng.normal(3.8, 0.2, 15)}))
    pd.concat(objects).to_csv(root / "tables/extensions/per_object.csv", index=False)
    thresholds = np.round(np.linspace(0.1, 0.9, 9), 2)
    pd.DataFrame([{"run_id": f"ext-{s}", "threshold": t, "precision": 0.6 + 0.35 * t, "recall": 0.95 - 0.4 * t ** 2,
                   "f1": 0.0} for s in seeds for t in thresholds]).assign(
        f1=lambda d: 2 * d["precision"] * d["recall"] / (d["precision"] + d["recall"])).to_csv(
        root / "tables/extensions/multiscale_tradeoff.csv", index=False)


# --------------------------------------------------------------------------------------- tests

ARM_FIGURES = {"data_size": (fig_data_size, make_data_size),
               "smoothing_ablation": (fig_smoothing_ablation, make_smoothing_ablation),
               "transfer": (fig_transfer, make_transfer),
               "focal_planes": (fig_focal_planes, make_focal_planes),
               "extensions": (fig_extensions, make_extensions)}


@pytest.fixture(scope="module")
def arms(tmp_path_factory):
    """Every arm's synthetic tables in one results folder and each arm figure drawn once."""
    root = tmp_path_factory.mktemp("arms") / "results"
    for _, make in ARM_FIGURES.values():
        make(root)
    out = root / "figures"
    write_figure_tables(root, n_boot=100)  # what the figure_tables rule writes before the figures
    return root, out, {name: function(root, out) for name, (function, _) in ARM_FIGURES.items()}


@pytest.mark.parametrize("name", sorted(ARM_FIGURES))
def test_arm_figure_writes_png_and_pdf_deterministically(arms, name, tmp_path):
    root, out, drawn = arms
    paths = drawn[name]
    assert [p.name for p in paths] == [f"{FIGURES[name].stem}.png", f"{FIGURES[name].stem}.pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[1].read_bytes()[:5] == b"%PDF-"
    assert all(p.stat().st_size > 5000 for p in paths)
    again = ARM_FIGURES[name][0](root, tmp_path)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]


@pytest.mark.parametrize("name", sorted(ARM_FIGURES) + ["error_examples"])
def test_arm_figure_is_skipped_without_its_table(name, tmp_path):
    empty = tmp_path / "results"
    empty.mkdir()
    assert FIGURES[name].function(empty, tmp_path / "out") is None
    assert FIGURES[name].missing(empty)
    assert not (tmp_path / "out").exists()


def test_registry_stems_and_inputs():
    stems = {name: spec.stem for name, spec in FIGURES.items()}
    for name, stem in (("error_examples", "06_error_examples"), ("data_size", "09_data_size"),
                       ("smoothing_ablation", "10_smoothing_ablation"), ("transfer", "11_transfer"),
                       ("focal_planes", "12_focal_planes"), ("extensions", "13_extensions")):
        assert stems[name] == stem
    assert sorted(stems.values()) == list(stems.values()) or len(set(stems.values())) == len(stems)


def test_data_size_whole_training_split_is_drawn_as_all(tmp_path):
    from nucflow.results.data_size import load

    make_data_size(tmp_path, models=("unet",), seeds=(0,))
    path = tmp_path / "tables/data_size/per_image.csv"
    table = pd.read_csv(path)
    table.loc[table["n_train"] == 64, "n_train"] = 0  # "all of the training split"
    table.to_csv(path, index=False)
    loaded = load(tmp_path)
    assert set(loaded.loc[loaded["n_train"] == 0, "x"]) == {64.0}
    write_figure_tables(tmp_path, ["data_size"], n_boot=50)
    assert fig_data_size(tmp_path, tmp_path / "out") is not None
    text = "\n".join(summary_lines(tmp_path, n_boot=50))
    assert "largest training set (all training images" in text


def test_smoothing_only_and_ablation_only_each_draw(tmp_path):
    only_smoothing = tmp_path / "a"
    make_smoothing_ablation(only_smoothing)
    import shutil
    shutil.rmtree(only_smoothing / "tables/ablation")
    write_figure_tables(only_smoothing, n_boot=50)
    assert fig_smoothing_ablation(only_smoothing, tmp_path / "out_a") is not None
    only_ablation = tmp_path / "b"
    make_smoothing_ablation(only_ablation)
    shutil.rmtree(only_ablation / "tables/smoothing")
    write_figure_tables(only_ablation, n_boot=50)
    assert fig_smoothing_ablation(only_ablation, tmp_path / "out_b") is not None


def test_focal_greedy_path_derived_and_from_file(tmp_path):
    from nucflow.results.focal_planes import greedy_picks, load

    make_focal_planes(tmp_path / "derived", seeds=(0, 1))
    table = load(tmp_path / "derived")
    assert greedy_picks(table, None).query("seed == 1")["planes"].tolist() == ["4", "4.2", "4.2.6"]
    path = greedy_path(table, None, n_boot=50)
    assert path["added_plane"].tolist() == ["4", "2", "6"] and path["n_searches"].tolist() == [2, 2, 2]
    gains = step_gains(table, None, n_boot=50)
    assert gains["planes_after"].tolist() == ["4.2", "4.2.6"] and (gains["gain"] > 0).all()
    make_focal_planes(tmp_path / "given", greedy_csv=True)
    given = load(tmp_path / "given")
    greedy = pd.read_csv(tmp_path / "given/tables/focal_planes/greedy.csv")
    greedy.loc[1, ["planes", "added_plane"]] = ["4.6", 6]  # the workflow chose 6, not the best (2), in round 2
    greedy.to_csv(tmp_path / "given/tables/focal_planes/greedy.csv", index=False)
    assert greedy_path(given, tmp_path / "given", n_boot=50)["added_plane"].tolist() == ["4", "6", "6"]
    write_figure_tables(tmp_path / "given", n_boot=50)
    assert fig_focal_planes(tmp_path / "given", tmp_path / "out") is not None


def test_focal_searches_that_disagree_list_both_planes(tmp_path):
    make_focal_planes(tmp_path, seeds=(0, 1))
    per_image = pd.read_csv(tmp_path / "tables/focal_planes/per_image.csv", dtype={"planes": str})
    boost = (per_image["seed"] == 1) & (per_image["planes"] == "4.6")
    per_image.loc[boost, "f1"] += 0.2  # seed 1 prefers plane 6 in round 2
    per_image.to_csv(tmp_path / "tables/focal_planes/per_image.csv", index=False)
    from nucflow.results.focal_planes import load
    path = greedy_path(load(tmp_path), None, n_boot=50)
    assert path.loc[path["focal_round"] == 2, "added_plane"].item() in ("2/6", "6/2")


def test_extensions_panels_are_optional(tmp_path):
    root = tmp_path / "results"
    make_extensions(root)
    (root / "tables/extensions/per_object.csv").unlink()
    (root / "tables/extensions/multiscale_tradeoff.csv").unlink()
    write_figure_tables(root, n_boot=50)
    assert fig_extensions(root, tmp_path / "out") is not None
    only_tradeoff = tmp_path / "tradeoff"
    make_extensions(only_tradeoff)
    (only_tradeoff / "tables/extensions/per_image.csv").unlink()
    (only_tradeoff / "tables/extensions/per_object.csv").unlink()
    write_figure_tables(only_tradeoff, n_boot=50)
    assert fig_extensions(only_tradeoff, tmp_path / "out2") is not None


def test_summary_states_the_arm_findings(arms):
    root, _, _ = arms
    text = "\n".join(summary_lines(root, n_boot=100))
    assert "16 augmented images" in text and "within 5%" in text
    assert re.search(r"\| U-Net \| \d+\.\d \[\d+\.\d, \d+\.\d\] \| \d+ \| 16 ", text)
    assert "+3.3" in text and "| U-Net | {4} → {4, 2} |" in text
    assert "31%" in text and "| LNCaP → seven lines | U-Net |" in text
    gap = re.search(r"\| LNCaP → seven lines \| U-Net \| [\d.]+ \| [\d.]+ \| (\d+\.\d) ", text)
    assert gap and 25 < float(gap.group(1)) < 35  # the synthetic shift is 30 points


def test_summary_omits_arms_that_did_not_run(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    text = "\n".join(summary_lines(empty))
    assert "augmented" not in text and "Focal planes" not in text and "Transfer" not in text


def test_report_captions_exist_for_every_figure():
    rule = (ROOT / "workflow/rules/figures.smk").read_text()
    captions = ROOT / "workflow/report"
    assert (captions / "workflow.rst").is_file()
    assert (captions / "01_data_overview.rst").is_file()
    # one place names the figures: the catalog (read by the workflow) and the registry agree,
    # and the rule file spells no figure stem of its own
    assert list(CATALOG) == list(FIGURES)
    assert all(CATALOG[name].stem == spec.stem for name, spec in FIGURES.items())
    assert not re.search(r'"\d\d_\w+"', rule)
    assert {arm for entry in CATALOG.values() for arm in entry.arms} <= set(ARMS) | {"lr_range"}
    for spec in FIGURES.values():
        assert (captions / f"{spec.stem}.rst").is_file(), spec.stem


@pytest.mark.parametrize("config_file", ["config.yaml", "smoke.yaml", "paper.yaml"])
def test_report_captions_render_with_each_config(config_file):
    """Captions are Jinja templates over the validated config (as `snakemake --report` renders
    them) and valid reStructuredText."""
    import types

    import yaml
    from docutils.core import publish_parts
    from jinja2 import Environment, StrictUndefined

    from nucflow.config import validate_config

    path = ROOT / "config" / config_file
    if not path.is_file():
        pytest.skip(f"{path} not present")
    config = yaml.safe_load(path.read_text())
    validate_config(config, source=str(path))
    env = Environment(trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined)
    for caption in sorted((ROOT / "workflow/report").glob("*.rst")):
        text = env.from_string(caption.read_text()).render(snakemake=types.SimpleNamespace(config=config))
        publish_parts(text, writer="html", settings_overrides={"report_level": 2, "halt_level": 2})


def test_empty_pred_object_table_counts_as_absent(tmp_path):
    """Regression: the default study wrote an empty per_pred_object.csv (no run had predicted-object
    shapes yet) and figure 13 stopped the figures rule with 'No columns to parse'."""
    from nucflow.results.inputs import has_rows

    empty = tmp_path / "per_pred_object.csv"
    empty.write_text("\n")
    assert not has_rows(empty) and not has_rows(tmp_path / "missing.csv")
    header_only = tmp_path / "h.csv"
    header_only.write_text("run_id,area_px2\n")
    assert not has_rows(header_only)
    header_only.write_text("run_id,area_px2\nr,3\n")
    assert has_rows(header_only)


def make_frem_search(root: Path, seeds=(0, 1)) -> None:
    """The FREM search's trials and choice, and its comparison runs (searched FREM best)."""
    gain = {"plain": 0.0, "frem": 0.02, "se": 0.01, "dropout": -0.01}
    runs = [{"model": "unet", "variant": v, "seed": s, "method": "published"} for v in gain for s in seeds]
    write_arm(root, "frem_search", runs, lambda r, i: 0.8 + gain[r["variant"]] + 0.002 * i)
    folder = root / "frem_search" / "unet-bf-seven_lines"
    folder.mkdir(parents=True)
    pd.DataFrame({"number": [0, 1, 2, 3], "state": ["complete", "pruned", "fail", "complete"],
                  "channels": [3, 40, 7, 12], "factor": [250.0, 2.0, 5.0, 480.0], "value": [0.21, 0.35, None, 0.18],
                  "epochs": [30, 5, None, 28], "seconds": [10.0, 2.0, None, 9.0]}).to_csv(folder / "trials.csv",
                                                                                     index=False)
    (folder / "best.json").write_text(json.dumps({"channels": 12, "factor": 480.0, "value": 0.18, "trial": 3,
                                                  "feature_channels": 64, "objective": "best validation loss"}))


def test_extensions_figure_draws_the_frem_search_alone_and_with_the_arm(tmp_path):
    from nucflow.results.extensions import load_frem_trials

    only = tmp_path / "only"
    make_frem_search(only)
    tables = write_figure_tables(only, n_boot=50)
    points = pd.read_csv(only / "tables/figures/13_extensions/frem_search.csv")
    assert [p.name for p in tables] == ["frem_search.csv"]
    assert list(points["variant"]) == ["dropout", "frem", "plain", "se"]
    frem = points[points["variant"] == "frem"].iloc[0]
    assert 1.0 < frem["delta"] < 3.5 and frem["low"] < frem["value"] < frem["high"]  # +2 pp, 1 pp noise per image
    assert points[points["variant"] == "plain"]["delta"].isna().all()
    trials, best = load_frem_trials(only)
    assert list(trials["state"]) == ["complete", "pruned", "fail", "complete"] and best["trial"] == 3
    paths = fig_extensions(only, tmp_path / "out")
    assert [p.name for p in paths] == ["13_extensions.png", "13_extensions.pdf"]
    both = tmp_path / "both"
    make_extensions(both)
    make_frem_search(both)
    write_figure_tables(both, n_boot=50)
    assert fig_extensions(both, tmp_path / "out2") is not None
    assert "frem_search" in CATALOG["extensions"].arms


def test_extensions_figure_draws_one_frem_search_per_fold(tmp_path):
    """Regression: with splits.folds each fold has its own FREM search, and the figure stopped with
    'more than one FREM search' (the figures job would fail for every study with folds and the arm)."""
    import shutil

    from nucflow.results.extensions import load_frem_searches, load_frem_trials

    make_frem_search(tmp_path)
    single = tmp_path / "frem_search" / "unet-bf-seven_lines"
    for fold in (0, 1):
        shutil.copytree(single, single.with_name(f"unet-bf-seven_lines-f{fold}"))
    shutil.rmtree(single)
    searches = load_frem_searches(tmp_path)
    assert [name for name, _, _ in searches] == ["unet-bf-seven_lines-f0", "unet-bf-seven_lines-f1"]
    assert all(best["trial"] == 3 and list(trials["number"]) == [0, 1, 2, 3] for _, trials, best in searches)
    with pytest.raises(NucflowError, match="more than one FREM search"):
        load_frem_trials(tmp_path)
    write_figure_tables(tmp_path, n_boot=20)
    paths = fig_extensions(tmp_path, tmp_path / "out")
    assert [p.name for p in paths] == ["13_extensions.png", "13_extensions.pdf"]
