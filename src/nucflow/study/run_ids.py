"""Run ids: one class per id family, each the only place its id is written (``key``) and read back
(``parse``).

A run id names a run's folder (``results/runs/<id>/``), its ``run.json`` and its rows in every
table, so it has to stay readable and stable: the families below are the study's arms.

=====================  ============================================================================
family                 key
=====================  ============================================================================
:class:`ComparisonId`  ``model_comparison-unet-bf-seven_lines-s0``
:class:`DataSizeId`    ``data_size-unet-bf-A549-n16-aug-s0``
:class:`SmoothingId`   ``smoothing-unet-bf-seven_lines-ls0.1-s0``
:class:`VariantId`     ``ablation-unet-double_skips-bf-seven_lines-s0``, ``extensions-unet-frem-bf-...``
:class:`TransferId`    ``transfer-unet-bf-loloHepG2-source-s0`` (source) and
                       ``transfer-unet-bf-loloHepG2-ft-target+source-n4-s0`` (fine-tuning)
:class:`FocalRunId`    ``focal_planes-unet-lncap-r2-p4.0-s0`` (in :mod:`nucflow.study.layout`)
:class:`LrFindId`      ``lr_find-unet-brightfield``
:class:`FremSearchId`  ``frem_search-unet-frem-bf-seven_lines-s0`` (variants plain, frem, se, dropout)
:class:`BaselineId`    ``baselines-stardist-fl-lncap-s0`` (a baseline method, not a network of the
                       registry: its folder is ``results/baselines/<id>/``)
=====================  ============================================================================

In a study with folds (``splits.folds`` k > 1) every id but the range test's ends in the run's
0-based fold, ``-f<fold>`` (``model_comparison-unet-bf-seven_lines-s0-f2``); with one split it has
no fold part, so the ids are the ones a study always had.

Whether a run is fine-tuned is a field of its id (:attr:`TransferId.mode`), and the workflow's
train / finetune wildcard patterns are built from the same regular expressions as ``parse``, so
the two cannot drift. Names inside an id hold no ``-``: models ``[a-z][a-z0-9]*`` (the model
registry's rule), data sets ``[A-Za-z0-9_]+``, cell lines ``[A-Za-z0-9]+``, variants
``[A-Za-z0-9_+]+``. Torch-free and cheap: the workflow imports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nucflow.errors import NucflowError
from nucflow.study.layout import RUN_ID_PATTERN, FocalRunId, fold_suffix

#: the modality as it appears in run ids
MODALITY_SHORT = {"fluorescence": "fl", "brightfield": "bf"}
_MODALITY_LONG = {short: long for long, short in MODALITY_SHORT.items()}

_MODEL, _MOD, _DATASET, _LINE = r"[a-z][a-z0-9]*", r"fl|bf", r"[A-Za-z0-9_]+", r"[A-Za-z0-9]+"
_VARIANT, _SEED = r"[A-Za-z0-9_+]+", r"-s(?P<seed>\d+)(?:-f(?P<fold>\d+))?"
#: a transfer scenario: ``lolo<Line>`` or ``<source>_to_<target>``
_SCENARIO = rf"lolo{_LINE}|{_DATASET}_to_{_DATASET}"
_MODE = r"target|target\+source"


def _factor(value: float) -> str:
    """``0.1`` -> ``0.1``, ``0.05`` -> ``0.05``, ``0`` -> ``0``."""
    return f"{value:.2f}".rstrip("0").rstrip(".") if value else "0"


def _match(pattern: re.Pattern, run_id: str) -> dict | None:
    found = pattern.match(run_id)
    return found.groupdict() if found else None


def _fold(m: dict) -> int | None:
    return int(m["fold"]) if m.get("fold") else None


@dataclass(frozen=True)
class ComparisonId:
    """A model comparison run: ``model`` on ``dataset`` in ``modality``, seed ``seed``."""

    model: str
    modality: str
    dataset: str
    seed: int
    fold: int | None = None

    REGEX = re.compile(rf"^model_comparison-(?P<model>{_MODEL})-(?P<mod>{_MOD})-(?P<dataset>{_DATASET}){_SEED}$")

    @property
    def key(self) -> str:
        return (f"model_comparison-{self.model}-{MODALITY_SHORT[self.modality]}-{self.dataset}-s{self.seed}"
                f"{fold_suffix(self.fold)}")

    @classmethod
    def parse(cls, run_id: str) -> ComparisonId | None:
        if (m := _match(cls.REGEX, run_id)) is None:
            return None
        return cls(m["model"], _MODALITY_LONG[m["mod"]], m["dataset"], int(m["seed"]), _fold(m))


@dataclass(frozen=True)
class DataSizeId:
    """A data size run: ``model`` on the first ``n`` training images of ``line``, ``variant``
    (plain / aug / smooth)."""

    model: str
    modality: str
    line: str
    n: int
    variant: str
    seed: int
    fold: int | None = None

    REGEX = re.compile(rf"^data_size-(?P<model>{_MODEL})-(?P<mod>{_MOD})-(?P<line>{_LINE})-n(?P<n>\d+)"
                       rf"-(?P<variant>{_VARIANT}){_SEED}$")

    @property
    def key(self) -> str:
        return (f"data_size-{self.model}-{MODALITY_SHORT[self.modality]}-{self.line}-n{self.n}-{self.variant}"
                f"-s{self.seed}{fold_suffix(self.fold)}")

    @classmethod
    def parse(cls, run_id: str) -> DataSizeId | None:
        if (m := _match(cls.REGEX, run_id)) is None:
            return None
        return cls(m["model"], _MODALITY_LONG[m["mod"]], m["line"], int(m["n"]), m["variant"], int(m["seed"]),
                   _fold(m))


@dataclass(frozen=True)
class SmoothingId:
    """A label smoothing run at ``factor``."""

    model: str
    modality: str
    dataset: str
    factor: float
    seed: int
    fold: int | None = None

    REGEX = re.compile(rf"^smoothing-(?P<model>{_MODEL})-(?P<mod>{_MOD})-(?P<dataset>{_DATASET})"
                       rf"-ls(?P<factor>\d+(?:\.\d+)?){_SEED}$")

    @property
    def key(self) -> str:
        return (f"smoothing-{self.model}-{MODALITY_SHORT[self.modality]}-{self.dataset}-ls{_factor(self.factor)}"
                f"-s{self.seed}{fold_suffix(self.fold)}")

    @classmethod
    def parse(cls, run_id: str) -> SmoothingId | None:
        if (m := _match(cls.REGEX, run_id)) is None:
            return None
        return cls(m["model"], _MODALITY_LONG[m["mod"]], m["dataset"], float(m["factor"]), int(m["seed"]), _fold(m))


@dataclass(frozen=True)
class VariantId:
    """A run of an arm that compares named variants of one model (``ablation``, ``extensions``)."""

    arm: str
    model: str
    variant: str
    modality: str
    dataset: str
    seed: int
    fold: int | None = None

    ARMS = ("ablation", "extensions")
    REGEX = re.compile(rf"^(?P<arm>ablation|extensions)-(?P<model>{_MODEL})-(?P<variant>{_VARIANT})-(?P<mod>{_MOD})"
                       rf"-(?P<dataset>{_DATASET}){_SEED}$")

    def __post_init__(self):
        if self.arm not in self.ARMS:
            raise NucflowError(f"variant run id: arm {self.arm!r} is not one of {', '.join(self.ARMS)}")

    @property
    def key(self) -> str:
        return (f"{self.arm}-{self.model}-{self.variant}-{MODALITY_SHORT[self.modality]}-{self.dataset}"
                f"-s{self.seed}{fold_suffix(self.fold)}")

    @classmethod
    def parse(cls, run_id: str) -> VariantId | None:
        if (m := _match(cls.REGEX, run_id)) is None:
            return None
        return cls(m["arm"], m["model"], m["variant"], _MODALITY_LONG[m["mod"]], m["dataset"], int(m["seed"]),
                   _fold(m))


_TRANSFER_HEAD = rf"transfer-(?P<model>{_MODEL})-(?P<mod>{_MOD})-(?P<scenario>{_SCENARIO})"


@dataclass(frozen=True)
class TransferId:
    """A transfer run of ``scenario``: the source model (``mode`` None) or its fine-tuning on ``n``
    target images (``mode`` ``target`` or ``target+source``)."""

    model: str
    modality: str
    scenario: str
    seed: int
    mode: str | None = None
    n: int | None = None
    fold: int | None = None

    SOURCE = re.compile(rf"^{_TRANSFER_HEAD}-source{_SEED}$")
    FINETUNE = re.compile(rf"^{_TRANSFER_HEAD}-ft-(?P<mode>{_MODE})-n(?P<n>\d+){_SEED}$")

    def __post_init__(self):
        if (self.mode is None) != (self.n is None):
            raise NucflowError("transfer run id: a fine-tuning run has both a mode and n, a source run neither")

    @property
    def finetune(self) -> bool:
        return self.mode is not None

    def source(self) -> TransferId:
        """The id of the run this one is fine-tuned from (itself for a source run)."""
        return TransferId(self.model, self.modality, self.scenario, self.seed, fold=self.fold)

    @property
    def key(self) -> str:
        head = f"transfer-{self.model}-{MODALITY_SHORT[self.modality]}-{self.scenario}"
        if self.mode is None:
            return f"{head}-source-s{self.seed}{fold_suffix(self.fold)}"
        return f"{head}-ft-{self.mode}-n{self.n}-s{self.seed}{fold_suffix(self.fold)}"

    @classmethod
    def parse(cls, run_id: str) -> TransferId | None:
        if (m := _match(cls.SOURCE, run_id)) is not None:
            return cls(m["model"], _MODALITY_LONG[m["mod"]], m["scenario"], int(m["seed"]), fold=_fold(m))
        if (m := _match(cls.FINETUNE, run_id)) is not None:
            return cls(m["model"], _MODALITY_LONG[m["mod"]], m["scenario"], int(m["seed"]), m["mode"], int(m["n"]),
                       _fold(m))
        return None


@dataclass(frozen=True)
class LrFindId:
    """The learning-rate range test of ``model`` x ``modality`` (the modality spelt out)."""

    model: str
    modality: str

    REGEX = re.compile(rf"^lr_find-(?P<model>{_MODEL})-(?P<modality>fluorescence|brightfield)$")

    @property
    def key(self) -> str:
        return f"lr_find-{self.model}-{self.modality}"

    @classmethod
    def parse(cls, run_id: str) -> LrFindId | None:
        if (m := _match(cls.REGEX, run_id)) is None:
            return None
        return cls(m["model"], m["modality"])


@dataclass(frozen=True)
class FremSearchId:
    """A run of the FREM search arm: ``variant`` ``plain`` (FREM off), ``frem`` (the searched setting),
    ``se`` (squeeze-and-excitation) or ``dropout`` (channel dropout at rate B/C) at FREM's place.
    :attr:`search` names the search whose ``best.json`` the runs read (``unet-bf-seven_lines``)."""

    model: str
    variant: str
    modality: str
    dataset: str
    seed: int
    fold: int | None = None

    VARIANTS = ("plain", "frem", "se", "dropout")
    REGEX = re.compile(rf"^frem_search-(?P<model>{_MODEL})-(?P<variant>plain|frem|se|dropout)-(?P<mod>{_MOD})"
                       rf"-(?P<dataset>{_DATASET}){_SEED}$")
    SEARCH = re.compile(rf"^(?P<model>{_MODEL})-(?P<mod>{_MOD})-(?P<dataset>{_DATASET})(?:-f(?P<fold>\d+))?$")

    def __post_init__(self):
        if self.variant not in self.VARIANTS:
            raise NucflowError(f"frem_search run id: variant {self.variant!r} is not one of {', '.join(self.VARIANTS)}")

    @property
    def key(self) -> str:
        return (f"frem_search-{self.model}-{self.variant}-{MODALITY_SHORT[self.modality]}-{self.dataset}"
                f"-s{self.seed}{fold_suffix(self.fold)}")

    @property
    def search(self) -> str:
        """The search of this model on this data and fold (the folder name of its results; each
        fold searches on its own validation images)."""
        return f"{self.model}-{MODALITY_SHORT[self.modality]}-{self.dataset}{fold_suffix(self.fold)}"

    @classmethod
    def parse(cls, run_id: str) -> FremSearchId | None:
        if (m := _match(cls.REGEX, run_id)) is None:
            return None
        return cls(m["model"], m["variant"], _MODALITY_LONG[m["mod"]], m["dataset"], int(m["seed"]), _fold(m))


@dataclass(frozen=True)
class BaselineId:
    """A baseline method (``stardist``) trained on ``dataset``'s training tiles in ``modality``, seed ``seed``."""

    method: str
    modality: str
    dataset: str
    seed: int
    fold: int | None = None

    REGEX = re.compile(rf"^baselines-(?P<method>[a-z][a-z0-9]*)-(?P<mod>{_MOD})-(?P<dataset>{_DATASET}){_SEED}$")

    @property
    def key(self) -> str:
        return (f"baselines-{self.method}-{MODALITY_SHORT[self.modality]}-{self.dataset}-s{self.seed}"
                f"{fold_suffix(self.fold)}")

    @classmethod
    def parse(cls, run_id: str) -> BaselineId | None:
        if (m := _match(cls.REGEX, run_id)) is None:
            return None
        return cls(m["method"], _MODALITY_LONG[m["mod"]], m["dataset"], int(m["seed"]), _fold(m))


RunId = (ComparisonId | DataSizeId | SmoothingId | VariantId | TransferId | FocalRunId | LrFindId | FremSearchId
         | BaselineId)
FAMILIES = (ComparisonId, DataSizeId, SmoothingId, VariantId, TransferId, FocalRunId, LrFindId, FremSearchId,
            BaselineId)


def parse_run_id(run_id: str) -> RunId:
    """The typed id of ``run_id``; a one-line error when no family reads it."""
    for family in FAMILIES:
        parsed = family.parse(run_id)
        if parsed is not None:
            return parsed
    raise NucflowError(f"run id {run_id!r} is not one the study writes (expected one of: "
                       "model_comparison-, data_size-, smoothing-, ablation-, extensions-, transfer-, "
                       "focal_planes-, lr_find-, frem_search-, baselines-...)")


def _pattern(regex: re.Pattern) -> str:
    """A family's regex as a Snakemake wildcard pattern: no anchors, no named groups."""
    return re.sub(r"\(\?P<[a-z]+>", "(", regex.pattern.removeprefix("^").removesuffix("$"))


#: a FREM search's name (the workflow's frem_search rules), from :attr:`FremSearchId.SEARCH`
FREM_SEARCH_PATTERN = _pattern(FremSearchId.SEARCH)
#: baseline ids (the workflow's baselines rules), from :attr:`BaselineId.REGEX`
BASELINE_ID_PATTERN = _pattern(BaselineId.REGEX)
#: fine-tuning run ids (the workflow's finetune rule), from :attr:`TransferId.FINETUNE`
FINETUNE_RUN_ID_PATTERN = _pattern(TransferId.FINETUNE)
#: every other run id (the train rule); in a path a run id ends where its characters end
TRAIN_RUN_ID_PATTERN = rf"(?!(?:{FINETUNE_RUN_ID_PATTERN})(?![A-Za-z0-9_.+-]))" + RUN_ID_PATTERN
