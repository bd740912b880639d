"""Figure 08: where the misclassified pixels come from -- label noise, imaging artifacts, and false
negatives vs false positives, per model (Ali et al. 2021, "Common errors in segmentation").

Inputs (each panel drawn when its file exists; the figure is skipped when none does):

* ``attribution/model_comparison/label_noise.csv`` (``nucflow attribute label-noise``): columns
  ``image_id, model, n_errors, n_flagged_errors`` and, on simulated data, ``n_true_noise_errors``;
  a second panel then compares the estimated with the true label-noise share.
* ``attribution/model_comparison/**/artifacts.csv`` (``nucflow attribute artifacts``, one file per
  model): columns ``image_id, n_errors, n_errors_in_artifacts``; the model is the file's ``model``
  column, else its folder name (``.../<model>/artifacts.csv``), else "all".
* ``tables/model_comparison/per_image.csv``: ``pixel_fn``, ``pixel_fp`` per image (brightfield rows
  when present) for the FN / FP composition.

Shares are pooled over images (sum of parts / sum of errors); error bars are percentile bootstrap
95% CIs over images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.figures.density import focus_modality
from nucflow.figures.inputs import ATTRIBUTION, PER_IMAGE, Estimate, numeric, read_results_table, read_table, statistic_ci
from nucflow.figures.panels import model_legend
from nucflow.figures.style import figure_style, model_colour, model_name, new_figure, ordered_models, save

LABEL_NOISE = f"{ATTRIBUTION}/label_noise.csv"
ARTIFACTS = f"{ATTRIBUTION}/**/artifacts.csv"
ANY_INPUTS = (LABEL_NOISE, ARTIFACTS, PER_IMAGE)


def pooled_share(parts, totals, n_boot: int = 1000, seed: int = 0) -> Estimate:
    """sum(parts) / sum(totals) with a bootstrap CI over rows (images)."""
    values = np.column_stack([np.asarray(parts, float), np.asarray(totals, float)])

    def ratio(rows: np.ndarray) -> float:
        total = rows[:, 1].sum()
        return float(rows[:, 0].sum() / total) if total else float("nan")

    return statistic_ci(values, ratio, n_boot=n_boot, seed=seed)


def share_table(table: pd.DataFrame, part: str, total: str, n_boot: int = 1000) -> pd.DataFrame:
    """Per model: pooled share ``part / total`` in % with ``low``/``high`` CI bounds (%)."""
    rows = []
    for model in ordered_models(table["model"]):
        rows_of_model = table[table["model"] == model]
        estimate = pooled_share(rows_of_model[part], rows_of_model[total], n_boot=n_boot)
        rows.append({"model": model, "share": 100 * estimate.value, "low": 100 * estimate.low,
                     "high": 100 * estimate.high, "n_images": estimate.n})
    return pd.DataFrame(rows)


def load_label_noise(results: Path) -> pd.DataFrame | None:
    """label_noise.csv with its count columns checked numeric; None when absent."""
    path = Path(results) / LABEL_NOISE
    if not path.is_file():
        return None
    table = read_table(path, ("model", "n_errors", "n_flagged_errors"))
    columns = ["n_errors", "n_flagged_errors"] + (["n_true_noise_errors"] if "n_true_noise_errors" in table else [])
    return numeric(table.assign(model=table["model"].astype(str)), columns, path)


def load_artifacts(results: Path) -> pd.DataFrame | None:
    """Every artifacts.csv below the attribution folder, stacked, with a ``model`` column."""
    root = Path(results) / ATTRIBUTION
    frames = []
    for path in sorted(root.glob("**/artifacts.csv")):
        table = numeric(read_table(path, ("n_errors", "n_errors_in_artifacts")), ("n_errors", "n_errors_in_artifacts"), path)
        if "model" not in table:
            table["model"] = path.parent.name if path.parent != root else "all"
        frames.append(table.assign(model=table["model"].astype(str)))
    return pd.concat(frames, ignore_index=True) if frames else None


def load_composition(results: Path) -> tuple[pd.DataFrame, str] | None:
    """Per model and image (seeds summed): ``pixel_fn``, ``pixel_fp``, ``n_errors`` of the analysed
    modality (brightfield when present), and that modality; None without the per-image table."""
    if not (Path(results) / PER_IMAGE).is_file():
        return None
    table = read_results_table(results, PER_IMAGE, ("model", "modality"), ("pixel_fn", "pixel_fp"))
    modality = focus_modality(table)
    table = table[table["modality"].astype(str) == modality].assign(model=lambda t: t["model"].astype(str))
    keys = ["model"] + [c for c in ("dataset", "image_id") if c in table.columns]
    if len(keys) == 3:  # one row per image: seeds summed, so the bootstrap resamples images
        table = table.groupby(keys, sort=True)[["pixel_fn", "pixel_fp"]].sum().reset_index()
    return table.assign(n_errors=table["pixel_fn"] + table["pixel_fp"]), modality


def _share_bars(ax, shares: pd.DataFrame, label: str, reference: tuple[float, float] | None = None) -> None:
    x = np.arange(len(shares))
    colours = [model_colour(m) for m in shares["model"]]
    ax.bar(x, shares["share"], color=colours, width=0.7)
    ax.errorbar(x, shares["share"], yerr=[shares["share"] - shares["low"], shares["high"] - shares["share"]],
                fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
    if reference is not None:
        ax.axhspan(*reference, color="0.5", alpha=0.15, lw=0, label="paper")
        ax.legend(loc="upper right", fontsize=6)
    ax.set_xticks(x, [model_name(m) for m in shares["model"]], rotation=30, ha="right")
    ax.set_ylabel(label)
    ax.set_ylim(0, max(float(np.nanmax(shares["high"])) * 1.25, (reference[1] * 1.25) if reference else 0, 1.0))
    ax.grid(axis="y", lw=0.4, alpha=0.5)


def _estimated_vs_true(ax, noise: pd.DataFrame, n_boot: int) -> None:
    estimated = share_table(noise, "n_flagged_errors", "n_errors", n_boot)
    true = share_table(noise, "n_true_noise_errors", "n_errors", n_boot)
    for (_, e), (_, t) in zip(estimated.iterrows(), true.iterrows()):
        ax.errorbar([t["share"]], [e["share"]], xerr=[[t["share"] - t["low"]], [t["high"] - t["share"]]],
                    yerr=[[e["share"] - e["low"]], [e["high"] - e["share"]]], fmt="o", ms=4,
                    color=model_colour(e["model"]), elinewidth=0.8)
    top = max(float(np.nanmax(estimated["high"])), float(np.nanmax(true["high"])), 1.0) * 1.15
    ax.plot([0, top], [0, top], color="0.5", lw=0.8, ls="--")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_aspect("equal")
    ax.set_xlabel("true label-noise share of errors (%)")
    ax.set_ylabel("estimated share (%)")
    ax.set_title("estimate vs truth (simulated)")
    ax.grid(lw=0.4, alpha=0.5)


def _composition(ax, table: pd.DataFrame, modality: str, n_boot: int) -> None:
    shares = share_table(table, "pixel_fn", "n_errors", n_boot)
    x = np.arange(len(shares))
    colours = [model_colour(m) for m in shares["model"]]
    ax.bar(x, shares["share"], color=colours, width=0.7, label="false negative")
    ax.bar(x, 100 - shares["share"], bottom=shares["share"], color=colours, alpha=0.3, width=0.7,
           label="false positive")
    ax.errorbar(x, shares["share"], yerr=[shares["share"] - shares["low"], shares["high"] - shares["share"]],
                fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
    ax.axhspan(53, 61, color="0.5", alpha=0.2, lw=0)
    ax.axhline(50, color="0.3", lw=0.6, ls=":")
    ax.set_xticks(x, [model_name(m) for m in shares["model"]], rotation=30, ha="right")
    ax.set_ylim(0, 100)
    ax.set_ylabel(f"share of misclassified pixels (%), {modality}")
    ax.set_title("FN (solid) vs FP (light)\ngrey band: paper FN 53-61%", fontsize=7)


def fig_attribution(results: Path, out_dir: Path, *, n_boot: int = 1000) -> list[Path] | None:
    """Draw ``08_attribution`` (PNG + PDF); None when none of its inputs exists."""
    results, out_dir = Path(results), Path(out_dir)
    noise, artifacts, composition = load_label_noise(results), load_artifacts(results), load_composition(results)
    has_truth = bool(noise is not None and "n_true_noise_errors" in noise and noise["n_true_noise_errors"].notna().all())
    n_panels = int(noise is not None) + int(has_truth) + int(artifacts is not None) + int(composition is not None)
    if n_panels == 0:
        return None
    models = ordered_models(pd.concat([t["model"] for t in (noise, artifacts, composition[0] if composition else None)
                                       if t is not None]))
    with figure_style():
        fig = new_figure(2.2 * n_panels + 0.3, 3.1)
        axes = list(np.atleast_1d(fig.subplots(1, n_panels)))
        if noise is not None:
            ax = axes.pop(0)
            _share_bars(ax, share_table(noise, "n_flagged_errors", "n_errors", n_boot),
                        "errors on flagged label-noise pixels (%)", reference=(3.0, 5.0))
            ax.set_title("label noise (estimated)")
        if has_truth:
            _estimated_vs_true(axes.pop(0), noise, n_boot)
        if artifacts is not None:
            ax = axes.pop(0)
            _share_bars(ax, share_table(artifacts, "n_errors_in_artifacts", "n_errors", n_boot),
                        "errors inside artifact regions (%)", reference=(9.3, 11.8))
            ax.set_title("imaging artifacts")
        if composition is not None:
            _composition(axes.pop(0), composition[0], composition[1], n_boot)
        model_legend(fig, models)
        paths = save(fig, out_dir / "08_attribution")
    return paths
