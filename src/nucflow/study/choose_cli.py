"""``nucflow choose {smoothing,focal-round,focal-greedy}``: choices made from validation results.

    nucflow choose smoothing --runs JSON --summaries S... --out best.json
    nucflow choose focal-round --round K --summaries S... --out DIR       (DIR/choice.json)
    nucflow choose focal-greedy --rounds DIR... --out greedy.csv
    nucflow choose method --plan-config results/config/study.json --run RUN_DIR --manifest M --splits S \
        --eval-set seven_lines:val --out-table choice.csv [--out-images per_image.csv]   (RUN_DIR/instance_method.json)
    nucflow choose method-table --tables choice.csv... --out method_choice.csv
"""

from __future__ import annotations

import json
from pathlib import Path

from nucflow.errors import NucflowError
from nucflow.io import read_json, write_csv, write_json
from nucflow.study.layout import FocalGroup


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="what", required=True)
    smoothing = sub.add_parser("smoothing", help="best label-smoothing factor per model")
    smoothing.add_argument("--runs", required=True,
                           help='the smoothing runs as JSON, {"RUN_ID": {"model": "unet", "factor": 0.1[, "fold": 1]}, ...} '
                                "(the workflow passes its plan's)")
    smoothing.add_argument("--summaries", nargs="+", required=True, type=Path, help="validation summary.json files")
    smoothing.add_argument("--out", required=True, help="best.json to write")
    focal = sub.add_parser("focal-round", help="the plane one greedy round adds")
    focal.add_argument("--round", type=int, required=True)
    focal.add_argument("--summaries", nargs="+", required=True, type=Path, help="validation summary.json files")
    focal.add_argument("--out", required=True, type=Path, help="folder for choice.json")
    greedy = sub.add_parser("focal-greedy", help="the rounds' choices as one table")
    greedy.add_argument("--rounds", nargs="+", required=True, type=Path, help="round folders (choice.json)")
    greedy.add_argument("--out", required=True, help="greedy.csv to write")
    method = sub.add_parser("method", help="score a model's instance methods on labelled images; "
                            "with --record, record the best as the model's method")
    method.add_argument("--run", required=True, type=Path, help="run folder (run.json + model.pt)")
    method.add_argument("--manifest", required=True, help="manifest.csv of labelled images")
    method.add_argument("--splits", help="splits.json; with --eval-set, score only those images")
    method.add_argument("--eval-set", help="e.g. seven_lines:val (default: every image of the manifest in the "
                                            "model's modality)")
    method.add_argument("--plan-config", help="study config (results/config/study.json): the candidates are its "
                        "extensions arm's methods that read one probability map, with its postprocess.params, "
                        "and its evaluation.truth")
    method.add_argument("--methods", nargs="+", help="candidates without --plan-config (default: published "
                                                     "watershed seeded, default parameters)")
    method.add_argument("--truth", help="manifest column of the truth (default: the study's, else labels)")
    method.add_argument("--rescale", action="store_true",
                        help="bring each image to the model's training pixel size first, as nucflow predict does")
    method.add_argument("--out-table", required=True, type=Path, help="one row per candidate method (CSV)")
    method.add_argument("--out-images", type=Path, help="per-image scores of every candidate (CSV)")
    method.add_argument("--record", type=Path, help="record the best method here (the study writes "
                        "RUN/instance_method.json, which nucflow predict and nucflow export read)")
    how = method.add_argument_group("inference (as nucflow predict)")
    how.add_argument("--overlap", type=float)
    how.add_argument("--batch-size", type=int)
    how.add_argument("--tta", action="store_true")
    how.add_argument("--window", type=int)
    how.add_argument("--threads", type=int)
    how.add_argument("--device")
    how.add_argument("--precision", choices=("auto", "32-true", "bf16-mixed"), default="auto")
    how.add_argument("--bf16", action="store_true")
    how.add_argument("--channels-last", action="store_true", default=None)
    table = sub.add_parser("method-table", help="the choices of several runs as one table")
    table.add_argument("--tables", nargs="+", required=True, type=Path, help="choice tables of nucflow choose method")
    table.add_argument("--out", required=True, help="method_choice.csv to write")


def _smoothing_runs(args) -> dict[str, tuple[str, float]]:
    """run id -> (model, factor) of the smoothing runs given as ``--runs`` JSON; a run with a
    ``fold`` (a study with folds) is chosen for as ``<model>-f<fold>``, so each fold gets its own
    factor from its own validation images."""
    from nucflow.study.layout import fold_suffix

    try:
        given = json.loads(args.runs)
        return {str(run_id): (str(run["model"]) + fold_suffix(None if run.get("fold") is None else int(run["fold"])),
                              float(run["factor"])) for run_id, run in given.items()}
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        raise NucflowError('--runs: expected a JSON object {"RUN_ID": {"model": NAME, "factor": NUMBER}, ...}, '
                           f"got {args.runs[:80]!r}") from None


def run(args) -> int:
    from nucflow.study import choose

    if args.what == "smoothing":
        best = choose.best_smoothing(args.summaries, _smoothing_runs(args))
        write_json(args.out, best)
        print(", ".join(f"{m}: {f:g}" for m, f in best.items()))
    elif args.what == "focal-round":
        choice = choose.focal_round(args.round, args.summaries)
        write_json(args.out / "choice.json", choice)
        print(f"round {args.round}: plane {choice['added_plane']} (order {choice['order']}, {choice['metric']} {choice['score']})")
    elif args.what == "method":
        return choose_method(args)
    elif args.what == "method-table":
        import pandas as pd

        write_csv(args.out, pd.concat([pd.read_csv(path) for path in args.tables], ignore_index=True))
        print(f"{args.out}: {len(args.tables)} runs")
    else:
        choices = []
        for folder in args.rounds:
            path = folder / "choice.json"
            choices.append(read_json(path))
            FocalGroup.round_of(folder)
        table = choose.focal_greedy(choices)
        write_csv(args.out, table)
        print(table.to_string(index=False))
    return 0


def choose_method(args) -> int:
    from nucflow.data.manifest import load_manifest
    from nucflow.inference.model_spec import FOREGROUND_METHODS
    from nucflow.inference.predict_cli import eval_set_ids, settings_from
    from nucflow.study import method_choice
    from nucflow.training.config import RunConfig

    if bool(args.splits) != bool(args.eval_set):
        raise NucflowError("--splits and --eval-set go together")
    if args.plan_config and args.methods:
        raise NucflowError("give --plan-config or --methods, not both")
    truth = args.truth or "labels"
    if args.plan_config:
        from nucflow.config import load_config

        config = load_config(args.plan_config)
        methods = method_choice.study_methods(config)
        truth = args.truth or config["evaluation"]["truth"]
    else:
        methods = {m: {} for m in args.methods or FOREGROUND_METHODS}
        method_choice.check_methods(methods)
    run = RunConfig.from_json(args.run / "run.json")
    settings = settings_from(args)
    manifest = load_manifest(args.manifest, check_files=False)
    if args.eval_set:
        ids = eval_set_ids(read_json(args.splits), manifest.frame, args.eval_set)
        images = args.eval_set
    else:
        ids = [i for i in manifest.frame["image_id"].astype(str) if manifest.file(i, run.modality) is not None]
        images = f"{args.manifest} ({run.modality})"
    table, per_image = method_choice.score_methods(args.run, manifest, ids, methods, settings, truth=truth,
                                                   window=args.window, label=args.manifest, rescale=args.rescale)
    chosen = method_choice.record(table, methods, images)
    table.insert(0, "run_id", run.run_id)
    for position, key in enumerate(("model", "modality", "seed"), start=1):
        table.insert(position, key, getattr(run, key))
    table.insert(4, "eval_set", images)
    table["chosen"] = table["method"] == chosen["method"]
    write_csv(args.out_table, table)
    if args.out_images:
        write_csv(args.out_images, per_image)
    if args.record:
        write_json(args.record, chosen)
    scores = ", ".join(f"{m} {v:.3f}" if v is not None else f"{m} n/a" for m, v in chosen["scores"].items())
    print(f"{run.run_id}: best {chosen['method']} (object F1 at IoU 0.5 on {len(ids)} images: {scores})"
          + (f"; recorded in {args.record}" if args.record else ""))
    return 0
