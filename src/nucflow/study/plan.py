"""The study as a plan: config -> one row per training run.

:func:`plan` expands the ``arms`` section of a validated config into a DataFrame whose rows are
:class:`Run` records. The Snakefile takes its wildcards from it; ``nucflow plan`` prints it and
writes ``results/plan.csv``. Run ids are stable and readable, e.g.
``model_comparison-unet-bf-seven_lines-s0``, so a result's path says what it is.

Each run (:class:`~nucflow.study.run.Run`) names the tile sets it trains and validates on as
tile selections (``train``, ``train-n16-linesA549``, ``train-exHepG2`` …) and the image sets it is
scored on as evaluation sets (``dataset:split[:selection]``); both are the names of
:mod:`nucflow.study.layout`.
"""

from __future__ import annotations

import dataclasses
import json

import pandas as pd

from nucflow.errors import NucflowError
from nucflow.postprocess.registry import methods_reading
from nucflow.study.layout import LAYOUT, EvalSet, FocalRunId, TileSelection
from nucflow.study.plan_common import arm_seeds, base_run, check_lines, folds, model_settings
from nucflow.study.plan_frem_search import (frem_search_name, frem_search_run,  # noqa: F401 (the plan's interface)
                                            frem_search_runs, frem_search_settings)
from nucflow.study.run import Run
from nucflow.study.run_ids import ComparisonId, DataSizeId, LrFindId, SmoothingId, TransferId, VariantId
from nucflow.training.config import RunConfig

def _model_comparison(config: dict) -> list[Run]:
    arm = config["arms"]["model_comparison"]
    runs = []
    for dataset in arm["datasets"]:
        for modality in arm["modalities"]:
            for model in arm["models"]:
                for seed in arm_seeds(config, arm):
                    for fold in folds(config):
                        run_id = ComparisonId(model, modality, dataset, seed, fold).key
                        runs.append(base_run(config, "model_comparison", model, dataset, modality, arm["planes"], seed,
                                          run_id, fold, eval_sets=(EvalSet(dataset, "test", fold=fold).text,)))
    return runs


def _data_size(config: dict) -> list[Run]:
    """Nested subsets of one line's training images x {plain, label smoothing, augmentation}.

    The smooth variant takes each model's best factor from the smoothing arm when that arm covers
    the model (``smoothing_from``), else ``arms.data_size.smoothing``.
    """
    arm = config["arms"]["data_size"]
    smoothing_arm = config["arms"]["smoothing"]
    tuned = set(smoothing_arm["models"]) if smoothing_arm["enabled"] else set()
    line, dataset, modality = arm["line"], arm["dataset"], arm["modality"]
    check_lines(config, dataset, [line], "arms.data_size.line")
    runs = []
    for model in arm["models"]:
        for n in arm["sizes"]:
            for variant in arm["variants"]:
                for seed, fold in ((s, f) for s in arm_seeds(config, arm) for f in folds(config)):
                    run_id = DataSizeId(model, modality, line, int(n), variant, seed, fold).key
                    fields = {}
                    if variant == "smooth":
                        fields = dict(loss="bce_smooth", smoothing=float(arm["smoothing"]),
                                      smoothing_from="smoothing" if model in tuned else "")
                    runs.append(base_run(config, "data_size", model, dataset, modality, arm["planes"], seed, run_id,
                                      fold, variant=variant, n_train=int(n), augment=variant == "aug",
                                      train_selection=TileSelection("train", n=n, lines=(line,), fold=fold).key,
                                      val_selection=TileSelection("val", lines=(line,), fold=fold).key,
                                      eval_sets=(EvalSet(dataset, "test", lines=(line,), fold=fold).text,), **fields))
    return runs


def _smoothing(config: dict) -> list[Run]:
    """The label-smoothing grid; factors are chosen on validation images (``select_sets``)."""
    arm = config["arms"]["smoothing"]
    dataset, modality = arm["dataset"], arm["modality"]
    runs = []
    for model in arm["models"]:
        for factor in arm["factors"]:
            for seed, fold in ((s, f) for s in arm_seeds(config, arm) for f in folds(config)):
                run_id = SmoothingId(model, modality, dataset, float(factor), seed, fold).key
                runs.append(base_run(config, "smoothing", model, dataset, modality, arm["planes"], seed, run_id, fold,
                                  variant="smooth", loss="bce_smooth", smoothing=float(factor),
                                  eval_sets=(EvalSet(dataset, "test", fold=fold).text,),
                                  select_sets=(EvalSet(dataset, "val", fold=fold).text,)))
    return runs


def _ablation(config: dict) -> list[Run]:
    """Each model as configured (variant ``plain``) and with each of its ablation option sets."""
    arm = config["arms"]["ablation"]
    dataset, modality = arm["dataset"], arm["modality"]
    runs = []
    for model, variants in arm["variants"].items():
        for variant, options in {"plain": {}, **variants}.items():
            for seed, fold in ((s, f) for s in arm_seeds(config, arm) for f in folds(config)):
                base_options = model_settings(config, model)[2]
                run_id = VariantId("ablation", model, variant, modality, dataset, seed, fold).key
                runs.append(base_run(config, "ablation", model, dataset, modality, arm["planes"], seed, run_id, fold,
                                  variant=variant, model_options={**base_options, **options},
                                  eval_sets=(EvalSet(dataset, "test", fold=fold).text,)))
    return runs


def _transfer_scenarios(config: dict, arm: dict, fold: int | None) -> list[dict]:
    """The transfer scenarios of one fold: (transfer, target, source / target data set, selections...)."""
    scenarios = []
    if arm["lolo"]["enabled"]:
        dataset = arm["lolo"]["dataset"]
        # the held-out line's own images (fine-tuning and scoring) may come from a second data set
        # of the same instrument: more of its fields without changing the source data set
        target_dataset = arm["lolo"]["target_dataset"] or dataset
        lines = arm["lolo"]["lines"] or config["simulation"]["datasets"].get(dataset, {}).get("lines", [])
        if not lines:
            raise NucflowError(f"arms.transfer.lolo: list the held-out lines of data set {dataset!r}")
        check_lines(config, dataset, lines, "arms.transfer.lolo.lines")
        check_lines(config, target_dataset, lines, "arms.transfer.lolo.lines (target_dataset)")
        for line in lines:
            scenarios.append(dict(
                transfer="lolo", target=line, name=f"lolo{line}", source_dataset=dataset,
                target_dataset=target_dataset,
                source_train=TileSelection("train", exclude_lines=(line,), fold=fold).key,
                source_val=TileSelection("val", exclude_lines=(line,), fold=fold).key,
                source_test=EvalSet(dataset, "test", exclude_lines=(line,), fold=fold).text,
                target_train=lambda n, line=line: TileSelection("train", n=n, lines=(line,), fold=fold).key,
                target_val=TileSelection("val", lines=(line,), fold=fold).key,
                target_test=EvalSet(target_dataset, "test", lines=(line,), fold=fold).text,
                extra=lambda n, line=line: TileSelection("train", n=n, exclude_lines=(line,), fold=fold).key))
    for pair in arm["cross"]:
        source, target = pair["source"], pair["target"]
        scenarios.append(dict(transfer=f"{source}_to_{target}", target=target, name=f"{source}_to_{target}",
                              source_dataset=source, target_dataset=target,
                              source_train=TileSelection("train", fold=fold).key,
                              source_val=TileSelection("val", fold=fold).key,
                              source_test=EvalSet(source, "test", fold=fold).text,
                              target_train=lambda n: TileSelection("train", n=n, fold=fold).key,
                              target_val=TileSelection("val", fold=fold).key,
                              target_test=EvalSet(target, "test", fold=fold).text,
                              extra=lambda n: TileSelection("train", n=n, fold=fold).key))
    return scenarios


def _transfer(config: dict) -> list[Run]:
    """Leave-one-line-out and cross-data-set transfer: a source model per scenario, scored on the
    target and source test sets as it is, then fine-tuned on n target images (target only, or
    target + the same number of source images) and scored again on both. With folds, fold f of
    the source and of the target data set go together."""
    arm = config["arms"]["transfer"]
    model, modality, planes = arm["model"], arm["modality"], arm["planes"]
    finetune = {k: v for k, v in arm["finetune"].items() if v is not None}
    runs = []
    for fold in folds(config):
        for sc in _transfer_scenarios(config, arm, fold):
            evals = dict(eval_sets=(sc["target_test"], sc["source_test"]), eval_roles=("target", "source"))
            for seed in arm_seeds(config, arm):
                source_id = TransferId(model, modality, sc["name"], seed, fold=fold).key
                source_run = base_run(config, "transfer", model, sc["source_dataset"], modality, planes, seed, source_id,
                                   fold, variant="source", transfer=sc["transfer"], target=sc["target"],
                                   train_selection=sc["source_train"], val_selection=sc["source_val"], **evals)
                runs.append(source_run)
                for mode in arm["modes"]:
                    for n in arm["sizes"]:
                        extra = ()
                        if mode == "target+source":
                            extra = (source_run.tiles(sc["extra"](n)),)
                        runs.append(base_run(
                            config, "transfer", model, sc["target_dataset"], modality, planes, seed,
                            TransferId(model, modality, sc["name"], seed, mode, int(n), fold).key, fold,
                            variant=mode, transfer=sc["transfer"], target=sc["target"], n_train=int(n),
                            train_selection=sc["target_train"](n), val_selection=sc["target_val"],
                            extra_train=extra, init_from=LAYOUT.model(source_id), training=finetune,
                            lr_source="fixed", **evals))
    return runs


def focal_run(config: dict, model: str, seed: int, order: tuple[int, ...], fold: int | None = None) -> Run:
    """The focal-plane run whose distinct input planes are ``order`` (the last one is the candidate
    of its round), cycled to fill ``arms.focal_planes.channels`` input channels."""
    arm = config["arms"]["focal_planes"]
    dataset, channels = arm["dataset"], arm["channels"]
    planes = tuple(order[i % len(order)] for i in range(channels))
    run_id = FocalRunId(model, dataset, tuple(order), seed, fold).key
    return base_run(config, "focal_planes", model, dataset, "brightfield", planes, seed, run_id, fold,
                 variant=f"round{len(order)}", focal_round=len(order),
                 eval_sets=(EvalSet(dataset, "test", fold=fold).text,),
                 select_sets=(EvalSet(dataset, "val", fold=fold).text,))


def focal_candidates(config: dict, model: str, seed: int, chosen: tuple[int, ...],
                     fold: int | None = None) -> list[Run]:
    """Runs of the round after ``chosen``: one per remaining candidate plane."""
    arm = config["arms"]["focal_planes"]
    return [focal_run(config, model, seed, (*chosen, p), fold) for p in arm["candidates"] if p not in chosen]


def focal_groups(config: dict) -> list[tuple[str, int, int | None]]:
    """(model, seed, fold) of every greedy focal-plane search (one search per fold)."""
    arm = config["arms"]["focal_planes"]
    return [(model, seed, fold) for model in arm["models"] for seed in arm_seeds(config, arm) for fold in folds(config)]


def focal_run_from_id(config: dict, run_id: str) -> Run | None:
    """Rebuild a focal-plane run of round >= 2 (not in the static plan) from its id, or None."""
    focal = FocalRunId.parse(run_id)
    if focal is None or not config["arms"]["focal_planes"]["enabled"]:
        return None
    run = focal_run(config, focal.model, focal.seed, focal.order, focal.fold)
    return run if run.run_id == run_id else None


def _focal_planes(config: dict) -> list[Run]:
    """Round 1 of the greedy focal-plane search (later rounds depend on results: Snakemake checkpoint)."""
    arm = config["arms"]["focal_planes"]
    if arm["rounds"] > len(arm["candidates"]):
        raise NucflowError(f"arms.focal_planes: {arm['rounds']} rounds need at least as many candidate planes, "
                           f"got {len(arm['candidates'])}")
    n_planes = config["simulation"]["n_planes"] if config["data"]["source"] == "simulated" else None
    if n_planes is not None and max(arm["candidates"]) >= n_planes:
        raise NucflowError(f"arms.focal_planes.candidates: plane {max(arm['candidates'])} does not exist "
                           f"(the simulated stacks have {n_planes} planes, 0-{n_planes - 1})")
    return [run for model, seed, fold in focal_groups(config) for run in focal_candidates(config, model, seed, (), fold)]


def _extensions(config: dict) -> list[Run]:
    """FREM, foreground normalisation and the alternative losses, each against one baseline; the
    baseline's probability maps also go through every instance method."""
    arm = config["arms"]["extensions"]
    model, dataset, modality = arm["model"], arm["dataset"], arm["modality"]
    runs = []
    for variant in arm["variants"]:
        fields: dict = {}
        if variant == "frem":
            fields["frem"] = dict(arm["frem"])
        elif variant == "foreground":
            fields["normalisation"] = "foreground"
        elif variant in ("bce_dice", "bce_weighted", "three_class"):
            fields["loss"] = variant
        three_class_methods = methods_reading("three_class")
        if variant == "baseline":
            fields["methods"] = tuple(m for m in arm["methods"] if m not in three_class_methods)
        elif variant == "three_class":
            fields["methods"] = tuple(m for m in arm["methods"] if m in three_class_methods)
        for seed, fold in ((s, f) for s in arm_seeds(config, arm) for f in folds(config)):
            run_id = VariantId("extensions", model, variant, modality, dataset, seed, fold).key
            runs.append(base_run(config, "extensions", model, dataset, modality, arm["planes"], seed, run_id, fold,
                              variant=variant, eval_sets=(EvalSet(dataset, "test", fold=fold).text,), **fields))
    return runs


ARMS = {"model_comparison": _model_comparison, "data_size": _data_size, "smoothing": _smoothing,
        "ablation": _ablation, "transfer": _transfer, "focal_planes": _focal_planes, "extensions": _extensions,
        "frem_search": frem_search_runs}


def lr_find_keys(config: dict, runs: list[Run] | None = None) -> list[tuple[str, str]]:
    """(model, modality) of every learning-rate range test: the lr_range arm's grid, plus every
    (model, modality) of a run whose rate comes from a range test. ``runs``: the plan already
    built from ``config`` (built here when not given)."""
    keys = []
    arm = config["arms"]["lr_range"]
    if arm["enabled"]:
        keys += [(m, mod) for m in arm["models"] for mod in arm["modalities"]]
    runs = plan_runs(config) if runs is None else runs
    keys += [(r.model, r.modality) for r in runs if r.lr_source == "lr_find"]
    return list(dict.fromkeys(keys))


def lr_find_run(config: dict, model: str, modality: str) -> Run:
    """The run whose settings a range test uses (lr_range arm's data set and planes); with folds it
    sweeps on fold 0's training images: one rate per model and modality serves every fold (the
    test only reads the training loss)."""
    arm = config["arms"]["lr_range"]
    return base_run(config, "lr_range", model, arm["dataset"], modality, arm["planes"], config["seed"],
                 LrFindId(model, modality).key, folds(config)[0])


#: Settings a range test does not read (it sweeps the rate over ``num_steps`` steps of one epoch and
#: never validates): left out of its run.json, so that changing them, the step cap say, does not
#: rerun the range tests.
NOT_READ_BY_RANGE_TEST = ("lr", "max_epochs", "steps_per_epoch", "lr_patience", "lr_factor", "stop_patience",
                          "degenerate_restarts", "val_max_tiles")


def lr_find_config(config: dict, model: str, modality: str) -> dict:
    """The ``run.json`` content of the range test of ``model`` x ``modality``: :func:`run_config`
    of :func:`lr_find_run` without :data:`NOT_READ_BY_RANGE_TEST`."""
    content = run_config(config, lr_find_run(config, model, modality))
    return {key: value for key, value in content.items() if key not in NOT_READ_BY_RANGE_TEST}


def plan_runs(config: dict) -> list[Run]:
    """All runs of the enabled arms, in a stable order. ``config`` must be validated."""
    runs: list[Run] = []
    for name, builder in ARMS.items():
        if config["arms"][name]["enabled"]:
            runs += builder(config)
    datasets = set(config["simulation"]["datasets"]) if config["data"]["source"] == "simulated" else None
    for run in runs:
        if datasets is not None and run.dataset not in datasets:
            raise NucflowError(f"arm {run.arm}: data set {run.dataset!r} is not simulated (have: {', '.join(sorted(datasets))})")
    ids = [r.run_id for r in runs]
    if len(ids) != len(set(ids)):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise NucflowError(f"the plan has duplicate run ids: {', '.join(dupes[:3])}")
    return _reuse_identical(config, runs)


def _training_key(config: dict, run: Run) -> str:
    """What determines a run's trained model: its ``run.json`` without the names, plus the results
    its settings are taken from."""
    settings = run_config(config, run)
    for key in ("run_id", "out_dir"):
        settings.pop(key)
    settings.update(lr_source=run.lr_source, smoothing_from=run.smoothing_from)
    if run.frem_from:  # left out while empty: the keys of earlier plans stay what they were
        settings["frem_from"] = run.frem_from
    return json.dumps(settings, sort_keys=True)


def _reuse_identical(config: dict, runs: list[Run]) -> list[Run]:
    """Mark each run that would train the same model as an earlier run as ``same_as`` that run."""
    first: dict[str, str] = {}
    out = []
    for run in runs:
        key = _training_key(config, run)
        if key in first:
            run = dataclasses.replace(run, same_as=first[key])
        else:
            first[key] = run.run_id
        out.append(run)
    return out


def evaluation_methods(runs: list[Run], run_id: str) -> tuple[str, ...]:
    """Instance methods applied to a run's maps: its own and those of the runs that reuse it."""
    methods = [m for r in runs if r.source_id == run_id for m in r.methods]
    return tuple(dict.fromkeys(methods))


def plan(config: dict) -> pd.DataFrame:
    """The plan as a table, one row per run (columns = :class:`Run` fields)."""
    runs = plan_runs(config)
    columns = [f.name for f in dataclasses.fields(Run)] + ["in_channels"]
    return pd.DataFrame([r.as_row() for r in runs], columns=columns)


#: RunConfig fields the study leaves at their defaults; run_config leaves them out, so the JSON a
#: run_config job is given (a Snakemake parameter: a change reruns the run) is what it always was
NOT_PLANNED = ("lr_factor", "num_workers")
#: RunConfig fields added later: run_config leaves them out while they have their default, so
#: that studies begun before they existed do not rerun
LEFT_OUT_AT_DEFAULT = ("degenerate_restarts", "devices", "strategy", "logger")


def run_config(config: dict, run: Run, *, lr: float | None = None, smoothing: float | None = None) -> dict:
    """The ``run.json`` content of one run, as the workflow passes it to ``nucflow run-config``:
    :meth:`Run.to_run_config` as a dict, without the fields of :data:`NOT_PLANNED` and those of
    :data:`LEFT_OUT_AT_DEFAULT` that have their default.

    ``lr`` (from a range test) and ``smoothing`` (the smoothing arm's best factor) are filled in by
    the workflow when the run takes them from other results.
    """
    settings = run.to_run_config(config, lr=lr, smoothing=smoothing).to_dict()
    defaults = RunConfig.defaults()
    return {key: value for key, value in settings.items() if key not in NOT_PLANNED
            and not (key in LEFT_OUT_AT_DEFAULT and value == defaults[key])}
