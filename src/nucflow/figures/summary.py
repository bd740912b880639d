"""``results/summary.md``: the headline findings with bootstrap CIs, beside the paper's numbers.

Everything is computed from the result tables (the same ones the figures read); a finding whose
table is missing is listed as "not run". Paper numbers are from Ali et al. 2021 (SLAS Discovery),
brightfield, in the model order U-Net, U-Net++, DeepLabv3+, Tiramisu, PPU-Net.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import pandas as pd

from nucflow.attribution.stats import pearson_r
from nucflow.figures.attribution import ARTIFACTS, LABEL_NOISE, load_artifacts, load_composition, load_label_noise, share_table
from nucflow.figures.density import focus_modality
from nucflow.figures.inputs import (PER_IMAGE, STUDY_CONFIG, Estimate, mean_ci, per_image_over_seeds,
                                    read_results_table, statistic_ci)
from nucflow.figures.style import dataset_name, model_name, ordered_datasets, ordered_models
from nucflow.io import read_json

PAPER_PIXEL_F1 = {"seven_lines": {"unet": 81.3, "unetpp": 85.0, "deeplabv3plus": 86.2, "tiramisu": 85.6, "ppunet": 86.5}}
PAPER_OBJECT_F1 = {"seven_lines": {"unet": 48.8, "unetpp": 55.4, "deeplabv3plus": 58.1, "tiramisu": 58.2, "ppunet": 59.8},
                   "lncap": {"unet": 45.2, "unetpp": 51.0, "deeplabv3plus": 54.9, "tiramisu": 51.4, "ppunet": 54.6}}
PAPER_DENSITY_R = {"seven_lines": {"unet": -0.65, "unetpp": -0.66, "deeplabv3plus": -0.69, "tiramisu": -0.67, "ppunet": -0.70},
                   "lncap": {"unet": -0.39, "unetpp": -0.39, "deeplabv3plus": -0.46, "tiramisu": -0.16, "ppunet": -0.40}}
PAPER_ARTIFACT_SHARE = "10.7% (range 9.3-11.8%)"
PAPER_FN_SHARE = "53-61%"
PAPER_LABEL_NOISE = "3-5%"


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
            estimate = mean_ci(part[metric].to_numpy(float), n_boot=n_boot, seed=seed)
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
            estimate = statistic_ci(values, lambda v: pearson_r(v[:, 0], v[:, 1]), n_boot=n_boot, seed=seed)
            lines.append(f"| {dataset_name(dataset)} | {model_name(model)} | {len(part)} | {_fmt(estimate, 2)} | "
                         f"{_paper(PAPER_DENSITY_R, dataset, model, 2)} |")
    return lines + ["", "(The paper prints the LNCaP Tiramisu value as \"−16\"; −0.16 is assumed.)", ""]


def _share_section(title: str, table: pd.DataFrame | None, part: str, total: str, paper: str, missing: str,
                   n_boot: int) -> list[str]:
    lines = [f"### {title}", ""]
    if table is None:
        return lines + [f"not run (missing {missing})", ""]
    shares = share_table(table, part, total, n_boot)
    lines += [f"| model | images | ours (%) [95% CI] | paper |", "|---|---|---|---|"]
    for row in shares.itertuples():
        estimate = Estimate(row.share, row.low, row.high, row.n_images)
        lines.append(f"| {model_name(row.model)} | {row.n_images} | {_fmt(estimate)} | {paper} |")
    return lines + [""]


def summary_lines(results: Path, n_boot: int = 1000, seed: int = 0) -> list[str]:
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
    return lines


def write_summary(results: Path, out_path: Path, n_boot: int = 1000, seed: int = 0) -> Path:
    """Write the findings to ``out_path`` (Markdown, atomically); returns the path."""
    out_path = Path(out_path)
    text = "\n".join(summary_lines(results, n_boot, seed)).rstrip() + "\n"
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
