"""The paper's claims checked against the study's result tables: one row per finding and sub-row.

Ali et al. 2021 state eight findings that the study's arms can test, and the CLL study (Vasinkova et
al. 2024) one more that the baselines arm tests (9, :mod:`nucflow.report.claims_baselines`; its
verdict is against an equivalence margin) (:data:`FINDINGS`). For each,
:func:`claims_table` computes our estimate from the per-image result tables, a percentile bootstrap
95% CI over test images, the paper's value (as text) and a verdict:

* ``agrees``: the CI lies wholly on the paper's side of the threshold (``expected``, e.g. ``> 0``);
* ``disagrees``: the CI lies wholly on the other side;
* ``inconclusive``: the CI reaches the threshold, or the estimate or its CI is undefined;
* ``not run``: the arm is off or its table lacks what the claim needs (the note says what).

Statistics. Each test image's value is first averaged over the seeds (runs) that scored it, then
the bootstrap resamples images (seeds are not resampled: the demo has one or two); ``n_seeds`` is
the fewest seeds behind any condition compared. Where both sides score the same test images
(models on one test set, two modalities of the same fields, a fine-tuned model and its source
model), the difference is paired by image; where they do not (source vs target images), each
sample is resampled on its own. The estimators are the summary's own (``nucflow.results.inputs``,
:func:`nucflow.report.figure_tables.step_gains`, :func:`nucflow.results.transfer.untuned_values`),
so with the same ``n_boot`` and seed a claim's numbers equal those of its summary section.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.attribution.stats import Estimate, difference_ci, independent_ci, mean_ci, pearson_r, statistic_ci
from nucflow.io import write_csv
from nucflow.report.claims_baselines import baseline_claims
from nucflow.report.figure_tables import paired_difference, step_gains
# the table's columns, findings and verdict rules (re-exported: part of this module's interface)
from nucflow.report.claims_rows import (COLUMNS, FINDINGS, VERDICTS, claim_row, expectation,  # noqa: F401
                                        not_run, verdict)
from nucflow.results import data_size, focal_planes, transfer
from nucflow.results.density import focus_modality
from nucflow.results.inputs import (DATA_SIZE, FOCAL_PLANES, PER_IMAGE, TRANSFER, one_method, paired_images,
                                    per_image_over_seeds, read_arm_table)
from nucflow.results.names import dataset_name, model_name, ordered_datasets, ordered_models

CLAIMS = "tables/claims.csv"

# The paper's numbers (Ali et al. 2021, SLAS Discovery; brightfield; models in the order U-Net,
# U-Net++, DeepLabv3+, Tiramisu, PPU-Net). Pixel F1 is given without naming the data set; it is
# compared with the seven-line set. The LNCaP Tiramisu r is printed as "-16"; -0.16 is assumed.
PAPER_PIXEL_F1 = {"seven_lines": {"unet": 81.3, "unetpp": 85.0, "deeplabv3plus": 86.2, "tiramisu": 85.6, "ppunet": 86.5}}
PAPER_OBJECT_F1 = {"seven_lines": {"unet": 48.8, "unetpp": 55.4, "deeplabv3plus": 58.1, "tiramisu": 58.2, "ppunet": 59.8},
                   "lncap": {"unet": 45.2, "unetpp": 51.0, "deeplabv3plus": 54.9, "tiramisu": 51.4, "ppunet": 54.6}}
PAPER_DENSITY_R = {"seven_lines": {"unet": -0.65, "unetpp": -0.66, "deeplabv3plus": -0.69, "tiramisu": -0.67, "ppunet": -0.70},
                   "lncap": {"unet": -0.39, "unetpp": -0.39, "deeplabv3plus": -0.46, "tiramisu": -0.16, "ppunet": -0.40}}
PAPER_PLANE_GAIN = {"unet": 4.0, "deeplabv3plus": 2.8}
PAPER_PLANE_GAIN_MEAN = 3.3
PAPER_TRANSFER_GAP = {"lncap_to_seven_lines": "31%"}
BASELINE = "unet"
CLAIM_N = data_size.CLAIM_N                          # the paper's "16 images with augmentation"
REFERENCE_SHARE = 100 * data_size.REFERENCE_SHARE    # "within 5%" of the full-data pixel F1, in %
TUNED_VARIANTS = ("target", "target+source")  # fine-tuning variants, preferred first (the paper's: target only)


def _n_seeds(*tables: pd.DataFrame) -> int:
    """The fewest seeds behind any of the tables (0 when one is empty)."""
    counts = [int(t["seed"].nunique()) if "seed" in t.columns else 1 for t in tables]
    return min(counts) if counts else 0


def _seed_means(rows: pd.DataFrame, columns: Sequence[str] = ("f1",)) -> pd.DataFrame:
    """One row per test image: ``columns`` averaged over the seeds that scored it."""
    return per_image_over_seeds(rows, [], list(columns))


def _fmt(value: float, digits: int = 1, sign: bool = False) -> str:
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


# ---- claims 1-3: the model comparison -------------------------------------------------------
def load_model_comparison(results: Path) -> pd.DataFrame | None:
    """The model-comparison rows (one post-processing method per run), or None when absent."""
    if not (Path(results) / PER_IMAGE).is_file():
        return None
    return one_method(read_arm_table(results, PER_IMAGE, ("run_id", "image_id", "dataset", "modality", "seed"),
                                     ("f1", "n_true")))


def _paper_deeper(dataset: str, model: str) -> str:
    pixel = PAPER_PIXEL_F1.get(dataset, {})
    if model in pixel and BASELINE in pixel:
        return f"{_fmt(pixel[model] - pixel[BASELINE], sign=True)} ({pixel[model]:.1f} vs {pixel[BASELINE]:.1f}%)"
    objects = PAPER_OBJECT_F1.get(dataset, {})
    if model in objects and BASELINE in objects:
        return (f"> 0 (pixel F1 not given; object F1 {objects[model]:.1f} vs {objects[BASELINE]:.1f}%)")
    return "> 0"


def deeper_models(table: pd.DataFrame | None, n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """Claim 1: per data set and deeper model, its brightfield pixel F1 minus U-Net's (pp), paired
    over the test images both scored."""
    paper = "> 0 (pixel F1 81.3% U-Net, 85.0-86.5% the deeper models)"
    if table is None:
        return [not_run(1, paper, f"missing {PER_IMAGE}")]
    brightfield = table[table["modality"] == "brightfield"]
    if brightfield.empty:
        return [not_run(1, paper, "the model comparison has no brightfield runs")]
    rows = []
    for dataset in ordered_datasets(brightfield["dataset"]):
        part = brightfield[brightfield["dataset"] == dataset]
        base = part[part["model"] == BASELINE]
        for model in ordered_models(part["model"]):
            if model == BASELINE:
                continue
            subject = f"{dataset_name(dataset)}: {model_name(model)} − U-Net"
            if base.empty:
                rows.append(not_run(1, _paper_deeper(dataset, model), "U-Net not run on this data set", subject))
                continue
            this = part[part["model"] == model]
            estimate = paired_difference(_seed_means(this), _seed_means(base), "f1", n_boot=n_boot, seed=seed)
            rows.append(claim_row(1, subject, "brightfield pixel F1 difference, paired by image (pp)", "pp", estimate,
                                  _n_seeds(this, base), _paper_deeper(dataset, model), 0.0, True,
                                  "" if estimate.n else "no test image was scored by both models"))
    return rows or [not_run(1, paper, "only U-Net ran on brightfield")]


def fluorescence_over_brightfield(table: pd.DataFrame | None, n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """Claim 2: per data set and model, fluorescence pixel F1 minus brightfield pixel F1 (pp),
    paired over the fields scored in both modalities."""
    paper = "> 0 (the paper's Fig. 3; no number in its text)"
    if table is None:
        return [not_run(2, paper, f"missing {PER_IMAGE}")]
    rows = []
    for dataset in ordered_datasets(table["dataset"]):
        part = table[table["dataset"] == dataset]
        for model in ordered_models(part["model"]):
            fluorescence = part[(part["model"] == model) & (part["modality"] == "fluorescence")]
            brightfield = part[(part["model"] == model) & (part["modality"] == "brightfield")]
            if fluorescence.empty or brightfield.empty:
                continue
            estimate = paired_difference(_seed_means(fluorescence), _seed_means(brightfield), "f1", n_boot=n_boot,
                                         seed=seed)
            note = "" if estimate.n else "no test image was scored in both modalities"
            rows.append(claim_row(2, f"{dataset_name(dataset)}: {model_name(model)}",
                                  "pixel F1, fluorescence − brightfield, paired by image (pp)", "pp", estimate,
                                  _n_seeds(fluorescence, brightfield), paper, 0.0, True, note))
    modalities = ", ".join(sorted(set(table["modality"])))
    return rows or [not_run(2, paper, f"no model ran on both modalities (modalities run: {modalities})")]


def _mean_r(values: np.ndarray) -> float:
    """values (images, 1 + models): nuclei per image, then each model's pixel F1; the mean over
    models of Pearson r (NaN when any r is undefined)."""
    return float(np.mean([pearson_r(values[:, 0], values[:, k]) for k in range(1, values.shape[1])]))


def _paper_density(dataset: str) -> str:
    values = PAPER_DENSITY_R.get(dataset)
    if not values:
        return "< 0 (every model, both data sets)"
    return f"{min(values.values()):.2f} to {max(values.values()):.2f} (mean {np.mean(list(values.values())):.2f})"


def density(table: pd.DataFrame | None, n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """Claim 3: per data set, Pearson r of pixel F1 against nuclei per image, the mean over models
    of each model's r over the images every model scored (brightfield, else the modality run);
    the bootstrap resamples images jointly for all models."""
    if table is None:
        return [not_run(3, "< 0", f"missing {PER_IMAGE}")]
    modality = focus_modality(table)
    part = table[table["modality"] == modality]
    rows = []
    for dataset in ordered_datasets(part["dataset"]):
        rows_of = part[part["dataset"] == dataset]
        images = per_image_over_seeds(rows_of, ["model"], ["f1", "n_true"])
        models = ordered_models(images["model"])
        wide = images.pivot(index="image_id", columns="model", values="f1")[models]
        counts = images.groupby("image_id")["n_true"].mean()
        joined = pd.concat([counts, wide], axis=1).dropna()
        values = joined.to_numpy(float)
        folds = images.groupby("image_id")["fold"].first().reindex(joined.index).to_numpy() \
            if "fold" in images.columns else None
        estimate = statistic_ci(values, _mean_r, n_boot=n_boot, seed=seed, folds=folds)
        note = "" if modality == "brightfield" else f"{modality}: the model comparison has no brightfield runs"
        if values.shape[0] < 3:
            note = "; ".join(filter(None, [note, "fewer than 3 images"]))
        over = f"mean over {len(models)} models" if len(models) > 1 else model_name(models[0])
        quantity = f"Pearson r, pixel F1 vs nuclei per image ({modality}; {over})"
        rows.append(claim_row(3, dataset_name(dataset), quantity, "r", estimate, _n_seeds(rows_of),
                              _paper_density(dataset), 0.0, False, note))
    return rows


# ---- claims 4-5: training-set size ----------------------------------------------------------
def _sizes(ns) -> str:
    return ", ".join(str(int(n)) for n in sorted(ns))


def _ratio_of_means(pairs: np.ndarray) -> float:
    """pairs (images, 2): 100 * mean of column 0 / mean of column 1; NaN when the latter is 0."""
    reference = pairs[:, 1].mean()
    return float(100 * pairs[:, 0].mean() / reference) if reference else math.nan


def few_augmented(table: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """Claim 4: per model, mean pixel F1 with augmentation at n = 16 over the full-data mean
    (plain variant, largest n), in %, paired over the same test images (the summary's ratio). If
    n = 16 was not run: the smallest augmented n whose mean reaches 95%, else the largest run."""
    paper = f"≥ {REFERENCE_SHARE:.0f}% at n = {CLAIM_N}, every model"
    images = per_image_over_seeds(table, ["model", "variant", "x", "n_train"], ["f1"])
    run = _sizes(table.loc[table["n_train"] > 0, "n_train"].unique())
    rows = []
    for model in ordered_models(table["model"]):
        part = images[images["model"] == model]
        plain, aug = part[part["variant"] == "plain"], part[(part["variant"] == "aug") & (part["n_train"] > 0)]
        if plain.empty or aug.empty:
            rows.append(not_run(4, paper, f"no {'plain' if plain.empty else 'augmented'} runs", model_name(model)))
            continue
        full = plain[plain["x"] == plain["x"].max()]
        full_n = int(full["n_train"].iloc[0])
        means = aug.groupby("n_train")["f1"].mean()
        reaching = means[means >= REFERENCE_SHARE / 100 * full["f1"].mean()]
        smallest = f"{int(reaching.index.min())}" if not reaching.empty else "none"
        fallback = reaching.index.min() if not reaching.empty else means.index.max()
        n = CLAIM_N if CLAIM_N in means.index else int(fallback)
        reference = "all training images" if full_n == 0 else f"n = {full_n}"
        notes = [f"sizes run: {run}; full data: plain, {reference}",
                 f"smallest augmented n reaching {REFERENCE_SHARE:.0f}% (means): {smallest}"]
        if full_n == CLAIM_N:
            notes.append(f"demo scale: the full data is n = {CLAIM_N}, so this compares augmentation with plain "
                         "training at the same n")
        if n != CLAIM_N:
            notes.append(f"n = {CLAIM_N} not run; shown for n = {n}")
        pairs, folds = paired_images(aug[aug["n_train"] == n], full, "f1", with_folds=True)
        estimate = statistic_ci(pairs, _ratio_of_means, n_boot=n_boot, seed=seed, folds=folds)
        row = claim_row(4, model_name(model), f"pixel F1, augmented n = {n} / plain full data, paired by image (%)",
                        "%", estimate, _n_seeds(table[table["model"] == model]), paper, REFERENCE_SHARE, True,
                        "; ".join(notes))
        if n < CLAIM_N and row["verdict"] == "disagrees":
            row.update(verdict="inconclusive", note=row["note"] + f" (falling short below n = {CLAIM_N} does not "
                                                                  "contradict the paper)")
        rows.append(row)
    return rows


VARIANT_NAMES = {"aug": "augmentation", "smooth": "label smoothing"}


def small_n_strategies(table: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """Claim 5: per model, augmentation and label smoothing against plain training at the same n
    (0 < n <= 16): pixel F1 difference (pp) per test image, averaged over those n, then over
    images with a bootstrap CI over images."""
    paper = "> 0 (\"nearly all models performed better\" with each)"
    small = table[(table["n_train"] > 0) & (table["n_train"] <= CLAIM_N)]
    images = per_image_over_seeds(small, ["model", "variant", "n_train"], ["f1"])
    rows = []
    for model in ordered_models(table["model"]):
        plain = images[(images["model"] == model) & (images["variant"] == "plain")]
        for variant in VARIANT_NAMES:
            other = images[(images["model"] == model) & (images["variant"] == variant)]
            subject = f"{model_name(model)}: {VARIANT_NAMES[variant]}"
            if plain.empty or other.empty:
                missing = "plain" if plain.empty else VARIANT_NAMES[variant]
                rows.append(not_run(5, paper, f"no {missing} runs at n <= {CLAIM_N}", subject))
                continue
            on = ["n_train", "image_id"] + (["fold"] if "fold" in images.columns else [])
            joined = other.merge(plain, on=on, suffixes=("", "_plain"))
            per_image = (joined["f1"] - joined["f1_plain"]).groupby(joined["image_id"]).mean() * 100
            folds = joined.groupby("image_id")["fold"].first().reindex(per_image.index).to_numpy() \
                if "fold" in joined.columns else None
            estimate = mean_ci(per_image.to_numpy(float), n_boot=n_boot, seed=seed, folds=folds)
            seeds = _n_seeds(*(small[(small["model"] == model) & (small["variant"] == v)] for v in ("plain", variant)))
            rows.append(claim_row(5, subject, "pixel F1 with the strategy − plain at the same n, paired by image, "
                                              f"mean over n = {_sizes(joined['n_train'].unique())} (pp)",
                                  "pp", estimate, seeds, paper, 0.0, True))
    return rows


def data_size_claims(results: Path, n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """Claims 4 and 5 from ``tables/data_size/per_image.csv`` (not run without it)."""
    if not (Path(results) / DATA_SIZE).is_file():
        return [not_run(4, f"≥ {REFERENCE_SHARE:.0f}% at n = {CLAIM_N}", f"data_size arm off (missing {DATA_SIZE})"),
                not_run(5, "> 0", f"data_size arm off (missing {DATA_SIZE})")]
    table = data_size.load(results)
    return few_augmented(table, n_boot, seed) + small_n_strategies(table, n_boot, seed)


# ---- claim 6: focal planes ------------------------------------------------------------------
def plane_gain(results: Path, n_boot: int = 1000) -> list[dict]:
    """Claim 6: per model, the pixel F1 gained (pp) by the first plane the greedy search added
    (round 1 -> 2), paired by image (:func:`nucflow.report.figure_tables.step_gains`, whose
    bootstrap has seed 0); later steps are listed in the note."""
    paper = f"+{PAPER_PLANE_GAIN_MEAN} on average (U-Net +4.0, DeepLabv3+ +2.8)"
    if not (Path(results) / FOCAL_PLANES).is_file():
        return [not_run(6, paper, f"focal_planes arm off (missing {FOCAL_PLANES})")]
    table = focal_planes.load(results)
    gains = step_gains(table, results, n_boot) if not table.empty else pd.DataFrame()
    if gains.empty:
        return [not_run(6, paper, "one greedy round only: no plane was added")]
    picks = focal_planes.greedy_picks(table, results)
    rows = []
    for model in ordered_models(gains["model"]):
        steps = gains[gains["model"] == model].sort_values("focal_round")
        first = steps.iloc[0]
        before, after = (focal_planes.plane_set(p) for p in (first["planes_before"], first["planes_after"]))
        later = ", ".join(f"{_fmt(g, sign=True)}" for g in steps["gain"].iloc[1:])
        paper_model = (f"+{PAPER_PLANE_GAIN[model]:.1f}" if model in PAPER_PLANE_GAIN
                       else f"+{PAPER_PLANE_GAIN_MEAN} (mean of models)")
        estimate = Estimate(float(first["gain"]), float(first["low"]), float(first["high"]), int(first["n_images"]))
        rows.append(claim_row(6, f"{model_name(model)}: {before} → {after}",
                              "pixel F1 gained by the second plane, paired by image (pp)", "pp", estimate,
                              int(picks.loc[picks["model"] == model, "seed"].nunique()), paper_model, 0.0, True,
                              f"later planes: {later} pp" if later else ""))
    return rows


# ---- claims 7-8: transfer -------------------------------------------------------------------
def _relative_gap(source, target):
    return 100 * (source - target) / source


def shift_costs(table: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """Claim 7: per model and cross-data-set setting, the relative gap of the un-tuned source model
    (F1 on source images minus on target images, over F1 on source, %) across instruments minus
    that of leaving one cell line out (pp); the four image sets are resampled independently."""
    paper = "31% for LNCaP → seven lines, more than for a held-out line (\"most marked\" across instruments)"
    values = transfer.untuned_values(table)
    crosses = [s for s in transfer.ordered_settings(values["transfer"]) if s != "lolo"]
    if "lolo" not in set(values["transfer"]) or not crosses:
        run = ", ".join(transfer.ordered_settings(values["transfer"])) or "none"
        return [not_run(7, paper, f"needs leave-one-line-out and a cross-data-set setting, un-tuned "
                                  f"(settings run: {run})")]
    lines = ", ".join(sorted(set(table.loc[table["transfer"] == "lolo", "target"])))
    rows = []
    for model in ordered_models(values["model"]):
        lolo = values[(values["model"] == model) & (values["transfer"] == "lolo")]
        for cross in crosses:
            other = values[(values["model"] == model) & (values["transfer"] == cross)]
            subject = f"{model_name(model)}: {transfer.setting_title(cross, 1)} vs held-out {lines}"
            if lolo.empty or other.empty:
                rows.append(not_run(7, PAPER_TRANSFER_GAP.get(cross, "> 0"), "a setting lacks the un-tuned model",
                                    subject))
                continue
            samples = [other["source"].iloc[0], other["target"].iloc[0], lolo["source"].iloc[0], lolo["target"].iloc[0]]
            folds = [frame[f"{role}_folds"].iloc[0] for frame in (other, lolo) for role in ("source", "target")]
            estimate = independent_ci(samples, lambda a, b, c, d: _relative_gap(a, b) - _relative_gap(c, d),
                                      n_boot=n_boot, seed=seed, folds=folds)
            gaps = [difference_ci(s, t, n_boot=n_boot, seed=seed, statistic=_relative_gap, folds=f)
                    for s, t, f in ((*samples[:2], folds[:2]), (*samples[2:], folds[2:]))]
            note = "relative gap: instrument {}, cell line {} (%)".format(
                *(f"{g.value:.1f} [{g.low:.1f}, {g.high:.1f}]" for g in gaps))
            untuned = table[(table["model"] == model) & (table["variant"] == transfer.UNTUNED)]
            seeds = _n_seeds(*(untuned[untuned["transfer"] == s] for s in ("lolo", cross)))
            rows.append(claim_row(7, subject, "relative gap of the un-tuned source model, instrument − cell-line "
                                              "shift (pp)", "pp", estimate, seeds,
                                  f"{PAPER_TRANSFER_GAP.get(cross, '—')} vs less for a held-out line", 0.0, True,
                                  note))
    return rows


ROLE_CLAIMS = {"target": (True, "> 0 (\"fine-tuning improves performance on the target domain\")"),
               "source": (False, "< 0 (\"but degrades performance on the source domain\")")}


def fine_tuning(table: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """Claim 8: per setting and model, the model fine-tuned on the most target images minus the
    un-tuned source model (pp), on target and on source test images, paired by image (and held-out
    line). Fine-tuned on target images only where run, else on target + source."""
    keys = ["model", "transfer", "target", "variant", "eval_role", "n_train"]
    images = per_image_over_seeds(table, keys, ["f1"])
    images = images.assign(image_id=images["target"] + "/" + images["image_id"])
    rows = []
    for setting in transfer.ordered_settings(images["transfer"]):
        held_out = ", ".join(sorted(set(table.loc[table["transfer"] == setting, "target"])))
        name = f"leave one line out (held-out {held_out})" if setting == "lolo" else transfer.setting_title(setting, 1)
        for model in ordered_models(images["model"]):
            part = images[(images["transfer"] == setting) & (images["model"] == model)]
            untuned = part[part["variant"] == transfer.UNTUNED]
            variant = next((v for v in TUNED_VARIANTS if v in set(part["variant"])), None)
            title = f"{name}: {model_name(model)}"
            if untuned.empty or variant is None:
                reason = "no un-tuned source model" if untuned.empty else "no fine-tuned runs"
                rows += [not_run(8, paper, reason, f"{title}, on {role} images") for role, (_, paper) in
                         ROLE_CLAIMS.items()]
                continue
            n = int(part.loc[part["variant"] == variant, "n_train"].max())
            tuned = part[(part["variant"] == variant) & (part["n_train"] == n)]
            note = "" if variant == "target" else "target-only fine-tuning not run: fine-tuned on target + source"
            raw = table[(table["transfer"] == setting) & (table["model"] == model)]
            seeds = _n_seeds(raw[raw["variant"] == transfer.UNTUNED],
                             raw[(raw["variant"] == variant) & (raw["n_train"] == n)])
            for role, (above, paper) in ROLE_CLAIMS.items():
                estimate = paired_difference(tuned[tuned["eval_role"] == role], untuned[untuned["eval_role"] == role],
                                             "f1", n_boot=n_boot, seed=seed)
                rows.append(claim_row(8, f"{title}, on {role} images",
                                      f"pixel F1, fine-tuned on {n} target image(s) − un-tuned, paired by image (pp)",
                                      "pp", estimate, seeds, paper, 0.0, above, note))
    return rows


def transfer_claims(results: Path, n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """Claims 7 and 8 from ``tables/transfer/per_image.csv`` (not run without it)."""
    if not (Path(results) / TRANSFER).is_file():
        return [not_run(7, "31% vs less", f"transfer arm off (missing {TRANSFER})"),
                not_run(8, "> 0 on target, < 0 on source", f"transfer arm off (missing {TRANSFER})")]
    table = transfer.load(results)
    return shift_costs(table, n_boot, seed) + fine_tuning(table, n_boot, seed)


# ---- the table ------------------------------------------------------------------------------
def claims_table(results: Path, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Every claim of :data:`FINDINGS` checked against the tables under ``results``: one row per
    claim and sub-row, columns :data:`COLUMNS`, in claim order."""
    results = Path(results)
    model_comparison = load_model_comparison(results)
    rows = (deeper_models(model_comparison, n_boot, seed)
            + fluorescence_over_brightfield(model_comparison, n_boot, seed)
            + density(model_comparison, n_boot, seed) + data_size_claims(results, n_boot, seed)
            + plane_gain(results, n_boot) + transfer_claims(results, n_boot, seed)
            + baseline_claims(results, n_boot, seed))
    table = pd.DataFrame(rows, columns=COLUMNS).assign(n_folds=_study_folds(results))
    return table.sort_values("claim", kind="stable").reset_index(drop=True)


def _study_folds(results: Path) -> int:
    """The number of folds in the claim arms' per-image tables (1 without folds or tables)."""
    found = [1]
    for relative in (PER_IMAGE, DATA_SIZE, FOCAL_PLANES, TRANSFER):
        path = Path(results) / relative
        if path.is_file() and "fold" in pd.read_csv(path, nrows=0).columns:
            found.append(int(pd.read_csv(path, usecols=["fold"])["fold"].nunique()))
    return max(found)


def write_claims(results: Path, out_path: Path, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Write :func:`claims_table` to ``out_path`` (CSV, atomically); returns the table."""
    table = claims_table(results, n_boot, seed)
    write_csv(out_path, table)
    return table
