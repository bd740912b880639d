"""One training run of the study (:class:`Run`): its settings, tile sets and evaluation sets.

:mod:`nucflow.study.plan` expands a config into these records; the workflow reads its wildcards
and file names from them. Tile selections and evaluation sets are the names of
:mod:`nucflow.study.layout`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from nucflow.study.layout import LAYOUT, PlaneSet, TileSelection
from nucflow.study.plan_table import LIST_COLUMNS, encode_list
from nucflow.training.config import RunConfig


@dataclass(frozen=True)
class Run:
    """One training run of the study.

    ``eval_sets`` are scored and reported (``dataset:split[:Line+Line | :exLine]``) with
    ``eval_roles`` naming each one's role (``target`` / ``source`` in the transfer arm, else ``""``);
    ``select_sets`` are scored only to choose between runs (validation images: the smoothing
    factor, the next focal plane) and never enter the reported tables.

    ``frem_from`` names the FREM search (:attr:`FremSearchId.search`) whose ``best.json`` gives the
    run its FREM ``B`` and ``X`` (or, with a channel-dropout block, its ``B``) when ``run.json`` is
    written.

    ``fold`` is the run's 0-based cross-validation fold (``splits.folds``; 0 in a study with one
    split); its tile selections and evaluation sets name the fold when the study has folds.

    ``same_as`` names an earlier run of the plan that trains exactly this model (same settings, same
    data, same seed): the run is not trained again, its evaluations are read from that run's folder
    and tagged with this run's arm and variant (the ablation's "plain" variants and the extensions
    baseline are model-comparison runs).
    """

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
    smoothing_from: str = ""
    frem_from: str = ""
    seed: int = 0
    fold: int = 0
    train_selection: str = "train"
    val_selection: str = "val"
    augment: bool = False
    extra_train: tuple[str, ...] = ()
    init_from: str | None = None
    lr_source: str = "fixed"
    n_train: int = 0
    transfer: str = ""
    target: str = ""
    focal_round: int = 0
    frem: dict | None = None
    normalisation: str = "percentile"
    training: dict = field(default_factory=dict)
    eval_sets: tuple[str, ...] = ()
    eval_roles: tuple[str, ...] = ()
    select_sets: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    same_as: str = ""

    @property
    def plane_set(self) -> PlaneSet:
        return PlaneSet(() if self.modality == "fluorescence" else tuple(self.planes))

    @property
    def planes_key(self) -> str:
        """The ``{planes}`` wildcard: ``none`` for fluorescence, else dot-separated plane numbers."""
        return self.plane_set.key

    @property
    def plane_order(self) -> str:
        """Distinct planes in input order (``4.2`` for the 9-channel input 4,2,4,2,...)."""
        return self.plane_set.order().key

    @property
    def source_id(self) -> str:
        """The run whose folder holds this run's model and results (itself unless ``same_as``)."""
        return self.same_as or self.run_id

    @property
    def in_channels(self) -> int:
        return 1 if self.modality == "fluorescence" else len(self.planes)

    def tiles(self, selection: str, augmented: bool = False) -> str:
        suffix = ".aug.npz" if augmented else ".npz"
        if self.normalisation == "foreground":
            selection = TileSelection.parse(selection).with_foreground().key
        return LAYOUT.tiles(self.dataset, self.modality, self.planes_key, selection, suffix)

    @property
    def train_tiles(self) -> list[str]:
        return [self.tiles(self.train_selection, self.augment), *self.extra_train]

    def role(self, eval_set: str) -> str:
        return dict(zip(self.eval_sets, self.eval_roles)).get(eval_set, "")

    def to_run_config(self, config: dict, *, lr: float | None = None,
                      smoothing: float | None = None) -> RunConfig:
        """The run's ``run.json``: its settings as a validated :class:`RunConfig`.

        Training settings come from ``config["training"]`` with the run's own overrides on top;
        ``lr`` (from a range test) and ``smoothing`` (the smoothing arm's best factor) replace the
        run's when the workflow takes them from other results.
        """
        training = {**config["training"], **self.training}
        return RunConfig(
            run_id=self.run_id, model=self.model, in_channels=self.in_channels, modality=self.modality,
            planes=tuple(self.planes), train_tiles=tuple(self.train_tiles),
            val_tiles=(self.tiles(self.val_selection),), batch_size=self.batch_size,
            out_dir=LAYOUT.run_dir(self.run_id), width=self.width, model_options=dict(self.model_options),
            frem=dict(self.frem) if self.frem else None, loss=self.loss,
            smoothing=float(smoothing if smoothing is not None else self.smoothing),
            lr=float(lr if lr is not None else training["lr"]), max_epochs=training["max_epochs"],
            steps_per_epoch=training["steps_per_epoch"], val_max_tiles=training["val_max_tiles"],
            lr_patience=training["lr_patience"], stop_patience=training["stop_patience"], seed=self.seed,
            init_from=self.init_from, precision=training["precision"], channels_last=training["channels_last"],
            accelerator=training["accelerator"], degenerate_restarts=training["degenerate_restarts"],
            devices=training["devices"], strategy=training["strategy"], logger=training["logger"])

    def as_row(self) -> dict:
        row = dataclasses.asdict(self)
        row["planes"] = self.plane_order
        row["in_channels"] = self.in_channels
        row["frem"] = self.frem is not None
        for key in LIST_COLUMNS:
            row[key] = encode_list(getattr(self, key))
        for key in ("model_options", "training"):
            row[key] = json.dumps(getattr(self, key), sort_keys=True) if getattr(self, key) else ""
        row["init_from"] = self.init_from or ""
        return row
