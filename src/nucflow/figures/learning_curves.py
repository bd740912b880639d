"""Figure 15: learning curves of the model comparison -- validation pixel F1 (top) and validation
loss (bottom) against optimisation steps, per model (colour) and modality (columns), one line per
seed, with the kept epoch marked and runs that the step cap stopped while still learning drawn
with a hollow end marker (see :mod:`nucflow.study.convergence`).

Inputs: ``tables/model_comparison/learning_curves.csv`` (``run_id, model, modality, seed, step,
val_loss, val_f1``) and, optionally, ``tables/model_comparison/convergence.csv`` (``run_id,
best_step, cut_short``), both written by ``nucflow aggregate``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.lines import Line2D

from nucflow.figures.panels import model_legend
from nucflow.figures.style import MODALITY_NAMES, figure_style, model_colour, new_figure, ordered_models, save
from nucflow.results.inputs import CONVERGENCE, LEARNING_CURVES, numeric, present, read_table

INPUTS = (LEARNING_CURVES,)
SEED_STYLES = ("-", "--", ":", "-.")


def load(results: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(curves, endings): the learning curves, and per run its kept step and cut-short flag
    (empty when ``convergence.csv`` is missing)."""
    path = Path(results) / LEARNING_CURVES
    curves = numeric(read_table(path, ("run_id", "model", "modality", "seed", "step", "val_loss", "val_f1"),
                                text_columns=("run_id", "model", "modality")),
                     ("step", "val_loss", "val_f1", "seed"), path)
    endings = pd.DataFrame(columns=["run_id", "best_step", "cut_short"])
    ending_path = Path(results) / CONVERGENCE
    if ending_path.is_file():
        endings = read_table(ending_path, ("run_id", "best_step", "cut_short"), text_columns=("run_id",))
        endings["cut_short"] = endings["cut_short"].astype(str).str.lower().isin(["true", "1"])
    return curves, endings


def fig_learning_curves(results: Path, out_dir: Path) -> list[Path] | None:
    """Draw ``15_learning_curves`` (PNG + PDF); None without the learning-curve table."""
    results, out_dir = Path(results), Path(out_dir)
    if not present(results, INPUTS):
        return None
    curves, endings = load(results)
    endings = endings.set_index("run_id")
    modalities = sorted(curves["modality"].unique(), key=lambda m: (m not in MODALITY_NAMES, m))
    models = ordered_models(curves["model"])
    seeds = sorted(curves["seed"].unique())
    with figure_style():
        fig = new_figure(3.3 * len(modalities) + 0.3, 5.2)
        axes = fig.subplots(2, len(modalities), squeeze=False, sharex="col")
        for column, modality in enumerate(modalities):
            part = curves[curves["modality"] == modality]
            for run_id, run in part.groupby("run_id", sort=True):
                run = run.sort_values("step")
                colour = model_colour(str(run["model"].iloc[0]))
                style = SEED_STYLES[seeds.index(run["seed"].iloc[0]) % len(SEED_STYLES)]
                ending = endings.loc[run_id] if run_id in endings.index else None
                for row, metric in enumerate(("val_f1", "val_loss")):
                    ax = axes[row, column]
                    ax.plot(run["step"], run[metric], color=colour, ls=style, lw=1.1)
                    if ending is not None:
                        kept = run[run["step"] == float(ending["best_step"])]
                        ax.plot(kept["step"], kept[metric], "o", color=colour, ms=4, mec="black", mew=0.4)
                        if bool(ending["cut_short"]):
                            ax.plot(run["step"].iloc[-1:], run[metric].iloc[-1:], "o", mfc="white", mec=colour,
                                    ms=6, mew=1.2)
            axes[0, column].set_title(MODALITY_NAMES.get(modality, modality))
            axes[1, column].set_xlabel("optimisation steps")
            for ax in axes[:, column]:
                ax.grid(lw=0.4, alpha=0.5)
        axes[0, 0].set_ylabel("validation pixel F1")
        axes[1, 0].set_ylabel("validation loss")
        extra = [Line2D([], [], color="0.3", ls="", marker="o", ms=4, mec="black", mew=0.4, label="kept epoch"),
                 Line2D([], [], color="0.3", ls="", marker="o", mfc="white", ms=6, label="cut short by the step cap")]
        extra += [Line2D([], [], color="0.3", ls=SEED_STYLES[i % len(SEED_STYLES)], label=f"seed {int(seed)}")
                  for i, seed in enumerate(seeds)]
        model_legend(fig, models, extra=extra)
        return save(fig, out_dir / "15_learning_curves")
