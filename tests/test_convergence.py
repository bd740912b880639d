"""Learning curves and how a run's training ended (nucflow.study.convergence), and figure 15."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from nucflow.errors import NucflowError
from nucflow.study.convergence import convergence, learning_curve, tail_change


def run_folder(root, val_losses, *, stopped_early=False, best_epoch=None, steps_per_epoch=10, max_epochs=5,
               batch_size=4):
    root.mkdir(parents=True)
    (root / "run.json").write_text(json.dumps({"steps_per_epoch": steps_per_epoch, "max_epochs": max_epochs,
                                               "batch_size": batch_size}))
    epochs = range(len(val_losses))
    pd.DataFrame({"epoch": epochs, "train_loss": [1.0] * len(val_losses), "val_loss": val_losses,
                  "val_f1": [0.5] * len(val_losses), "lr": [1e-3] * len(val_losses),
                  "train_seconds": [1.0] * len(val_losses)}).to_csv(root / "log.csv", index=False)
    best = best_epoch if best_epoch is not None else int(pd.Series(val_losses).idxmin())
    (root / "train_done.json").write_text(json.dumps({"best_epoch": best, "stopped_early": stopped_early}))
    return root


def test_a_run_the_cap_stopped_while_still_improving_is_cut_short(tmp_path):
    folder = run_folder(tmp_path / "run", [1.0, 0.8, 0.7, 0.69, 0.6])
    curve = learning_curve(folder)
    assert curve["step"].tolist() == [10, 20, 30, 40, 50]
    assert curve.columns.tolist() == ["epoch", "step", "train_loss", "val_loss", "val_f1", "lr"]
    ending = convergence(folder)
    assert ending["tail_change"] == pytest.approx((0.6 - 0.69) / 0.69)
    assert {k: v for k, v in ending.items() if k != "tail_change"} == {
        "best_step": 50, "steps_run": 50, "cap": 50, "stopped": "cap", "cut_short": True}


def test_a_flat_tail_or_an_early_stop_is_not_cut_short(tmp_path):
    flat = convergence(run_folder(tmp_path / "flat", [1.0, 0.8, 0.7, 0.6, 0.597]))
    assert flat["stopped"] == "cap" and flat["tail_change"] == pytest.approx(-0.005) and not flat["cut_short"]
    early = convergence(run_folder(tmp_path / "early", [1.0, 0.5, 0.7], stopped_early=True, best_epoch=1))
    assert (early["stopped"], early["best_step"], early["steps_run"], early["cap"], early["cut_short"]) == (
        "early", 20, 30, 50, False)
    # a noisy last epoch does not count as improvement: the best loss so far is what the kept epoch follows
    noisy = convergence(run_folder(tmp_path / "noisy", [1.0, 0.5, 0.9, 0.8, 0.55]))
    assert noisy["tail_change"] == 0.0 and not noisy["cut_short"]


def test_the_published_step_count_and_a_single_epoch(tmp_path):
    folder = run_folder(tmp_path / "run", [0.7], steps_per_epoch=None, batch_size=16, max_epochs=1)
    assert learning_curve(folder)["step"].tolist() == [625]
    ending = convergence(folder)
    assert math.isnan(ending["tail_change"]) and not ending["cut_short"]  # no earlier point
    assert math.isnan(tail_change(pd.DataFrame({"step": [10], "val_loss": [1.0]})))


def test_a_run_without_its_log_names_the_file(tmp_path):
    folder = run_folder(tmp_path / "run", [1.0, 0.9])
    (folder / "log.csv").unlink()
    with pytest.raises(NucflowError, match=f"{folder / 'log.csv'}: missing; train this run first"):
        learning_curve(folder)


def test_figure_15_draws_curves_and_marks_cut_short_runs(tmp_path):
    from nucflow.figures.learning_curves import fig_learning_curves

    tables = tmp_path / "results" / "tables" / "model_comparison"
    tables.mkdir(parents=True)
    rows = [{"run_id": f"{model}-{modality}-s{seed}", "model": model, "modality": modality, "seed": seed,
             "epoch": epoch, "step": 10 * (epoch + 1), "val_loss": 1.0 / (epoch + 1 + seed), "val_f1": 0.2 * epoch}
            for model in ("unet", "tiramisu") for modality in ("brightfield", "fluorescence") for seed in (0, 1)
            for epoch in range(4)]
    pd.DataFrame(rows).to_csv(tables / "learning_curves.csv", index=False)
    runs = sorted({row["run_id"] for row in rows})
    pd.DataFrame({"run_id": runs, "best_step": 40, "cut_short": [i % 2 == 0 for i in range(len(runs))]}).to_csv(
        tables / "convergence.csv", index=False)
    paths = fig_learning_curves(tmp_path / "results", tmp_path / "out")
    assert [p.name for p in paths] == ["15_learning_curves.png", "15_learning_curves.pdf"]
    first = paths[0].read_bytes()
    fig_learning_curves(tmp_path / "results", tmp_path / "out")
    assert paths[0].read_bytes() == first  # same tables, same bytes
    assert fig_learning_curves(tmp_path / "empty", tmp_path / "out") is None
