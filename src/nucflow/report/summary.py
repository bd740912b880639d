"""``results/summary.md``: the headline findings with bootstrap CIs, beside the paper's numbers.

Everything is computed from the result tables (the same ones the figures read); a finding whose
table is missing is listed as "not run". Paper numbers are from Ali et al. 2021 (SLAS Discovery),
brightfield, in the model order U-Net, U-Net++, DeepLabv3+, Tiramisu, PPU-Net.

The section "The paper's claims" near the top renders ``tables/claims.csv`` as it is (written by
``nucflow attribute claims``, :mod:`nucflow.report.claims`); it computes nothing.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import pandas as pd

from nucflow.attribution.stats import Estimate, difference_ci, mean_ci, pearson_r, statistic_ci
from nucflow.io import read_json
from nucflow.report.claims import (CLAIMS, PAPER_DENSITY_R, PAPER_OBJECT_F1, PAPER_PIXEL_F1, PAPER_PLANE_GAIN,
                                   PAPER_PLANE_GAIN_MEAN, PAPER_TRANSFER_GAP)
from nucflow.report.claims_rows import REQUIRED_COLUMNS as REQUIRED_CLAIM_COLUMNS
from nucflow.report.figure_tables import estimate_table, share_table, step_gains
from nucflow.results import data_size, focal_planes, transfer
from nucflow.results.attribution import (ARTIFACTS, ESTIMATORS, LABEL_NOISE, has_column, load_artifacts,
                                         load_composition, load_label_noise, merged_per_100)
from nucflow.results.density import focus_modality
from nucflow.results.inputs import (DATA_SIZE, FOCAL_PLANES, PER_IMAGE, STUDY_CONFIG, TRANSFER, folds_of,
                                    paired_images, per_image_over_seeds, read_results_table, read_table)
from nucflow.results.names import dataset_name, model_name, ordered_datasets, ordered_models

# PAPER_PIXEL_F1, PAPER_OBJECT_F1, PAPER_DENSITY_R, PAPER_PLANE_GAIN(_MEAN) and PAPER_TRANSFER_GAP
# live with the claims (nucflow.report.claims) and are imported above.
PAPER_ARTIFACT_SHARE = "10.7% (range 9.3-11.8%)"
PAPER_FN_SHARE = "53-61%"
PAPER_LABEL_NOISE = "3-5%"
#: How a verdict is shown: those that do not agree stand out.
VERDICT_MARKS = {"agrees": "agrees", "disagrees": "**disagrees**", "inconclusive": "*inconclusive*",
                 "not run": "not run"}
#: Digits and how a value is written, per unit of the claims table.
UNIT_FORMATS = {"pp": (1, "{} pp"), "%": (1, "{}%"), "r": (2, "r = {}")}


def _fmt(estimate: Estimate, digits: int = 1, scale: float = 1.0) -> str:
    if not math.isfinite(estimate.value):
        return "undefined"
    value, low, high = (scale * v for v in (estimate.value, estimate.low, estimate.high))
    interval = f" [{low:.{digits}f}, {high:.{digits}f}]" if math.isfinite(low) else " [CI undefined]"
    return f"{value:.{digits}f}{interval}"


def _paper(table: dict, dataset: str, model: str, digits: int = 1) -> str:
    value = table.get(dataset, {}).get(model)
    return "—" if value is None else f"{value:.{digits}f}"


def data_statement(results: Path) -> str:
    """One sentence saying where the data came from (``config/study.json``'s ``data.source``)."""
    path = Path(results) / STUDY_CONFIG
    source = None
    if path.is_file():
        content = read_json(path)
        source = content.get("data", {}).get("source") if isinstance(content, dict) else None
    if source == "simulated":
        return ("**The data are simulated** (nucflow's built-in simulator of the two instruments), not the "
                "published images: the numbers below are comparable to the paper's in kind, not in value.")
    if source:
        return f"The data come from a user manifest (data.source = {source!r}), not from the simulator."
    return (f"Data source unknown ({STUDY_CONFIG} is missing). **The default configuration uses simulated "
            "data**, not the published images.")


def _metric_section(per_image: pd.DataFrame | None, modality: str, metric: str, paper: dict, title: str,
                    n_boot: int, seed: int) -> list[str]:
    lines = [f"### {title}", ""]
    if per_image is None:
        return lines + [f"not run (missing {PER_IMAGE})", ""]
    lines += ["| data set | model | ours (%) [95% CI] | paper (%) |", "|---|---|---|---|"]
    table = per_image[per_image["modality"].astype(str) == modality]
    images = per_image_over_seeds(table, ["dataset", "model"], [metric])
    for dataset in ordered_datasets(images["dataset"]):
        for model in ordered_models(images["model"]):
            part = images[(images["dataset"].astype(str) == dataset) & (images["model"] == model)]
            if part.empty:
                continue
            estimate = mean_ci(part[metric].to_numpy(float), n_boot=n_boot, seed=seed, folds=folds_of(part))
            lines.append(f"| {dataset_name(dataset)} | {model_name(model)} | {_fmt(estimate, scale=100)} | "
                         f"{_paper(paper, dataset, model)} |")
    return lines + [""]


def _density_section(per_image: pd.DataFrame | None, modality: str, n_boot: int, seed: int) -> list[str]:
    lines = ["### Cell density vs pixel F1 (Pearson r over images)", ""]
    if per_image is None:
        return lines + [f"not run (missing {PER_IMAGE})", ""]
    lines += ["| data set | model | images | ours r [95% CI] | paper r |", "|---|---|---|---|---|"]
    table = per_image[per_image["modality"].astype(str) == modality]
    images = per_image_over_seeds(table, ["dataset", "model"], ["n_true", "f1"]).dropna()
    for dataset in ordered_datasets(images["dataset"]):
        for model in ordered_models(images["model"]):
            part = images[(images["dataset"].astype(str) == dataset) & (images["model"] == model)]
            if part.empty:
                continue
            values = part[["n_true", "f1"]].to_numpy(float)
            estimate = statistic_ci(values, lambda v: pearson_r(v[:, 0], v[:, 1]), n_boot=n_boot, seed=seed,
                                    folds=folds_of(part))
            lines.append(f"| {dataset_name(dataset)} | {model_name(model)} | {len(part)} | {_fmt(estimate, 2)} | "
                         f"{_paper(PAPER_DENSITY_R, dataset, model, 2)} |")
    return lines + ["", "(The paper prints the LNCaP Tiramisu value as \"−16\"; −0.16 is assumed.)", ""]


def _share_section(title: str, table: pd.DataFrame | None, part: str, total: str, paper: str, missing: str,
                   n_boot: int) -> list[str]:
    lines = [f"### {title}", ""]
    if table is None:
        return lines + [f"not run (missing {missing})", ""]
    shares = share_table(table, part, total, n_boot)
    lines += ["| model | images | ours (%) [95% CI] | paper |", "|---|---|---|---|"]
    for row in shares.itertuples():
        estimate = Estimate(row.share, row.low, row.high, row.n_images)
        lines.append(f"| {model_name(row.model)} | {row.n_images} | {_fmt(estimate)} | {paper} |")
    return lines + [""]


def _cell(text) -> str:
    """Table-cell text: empty for NaN, pipes escaped, one line."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _claim_value(row) -> str:
    """``+3.7 pp [3.2, 4.2]`` (or ``r = -0.41 [...]``, ``98.1% [...]``); "—" without an estimate."""
    if not math.isfinite(float(row["estimate"])):
        return "—"
    digits, pattern = UNIT_FORMATS.get(str(row["unit"]), (2, "{}"))
    signed = "+" if row["unit"] == "pp" else ""
    value = f"{float(row['estimate']):{signed}.{digits}f}"
    low, high = float(row["ci_low"]), float(row["ci_high"])
    interval = f" [{low:.{digits}f}, {high:.{digits}f}]" if math.isfinite(low) and math.isfinite(high) \
        else " [CI undefined]"
    return pattern.format(value) + interval


def _claim_key(row) -> tuple[int, str]:
    """A claim row's identity across studies: claim and subject (the quantity names the study's own
    sizes, e.g. n = 1, 4, 16, so it differs between a demo and its reference)."""
    return int(row["claim"]), _cell(row["subject"])


def budget_lines(results: Path) -> list[str]:
    """How this study's training ended, from every arm's ``convergence.csv``: how many runs their
    step cap stopped while the validation loss still fell (cut short)."""
    tables = sorted(Path(results).glob("tables/*/convergence.csv"))
    if not tables:
        return []
    runs = pd.concat([pd.read_csv(t) for t in tables], ignore_index=True).drop_duplicates("run_id")
    cut = int(runs["cut_short"].astype(str).str.lower().eq("true").sum())
    capped = int(runs["stopped"].astype(str).eq("cap").sum())
    return [f"Training here: {len(runs)} runs; {capped} stopped at their step cap, {cut} of them while the "
            f"validation loss still fell by more than 1% over the last tenth of their steps (cut short, "
            f"`tables/*/convergence.csv`).", ""]


def reference_lines(reference: Path | None, results: Path) -> tuple[list[str], dict]:
    """(the paragraph above the claims table, {claim key: reference verdict}) for a committed
    reference result (its ``claims.csv``); nothing when no reference is given."""
    if reference is None:
        return [], {}
    path = Path(reference) / "claims.csv"
    lines = budget_lines(results)
    if not path.is_file():
        return lines + [f"No reference result at `{path}`: the verdicts below are this study's alone.", ""], {}
    table = read_table(path, REQUIRED_CLAIM_COLUMNS)
    verdicts = {_claim_key(row): str(row["verdict"]) for _, row in table.iterrows()}
    lines += [f"**Where the findings are read: the reference study** (`{Path(reference) / 'summary.md'}`: the "
              f"same arms on more images, at a budget where early stopping ends most runs). A study whose runs "
              f"are cut short measures its budget as much as the models; the reference verdict stands beside "
              f"each claim below.", ""]
    return lines, verdicts


def _claims_section(results: Path, reference: Path | None = None) -> list[str]:
    """The paper's claims as written to ``tables/claims.csv`` by ``nucflow attribute claims``:
    one table row per claim and sub-row; the finding is named on its first row. With a reference
    result, the reference verdict of the same claim and sub-row is a column of its own."""
    lines = ["### The paper's claims", ""]
    if not (Path(results) / CLAIMS).is_file():
        return lines + [f"not run (missing {CLAIMS}; `nucflow attribute claims` writes it)", ""]
    table = read_table(Path(results) / CLAIMS, REQUIRED_CLAIM_COLUMNS)
    above, reference_verdicts = reference_lines(reference, results)
    lines += above
    with_reference = reference is not None and bool(reference_verdicts)
    extra = (" reference verdict |", "---|") if with_reference else ("", "")
    lines += ["| # | finding | ours [95% CI] | images / seeds | paper | verdict |" + extra[0] + " note |",
              "|---|---|---|---|---|---|" + extra[1] + "---|"]
    shown, quantities = set(), {}
    for _, row in table.iterrows():
        claim = int(row["claim"])
        subject = _cell(row["subject"])
        statement = subject if claim in shown else f"**{_cell(row['finding'])}**" + (f": {subject}" if subject
                                                                                   not in ("", "—") else "")
        shown.add(claim)
        if _cell(row["quantity"]):
            quantities.setdefault(claim, {})[_cell(row["quantity"])] = None
        counts = f"{int(row['n_images'])} / {int(row['n_seeds'])}" if int(row["n_images"]) else "—"
        ours = VERDICT_MARKS.get(row["verdict"], _cell(row["verdict"]))
        if with_reference:
            theirs = reference_verdicts.get(_claim_key(row))
            ours += f" | {VERDICT_MARKS.get(theirs, _cell(theirs)) if theirs else '—'}"
        lines.append(f"| {claim} | {statement} | {_claim_value(row)} | {counts} | {_cell(row['paper'])} | "
                     f"{ours} | {_cell(row['note'])} |")
    lines += ["", "Quantities: " + "; ".join(f"({claim}) {', '.join(q)}" for claim, q in sorted(quantities.items()))
              + ".", "",
              "Verdict: *agrees* when the whole 95% CI lies on the paper's side of zero (of 95% for claim 4), "
              "*disagrees* when it lies wholly on the other side, *inconclusive* when it reaches the threshold or "
              "is undefined, *not run* when the arm or its runs are missing. Each image is averaged over seeds "
              "first; the bootstrap resamples images.", ""]
    return lines


def _data_size_section(results: Path, n_boot: int, seed: int) -> list[str]:
    """16 augmented images vs the full data set (plain, largest n): ratio of mean pixel F1 over the
    same test images, paired bootstrap; and the smallest augmented n whose mean reaches 95% of the
    full-data F1. Omitted when the arm did not run."""
    if not (Path(results) / DATA_SIZE).is_file():
        return []
    table = data_size.load(results)
    images = per_image_over_seeds(table, ["model", "variant", "x"], ["f1"])
    n = data_size.CLAIM_N
    share = 100 * data_size.REFERENCE_SHARE
    lines = [f"### Training-set size: {n} augmented images reach x% of the full-data pixel F1 (paper: within 5%)", "",
             f"| model | ours: F1(aug, n = {n}) / F1(plain, full) (%) [95% CI] | smallest augmented n reaching "
             f"{share:.0f}% | paper |", "|---|---|---|---|"]
    for model in ordered_models(images["model"]):
        part = images[images["model"] == model]
        plain = part[part["variant"] == "plain"]
        if plain.empty:
            continue
        full = plain[plain["x"] == plain["x"].max()]
        pairs, folds = paired_images(part[(part["variant"] == "aug") & (part["x"] == n)], full, "f1", with_folds=True)
        ratio = _fmt(statistic_ci(pairs, lambda v: 100 * v[:, 0].mean() / v[:, 1].mean(), n_boot=n_boot, seed=seed,
                                  folds=folds)) if len(pairs) else f"n = {n} not run"
        augmented = part[part["variant"] == "aug"].groupby("x")["f1"].mean()
        reaching = augmented[augmented >= data_size.REFERENCE_SHARE * full["f1"].mean()]
        smallest = f"{int(reaching.index.min())}" if not reaching.empty else "none"
        lines.append(f"| {model_name(model)} | {ratio} | {smallest} | {n} (≥ {share:.0f}% for every model) |")
    full = table.loc[(table["variant"] == "plain") & (table["x"] == table["x"].max()), "n_train"]
    size = "all training images" if full.empty or int(full.iloc[0]) == 0 else f"n = {int(full.iloc[0])}"
    sizes = ", ".join(str(int(v)) for v in sorted(table.loc[table["n_train"] > 0, "n_train"].unique()))
    return lines + ["", f"Full data: the plain variant at the largest training set ({size}; sizes run: {sizes}). "
                        "The ratio compares mean pixel F1 over the same test images (paired bootstrap over images).",
                    ""]


def _focal_planes_section(results: Path, n_boot: int, seed: int) -> list[str]:
    """Gain of each added plane along the greedy path; omitted when the arm did not run."""
    if not (Path(results) / FOCAL_PLANES).is_file():
        return []
    table = focal_planes.load(results)
    gains = step_gains(table, results, n_boot)
    lines = [f"### Focal planes: pixel F1 gained by one extra plane (paper: +{PAPER_PLANE_GAIN_MEAN} on average)", "",
             "| model | planes | ours: Δ pixel F1 (pp) [95% CI] | paper (pp) |", "|---|---|---|---|"]
    for model in ordered_models(gains["model"]):
        for k, step in enumerate(gains[gains["model"] == model].itertuples()):
            paper = "—"
            if k == 0:
                paper = f"+{PAPER_PLANE_GAIN[model]:.1f}" if model in PAPER_PLANE_GAIN else \
                    f"+{PAPER_PLANE_GAIN_MEAN} (mean of models)"
            estimate = Estimate(step.gain, step.low, step.high, step.n_images)
            before, after = (focal_planes.plane_set(p) for p in (step.planes_before, step.planes_after))
            lines.append(f"| {model_name(model)} | {before} → {after} | {_fmt(estimate)} | {paper} |")
    return lines + ["", "Plane sets in the order the greedy selection added them ({8} → {8, 0}: plane 0 joined 8); "
                        "differences paired by test image. "
                        "The paper's \"3.3%\" is read as percentage points of pixel F1.", ""]


def _transfer_section(results: Path, n_boot: int, seed: int) -> list[str]:
    """Gap of the un-tuned source model between source and target images; omitted when the arm
    did not run."""
    if not (Path(results) / TRANSFER).is_file():
        return []
    table = transfer.load(results)
    values = transfer.untuned_values(table)
    lines = ["### Transfer: gap of the un-tuned source model (paper: 31% for the instrument shift)", "",
             "| setting | model | on source (%) | on target (%) | gap (pp) [95% CI] | relative gap (%) [95% CI] "
             "| paper |", "|---|---|---|---|---|---|---|"]
    settings = transfer.ordered_settings(values["transfer"])
    for setting in settings:
        for row in values[values["transfer"] == setting].itertuples():
            folds = [row.source_folds, row.target_folds]
            gap = difference_ci(row.source, row.target, n_boot=n_boot, seed=seed, folds=folds)
            relative = difference_ci(row.source, row.target, n_boot=n_boot, seed=seed,
                                     statistic=lambda s, t: 100 * (s - t) / s, folds=folds)
            n_targets = int(table.loc[table["transfer"] == setting, "target"].nunique())
            lines.append(f"| {transfer.setting_title(setting, n_targets)} | {model_name(row.model)} | "
                         f"{row.source.mean():.1f} | {row.target.mean():.1f} | {_fmt(gap)} | {_fmt(relative)} | "
                         f"{PAPER_TRANSFER_GAP.get(setting, '—')} |")
    if not settings:
        lines.append("| — | — | — | — | no un-tuned source model scored on both domains | — | — |")
    return lines + ["", "Gap = pixel F1 of the source model (not fine-tuned) on source test images minus on target "
                        "test images; relative gap = gap / F1 on source. Bootstrap resamples the two image sets "
                        "independently.", ""]


def label_noise_estimate_lines(noise: pd.DataFrame | None, n_boot: int = 1000) -> list[str]:
    """summary.md section: every label-noise estimator per model beside the true share, with its
    error in percentage points, and the labels' merged nuclei per 100 true nuclei; [] when
    ``label_noise.csv`` has neither a second estimator nor the truth."""
    if noise is None:
        return []
    estimates = estimate_table(noise, n_boot)
    has_truth = has_column(noise, "n_true_noise_errors")
    names = list(dict.fromkeys(estimates["estimator"]))
    if len(names) < 2 and not has_truth:
        return []
    header = [f"{ESTIMATORS[n][2]} (%) [95% CI]" for n in names]
    if has_truth:
        header += ["true (%)"] + [f"error of {ESTIMATORS[n][2]} (pp)" for n in names]
    lines = ["### Misclassified pixels due to label noise: estimators against the truth", "",
             "| model | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]
    by = estimates.set_index(["estimator", "model"])
    for model in ordered_models(estimates["model"]):
        rows = [by.loc[(n, model)] for n in names]
        cells = [f"{row['share']:.1f} [{row['low']:.1f}, {row['high']:.1f}]" for row in rows]
        if has_truth:
            cells += [f"{by.loc[(names[0], model), 'true_share']:.1f}"]
            cells += [f"{by.loc[(n, model), 'error_pp']:+.1f}" for n in names]
        lines.append(f"| {model_name(model)} | " + " | ".join(cells) + " |")
    lines.append("")
    if "calibrated" in names:
        lines += ["The calibrated estimate uses the share of label noise among each model's errors per cell "
                  "(label class, agreeing models, distance to the label boundary) measured on the other "
                  "test images (leave one image out); it needs the exact truth of those images, so on real "
                  "data its rates must come from a simulation (or re-annotated images).", ""]
    merged = merged_per_100(noise)
    if merged is not None:
        lines += [f"Labels merge {merged:.1f} true nuclei per 100 (a labels object hosting m >= 2 true nuclei "
                  "counts m - 1): object-level noise that a pixel mask cannot show.", ""]
    return lines


def summary_lines(results: Path, n_boot: int = 1000, seed: int = 0, reference: Path | None = None) -> list[str]:
    """The lines of ``summary.md`` (see :func:`write_summary`)."""
    results = Path(results)
    per_image, modality = None, "brightfield"
    if (results / PER_IMAGE).is_file():
        per_image = read_results_table(results, PER_IMAGE, ("model", "dataset", "modality", "image_id"),
                                       ("f1", "object_f1", "n_true"))
        per_image = per_image.assign(model=per_image["model"].astype(str), dataset=per_image["dataset"].astype(str))
        modality = focus_modality(per_image)
    lines = ["# nucflow: results summary", "", data_statement(results), "",
             f"Generated from the tables under `{results}`. Ours: mean over test images (each image's value "
             f"averaged over seeds) with a percentile bootstrap 95% CI over images ({n_boot} resamples, seed "
             f"{seed}); shares are pooled over images. Modality: {modality}. Paper: Ali et al. 2021, brightfield.",
             ""]
    lines += _claims_section(results, reference)
    lines += _metric_section(per_image, modality, "f1", PAPER_PIXEL_F1, "Pixel F1", n_boot, seed)
    lines += ["(The paper's pixel F1 values are compared with the seven-line data set; the text does not name "
              "the data set.)", ""] if per_image is not None else []
    lines += _metric_section(per_image, modality, "object_f1", PAPER_OBJECT_F1,
                             "Object F1 (mean over IoU 0.50-0.95)", n_boot, seed)
    lines += _density_section(per_image, modality, n_boot, seed)
    artifacts = load_artifacts(results)
    lines += _share_section("Misclassified pixels inside imaging artifacts", artifacts, "n_errors_in_artifacts",
                            "n_errors", PAPER_ARTIFACT_SHARE, ARTIFACTS, n_boot)
    composition = load_composition(results)
    lines += _share_section(f"False-negative share of misclassified pixels ({modality})",
                            composition[0] if composition else None, "pixel_fn", "n_errors", PAPER_FN_SHARE,
                            PER_IMAGE, n_boot)
    noise = load_label_noise(results)
    lines += _share_section("Misclassified pixels due to label noise (estimated)", noise, "n_flagged_errors",
                            "n_errors", PAPER_LABEL_NOISE, LABEL_NOISE, n_boot)
    if noise is not None and "n_true_noise_errors" in noise and noise["n_true_noise_errors"].notna().all():
        lines += _share_section("Misclassified pixels due to label noise (true, known on simulated data)", noise,
                                "n_true_noise_errors", "n_errors", "— (unknown on real data)", LABEL_NOISE, n_boot)
    lines += label_noise_estimate_lines(noise, n_boot)
    lines += _data_size_section(results, n_boot, seed)
    lines += _focal_planes_section(results, n_boot, seed)
    lines += _transfer_section(results, n_boot, seed)
    return lines


def write_summary(results: Path, out_path: Path, n_boot: int = 1000, seed: int = 0,
                  reference: Path | None = None) -> Path:
    """Write the findings to ``out_path`` (Markdown, atomically); returns the path. ``reference``:
    the folder of a committed reference result, whose verdicts go beside this study's."""
    out_path = Path(out_path)
    text = "\n".join(summary_lines(results, n_boot, seed, reference)).rstrip() + "\n"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".part", dir=out_path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out_path
