"""The reference study's targets, read from result tables (nucflow.report.targets)."""

from __future__ import annotations

import pandas as pd
import pytest

from nucflow.cli import main
from nucflow.errors import NucflowError
from nucflow.report.targets import check_targets


def _run(model, modality, seed, f1, f1_05, planes="4", degenerate="", arm="model_comparison"):
    return {"arm": arm, "dataset": "seven_lines", "modality": modality, "planes": planes, "model": model,
            "seed": seed, "run_id": f"{arm}-{model}-{modality[:2]}-s{seed}", "eval_set": "seven_lines-test",
            "method": "published", "f1_mean_over_images": f1, "f1_iou0.50_mean_over_images": f1_05,
            "degenerate": degenerate}


def _write(root, runs, convergence, claims):
    for arm, table in (("model_comparison", runs), ("data_size", [_run("unet", "brightfield", 0, 0.7, 0.5,
                                                                          arm="data_size")])):
        (root / "tables" / arm).mkdir(parents=True, exist_ok=True)
        pd.DataFrame(table).to_csv(root / "tables" / arm / "per_run.csv", index=False)
    pd.DataFrame(convergence).to_csv(root / "tables/model_comparison/convergence.csv", index=False)
    pd.DataFrame(claims).to_csv(root / "tables/claims.csv", index=False)


def test_each_target_is_read_from_the_tables(tmp_path, capsys):
    runs = [_run("unet", "brightfield", 0, 0.82, 0.70), _run("unet", "brightfield", 1, 0.79, 0.66),
            _run("unet", "brightfield", 0, 0.90, 0.90, planes="0.4.8"),          # three planes: not the target
            _run("unet", "fluorescence", 0, 0.97, 0.9), _run("tiramisu", "fluorescence", 0, 0.94, 0.8,
                                                             degenerate="all-background")]
    convergence = [{"run_id": "a", "best_step": 2500, "steps_run": 2500, "cap": 2500, "stopped": "cap",
                    "tail_change": -0.02, "cut_short": True},
                   {"run_id": "b", "best_step": 900, "steps_run": 1500, "cap": 2500, "stopped": "early_stop",
                    "tail_change": 0.01, "cut_short": False}]
    claims = [{"claim": 1, "subject": "x", "n_images": 42, "verdict": "inconclusive", "note": ""},
              {"claim": 4, "subject": "y", "n_images": 6, "verdict": "inconclusive", "note": ""},
              {"claim": 5, "subject": "z", "n_images": 6, "verdict": "agrees", "note": ""}]
    _write(tmp_path, runs, convergence, claims)
    table = check_targets(tmp_path)
    unet = table[table["target"] == "unet_brightfield"]
    assert unet["subject"].tolist() == ["U-Net, seed 0", "U-Net, seed 1", "U-Net, mean over seeds"]
    assert unet["value"].tolist() == ["0.820 / 0.700", "0.790 / 0.660", "0.805 / 0.680"]
    assert unet["met"].tolist() == [True, False, True]
    fluorescence = table[table["target"] == "fluorescence"]
    assert fluorescence["met"].tolist() == [True, False] and fluorescence["value"].tolist() == [0.97, 0.94]
    degenerate = table[table["target"] == "not_degenerate"]
    assert degenerate["subject"].tolist() == ["model_comparison-tiramisu-fl-s0 (seven_lines-test, published)"]
    assert not degenerate["met"].item()
    cut = table[table["target"] == "not_cut_short"]
    assert cut["met"].tolist() == [False, True]
    assert cut["note"].iloc[0] == ("best step 2500 of 2500 (cap 2500), stopped by cap, validation loss change "
                                   "over the last tenth -2.0%")
    assert table[table["target"] == "claims_have_images"]["met"].tolist() == [True, False, True]
    out = tmp_path / "targets.csv"
    assert main(["attribute", "targets", "--results", str(tmp_path), "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}: 11 checks, 5 missed\n  missed unet_brightfield: U-Net, seed 1")
    written = pd.read_csv(out, dtype={"value": str, "note": str}, keep_default_na=False)
    assert written["met"].tolist() == table["met"].tolist() and written["note"].tolist() == table["note"].tolist()


def test_a_study_not_run_to_the_end_is_one_line(tmp_path):
    with pytest.raises(NucflowError, match=r"tables/model_comparison/per_run.csv: not found"):
        check_targets(tmp_path)
