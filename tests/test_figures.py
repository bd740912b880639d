"""Tests of nucflow.figures on small synthetic result tables that follow the input contracts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nucflow.errors import NucflowError

MODELS = ("unet", "unetpp", "deeplabv3plus", "tiramisu", "ppunet")
BASE_F1 = {"unet": 0.80, "unetpp": 0.84, "deeplabv3plus": 0.86, "tiramisu": 0.85, "ppunet": 0.86}
LINES = {"seven_lines": ("HeLa", "HepG2", "A549"), "lncap": ("LNCaP",)}
THRESHOLDS = [round(0.5 + 0.05 * i, 2) for i in range(10)]
BENCH_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(path: Path, seconds: float, rss_mb: float | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BENCH_HEADER + f"{seconds:.4f}\t0:00:{int(seconds) % 60:02d}\t{rss_mb}\t900\t100\t100\t0\t0\t50\t1\n")


def _plan(models, seeds, datasets, modalities) -> pd.DataFrame:
    rows = []
    for dataset in datasets:
        for modality in modalities:
            for model in models:
                for seed in seeds:
                    short = {"brightfield": "bf", "fluorescence": "fl"}[modality]
                    rows.append({"run_id": f"model_comparison-{model}-{short}-{dataset}-s{seed}",
                                 "arm": "model_comparison", "dataset": dataset, "modality": modality,
                                 "planes": "3.4.5" if modality == "brightfield" else "none", "model": model,
                                 "width": 0.25, "variant": "plain", "loss": "bce", "smoothing": 0.0, "seed": seed,
                                 "train_selection": "train", "augment": False, "init_from": ""})
    return pd.DataFrame(rows)


def _per_image(plan: pd.DataFrame, n_images: int, rng) -> pd.DataFrame:
    rows = []
    for run in plan.itertuples():
        for i in range(n_images):
            lines = LINES[run.dataset]
            n_true = 20 + 7 * i + (3 if run.dataset == "lncap" else 0)
            bonus = 0.06 if run.modality == "fluorescence" else 0.0
            f1 = BASE_F1[run.model] + bonus - 0.004 * (i - n_images / 2) + rng.normal(0, 0.01)
            errors = 4000 + 80 * i
            fn = int(errors * (0.55 + 0.02 * rng.normal()))
            row = {"run_id": run.run_id, "image_id": f"{run.dataset}-{i:03d}", "dataset": run.dataset,
                   "cell_line": lines[i % len(lines)], "pixel_source": "prob>0.5",
                   "f1": f1, "balanced_accuracy": f1 + 0.05, "pixel_fn": fn, "pixel_fp": errors - fn,
                   "pixel_tp": 30000, "pixel_tn": 30000, "n_true": n_true, "n_pred": n_true + 2,
                   "object_f1": f1 - 0.3 + rng.normal(0, 0.01)}
            for t in THRESHOLDS:
                row[f"f1_iou{t:.2f}"] = max(0.0, (f1 - 0.05) * (1 - (t - 0.5) / 0.5) ** 0.7)
            j = MODELS.index(run.model)
            row.update(merges=2 + i % 3, splits=1 + i % 2, missed=3 + i % 4, correct_detections=n_true - 5 - j,
                       incorrect_detections=7, split_errors=1, merge_errors=2, catastrophes=i % 2,
                       missed_detections=2, gained_detections=1, nuset_fn=4, nuset_fp=3,
                       touching_pairs=6, touching_pairs_separated=4, density_true_per_mm2=n_true / 0.02)
            row.update({k: getattr(run, k) for k in ("arm", "modality", "planes", "model", "width", "seed")})
            row.update(eval_set=f"{run.dataset}-test", method="threshold")
            rows.append(row)
    return pd.DataFrame(rows)


def _per_object(per_image: pd.DataFrame, rng) -> pd.DataFrame:
    frames = []
    for row in per_image.itertuples():
        area = rng.uniform(80, 600, 12)
        best = np.clip(0.4 + area / 1500 + rng.normal(0, 0.1, area.size), 0, 1)
        frames.append(pd.DataFrame({"run_id": row.run_id, "image_id": row.image_id, "object_id": np.arange(1, 13),
                                    "best_iou": best, "area_px2": area, "area_um2": area * 0.35,
                                    "model": row.model, "modality": row.modality, "dataset": row.dataset,
                                    "seed": row.seed}))
    return pd.concat(frames, ignore_index=True)


def make_results(root: Path, *, models=MODELS, seeds=(0, 1), datasets=("seven_lines", "lncap"),
                 modalities=("brightfield", "fluorescence"), n_images=12, simulated=True) -> Path:
    """Write a complete synthetic results folder under ``root`` and return it."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    plan = _plan(models, seeds, datasets, modalities)
    plan.to_csv(root / "plan.csv", index=False)
    tables = root / "tables/model_comparison"
    tables.mkdir(parents=True)
    per_image = _per_image(plan, n_images, rng)
    per_image.to_csv(tables / "per_image.csv", index=False)
    _per_object(per_image, rng).to_csv(tables / "per_object.csv", index=False)
    per_image.groupby("run_id", as_index=False)["f1"].mean().to_csv(tables / "per_run.csv", index=False)
    curve = []
    for run in plan.itertuples():
        j = MODELS.index(run.model)
        for k, threshold in enumerate(np.linspace(0.1, 0.9, 9)):
            curve.append({"run_id": run.run_id, "model": run.model, "modality": run.modality, "dataset": run.dataset,
                          "seed": run.seed, "pixel_threshold": threshold, "merges": 40 - 4 * k + 2 * j + run.seed,
                          "splits": 5 + 3 * k + j, "missed": 10 + k * k - j, "n_true": 300})
    (root / "attribution/model_comparison/tables").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(curve).to_csv(root / "attribution/model_comparison/tables/error_curve.csv", index=False)
    pd.DataFrame([{"model": m, "width": 1.0, "in_channels": 3, "size": 288, "params": p, "params_trainable": p,
                   "bn_buffers": 10, "macs": 40 * p, "forward_ms": 2.0 + i, "device": "cpu"}
                  for i, (m, p) in enumerate(zip(models, (7_800_000, 9_000_000, 41_000_000, 9_400_000,
                                                           2_000_000)))]).to_csv(root / "models.csv", index=False)
    for run in plan.itertuples():
        _bench(root / f"benchmarks/train/{run.run_id}.tsv", 600 + 100 * MODELS.index(run.model) + 7 * run.seed, 2100.5)
        _bench(root / f"benchmarks/predict/{run.run_id}/{run.dataset}-test.tsv", 24.0 + run.seed, "NA")
    _bench(root / "benchmarks/plan.tsv", 1.2, 90.0)
    _bench(root / "benchmarks/data/simulate.tsv", 120.0, 800.0)
    _bench(root / "benchmarks/aggregate/model_comparison.tsv", 3.0, 300.0)
    for model in models:
        for modality in modalities:
            folder = root / f"lr_find/{model}-{modality}"
            folder.mkdir(parents=True)
            lrs = np.logspace(-6, 0, 60)
            shift = 0.5 * MODELS.index(model)
            loss = 0.7 - 0.4 / (1 + np.exp(-(np.log10(lrs) + 3.5 - shift) * 2)) + np.where(lrs > 0.1, 5 * lrs, 0)
            pd.DataFrame({"step": np.arange(60), "lr": lrs, "loss": loss + rng.normal(0, 0.01, 60),
                          "smoothed_loss": loss, "used": lrs < 0.2}).to_csv(folder / "curve.csv", index=False)
            (folder / "lr.json").write_text(json.dumps({"lr": 3.16e-4 * 10 ** shift, "run_id": f"{model}-{modality}"}))
    attribution = root / "attribution/model_comparison/tables"
    attribution.mkdir(parents=True, exist_ok=True)
    noise = [{"image_id": f"img{i}", "model": m, "n_errors": 1000, "n_flagged_errors": 30 + 3 * j + i,
              "n_flagged": 60, "n_true_noise_errors": (40 + 2 * j + i) if simulated else None, "n_true_noise": 80}
             for i in range(6) for j, m in enumerate(models)]
    pd.DataFrame(noise).to_csv(attribution / "label_noise.csv", index=False)
    for j, model in enumerate(models):
        (attribution / model).mkdir()
        pd.DataFrame({"image_id": [f"img{i}" for i in range(5)], "n_artifact_pixels": 500, "f1_all": 0.8,
                      "f1_outside": 0.82, "f1_gain": 0.017 + 0.001 * np.arange(5), "n_errors": 1000,
                      "n_errors_in_artifacts": 100 + 5 * j + np.arange(5),
                      "error_share_in_artifacts": (100 + 5 * j + np.arange(5)) / 1000}).to_csv(
            attribution / model / "artifacts.csv", index=False)
    (root / "config").mkdir()
    (root / "config/study.json").write_text(json.dumps({"data": {"source": "simulated" if simulated else "manifest"}}))
    return root


# --------------------------------------------------------------------------------------------- tests

from nucflow.figures import figures_cli  # noqa: E402
from nucflow.figures.lr_range import fig_lr_range  # noqa: E402
from nucflow.figures.model_comparison import fig_model_comparison  # noqa: E402
from nucflow.figures.registry import FIGURES  # noqa: E402
from nucflow.figures.style import model_colour, model_name, ordered_models, save  # noqa: E402
from nucflow.models.registry import model_names  # noqa: E402
from nucflow.report.figure_tables import write_figure_tables  # noqa: E402
from nucflow.report.summary import write_summary  # noqa: E402
from nucflow.results.inputs import read_benchmarks  # noqa: E402


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """A complete synthetic results folder and every figure drawn from it once."""
    root = make_results(tmp_path_factory.mktemp("full") / "results", n_images=8)
    write_figure_tables(root)  # what the figure_tables rule writes before the figures
    out = root / "figures"
    return root, out, figures_cli.draw(root, out)


# Figures of the other arms (and 06, which reads a run's images) are drawn in test_figures_arms.py,
# 15 (learning curves) in test_convergence.py.
ARM_FIGURES = {"error_examples", "data_size", "smoothing_ablation", "transfer", "focal_planes", "extensions",
               "learning_curves"}


def test_every_figure_writes_png_and_pdf(full):
    root, out, outcome = full
    assert set(outcome) == set(FIGURES)
    for name, paths in outcome.items():
        if name in ARM_FIGURES:
            assert isinstance(paths, str), f"{name}: drawn without its tables"
            continue
        assert isinstance(paths, list), f"{name}: {paths}"
        assert [p.name for p in paths] == [f"{FIGURES[name].stem}.png", f"{FIGURES[name].stem}.pdf"]
        assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert paths[1].read_bytes()[:5] == b"%PDF-"
        assert all(p.stat().st_size > 5000 for p in paths)


def test_figures_are_byte_identical_from_the_same_tables(full, tmp_path):
    root, out, _ = full
    again = fig_model_comparison(root, tmp_path)
    assert [p.read_bytes() for p in again] == [(out / p.name).read_bytes() for p in again]
    again = fig_lr_range(root, tmp_path)
    assert [p.read_bytes() for p in again] == [(out / p.name).read_bytes() for p in again]


def test_pdf_and_png_carry_no_timestamp(full):
    _, out, _ = full
    pdf = (out / "04_model_comparison.pdf").read_bytes()
    assert b"CreationDate" not in pdf and b"ModDate" not in pdf
    assert b"Software" not in (out / "04_model_comparison.png").read_bytes()


def test_model_colours_names_and_order_are_fixed():
    assert model_names() == ("unet", "unetpp", "deeplabv3plus", "tiramisu", "ppunet")
    assert [model_colour(m) for m in model_names()] == ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00"]
    assert [model_name(m) for m in model_names()] == ["U-Net", "U-Net++", "DeepLabv3+", "Tiramisu", "PPU-Net"]
    assert ordered_models(["ppunet", "frem", "unet", "tiramisu"]) == ["unet", "tiramisu", "ppunet", "frem"]
    assert model_colour("frem") not in {model_colour(m) for m in model_names()}


def test_missing_inputs_skip_the_figure(tmp_path):
    empty = tmp_path / "results"
    empty.mkdir()
    for name, spec in FIGURES.items():
        assert spec.function(empty, tmp_path / "out") is None, name
    assert not (tmp_path / "out").exists()
    outcome = figures_cli.draw(empty, tmp_path / "out")
    assert all(isinstance(v, str) and v.startswith("missing ") for v in outcome.values())


def test_partial_results_draw_what_they_can(tmp_path):
    root = make_results(tmp_path / "results", models=("unet", "ppunet"), seeds=(0,), datasets=("lncap",),
                        modalities=("brightfield",), n_images=5, simulated=False)
    for relative in ("attribution/model_comparison/tables/error_curve.csv", "tables/model_comparison/per_object.csv"):
        (root / relative).unlink()
    import shutil
    shutil.rmtree(root / "attribution")
    shutil.rmtree(root / "benchmarks")
    write_figure_tables(root, n_boot=100)
    outcome = figures_cli.draw(root, tmp_path / "out")
    assert outcome["compute"].startswith("missing benchmarks")
    for name in ("architectures", "lr_range", "model_comparison", "density", "object_errors", "attribution"):
        assert isinstance(outcome[name], list), f"{name}: {outcome[name]}"


def test_summary_has_paper_numbers_and_not_run(full, tmp_path):
    root, _, _ = full
    from nucflow.report.claims import write_claims

    write_claims(root, root / "tables/claims.csv", n_boot=50)  # what the claims rule writes before the figures
    text = write_summary(root, tmp_path / "summary.md", n_boot=200).read_text()
    for number in ("81.3", "85.0", "86.2", "85.6", "86.5", "48.8", "55.4", "58.1", "58.2", "59.8", "-0.65",
                   "-0.70", "10.7%", "53-61%", "3-5%"):
        assert number in text, number
    assert "**The data are simulated**" in text
    claims, _, sections = text.partition("### The paper's claims")[2].partition("\n### ")
    assert "not run" not in sections  # every section of the arms the fixture has
    assert "| 1 | **" in claims and "not run | data_size arm off" in claims  # the claims of arms it lacks are marked
    assert "| seven lines | U-Net | " in text

    sparse = tmp_path / "sparse"
    (sparse / "tables/model_comparison").mkdir(parents=True)
    (root / "tables/model_comparison/per_image.csv").replace(sparse / "tables/model_comparison/per_image.csv")
    try:
        text = write_summary(sparse, tmp_path / "sparse.md", n_boot=50).read_text()
    finally:
        (sparse / "tables/model_comparison/per_image.csv").replace(root / "tables/model_comparison/per_image.csv")
    assert "not run (missing attribution/model_comparison/tables/**/artifacts.csv)" in text
    assert "not run (missing attribution/model_comparison/tables/label_noise.csv)" in text
    assert "Data source unknown" in text and "simulated" in text
    empty = tmp_path / "empty"
    empty.mkdir()
    assert write_summary(empty, tmp_path / "empty.md").read_text().count("not run") == 7  # six sections + the claims


def test_corrupt_table_names_the_file(tmp_path):
    root = make_results(tmp_path / "results", models=("unet",), seeds=(0,), datasets=("lncap",),
                        modalities=("brightfield",), n_images=3)
    per_image = root / "tables/model_comparison/per_image.csv"
    per_image.write_bytes(b'"unclosed,quote\n1,2\n\x00\x00')
    with pytest.raises(NucflowError, match="per_image.csv"):
        fig_model_comparison(root, tmp_path / "out")
    per_image.write_text("run_id,image_id,model\nr,i,unet\n")
    with pytest.raises(NucflowError, match=r"per_image.csv: missing column\(s\) dataset"):
        fig_model_comparison(root, tmp_path / "out")
    curve = root / "lr_find/unet-brightfield/curve.csv"
    curve.write_text("lr,loss,smoothed_loss\n0.1,abc,0.5\n0.2,0.4,0.4\n")
    with pytest.raises(NucflowError, match="curve.csv: column loss holds non-numeric"):
        fig_lr_range(root, tmp_path / "out")
    bench = root / "benchmarks/train/model_comparison-unet-bf-lncap-s0.tsv"
    bench.write_text("s\tmax_rss\nslow\t12\n")
    with pytest.raises(NucflowError, match=r"s0\.tsv: column s holds non-numeric"):
        read_benchmarks(root)


def test_benchmarks_map_rules_runs_and_arms(tmp_path):
    root = tmp_path / "results"
    _bench(root / "benchmarks/train/runA.tsv", 60.0, 1024.0)
    _bench(root / "benchmarks/predict/runA/lncap-test.tsv", 6.0, "NA")
    _bench(root / "benchmarks/data/split.tsv", 1.0, "-")
    _bench(root / "benchmarks/tiles/lncap/brightfield-4/train.aug.tsv", 2.0, 10)
    table = read_benchmarks(root, {"runA": "model_comparison"}).set_index("path")
    assert table.loc["train/runA.tsv", ["rule", "run_id", "arm", "seconds", "max_rss_mb"]].tolist() == \
        ["train", "runA", "model_comparison", 60.0, 1024.0]
    assert table.loc["predict/runA/lncap-test.tsv", "eval_set"] == "lncap-test"
    assert np.isnan(table.loc["predict/runA/lncap-test.tsv", "max_rss_mb"])
    assert table.loc["data/split.tsv", ["rule", "arm"]].tolist() == ["split", "shared"]
    assert table.loc["tiles/lncap/brightfield-4/train.aug.tsv", "rule"] == "augment"


def test_cli_prints_written_and_skipped(tmp_path, capsys):
    import argparse

    root = make_results(tmp_path / "results", models=("unet",), seeds=(0,), datasets=("lncap",),
                        modalities=("brightfield",), n_images=4)
    import shutil
    shutil.rmtree(root / "lr_find")
    parser = argparse.ArgumentParser()
    figures_cli.add_arguments(parser)
    args = parser.parse_args(["--results", str(root), "--only", "lr_range", "compute", "--n-boot", "50"])
    assert figures_cli.run(args) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "skipped 03_lr_range: missing lr_find/*/curve.csv"
    assert printed[1].startswith("wrote ") and printed[1].endswith("14_compute.pdf")
    assert printed[2] == f"wrote {root / 'summary.md'}"
    with pytest.raises(NucflowError, match="results folder not found"):
        figures_cli.run(parser.parse_args(["--results", str(tmp_path / "nope")]))


def test_save_writes_both_formats_atomically(tmp_path):
    from nucflow.figures.style import figure_style, new_figure

    with figure_style():
        fig = new_figure(2, 2)
        fig.subplots().plot([0, 1], [0, 1])
        paths = save(fig, tmp_path / "sub" / "01_test")
    assert [p.name for p in paths] == ["01_test.png", "01_test.pdf"]
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["01_test.pdf", "01_test.png"]


def test_a_failing_figure_keeps_the_figures_already_there(tmp_path, monkeypatch):
    """Regression: a failure of `nucflow figures` must not cost the figures of the previous run."""
    import argparse
    from dataclasses import replace

    root = make_results(tmp_path / "results", models=("unet",), seeds=(0,), datasets=("lncap",),
                        modalities=("brightfield",), n_images=4)
    write_figure_tables(root, n_boot=50)
    parser = argparse.ArgumentParser()
    figures_cli.add_arguments(parser)
    args = parser.parse_args(["--results", str(root), "--only", "model_comparison", "compute", "--no-summary"])
    assert figures_cli.run(args) == 0
    out = root / "figures"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(before) == ["04_model_comparison.pdf", "04_model_comparison.png", "14_compute.pdf",
                              "14_compute.png"]

    def broken(results, out_dir):  # fails after writing half of its output
        (out_dir / "14_compute.png").write_bytes(b"half a figure")
        raise NucflowError("compute: broken table")

    monkeypatch.setitem(FIGURES, "compute", replace(FIGURES["compute"], function=broken))
    with pytest.raises(NucflowError, match="broken table"):
        figures_cli.run(args)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(".")) == []  # no staging folder left


def test_density_correlations_are_computed_for_the_figure_exactly():
    """Figure 05 draws the regression lines and r that nucflow figure-tables computed (it computes
    nothing itself): r, slope and intercept of pixel F1 in % on nuclei per image."""
    from nucflow.report.figure_statistics import density_correlations

    points = pd.DataFrame({"dataset": ["a"] * 3 + ["b"] * 2, "model": ["unet"] * 5,
                           "n_true": [10, 20, 30, 5, 5], "f1": [0.9, 0.8, 0.7, 0.5, 0.6]})
    table = density_correlations(points)
    assert table.columns.tolist() == ["dataset", "model", "n", "r", "slope", "intercept"]
    a, b = table.iloc[0], table.iloc[1]
    assert (a["dataset"], a["n"]) == ("a", 3)
    assert a["r"] == pytest.approx(-1.0) and a["slope"] == pytest.approx(-1.0) and a["intercept"] == pytest.approx(100.0)
    assert b["n"] == 2 and np.isnan(b["r"]) and np.isnan(b["slope"])  # no spread in nuclei per image: r undefined


def test_figure_tables_hold_every_interval_exactly_and_figures_need_them(full, tmp_path):
    root, _, _ = full
    import shutil

    from nucflow.cli import main
    from nucflow.results.inputs import read_figure_table
    from nucflow.report.figure_tables import figure_tables

    computed = figure_tables(root)
    assert set(computed) == {"04_model_comparison", "05_density", "08_attribution"}
    for figure, tables in computed.items():
        for name, table in tables.items():
            # floats read back to the same bits, tags as text
            pd.testing.assert_frame_equal(read_figure_table(root, figure, name), table.reset_index(drop=True),
                                          check_dtype=False, check_exact=True, obj=f"{figure}/{name}")
    intervals = computed["04_model_comparison"]["intervals"]
    assert set(intervals["metric"]) == {"f1", "object_f1", "balanced_accuracy"}
    assert (intervals["low"] <= intervals["value"]).all() and (intervals["value"] <= intervals["high"]).all()
    # the command writes the same files; a figure without its interval table names the file to write
    copy = tmp_path / "results"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("figures"))  # drops figures/ and tables/figures/
    assert not (copy / "tables/figures").exists()
    with pytest.raises(NucflowError, match=r"tables/figures/04_model_comparison/intervals\.csv: missing; .*"
                                           r"nucflow figure-tables"):
        fig_model_comparison(copy, tmp_path / "out")
    assert main(["figure-tables", "--results", str(copy), "--only", "model_comparison"]) == 0
    assert (copy / "tables/figures/04_model_comparison/intervals.csv").read_bytes() == \
        (root / "tables/figures/04_model_comparison/intervals.csv").read_bytes()
    assert fig_model_comparison(copy, tmp_path / "out") is not None
