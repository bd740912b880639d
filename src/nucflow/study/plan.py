"""The study as a plan: config -> one row per training run (DESIGN.md §3).

:func:`plan` expands the ``arms`` section of a validated config into a DataFrame whose rows are
:class:`Run` records. The Snakefile takes its wildcards from it; ``nucflow plan`` prints it and
writes ``results/plan.csv``. Run ids are stable and readable, e.g.
``model_comparison-unet-bf-seven_lines-s0``, so a result's path says what it is.

Each run names the tile sets it trains and validates on as *selections* (see
``workflow/rules/common.smk``: ``train``, ``train-n16-linesA549``, ``train-exHepG2`` …) and the
image sets it is scored on as ``dataset:split[:selection]``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pandas as pd

from nucflow.errors import NucflowError

PUBLISHED_BATCH_SIZE = {"unet": 16, "unetpp": 8, "deeplabv3plus": 8, "tiramisu": 4, "ppunet": 8}
MODALITY_SHORT = {"fluorescence": "fl", "brightfield": "bf"}


@dataclass(frozen=True)
class Run:
    """One training run of the study."""

    run_id: str
    arm: str
    dataset: str
    modality: str
    planes: tuple[int, ...]
    model: str
    width: float
    batch_size: int
    model_options: dict = field(default_factory=dict)
    variant: str = "plain"
    loss: str = "bce"
    smoothing: float = 0.0
    seed: int = 0
    train_selection: str = "train"
    val_selection: str = "val"
    augment: bool = False
    init_from: str | None = None
    lr_source: str = "fixed"
    eval_sets: tuple[str, ...] = ()

    @property
    def planes_key(self) -> str:
        """The ``{planes}`` wildcard: ``none`` for fluorescence, else dot-separated plane numbers."""
        return "none" if self.modality == "fluorescence" else ".".join(map(str, self.planes))

    @property
    def in_channels(self) -> int:
        return 1 if self.modality == "fluorescence" else len(self.planes)

    def tiles(self, selection: str, augmented: bool = False) -> str:
        suffix = ".aug.npz" if augmented else ".npz"
        return f"results/tiles/{self.dataset}/{self.modality}-{self.planes_key}/{selection}{suffix}"

    def as_row(self) -> dict:
        row = dataclasses.asdict(self)
        row["planes"] = self.planes_key
        row["eval_sets"] = ";".join(self.eval_sets)
        row["model_options"] = repr(self.model_options) if self.model_options else ""
        return row


def _seeds(config: dict, arm: dict) -> list[int]:
    return list(arm.get("seeds") or config["seeds"])


def _model_settings(config: dict, model: str) -> tuple[float, int, dict]:
    settings = config["models"].get(model, {})
    width = float(settings.get("width", config["training"]["width"]))
    batch = int(settings.get("batch_size", PUBLISHED_BATCH_SIZE[model]))
    return width, batch, dict(settings.get("options", {}))


def _model_comparison(config: dict) -> list[Run]:
    arm = config["arms"]["model_comparison"]
    runs = []
    for dataset in arm["datasets"]:
        for modality in arm["modalities"]:
            planes = () if modality == "fluorescence" else tuple(arm["planes"])
            for model in arm["models"]:
                width, batch, options = _model_settings(config, model)
                for seed in _seeds(config, arm):
                    run_id = f"model_comparison-{model}-{MODALITY_SHORT[modality]}-{dataset}-s{seed}"
                    runs.append(Run(run_id=run_id, arm="model_comparison", dataset=dataset, modality=modality,
                                    planes=planes, model=model, width=width, batch_size=batch,
                                    model_options=options, seed=seed, lr_source=config["training"]["lr_from"],
                                    eval_sets=(f"{dataset}:test",)))
    return runs


ARMS = {"model_comparison": _model_comparison}


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
    return runs


def plan(config: dict) -> pd.DataFrame:
    """The plan as a table, one row per run (columns = :class:`Run` fields)."""
    runs = plan_runs(config)
    columns = [f.name for f in dataclasses.fields(Run)]
    return pd.DataFrame([r.as_row() for r in runs], columns=columns)


def run_config(config: dict, run: Run) -> dict:
    """The ``run.json`` content of one run (``nucflow.training.config.RunConfig`` fields).

    The learning rate is filled in by the workflow when it comes from a range test.
    """
    training = config["training"]
    train_tiles = [run.tiles(run.train_selection, run.augment)]
    return {
        "run_id": run.run_id,
        "model": run.model,
        "in_channels": run.in_channels,
        "modality": run.modality,
        "planes": list(run.planes),
        "train_tiles": train_tiles,
        "val_tiles": [run.tiles(run.val_selection)],
        "batch_size": run.batch_size,
        "out_dir": f"results/runs/{run.run_id}",
        "width": run.width,
        "model_options": dict(run.model_options),
        "loss": run.loss,
        "smoothing": run.smoothing,
        "lr": training["lr"],
        "max_epochs": training["max_epochs"],
        "steps_per_epoch": training["steps_per_epoch"],
        "lr_patience": training["lr_patience"],
        "stop_patience": training["stop_patience"],
        "seed": run.seed,
        "init_from": run.init_from,
        "precision": training["precision"],
        "channels_last": training["channels_last"],
        "accelerator": training["accelerator"],
    }
