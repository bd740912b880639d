"""The paper's claims table (nucflow.report.claims) and its summary section, on small
hand-made result tables with known answers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nucflow.report.claims import CLAIMS, COLUMNS, FINDINGS, claims_table, verdict, write_claims
from nucflow.cli import main
from nucflow.attribution.stats import Estimate, difference_ci, independent_ci, mean_ci
from nucflow.report.summary import summary_lines

IMAGES = ("f0", "f1", "f2", "f3")


def _rows(arm: str, model: str, values, seed: int = 0, **tags) -> list[dict]:
    """One row per image of one run: pixel F1 ``values`` (one per image in :data:`IMAGES` order)."""
    base = {"arm": arm, "dataset": "seven_lines", "modality": "brightfield", "planes": "4", "model": model,
            "variant": "plain", "seed": seed, "n_train": 0, "transfer": "", "target": "", "eval_role": "",
            "eval_set": "seven_lines-test", "method": "published", "focal_round": 0, **tags}
    run_id = "-".join(str(v) for v in (arm, model, *tags.values(), seed))
    return [{"run_id": run_id, "image_id": image, "f1": float(f1), "object_f1": float(f1) - 0.3, "n_true": 10 * (i + 1),
             "pixel_fn": 100, "pixel_fp": 50, **base} for i, (image, f1) in enumerate(zip(IMAGES, values))]


def _write(root: Path, arm: str, rows: list[dict]) -> None:
    folder = root / "tables" / arm
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "per_image.csv", index=False)


def _claim(table: pd.DataFrame, claim: int) -> pd.DataFrame:
    return table[table["claim"] == claim].reset_index(drop=True)


def test_verdict_reads_the_ci_against_the_paper_side():
    assert verdict(Estimate(1.0, 0.5, 2.0, 4), 0.0, True) == "agrees"
    assert verdict(Estimate(-1.0, -2.0, -0.5, 4), 0.0, True) == "disagrees"
    assert verdict(Estimate(-1.0, -2.0, -0.5, 4), 0.0, False) == "agrees"
    assert verdict(Estimate(0.1, -0.5, 0.7, 4), 0.0, True) == "inconclusive"
    assert verdict(Estimate(0.0, 0.0, 1.0, 4), 0.0, True) == "inconclusive"  # touching the threshold
    assert verdict(Estimate(98.0, 96.0, 99.0, 4), 95.0, True) == "agrees"
    assert verdict(Estimate(1.0, math.nan, math.nan, 1), 0.0, True) == "inconclusive"
    assert verdict(Estimate(math.nan, math.nan, math.nan, 0), 0.0, True) == "not run"
    assert verdict(Estimate(math.nan, math.nan, math.nan, 3), 0.0, True) == "inconclusive"  # e.g. r of 2 images


def test_independent_ci_of_two_samples_is_the_summary_difference():
    rng = np.random.default_rng(0)
    a, b = rng.normal(80, 3, 9), rng.normal(60, 5, 7)
    assert independent_ci([a, b], lambda x, y: x - y, n_boot=300, seed=5) == difference_ci(a, b, n_boot=300, seed=5)
    assert math.isnan(independent_ci([a, []], lambda x, y: x - y).value)


def test_deeper_model_paired_difference_is_exact(tmp_path):
    rows = _rows("model_comparison", "unet", [0.70, 0.72, 0.74, 0.76])
    rows += _rows("model_comparison", "unetpp", [0.80, 0.81, 0.82, 0.83])   # +10, +9, +8, +7 pp
    rows += _rows("model_comparison", "tiramisu", [0.75, 0.67, 0.78, 0.72])  # +5, -5, +4, -4 pp
    rows += _rows("model_comparison", "ppunet", [0.60, 0.62, 0.64, 0.66])    # -10 pp each
    _write(tmp_path, "model_comparison", rows)
    claim = _claim(claims_table(tmp_path, n_boot=200, seed=0), 1).set_index("subject")
    unetpp = claim.loc["seven lines: U-Net++ − U-Net"]
    assert unetpp["estimate"] == pytest.approx(8.5)
    expected = mean_ci([10.0, 9.0, 8.0, 7.0], n_boot=200, seed=0)
    assert (unetpp["ci_low"], unetpp["ci_high"]) == pytest.approx((expected.low, expected.high))
    assert 7.0 <= unetpp["ci_low"] < 8.5 < unetpp["ci_high"] <= 10.0
    assert (unetpp["n_images"], unetpp["n_seeds"], unetpp["verdict"]) == (4, 1, "agrees")
    assert unetpp["paper"] == "+3.7 (85.0 vs 81.3%)" and unetpp["expected"] == "> 0"
    assert claim.loc["seven lines: Tiramisu − U-Net", "estimate"] == pytest.approx(0.0)
    assert claim.loc["seven lines: Tiramisu − U-Net", "verdict"] == "inconclusive"
    assert claim.loc["seven lines: PPU-Net − U-Net", "estimate"] == pytest.approx(-10.0)
    assert claim.loc["seven lines: PPU-Net − U-Net", "verdict"] == "disagrees"


def test_seeds_are_averaged_per_image_first(tmp_path):
    rows = _rows("model_comparison", "unet", [0.70] * 4, seed=0) + _rows("model_comparison", "unet", [0.72] * 4, seed=1)
    rows += _rows("model_comparison", "unetpp", [0.80] * 4, seed=0) + _rows("model_comparison", "unetpp", [0.78] * 4,
                                                                             seed=1)
    _write(tmp_path, "model_comparison", rows)
    row = _claim(claims_table(tmp_path, n_boot=50), 1).iloc[0]
    assert row["estimate"] == pytest.approx(8.0) and row["n_seeds"] == 2 and row["n_images"] == 4


def test_fluorescence_minus_brightfield_and_density(tmp_path):
    rows = _rows("model_comparison", "unet", [0.80, 0.75, 0.70, 0.65])  # n_true 10..40: r = -1
    rows += _rows("model_comparison", "unet", [0.95, 0.92, 0.90, 0.87], modality="fluorescence")
    _write(tmp_path, "model_comparison", rows)
    table = claims_table(tmp_path, n_boot=100)
    fluorescence = _claim(table, 2).iloc[0]
    assert fluorescence["subject"] == "seven lines: U-Net"
    assert fluorescence["estimate"] == pytest.approx(18.5) and fluorescence["verdict"] == "agrees"
    density = _claim(table, 3).iloc[0]
    assert density["estimate"] == pytest.approx(-1.0) and density["unit"] == "r"
    assert density["verdict"] == "agrees" and density["paper"] == "-0.70 to -0.65 (mean -0.67)"
    assert "brightfield; U-Net" in density["quantity"]


def test_missing_tables_are_not_run(tmp_path):
    table = claims_table(tmp_path)
    assert list(table.columns) == COLUMNS
    assert table["claim"].tolist() == list(FINDINGS)
    assert set(table["verdict"]) == {"not run"}
    notes = dict(zip(table["claim"], table["note"]))
    assert notes[1] == "missing tables/model_comparison/per_image.csv"
    assert notes[4] == "data_size arm off (missing tables/data_size/per_image.csv)"
    assert notes[6].startswith("focal_planes arm off") and notes[8].startswith("transfer arm off")


def test_fluorescence_only_comparison_leaves_claims_1_and_2_not_run(tmp_path):
    _write(tmp_path, "model_comparison", _rows("model_comparison", "unet", [0.9, 0.8, 0.7, 0.6],
                                               modality="fluorescence"))
    table = claims_table(tmp_path, n_boot=50)
    assert _claim(table, 1)["note"].tolist() == ["the model comparison has no brightfield runs"]
    assert _claim(table, 2)["verdict"].tolist() == ["not run"]
    density = _claim(table, 3).iloc[0]
    assert density["verdict"] == "agrees" and density["note"].startswith("fluorescence:")


def _data_size(root: Path, sizes=(1, 4, 16), aug_share=0.98, smooth_delta=-0.01) -> None:
    plain = {n: np.array([0.60, 0.62, 0.64, 0.66]) + 0.01 * n for n in sizes}
    rows = []
    for n in sizes:
        rows += _rows("data_size", "unet", plain[n], variant="plain", n_train=n)
        rows += _rows("data_size", "unet", plain[n] * aug_share, variant="aug", n_train=n)  # vs the same n
        rows += _rows("data_size", "unet", plain[n] + smooth_delta, variant="smooth", n_train=n)
    _write(root, "data_size", rows)


def test_sixteen_augmented_images_against_full_data(tmp_path):
    _data_size(tmp_path)  # demo scale: the largest n (the full data) is 16 itself
    table = claims_table(tmp_path, n_boot=100)
    ratio = _claim(table, 4).iloc[0]
    assert ratio["estimate"] == pytest.approx(98.0)
    assert (ratio["ci_low"], ratio["ci_high"]) == pytest.approx((98.0, 98.0))
    assert ratio["verdict"] == "agrees" and ratio["expected"] == "> 95"
    assert "sizes run: 1, 4, 16; full data: plain, n = 16" in ratio["note"] and "demo scale" in ratio["note"]
    strategies = _claim(table, 5).set_index("subject")
    assert strategies.loc["U-Net: label smoothing", "estimate"] == pytest.approx(-1.0)
    assert strategies.loc["U-Net: label smoothing", "verdict"] == "disagrees"
    augmentation = strategies.loc["U-Net: augmentation"]
    # per image: mean over n = 1, 4, 16 of (0.98 - 1) * plain
    expected = np.mean([(0.98 - 1) * (np.array([0.60, 0.62, 0.64, 0.66]) + 0.01 * n) for n in (1, 4, 16)], axis=0)
    assert augmentation["estimate"] == pytest.approx(100 * expected.mean())
    assert augmentation["verdict"] == "disagrees" and "n = 1, 4, 16" in augmentation["quantity"]


def test_without_sixteen_the_smallest_reaching_n_and_no_false_disagreement(tmp_path):
    _data_size(tmp_path / "reaching", sizes=(1, 4, 8), aug_share=1.0)
    ratio = _claim(claims_table(tmp_path / "reaching", n_boot=50), 4).iloc[0]
    # full data: plain n = 8 (0.71 on average); augmented n = 4 reaches 0.66 / 0.71 < 95%, n = 8 100%
    assert "augmented n = 8" in ratio["quantity"] and ratio["verdict"] == "agrees"
    assert "n = 16 not run; shown for n = 8" in ratio["note"]
    _data_size(tmp_path / "short", sizes=(1, 4), aug_share=0.8)
    ratio = _claim(claims_table(tmp_path / "short", n_boot=50), 4).iloc[0]
    assert "augmented n = 4" in ratio["quantity"] and ratio["estimate"] == pytest.approx(80.0)
    assert ratio["verdict"] == "inconclusive" and "does not contradict the paper" in ratio["note"]


def test_focal_plane_gain_of_the_first_added_plane(tmp_path):
    rows = (_rows("focal_planes", "unet", [0.60] * 4, planes="2", focal_round=1, dataset="lncap")
            + _rows("focal_planes", "unet", [0.50] * 4, planes="6", focal_round=1, dataset="lncap")
            + _rows("focal_planes", "unet", [0.63, 0.64, 0.65, 0.66], planes="2.6", focal_round=2, dataset="lncap"))
    _write(tmp_path, "focal_planes", rows)
    row = _claim(claims_table(tmp_path, n_boot=100), 6).iloc[0]
    assert row["subject"] == "U-Net: {2} → {2, 6}" and row["paper"] == "+4.0"
    assert row["estimate"] == pytest.approx(4.5) and row["verdict"] == "agrees" and row["n_images"] == 4


def _transfer(root: Path) -> None:
    rows = []
    for setting, target, source_f1, target_f1 in (("lolo", "HepG2", 0.80, 0.72),
                                                  ("lncap_to_seven_lines", "seven_lines", 0.80, 0.40)):
        common = {"transfer": setting, "target": target}
        rows += _rows("transfer", "unet", [source_f1] * 4, variant="source", eval_role="source", **common)
        rows += _rows("transfer", "unet", [target_f1] * 4, variant="source", eval_role="target", **common)
        for n, gain in ((1, 0.05), (4, 0.20)):
            rows += _rows("transfer", "unet", [target_f1 + gain] * 4, variant="target", n_train=n,
                          eval_role="target", **common)
            rows += _rows("transfer", "unet", [source_f1 - gain / 2] * 4, variant="target", n_train=n,
                          eval_role="source", **common)
    _write(root, "transfer", rows)


def test_instrument_shift_and_fine_tuning(tmp_path):
    _transfer(tmp_path)
    table = claims_table(tmp_path, n_boot=100)
    shift = _claim(table, 7).iloc[0]
    assert shift["estimate"] == pytest.approx(40.0)  # relative gaps 50% (instrument) and 10% (cell line)
    assert shift["verdict"] == "agrees"
    assert shift["note"] == "relative gap: instrument 50.0 [50.0, 50.0], cell line 10.0 [10.0, 10.0] (%)"
    tuning = _claim(table, 8).set_index("subject")
    target = tuning.loc["LNCaP → seven lines: U-Net, on target images"]
    assert target["estimate"] == pytest.approx(20.0) and target["verdict"] == "agrees"  # n = 4, the most
    source = tuning.loc["leave one line out (held-out HepG2): U-Net, on source images"]
    assert source["estimate"] == pytest.approx(-10.0) and source["verdict"] == "agrees" and source["expected"] == "< 0"
    assert "fine-tuned on 4 target image(s)" in source["quantity"]


def test_transfer_without_a_cell_line_setting_is_not_run(tmp_path):
    _transfer(tmp_path)
    path = tmp_path / "tables/transfer/per_image.csv"
    per_image = pd.read_csv(path)
    per_image[per_image["transfer"] != "lolo"].to_csv(path, index=False)
    table = claims_table(tmp_path, n_boot=50)
    assert _claim(table, 7)["verdict"].tolist() == ["not run"]
    assert "settings run: lncap_to_seven_lines" in _claim(table, 7)["note"].item()
    assert _claim(table, 8)["verdict"].tolist() == ["agrees", "agrees"]


def test_bootstrap_is_deterministic_with_the_seed(tmp_path):
    rows = _rows("model_comparison", "unet", [0.70, 0.71, 0.75, 0.78])
    rows += _rows("model_comparison", "unetpp", [0.80, 0.74, 0.82, 0.79])
    _write(tmp_path, "model_comparison", rows)
    _transfer(tmp_path)
    first, again = claims_table(tmp_path, n_boot=100, seed=3), claims_table(tmp_path, n_boot=100, seed=3)
    pd.testing.assert_frame_equal(first, again)
    other = claims_table(tmp_path, n_boot=100, seed=4)
    assert _claim(other, 1)["ci_low"].item() != _claim(first, 1)["ci_low"].item()


def test_cli_writes_the_table_and_the_summary_renders_it(tmp_path, capsys):
    rows = _rows("model_comparison", "unet", [0.70, 0.72, 0.74, 0.76])
    rows += _rows("model_comparison", "unetpp", [0.80, 0.81, 0.82, 0.83])
    _write(tmp_path, "model_comparison", rows)
    text = "\n".join(summary_lines(tmp_path, n_boot=50))
    assert "### The paper's claims\n\nnot run (missing tables/claims.csv;" in text
    out = tmp_path / CLAIMS
    assert main(["attribute", "claims", "--results", str(tmp_path), "--n-boot", "200", "--out", str(out)]) == 0
    # claim 3: F1 rises with n_true in these tables (r = +1): disagrees
    assert capsys.readouterr().out == (f"wrote {out}: 9 rows, 1 agrees, 1 disagrees, 0 inconclusive, 7 not run\n")
    assert pd.read_csv(out)["verdict"].tolist()[0] == "agrees"
    text = "\n".join(summary_lines(tmp_path, n_boot=50))
    assert text.index("### The paper's claims") < text.index("### Pixel F1")
    assert ("| 1 | **The deeper models beat U-Net on brightfield**: seven lines: U-Net++ − U-Net | +8.5 pp [" in text)
    assert "| 4 / 1 | +3.7 (85.0 vs 81.3%) | agrees |  |" in text
    assert "| 4 | **16 augmented images come within 5% of the full data set** | — | — |" in text
    assert "| not run | data_size arm off (missing tables/data_size/per_image.csv) |" in text


def test_summary_marks_claims_that_do_not_hold(tmp_path):
    write_claims(tmp_path, tmp_path / CLAIMS)
    table = pd.read_csv(tmp_path / CLAIMS, dtype={"subject": str, "unit": str, "note": str})
    table.loc[0, ["subject", "unit", "estimate", "ci_low", "ci_high", "n_images", "n_seeds", "verdict", "note"]] = \
        ["seven lines: U-Net++ − U-Net", "pp", -1.25, -2.0, -0.5, 6, 2, "disagrees", "demo scale: 375 steps"]
    table.loc[1, ["unit", "estimate", "ci_low", "ci_high", "n_images", "verdict"]] = ["r", -0.3, -0.61, 0.05, 8,
                                                                                      "inconclusive"]
    table.to_csv(tmp_path / CLAIMS, index=False)
    text = "\n".join(summary_lines(tmp_path, n_boot=50))
    assert "| -1.2 pp [-2.0, -0.5] | 6 / 2 | " in text and "| **disagrees** | demo scale: 375 steps |" in text
    assert "| r = -0.30 [-0.61, 0.05] | 8 / 0 |" in text and "| *inconclusive* |" in text


def test_cli_names_a_missing_results_folder(tmp_path, capsys):
    assert main(["attribute", "claims", "--results", str(tmp_path / "nowhere"), "--out", str(tmp_path / "c.csv")]) == 2
    assert "nowhere: results folder not found" in capsys.readouterr().err


def test_summary_puts_the_reference_verdict_beside_each_claim_and_counts_runs_cut_short(tmp_path):
    write_claims(tmp_path, tmp_path / CLAIMS)
    table = pd.read_csv(tmp_path / CLAIMS, dtype={"subject": str, "unit": str, "note": str})
    reference = tmp_path / "reference"
    reference.mkdir()
    theirs = table.copy()
    theirs.loc[0, "verdict"] = "disagrees"
    theirs.drop(index=1).to_csv(reference / "claims.csv", index=False)  # a sub-row the reference lacks
    (tmp_path / "tables/model_comparison").mkdir(parents=True)
    pd.DataFrame({"run_id": ["a", "b", "c"], "stopped": ["cap", "cap", "early_stop"],
                  "cut_short": [True, False, False]}).to_csv(tmp_path / "tables/model_comparison/convergence.csv",
                                                            index=False)
    text = "\n".join(summary_lines(tmp_path, n_boot=50, reference=reference))
    assert ("Training here: 3 runs; 2 stopped at their step cap, 1 of them while the validation loss still fell"
            in text)
    assert f"**Where the findings are read: the reference study** (`{reference / 'summary.md'}`: the same arms" in text
    assert "| paper | verdict | reference verdict | note |" in text
    lines = [line for line in text.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")]
    assert lines[0].split(" | ")[-2] == "**disagrees**"          # the reference's verdict of row 0
    assert lines[1].split(" | ")[-2] == "—"                      # row 1: not in the reference
    missing = "\n".join(summary_lines(tmp_path, n_boot=50, reference=tmp_path / "nowhere"))
    assert f"No reference result at `{tmp_path / 'nowhere' / 'claims.csv'}`" in missing
    assert "reference verdict" not in missing and "reference verdict" not in "\n".join(summary_lines(tmp_path, n_boot=50))
