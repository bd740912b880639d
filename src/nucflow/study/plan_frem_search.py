"""The ``frem_search`` arm's plan: the base run every trial of a FREM search trains (one search per
fold), the search's settings for ``nucflow frem-search``, and the comparison runs (FREM off, the
searched FREM, squeeze-and-excitation, channel dropout) whose B and X come from the search's
``best.json`` when their ``run.json`` is written."""

from __future__ import annotations

from nucflow.study.layout import EvalSet
from nucflow.study.plan_common import arm_seeds, base_run, folds, model_settings
from nucflow.study.run import Run
from nucflow.study.run_ids import FremSearchId


def frem_search_run(config: dict, fold: int | None = None) -> Run:
    """The base run of the FREM search of ``fold``: what every trial trains, with the trial's FREM
    setting, on the arm's data set (validated on the fold's val split). The search itself is seeded
    with the study seed."""
    arm = config["arms"]["frem_search"]
    search = frem_search_name(config, fold)
    return base_run(config, "frem_search", arm["model"], arm["dataset"], arm["modality"], arm["planes"], config["seed"],
                 f"frem_search-{search}", fold, variant="search")


def frem_search_name(config: dict, fold: int | None = None) -> str:
    """The name of the config's FREM search of ``fold`` (``unet-bf-seven_lines``, ``...-f1`` in a
    study with folds): its results folder."""
    arm = config["arms"]["frem_search"]
    return FremSearchId(arm["model"], "frem", arm["modality"], arm["dataset"], config["seed"], fold).search


def frem_search_settings(config: dict) -> dict:
    """The ``--settings-json`` of ``nucflow frem-search``: the arm's search keys."""
    arm = config["arms"]["frem_search"]
    return {"n_trials": arm["n_trials"], "channels": [arm["channels"]["min"], arm["channels"]["max"]],
            "factor": [arm["factor"]["min"], arm["factor"]["max"]], "seed": config["seed"],
            "max_epochs": arm["max_epochs"], "pruning": arm["pruning"]["enabled"],
            "pruner_startup_trials": arm["pruning"]["startup_trials"],
            "pruner_warmup_epochs": arm["pruning"]["warmup_epochs"]}


def frem_search_runs(config: dict) -> list[Run]:
    """The setting the FREM search chose (``frem``, read from its ``best.json`` when ``run.json`` is
    written) against FREM off, a squeeze-and-excitation block and channel dropout at rate B/C (B
    from the same ``best.json``) at FREM's place, each with the arm's replicate seeds."""
    arm = config["arms"]["frem_search"]
    model, dataset, modality = arm["model"], arm["dataset"], arm["modality"]
    base_options = model_settings(config, model)[2]
    runs = []
    for variant in arm["variants"]:
        for seed, fold in ((s, f) for s in arm_seeds(config, arm) for f in folds(config)):
            search = frem_search_name(config, fold)  # each fold's runs take its own search's choice
            fields: dict = {}
            if variant == "frem":
                fields["frem_from"] = search
            elif variant == "se":
                fields["model_options"] = {**base_options,
                                           "deep_block": {"kind": "se", "reduction": arm["se_reduction"]}}
            elif variant == "dropout":
                fields.update(model_options={**base_options, "deep_block": {"kind": "dropout"}}, frem_from=search)
            run_id = FremSearchId(model, variant, modality, dataset, seed, fold).key
            runs.append(base_run(config, "frem_search", model, dataset, modality, arm["planes"], seed, run_id, fold,
                              variant=variant, eval_sets=(EvalSet(dataset, "test", fold=fold).text,), **fields))
    return runs
