"""Figure 02: model size and cost -- parameters and MACs per model (from ``nucflow models``), training
wall time per run and prediction time per image (from Snakemake benchmark files).

Inputs: ``models.csv`` (required); ``plan.csv`` with ``benchmarks/train/<run_id>.tsv`` (training
panel) and additionally ``benchmarks/predict/<run_id>/<eval_set>.tsv`` with
``tables/model_comparison/per_image.csv`` (images per evaluation set; prediction panel). Panels
whose inputs are missing are left out. Only runs of the ``model_comparison`` arm are timed when the
plan has that arm, so every model is timed on the same work.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.errors import NucflowError
from nucflow.figures.style import figure_style, jitter, model_colour, model_name, new_figure, ordered_models, save
from nucflow.results.inputs import MODELS, PER_IMAGE, numeric, present, read_benchmarks, read_plan, read_table

INPUTS = (MODELS,)
MODEL_COLUMNS = ("model", "in_channels", "size", "params", "macs")


def load_models(results: Path) -> pd.DataFrame:
    """models.csv, one row per model (the row with most input channels when a model has several)."""
    path = Path(results) / MODELS
    table = numeric(read_table(path, MODEL_COLUMNS), ("in_channels", "size", "params", "macs"), path)
    table = table.sort_values(["model", "in_channels"]).drop_duplicates("model", keep="last")
    return table.set_index("model").loc[ordered_models(table["model"])].reset_index()


def run_times(results: Path) -> pd.DataFrame:
    """Benchmarked runs: columns ``rule, run_id, eval_set, model, seconds, n_images, seconds_per_image``.

    Empty when the plan or the benchmark files are missing.
    """
    plan = read_plan(results)
    empty = pd.DataFrame(columns=["rule", "run_id", "eval_set", "model", "seconds", "n_images", "seconds_per_image"])
    if plan is None:
        return empty
    if "model_comparison" in set(plan["arm"]):
        plan = plan[plan["arm"] == "model_comparison"]
    bench = read_benchmarks(results, dict(zip(plan["run_id"].astype(str), plan["arm"].astype(str))))
    bench = bench[bench["rule"].isin(["train", "predict"]) & (bench["run_id"] != "")]
    if bench.empty:
        return empty
    bench = bench.merge(plan[["run_id", "model"]].astype(str), on="run_id", how="left")
    bench["n_images"] = np.nan
    if (Path(results) / PER_IMAGE).is_file():
        per_image = read_table(Path(results) / PER_IMAGE, ("run_id", "eval_set", "image_id"))
        counts = per_image.groupby(["run_id", "eval_set"])["image_id"].nunique()
        keys = list(zip(bench["run_id"], bench["eval_set"]))
        bench["n_images"] = [float(counts.get(k, np.nan)) for k in keys]
    bench["seconds_per_image"] = bench["seconds"] / bench["n_images"]
    return bench[empty.columns].reset_index(drop=True)


def _bars(ax, table: pd.DataFrame, column: str, label: str) -> None:
    models = list(table["model"])
    ax.bar(range(len(models)), table[column], color=[model_colour(m) for m in models], width=0.7)
    ax.set_yscale("log")
    ax.set_xticks(range(len(models)), [model_name(m) for m in models], rotation=30, ha="right")
    ax.set_ylabel(label)
    for x, value in enumerate(table[column]):
        ax.text(x, value * 1.15, _short(value), ha="center", va="bottom", fontsize=6)
    low, high = table[column].min(), table[column].max()
    ax.set_ylim(low / 3, high * 4)


def _short(value: float) -> str:
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def _boxes(ax, times: pd.DataFrame, column: str, label: str, models: list[str]) -> None:
    present_models = [m for m in models if m in set(times["model"])] + \
        [m for m in ordered_models(times["model"]) if m not in models]
    for x, model in enumerate(present_models):
        values = times.loc[times["model"] == model, column].dropna().to_numpy(float)
        if values.size == 0:
            continue
        colour = model_colour(model)
        ax.boxplot([values], positions=[x], widths=0.55, showfliers=False, patch_artist=True,
                   boxprops={"facecolor": colour, "alpha": 0.25, "edgecolor": colour},
                   medianprops={"color": colour}, whiskerprops={"color": colour}, capprops={"color": colour})
        ax.scatter(x + np.asarray(jitter(values.size, 0.3)), values, s=7, color=colour, zorder=3, linewidths=0)
    ax.set_xticks(range(len(present_models)), [model_name(m) for m in present_models], rotation=30, ha="right")
    ax.set_xlim(-0.6, len(present_models) - 0.4)
    ax.set_ylabel(label)
    top = times[column].max()
    ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)
    ax.grid(axis="y", lw=0.4, alpha=0.5)


def fig_architectures(results: Path, out_dir: Path) -> list[Path] | None:
    """Draw ``02_architectures`` (PNG + PDF); None when ``models.csv`` is missing."""
    results, out_dir = Path(results), Path(out_dir)
    if not present(results, INPUTS):
        return None
    models = load_models(results)
    if models["params"].le(0).any() or models["macs"].le(0).any():
        raise NucflowError(f"{results / MODELS}: params and macs must be positive")
    times = run_times(results)
    train = times[times["rule"] == "train"].assign(minutes=lambda t: t["seconds"] / 60.0)
    predict = times[(times["rule"] == "predict")].dropna(subset=["seconds_per_image"])
    n_panels = 2 + int(not train.empty) + int(not predict.empty)
    size = int(models["size"].iloc[0])
    names = list(models["model"])
    with figure_style():
        fig = new_figure(1.9 * n_panels + 0.4, 2.8)
        axes = list(fig.subplots(1, n_panels))
        _bars(axes[0], models, "params", "parameters (count, log scale)")
        _bars(axes[1], models, "macs", f"MACs per {size}x{size} px tile (count, log scale)")
        axes[0].set_title("size")
        if "params_vs_ppunet" in models:  # written by `nucflow models`
            ratios = dict(zip(models["model"], models["params_vs_ppunet"].astype(float)))
            parts = [f"{ratios[m]:.1f}x fewer than {model_name(m)}" for m in ("deeplabv3plus", "tiramisu") if m in ratios]
            if parts:
                fig.suptitle(f"PPU-Net parameters: {', '.join(parts)} (paper: about 20-fold fewer)", fontsize=7)
        axes[1].set_title("compute")
        rest = axes[2:]
        if not train.empty:
            ax = rest.pop(0)
            _boxes(ax, train, "minutes", "wall time per training run (min)", names)
            ax.set_title(f"training ({len(train)} runs)")
        if not predict.empty:
            ax = rest.pop(0)
            _boxes(ax, predict, "seconds_per_image", "prediction wall time per image (s)", names)
            ax.set_title("inference")
        paths = save(fig, out_dir / "02_architectures")
    return paths
