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
  targets      targets.csv: whether a (reference) study met its targets -- U-Net brightfield and
               fluorescence accuracy, no degenerate run, no run cut short, claims with images

Every JSON summary carries percentile bootstrap CIs over images (seeded).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nucflow.attribution import analyses
from nucflow.attribution.analyses import Bootstrap, Outputs
from nucflow.attribution.stats import CORRECTIONS
from nucflow.checks import check_results_folder
from nucflow.errors import NucflowError
from nucflow.io import write_csv, write_json


def _add_bootstrap(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("statistics")
    default = Bootstrap()
    group.add_argument("--n-boot", type=int, default=default.n_boot,
                       help=f"bootstrap resamples over images (default {default.n_boot})")
    group.add_argument("--level", type=float, default=default.level,
                       help=f"confidence level of the intervals (default {default.level})")
    group.add_argument("--seed", type=int, default=default.seed, help=f"seed of the bootstrap (default {default.seed})")


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
    curve.add_argument("--thresholds", type=float, nargs="+", default=list(analyses.ERROR_CURVE_THRESHOLDS),
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

    targets = sub.add_parser("targets", help="whether the study met the reference study's targets (targets.csv)")
    targets.add_argument("--results", type=Path, default=Path("results"),
                         help="results folder holding tables/ (default: results)")
    targets.add_argument("--out", required=True, type=Path, help="output CSV, e.g. results/tables/targets.csv")

    morph = sub.add_parser("morphology", help="Mann-Whitney tests of morphology between methods")
    mt = morph.add_argument_group("inputs")
    mt.add_argument("--tables", required=True, nargs="+", type=Path, help="per-object morphology CSV per method")
    mt.add_argument("--names", nargs="+", help="method names (default: file stems)")
    mt.add_argument("--features", nargs="+", required=True, help="feature columns to compare")
    mt.add_argument("--correction", choices=CORRECTIONS, default="holm",
                    help="multiple-testing correction over the table: holm or bh (default holm)")
    morph.add_argument("--out", required=True, type=Path, help="output folder")


def write_outputs(out: Path, outputs: Outputs) -> None:
    for name, table in outputs.tables.items():
        write_csv(Path(out) / name, table)
    for name, summary in outputs.summaries.items():
        write_json(Path(out) / name, summary)


def _bootstrap(args) -> Bootstrap:
    return Bootstrap(n_boot=args.n_boot, level=args.level, seed=args.seed)


def run_tables(args) -> Outputs:
    return analyses.error_tables(
        args.per_image, args.per_object, id_col=args.id_col, count_col=args.count_col, score_col=args.score_col,
        group_col=args.group_col, fn_col=args.fn_col, fp_col=args.fp_col, area_col=args.area_col,
        iou_col=args.iou_col, size_edges=args.size_edges, n_bins=args.n_bins, iou_threshold=args.iou_threshold,
        bootstrap=_bootstrap(args))


def run_label_noise(args) -> Outputs:
    return analyses.label_noise(args.manifest, args.pred_dirs, args.model_names, min_agree=args.min_agree,
                                ids=args.ids, bootstrap=_bootstrap(args))


def run_artifacts(args) -> Outputs:
    return analyses.artifacts(args.manifest, args.pred_dir, ids=args.ids, bootstrap=_bootstrap(args))


def run_morphology(args) -> Outputs:
    return analyses.morphology(args.tables, args.features, args.names, correction=args.correction)


def run_error_curve(args) -> Outputs:
    return analyses.error_curve(args.manifest, args.prob_dir, ids=args.ids, truth=args.truth,
                                thresholds=args.thresholds)


def run_all(args) -> None:
    """``tables``, ``artifacts`` and ``error-curve`` of one evaluation with their defaults, in this
    process (what the workflow's attribute_run calls: one start-up instead of three)."""
    ids_file = args.prob_dir / "ids.txt"
    if not ids_file.is_file():
        raise NucflowError(f"{ids_file}: not found (the predict step writes it)")
    ids = ids_file.read_text().split()
    bootstrap = Bootstrap(seed=args.seed)
    tables = analyses.error_tables(args.per_image, args.per_object, bootstrap=bootstrap)
    if analyses.has_artifact_masks(args.manifest, ids):
        found = analyses.artifacts(args.manifest, args.prob_dir, ids=ids, bootstrap=bootstrap)
    else:  # data without artifact masks (real plates): nothing to attribute to artifacts
        print(f"{args.manifest}: no artifact masks; the artifact analysis is skipped")
        found = Outputs()
    curve = analyses.error_curve(args.manifest, args.prob_dir, ids=ids, truth=args.truth)
    write_outputs(args.tables_out, tables)
    Path(args.artifacts_out).mkdir(parents=True, exist_ok=True)
    write_outputs(args.artifacts_out, found)
    write_outputs(args.tables_out, curve)


def run_claims(args):
    """claims.csv from the result tables (see :mod:`nucflow.report.claims`)."""
    from nucflow.report.claims import VERDICTS, write_claims  # imports pandas and nucflow.results

    check_results_folder(args.results, args.n_boot)
    table = write_claims(args.results, args.out, n_boot=args.n_boot, seed=args.seed)
    counts = table["verdict"].value_counts()
    print(f"wrote {args.out}: {len(table)} rows, " + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS))
    return table


ANALYSES = {"tables": run_tables, "error-curve": run_error_curve, "label-noise": run_label_noise,
            "artifacts": run_artifacts, "morphology": run_morphology}


def run(args: argparse.Namespace) -> int:
    if args.analysis == "run":
        run_all(args)
    elif args.analysis == "claims":
        run_claims(args)
    elif args.analysis == "targets":
        from nucflow.io import write_csv
        from nucflow.report.targets import check_targets

        table = check_targets(args.results)
        write_csv(args.out, table)
        missed = table[~table["met"]]
        print(f"wrote {args.out}: {len(table)} checks, {len(missed)} missed"
              + "".join(f"\n  missed {r.target}: {r.subject} ({r.value}) {r.note}" for r in missed.itertuples()))
    else:
        write_outputs(args.out, ANALYSES[args.analysis](args))
    return 0
