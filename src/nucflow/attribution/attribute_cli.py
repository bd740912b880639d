"""``nucflow attribute``: the study's error analyses, one sub-analysis per subcommand.

  tables       density.csv, size_bins.csv, composition.csv + attribution.json from the per-image
               and per-object tables of one run (no images needed)
  label-noise  label_noise.csv + label_noise.json from the manifest and K model prediction folders
  artifacts    artifacts.csv + artifacts.json from the manifest (rows with an artifacts mask) and
               one prediction folder
  morphology   mann_whitney.csv: pairwise Mann-Whitney tests of morphology features between
               per-object tables of several methods
  error-curve  error_curve.csv: merges, splits and missed nuclei per image as the pixel
               threshold of the published post-processing varies (the paper's Fig. 6)
  run          tables, artifacts and error-curve of one evaluation in one process (what the
               workflow's attribute_run calls: one start-up instead of three)
  claims       claims.csv: the paper's eight findings checked against the arms' result tables,
               one row per finding and sub-row (estimate, 95% CI, paper value, verdict)

Every JSON summary carries percentile bootstrap CIs over images (seeded).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

from nucflow.attribution.artifacts import artifact_effect, artifact_table
from nucflow.attribution.composition import composition_table
from nucflow.attribution.density import density_correlation, require_columns, size_bins
from nucflow.attribution.images import check_shape, manifest_image, read_manifest_rows, read_prediction
from nucflow.attribution.label_noise import label_noise_counts, label_noise_summary, label_noise_table, read_probabilities
from nucflow.attribution.stats import CORRECTIONS, bootstrap_ci, mann_whitney_table
from nucflow.errors import NucflowError
from nucflow.io import read_image, write_csv, write_json


def _add_bootstrap(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("statistics")
    group.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples over images (default 2000)")
    group.add_argument("--level", type=float, default=0.95, help="confidence level of the intervals (default 0.95)")
    group.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")


def _add_images(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("images")
    group.add_argument("--manifest", required=True, type=Path,
                       help="CSV with image_id, labels and optional labels_true, artifacts (paths relative to it)")
    group.add_argument("--ids", nargs="+", metavar="ID", help="analyse only these image ids (default: all rows)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = __doc__.split("\n", 1)[1]
    sub = parser.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")

    tables = sub.add_parser("tables", help="density, size and FN/FP composition from result tables")
    inputs = tables.add_argument_group("inputs")
    inputs.add_argument("--per-image", required=True, type=Path, help="per-image CSV of one run")
    inputs.add_argument("--per-object", type=Path, help="per-object CSV (ground-truth nuclei) for size bins")
    columns = tables.add_argument_group("column names")
    columns.add_argument("--id-col", default="image_id", help="image id column (default image_id)")
    columns.add_argument("--count-col", default="n_true", help="nuclei per image (default n_true)")
    columns.add_argument("--score-col", default="f1", help="pixel F1 per image (default f1)")
    columns.add_argument("--group-col", default="cell_line", help="per-group correlations; '' for none")
    columns.add_argument("--fn-col", default="pixel_fn", help="false-negative pixel count (default pixel_fn)")
    columns.add_argument("--fp-col", default="pixel_fp", help="false-positive pixel count (default pixel_fp)")
    columns.add_argument("--area-col", default="area_px2", help="nucleus area in px (default area_px2)")
    columns.add_argument("--iou-col", default="best_iou", help="best-match IoU per true nucleus (default best_iou)")
    bins = tables.add_argument_group("size bins")
    bins.add_argument("--size-edges", type=float, nargs="+", help="bin edges in px (default: quantile bins)")
    bins.add_argument("--n-bins", type=int, default=5, help="number of quantile bins (default 5)")
    bins.add_argument("--iou-threshold", type=float, default=0.5, help="detected at IoU >= this (default 0.5)")
    _add_bootstrap(tables)
    tables.add_argument("--out", required=True, type=Path, help="output folder")

    noise = sub.add_parser("label-noise", help="share of errors due to ground-truth label noise")
    _add_images(noise)
    models = noise.add_argument_group("models")
    models.add_argument("--pred-dirs", required=True, nargs="+", type=Path,
                        help="one prediction folder per model: <dir>/<image_id>_labels.tif or _prob.tif")
    models.add_argument("--model-names", nargs="+", help="names of the models (default: folder names)")
    models.add_argument("--min-agree", type=int, default=4,
                        help="flag a pixel when at least this many models contradict its label (default 4)")
    _add_bootstrap(noise)
    noise.add_argument("--out", required=True, type=Path, help="output folder")

    art = sub.add_parser("artifacts", help="F1 gain outside annotated artifacts and errors inside them")
    _add_images(art)
    art.add_argument_group("model").add_argument(
        "--pred-dir", required=True, type=Path, help="prediction folder: <dir>/<image_id>_labels.tif or _prob.tif")
    _add_bootstrap(art)
    art.add_argument("--out", required=True, type=Path, help="output folder")

    curve = sub.add_parser("error-curve", help="merges, splits and missed nuclei against the pixel threshold")
    _add_images(curve)
    curve.add_argument_group("model").add_argument(
        "--prob-dir", required=True, type=Path, help="folder of <image_id>_prob.tif probability maps")
    curve.add_argument("--truth", choices=("labels", "labels_true"), default="labels",
                       help="manifest column scored against (default: labels)")
    curve.add_argument("--thresholds", type=float, nargs="+", default=[0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
                       help="pixel thresholds (default 0.2 ... 0.8)")
    curve.add_argument("--out", required=True, type=Path, help="output folder")

    whole = sub.add_parser("run", help="tables + artifacts + error-curve of one evaluation, in one process")
    given = whole.add_argument_group("inputs")
    given.add_argument("--per-image", required=True, type=Path, help="per-image CSV of the evaluation")
    given.add_argument("--per-object", required=True, type=Path, help="per-object CSV of the evaluation")
    given.add_argument("--manifest", required=True, type=Path, help="manifest CSV")
    given.add_argument("--prob-dir", required=True, type=Path, help="folder of <image_id>_prob.tif (and ids.txt)")
    given.add_argument("--truth", choices=("labels", "labels_true"), default="labels")
    given.add_argument("--seed", type=int, default=0, help="seed of the bootstraps (default 0)")
    whole.add_argument("--tables-out", required=True, type=Path, help="folder for the tables and the error curve")
    whole.add_argument("--artifacts-out", required=True, type=Path, help="folder for the artifact analysis")

    claims = sub.add_parser("claims", help="the paper's findings against the result tables (claims.csv)")
    claims.add_argument_group("inputs").add_argument(
        "--results", type=Path, default=Path("results"), help="results folder holding tables/ (default: results)")
    boot = claims.add_argument_group("statistics")
    boot.add_argument("--n-boot", type=int, default=1000,
                      help="bootstrap resamples over images (default 1000, as the summary's)")
    boot.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0, as the summary's)")
    claims.add_argument("--out", required=True, type=Path, help="output CSV, e.g. results/tables/claims.csv")

    morph = sub.add_parser("morphology", help="Mann-Whitney tests of morphology between methods")
    mt = morph.add_argument_group("inputs")
    mt.add_argument("--tables", required=True, nargs="+", type=Path, help="per-object morphology CSV per method")
    mt.add_argument("--names", nargs="+", help="method names (default: file stems)")
    mt.add_argument("--features", nargs="+", required=True, help="feature columns to compare")
    mt.add_argument("--correction", choices=CORRECTIONS, default="holm",
                    help="multiple-testing correction over the table: holm or bh (default holm)")
    morph.add_argument("--out", required=True, type=Path, help="output folder")


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise NucflowError(f"{path}: file not found")
    try:
        return pd.read_csv(path)
    except Exception as exc:
        raise NucflowError(f"{path}: not a readable CSV ({type(exc).__name__}: {exc})") from None


def _ratio_of_sums(values: np.ndarray) -> float:
    total = values[:, 1].sum()
    return float(values[:, 0].sum() / total) if total else math.nan


def run_tables(args) -> dict:
    per_image = _read_table(args.per_image)
    boot = dict(n_boot=args.n_boot, level=args.level, seed=args.seed)
    summary: dict = {"per_image": str(args.per_image), "n_images": len(per_image)}
    density = density_correlation(per_image, args.count_col, args.score_col, args.group_col or None, **boot)
    write_csv(args.out / "density.csv", density)
    summary["density"] = density.to_dict(orient="records")
    require_columns(per_image, [args.id_col, args.fn_col, args.fp_col], str(args.per_image))
    composition, pooled = composition_table(per_image, args.fn_col, args.fp_col, args.id_col)
    write_csv(args.out / "composition.csv", composition)
    ci = bootstrap_ci(composition[["n_fn", "n_errors"]].to_numpy(float), _ratio_of_sums, **boot)
    summary["composition"] = {"n_fn": pooled.n_fn, "n_fp": pooled.n_fp, "fn_share_pooled": ci.as_dict(),
                              "fn_share_per_image_range": [float(composition["fn_share"].min()),
                                                           float(composition["fn_share"].max())]}
    if args.per_object is not None:
        per_object = _read_table(args.per_object)
        bins = size_bins(per_object, args.area_col, args.iou_col, args.size_edges, args.n_bins, args.iou_threshold)
        write_csv(args.out / "size_bins.csv", bins)
        summary["size_bins"] = bins.to_dict(orient="records")
    write_json(args.out / "attribution.json", summary)
    return summary


def run_label_noise(args) -> dict:
    names = args.model_names or [p.name for p in args.pred_dirs]
    if len(names) != len(args.pred_dirs):
        raise NucflowError(f"--model-names: {len(names)} names for {len(args.pred_dirs)} --pred-dirs")
    if not 1 <= args.min_agree <= len(args.pred_dirs):
        raise NucflowError(f"--min-agree: must lie in 1..{len(args.pred_dirs)}, got {args.min_agree}")
    ids, counts = [], []
    for _, row in read_manifest_rows(args.manifest, args.ids).iterrows():
        labels = manifest_image(args.manifest, row, "labels")
        labels_true = manifest_image(args.manifest, row, "labels_true")
        preds = [check_shape(read_prediction(d, row["image_id"]), labels.shape, f"{d}/{row['image_id']}")
                 for d in args.pred_dirs]
        if labels_true is not None:
            check_shape(labels_true, labels.shape, f"{row['image_id']} labels_true")
        probs = read_probabilities(args.pred_dirs, row["image_id"], labels.shape)
        counts.append(label_noise_counts(preds, labels, labels_true, args.min_agree, probs=probs))
        ids.append(row["image_id"])
    write_csv(args.out / "label_noise.csv", label_noise_table(ids, counts, names))
    summary = {"models": names, "min_agree": args.min_agree, "n_images": len(counts), **label_noise_summary(counts)}
    boot = dict(n_boot=args.n_boot, level=args.level, seed=args.seed)
    flagged = np.array([[c.flagged_errors, c.errors] for c in counts], float).transpose(0, 2, 1)
    summary["flagged_share_ci"] = bootstrap_ci(flagged, _mean_model_share, **boot).as_dict()
    if all(c.true_noise_errors is not None for c in counts):
        true = np.array([[c.true_noise_errors, c.errors] for c in counts], float).transpose(0, 2, 1)
        summary["true_share_ci"] = bootstrap_ci(true, _mean_model_share, **boot).as_dict()
    write_json(args.out / "label_noise.json", summary)
    return summary


def _mean_model_share(values: np.ndarray) -> float:
    """values (images, models, 2) of (part, errors): mean over models of pooled part / errors."""
    part, errors = values[..., 0].sum(axis=0), values[..., 1].sum(axis=0)
    shares = part[errors > 0] / errors[errors > 0]
    return float(shares.mean()) if shares.size else math.nan


def run_artifacts(args) -> dict:
    effects = {}
    for _, row in read_manifest_rows(args.manifest, args.ids).iterrows():
        artifacts = manifest_image(args.manifest, row, "artifacts")
        if artifacts is None:
            continue
        labels = manifest_image(args.manifest, row, "labels")
        pred = check_shape(read_prediction(args.pred_dir, row["image_id"]), labels.shape,
                           f"{args.pred_dir}/{row['image_id']}")
        effects[row["image_id"]] = artifact_effect(labels, pred, check_shape(artifacts, labels.shape,
                                                                             f"{row['image_id']} artifacts"))
    if not effects:
        raise NucflowError(f"{args.manifest}: no image has an artifacts mask")
    table = artifact_table(effects)
    write_csv(args.out / "artifacts.csv", table)
    boot = dict(n_boot=args.n_boot, level=args.level, seed=args.seed)
    summary = {"n_images": len(table)}
    for column in ("f1_gain", "error_share_in_artifacts"):
        values = table[column].dropna().to_numpy(float)
        summary[column] = {"mean_ci": bootstrap_ci(values, **boot).as_dict() if values.size else None,
                           "min": float(values.min()) if values.size else math.nan,
                           "max": float(values.max()) if values.size else math.nan}
    pooled_errors = table[["n_errors_in_artifacts", "n_errors"]].to_numpy(float)
    summary["error_share_in_artifacts_pooled"] = _ratio_of_sums(pooled_errors)
    write_json(args.out / "artifacts.json", summary)
    return summary


def run_morphology(args) -> pd.DataFrame:
    names = args.names or [p.stem for p in args.tables]
    if len(names) != len(args.tables) or len(set(names)) != len(names):
        raise NucflowError(f"--names: need {len(args.tables)} distinct names, got {names}")
    frames = []
    for path, name in zip(args.tables, names):
        frame = _read_table(path)
        require_columns(frame, args.features, str(path))
        frames.append(frame[list(args.features)].assign(method=name))
    table = mann_whitney_table(pd.concat(frames, ignore_index=True), "method", args.features, names,
                               args.correction)
    write_csv(args.out / "mann_whitney.csv", table)
    return table


def run_error_curve(args) -> pd.DataFrame:
    """error_curve.csv: one row per image and threshold (``image_id, pixel_threshold, merges,
    splits, missed, n_true, n_pred``); labels come from the published post-processing (threshold,
    components, objects and holes under 25 px removed) at each threshold."""
    from nucflow.evaluation.errors import error_curve
    from nucflow.postprocess.registry import postprocess

    if any(not 0 < t < 1 for t in args.thresholds):
        raise NucflowError(f"--thresholds {args.thresholds}: each must lie in (0, 1)")
    frames = []
    for _, row in read_manifest_rows(args.manifest, args.ids).iterrows():
        truth = manifest_image(args.manifest, row, args.truth)
        if truth is None:
            raise NucflowError(f"{args.manifest}: image {row['image_id']} has no {args.truth}")
        path = args.prob_dir / f"{row['image_id']}_prob.tif"
        if not path.is_file():
            raise NucflowError(f"{path}: probability map not found")
        prob = read_image(path)
        prob = prob if prob.ndim == 2 else 1.0 - prob[0]  # 3-class maps: 1 - P(background)
        curve = error_curve(truth, check_shape(prob, truth.shape, str(path)), args.thresholds,
                            postprocess=lambda p, t: postprocess("published", p, threshold=t))
        frames.append(curve.rename(columns={"threshold": "pixel_threshold"}).assign(image_id=row["image_id"]))
    table = pd.concat(frames, ignore_index=True)
    table = table[["image_id", *[c for c in table.columns if c != "image_id"]]]
    write_csv(args.out / "error_curve.csv", table)
    return table


def run_all(args) -> None:
    """``tables``, ``artifacts`` and ``error-curve`` with their own defaults, in this process."""
    from nucflow.cli import build_parser

    ids_file = args.prob_dir / "ids.txt"
    if not ids_file.is_file():
        raise NucflowError(f"{ids_file}: not found (the predict step writes it)")
    ids = ids_file.read_text().split()
    seed = ["--seed", str(args.seed)]
    parser = build_parser("attribute")
    analyses = [["tables", "--per-image", str(args.per_image), "--per-object", str(args.per_object), *seed,
                 "--out", str(args.tables_out)],
                ["error-curve", "--manifest", str(args.manifest), "--prob-dir", str(args.prob_dir), "--ids", *ids,
                 "--truth", args.truth, "--out", str(args.tables_out)]]
    rows = read_manifest_rows(args.manifest, ids)
    if "artifacts" in rows.columns and rows["artifacts"].fillna("").astype(str).str.strip().ne("").any():
        analyses.insert(1, ["artifacts", "--manifest", str(args.manifest), "--pred-dir", str(args.prob_dir),
                            "--ids", *ids, *seed, "--out", str(args.artifacts_out)])
    else:  # data without artifact masks (real plates): nothing to attribute to artifacts
        print(f"{args.manifest}: no artifact masks; the artifact analysis is skipped")
        Path(args.artifacts_out).mkdir(parents=True, exist_ok=True)
    for argv in analyses:
        sub = parser.parse_args(argv)
        ANALYSES[sub.analysis](sub)


def run_claims(args) -> pd.DataFrame:
    """claims.csv from the result tables (see :mod:`nucflow.attribution.claims`)."""
    from nucflow.attribution.claims import VERDICTS, write_claims  # imports the figure modules' table readers

    if not args.results.is_dir():
        raise NucflowError(f"{args.results}: results folder not found")
    if args.n_boot < 1:
        raise NucflowError(f"--n-boot: must be >= 1, got {args.n_boot}")
    table = write_claims(args.results, args.out, n_boot=args.n_boot, seed=args.seed)
    counts = table["verdict"].value_counts()
    print(f"wrote {args.out}: {len(table)} rows, " + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS))
    return table


ANALYSES = {"tables": run_tables, "error-curve": run_error_curve, "run": run_all, "label-noise": run_label_noise, "artifacts": run_artifacts,
            "morphology": run_morphology, "claims": run_claims}


def run(args: argparse.Namespace) -> int:
    ANALYSES[args.analysis](args)
    return 0
