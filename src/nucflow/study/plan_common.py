"""What every arm's runs are built from: the arm's seeds, the study's folds, a model's configured
settings, and :func:`base_run`, a run with those settings that the arms' plan builders
(:mod:`nucflow.study.plan`, :mod:`nucflow.study.plan_frem_search`) then specialise."""

from __future__ import annotations

from nucflow.errors import NucflowError
from nucflow.models.registry import entry
from nucflow.study.layout import TileSelection
from nucflow.study.run import Run


def arm_seeds(config: dict, arm: dict) -> list[int]:
    return list(arm.get("seeds") or config["seeds"])


def folds(config: dict) -> list[int | None]:
    """The folds every run is repeated for: ``[None]`` with one split (``splits.folds: 1``: names
    carry no fold), else ``0 .. k-1``."""
    k = int(config["splits"].get("folds", 1))
    return [None] if k == 1 else list(range(k))


def model_settings(config: dict, model: str) -> tuple[float, int, dict, str]:
    """(width, batch size, architecture options, where the learning rate comes from) of a model:
    its ``models`` entry, else the training defaults."""
    settings = config["models"].get(model, {})
    width = float(settings.get("width", config["training"]["width"]))
    batch = int(settings.get("batch_size", entry(model).published_batch_size))
    lr_from = settings.get("lr_from", config["training"]["lr_from"])
    return width, batch, dict(settings.get("options", {})), lr_from


def input_planes(modality: str, planes) -> tuple[int, ...]:
    return () if modality == "fluorescence" else tuple(planes)


def base_run(config: dict, arm: str, model: str, dataset: str, modality: str, planes, seed: int, run_id: str,
          fold: int | None = None, **fields) -> Run:
    """A run of fold ``fold`` (None: the study has one split) with the model's configured width,
    batch size and options, training on the fold's train and val images; ``fields`` override."""
    width, batch, options, lr_from = model_settings(config, model)
    settings = dict(run_id=run_id, arm=arm, dataset=dataset, modality=modality, planes=input_planes(modality, planes),
                    model=model, width=width, batch_size=batch, model_options=options, seed=seed,
                    fold=fold or 0, train_selection=TileSelection("train", fold=fold).key,
                    val_selection=TileSelection("val", fold=fold).key,
                    lr_source=lr_from, methods=(config["postprocess"]["method"],))
    settings.update(fields)
    if "eval_sets" in settings and "eval_roles" not in settings:
        settings["eval_roles"] = ("",) * len(settings["eval_sets"])
    return Run(**settings)


def check_lines(config: dict, dataset: str, lines, where: str) -> None:
    """On simulated data, every named cell line must be simulated in ``dataset``."""
    if config["data"]["source"] != "simulated" or dataset not in config["simulation"]["datasets"]:
        return
    known = config["simulation"]["datasets"][dataset]["lines"]
    unknown = [line for line in lines if line not in known]
    if unknown:
        raise NucflowError(f"{where}: cell line {unknown[0]!r} is not in data set {dataset!r} "
                           f"(have: {', '.join(known)})")
