"""Figure 14: what the study cost -- wall time and peak memory of every Snakemake job, per rule,
coloured by study arm, and (when ``tables/compute/rules.csv`` exists, written by ``nucflow
compute``) where each rule's time went: process start-up, work, and optimisation steps.

Inputs: every ``benchmarks/**/*.tsv`` (Snakemake benchmark files: ``s`` = wall time in seconds,
``max_rss`` = peak resident memory in MB, ``NA``/``-`` when unmeasured); ``plan.csv`` (optional)
maps run ids in the paths to arms. Jobs outside a run (data, plan) are the arm "shared".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from nucflow.figures.style import figure_style, group_palette, jitter, new_figure, save
from nucflow.results.inputs import BENCHMARKS, present, read_benchmarks, read_plan, read_table

INPUTS = (f"{BENCHMARKS}/**/*.tsv",)
COMPUTE_RULES = "tables/compute/rules.csv"
SHARE_COLOURS = {"start-up": "#CC6677", "work": "0.7", "optimisation steps": "#117733"}
RULE_ORDER = ("simulate", "validate_manifest", "split", "overview", "tiles", "augment", "plan", "lr_find",
              "train", "predict", "postprocess", "evaluate", "aggregate", "attribute", "figures")


def ordered_rules(rules) -> list[str]:
    """Rules in pipeline order (:data:`RULE_ORDER`), then unknown ones sorted."""
    present_rules = {str(r) for r in rules}
    return [r for r in RULE_ORDER if r in present_rules] + sorted(present_rules - set(RULE_ORDER))


def load_jobs(results: Path) -> pd.DataFrame:
    """One row per benchmarked job (see :func:`nucflow.results.inputs.read_benchmarks`)."""
    plan = read_plan(results)
    run_arms = dict(zip(plan["run_id"].astype(str), plan["arm"].astype(str))) if plan is not None else {}
    return read_benchmarks(results, run_arms)


def _strip(ax, jobs: pd.DataFrame, column: str, rules: list[str], palette: dict) -> None:
    for x, rule in enumerate(rules):
        part = jobs[(jobs["rule"] == rule)].dropna(subset=[column])
        if part.empty:
            continue
        values = part[column].to_numpy(float)
        ax.boxplot([values], positions=[x], widths=0.6, showfliers=False,
                   boxprops={"color": "0.55"}, medianprops={"color": "0.2"}, whiskerprops={"color": "0.55"},
                   capprops={"color": "0.55"})
        offsets = np.asarray(jitter(values.size, 0.45))
        ax.scatter(x + offsets, values, s=7, c=[palette[a] for a in part["arm"]], linewidths=0, zorder=3)
    ax.set_xticks(range(len(rules)), rules, rotation=35, ha="right")
    ax.set_xlim(-0.6, len(rules) - 0.4)
    ax.set_yscale("log")
    ax.grid(axis="y", lw=0.4, alpha=0.5, which="major")


def _shares(ax, rules_table: pd.DataFrame, rules: list[str]) -> None:
    """Stacked bars per rule: start-up, work and optimisation steps as shares of its wall time."""
    table = rules_table.set_index("rule").reindex(rules)
    wall = table["wall_s"].to_numpy(float)
    startup = np.nan_to_num(table["startup_s"].to_numpy(float))
    optimisation = np.nan_to_num(table["optimisation_s"].to_numpy(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        parts = {"start-up": startup / wall, "optimisation steps": optimisation / wall}
    parts["work"] = np.clip(1 - parts["start-up"] - parts["optimisation steps"], 0, 1)
    bottom = np.zeros(len(rules))
    for name in ("start-up", "work", "optimisation steps"):
        values = np.nan_to_num(parts[name])
        ax.bar(range(len(rules)), values, bottom=bottom, color=SHARE_COLOURS[name], width=0.7, label=name)
        bottom += values
    ax.set_xticks(range(len(rules)), rules, rotation=35, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of the rule's wall time")
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)


def fig_compute(results: Path, out_dir: Path) -> list[Path] | None:
    """Draw ``14_compute`` (PNG + PDF); None when there is no benchmark file."""
    results, out_dir = Path(results), Path(out_dir)
    if not present(results, INPUTS):
        return None
    jobs = load_jobs(results).assign(minutes=lambda t: t["seconds"] / 60.0,
                                     rss_gb=lambda t: t["max_rss_mb"] / 1024.0)
    jobs["minutes"] = jobs["minutes"].clip(lower=1e-3)  # a log axis cannot show 0 s jobs
    rules = ordered_rules(jobs["rule"])
    palette = group_palette(jobs["arm"])
    shares_path = results / COMPUTE_RULES
    rules_table = read_table(shares_path, ("rule", "wall_s", "startup_s", "optimisation_s")) \
        if shares_path.is_file() else None
    with figure_style():
        rows = 1 if rules_table is None else 2  # the shares panel gets its own row
        fig = new_figure(max(7.0, 0.9 * len(rules) + 2.5), 3.0 * rows)
        layout = [["time", "memory"]] + ([["share", "share"]] if rows == 2 else [])
        axes = fig.subplot_mosaic(layout)
        time_ax, memory_ax = axes["time"], axes["memory"]
        share_ax = [axes["share"]] if rows == 2 else []
        if rules_table is not None:
            _shares(share_ax[0], rules_table, rules)
            total = rules_table[["wall_s", "optimisation_s"]].sum()
            share = "" if not total["wall_s"] else \
                f" ({100 * total['optimisation_s'] / total['wall_s']:.0f}% of job-seconds in optimisation steps)"
            share_ax[0].set_title(f"start-up, work, optimisation{share}")
        _strip(time_ax, jobs, "minutes", rules, palette)
        time_ax.set_ylabel("wall time per job (min, log scale)")
        time_ax.set_title(f"wall time ({len(jobs)} jobs, {jobs['seconds'].sum() / 3600:.2f} h in total)")
        if jobs["rss_gb"].notna().any():
            _strip(memory_ax, jobs, "rss_gb", rules, palette)
            memory_ax.set_ylabel("peak memory per job (GB, log scale)")
            memory_ax.set_title("peak resident memory (max_rss)")
        else:
            memory_ax.text(0.5, 0.5, "memory not measured\n(max_rss is NA in every benchmark file)",
                           ha="center", va="center", transform=memory_ax.transAxes, fontsize=7, color="0.4")
            memory_ax.set_axis_off()
        handles = [Line2D([], [], ls="", marker="o", ms=4, color=colour, label=arm) for arm, colour in palette.items()]
        fig.legend(handles=handles, loc="outside right upper", title="arm")
        paths = save(fig, out_dir / "14_compute")
    return paths
