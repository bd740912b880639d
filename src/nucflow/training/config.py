"""The configuration of one training run (``run.json``) as a frozen, type-checked dataclass.

``run.json`` is written by the study plan, read by ``nucflow train`` and saved again in the run
folder as the exact configuration used. An unknown key, a missing required key or a value of the
wrong type is a :class:`~nucflow.errors.NucflowError` that names the key.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nucflow.errors import NucflowError
from nucflow.io import read_json, write_json
from nucflow.precision import PRECISIONS

LOSS_NAMES = ("bce", "bce_smooth", "bce_dice", "bce_weighted", "three_class")
MODALITIES = ("brightfield", "fluorescence")
ACCELERATORS = ("auto", "cpu", "gpu")
STRATEGIES = ("auto", "ddp", "ddp_spawn", "ddp_fork")
LOGGERS = ("csv", "tensorboard")

#: Fields that may change between an interrupted run and its resumption (they do not change what
#: is learned, or -- ``max_epochs`` -- only extend it; several devices split the same global
#: batch, see :mod:`nucflow.data.datamodule`).
RUNTIME_FIELDS = ("max_epochs", "accelerator", "num_workers", "out_dir", "devices", "strategy", "logger")


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run needs.

    Attributes:
        run_id: name of the run (used in messages and logs).
        model: registry name of the network (``nucflow.models.MODEL_NAMES``).
        in_channels: image channels of the tiles (focal planes; 1 for fluorescence).
        modality: ``"brightfield"`` or ``"fluorescence"``.
        train_tiles: tile-set ``.npz`` paths; several are concatenated (target + source data).
        val_tiles: tile-set ``.npz`` paths for validation (val_loss, val_f1).
        batch_size: tiles per optimisation step.
        out_dir: run folder (run.json, log.csv, model.pt, checkpoints/, train_done.json).
        width: multiplier of every filter count (1.0 = published size).
        model_options: architecture options passed to ``build`` (batch_norm, filters, ...).
        frem: ``None`` or ``{"channels": B, "factor": X}`` (Feature Random Enhancement Module).
        out_channels: logit channels; 1, or 3 for the 3-class loss (derived when omitted).
        planes: brightfield focal planes used as channels, in order (documentation of the input).
        loss: one of :data:`LOSS_NAMES` (see :mod:`nucflow.training.losses`).
        smoothing: label-smoothing factor for ``bce_smooth`` (targets 1 - s and s), in [0, 0.5).
        lr: Adam learning rate.
        max_epochs: upper bound on epochs (500 as published).
        steps_per_epoch: optimisation steps per epoch; ``None`` = ``10000 // batch_size``.
        lr_patience, lr_factor: ReduceLROnPlateau on val_loss (10 epochs, x0.1 as published).
        stop_patience: early stopping on val_loss (20 epochs as published).
        seed: seeds weights, tile sampling, FREM draws and every other random choice.
        init_from: weights (``model.pt`` or a training ``.ckpt``) whose network weights start
            the run (fine-tuning); optimiser state is not taken over.
        precision: ``"auto"`` (bf16 autocast where the device computes bf16 natively, else fp32;
            see :mod:`nucflow.precision`) or ``"32-true"``, ``"bf16-mixed"``, ``"16-mixed"``.
            What a job actually used is recorded in ``train_done.json``.
        channels_last: channels-last memory format; ``None`` follows the precision (on with bf16).
        accelerator: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"gpu"``.
        num_workers: DataLoader worker processes.
        val_max_tiles: validate on at most this many tiles, evenly spaced over the validation set
            (``None``: all; the demo bounds the per-epoch validation cost with it).
        degenerate_restarts: how many times a run whose every epoch was degenerate (all
            background or all foreground on the validation tiles) trains again from its first
            epoch at a tenth of the rate (see :func:`nucflow.training.train.train`).
        devices: devices (GPUs, or CPU processes) one run trains on; more than one trains with
            DDP, each device taking ``batch_size / devices`` tiles of every (global) batch.
        strategy: Lightning's strategy; ``"auto"`` is ``ddp`` on several devices.
        logger: ``"csv"`` (``log.csv`` only) or ``"tensorboard"`` (also Lightning's TensorBoard
            logger, in ``out_dir/tensorboard``; needs the ``tensorboard`` extra).
    """

    run_id: str
    model: str
    in_channels: int
    modality: str
    train_tiles: tuple[str, ...]
    val_tiles: tuple[str, ...]
    batch_size: int
    out_dir: str
    width: float = 1.0
    model_options: dict = field(default_factory=dict)
    frem: dict | None = None
    out_channels: int | None = None
    planes: tuple[int, ...] = ()
    loss: str = "bce"
    smoothing: float = 0.0
    lr: float = 1e-4
    max_epochs: int = 500
    steps_per_epoch: int | None = None
    lr_patience: int = 10
    lr_factor: float = 0.1
    stop_patience: int = 20
    seed: int = 0
    init_from: str | None = None
    precision: str = "auto"
    channels_last: bool | None = None
    accelerator: str = "auto"
    num_workers: int = 0
    val_max_tiles: int | None = None
    degenerate_restarts: int = 2
    devices: int = 1
    strategy: str = "auto"
    logger: str = "csv"

    def __post_init__(self) -> None:
        def fail(key: str, problem: str) -> None:
            raise NucflowError(f"run config {self.run_id!r}: {key}: {problem}")

        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _coerce(self.run_id, f.name, f.type, getattr(self, f.name)))
        if self.out_channels is None:
            object.__setattr__(self, "out_channels", 3 if self.loss == "three_class" else 1)
        if self.loss not in LOSS_NAMES:
            fail("loss", f"unknown loss {self.loss!r}; choose from {', '.join(LOSS_NAMES)}")
        if self.modality not in MODALITIES:
            fail("modality", f"unknown modality {self.modality!r}; choose from {', '.join(MODALITIES)}")
        if self.accelerator not in ACCELERATORS:
            fail("accelerator", f"unknown accelerator {self.accelerator!r}; choose from {', '.join(ACCELERATORS)}")
        if self.strategy not in STRATEGIES:
            fail("strategy", f"unknown strategy {self.strategy!r}; choose from {', '.join(STRATEGIES)}")
        if self.logger not in LOGGERS:
            fail("logger", f"unknown logger {self.logger!r}; choose from {', '.join(LOGGERS)}")
        if self.precision not in PRECISIONS:
            fail("precision", f"unknown precision {self.precision!r}; choose from {', '.join(PRECISIONS)}")
        expected_out = 3 if self.loss == "three_class" else 1
        if self.out_channels != expected_out:
            fail("out_channels",
                 f"loss {self.loss!r} needs {expected_out} output channel(s), got {self.out_channels}")
        for key in ("in_channels", "batch_size", "max_epochs", "devices"):
            if getattr(self, key) < 1:
                fail(key, f"must be >= 1, got {getattr(self, key)}")
        for key in ("lr_patience", "stop_patience", "num_workers", "seed", "degenerate_restarts"):
            if getattr(self, key) < 0:
                fail(key, f"must be >= 0, got {getattr(self, key)}")
        if self.val_max_tiles is not None and self.val_max_tiles < 1:
            fail("val_max_tiles", f"must be >= 1 or null, got {self.val_max_tiles}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            fail("steps_per_epoch", f"must be >= 1 or null, got {self.steps_per_epoch}")
        if not self.width > 0 or not self.lr > 0:
            fail("width" if not self.width > 0 else "lr", "must be > 0")
        if not 0 < self.lr_factor < 1:
            fail("lr_factor", f"must lie in (0, 1), got {self.lr_factor}")
        if not 0 <= self.smoothing < 0.5:
            fail("smoothing", f"must lie in [0, 0.5), got {self.smoothing}")
        if self.smoothing and self.loss != "bce_smooth":
            fail("smoothing", f"only used by loss 'bce_smooth', but loss is {self.loss!r}")
        if not self.train_tiles or not self.val_tiles:
            fail("train_tiles" if not self.train_tiles else "val_tiles", "needs at least one tile set")
        if self.frem is not None and set(self.frem) != {"channels", "factor"}:
            fail("frem", f"expected null or {{'channels': B, 'factor': X}}, got {self.frem!r}")

    @property
    def effective_steps_per_epoch(self) -> int:
        """Steps per epoch: ``steps_per_epoch`` or, as published, ``10000 // batch_size``."""
        return self.steps_per_epoch or max(1, 10000 // self.batch_size)

    @property
    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``nucflow.models.build`` after the model name."""
        kwargs: dict[str, Any] = dict(in_channels=self.in_channels, out_channels=self.out_channels,
                                      width=self.width, **self.model_options)
        if self.frem is not None:
            kwargs["frem"] = dict(self.frem)
        return kwargs

    def replace(self, **changes: Any) -> "RunConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The fields that have a default, with it (a ``run.json`` written before a field existed
        reads as having its default)."""
        out = {}
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                out[f.name] = list(f.default) if isinstance(f.default, tuple) else f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "run config") -> "RunConfig":
        """Build from a dict; ``source`` (e.g. the file name) prefixes every error."""
        if not isinstance(data, dict):
            raise NucflowError(f"{source}: expected a JSON object, got {type(data).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise NucflowError(f"{source}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(names)}")
        required = [f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        missing = [name for name in required if name not in data]
        if missing:
            raise NucflowError(f"{source}: missing required key(s) {', '.join(missing)}")
        try:
            return cls(**data)
        except NucflowError as exc:
            raise NucflowError(f"{source}: {exc}") from None

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "RunConfig":
        return cls.from_dict(read_json(path), source=str(path))

    def to_json(self, path: str | os.PathLike) -> Path:
        return write_json(path, self.to_dict())


def set_threads(threads: int | None) -> None:
    """Set torch's CPU thread count for this process (CLI option ``--threads``; ``None``: keep)."""
    if threads is None:
        return
    if threads < 1:
        raise NucflowError(f"--threads: must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def _coerce(run_id: Any, key: str, annotation: str, value: Any) -> Any:
    """Check ``value`` against the field's annotation (a string, as ``from __future__``) and
    return it normalised (ints accepted for floats, lists become tuples)."""
    def fail(expected: str) -> None:
        raise NucflowError(f"run config {run_id!r}: {key}: expected {expected}, got {value!r}")

    optional = annotation.endswith("| None")
    base = annotation.removesuffix("| None").strip()
    if value is None:
        if not optional:
            fail(base)
        return None
    if base == "str":
        if not isinstance(value, str) or not value:
            fail("a non-empty string")
    elif base == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            fail("an integer")
    elif base == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail("a number")
        return float(value)
    elif base == "bool":
        if not isinstance(value, bool):
            fail("true or false")
    elif base == "dict":
        if not isinstance(value, dict):
            fail("a JSON object")
        return dict(value)
    elif base.startswith("tuple["):
        item = base[len("tuple["):].split(",")[0]
        if not isinstance(value, (list, tuple)):
            fail(f"a list of {item}")
        ok = (lambda v: isinstance(v, str) and v) if item == "str" else \
            (lambda v: isinstance(v, int) and not isinstance(v, bool))
        if not all(ok(v) for v in value):
            fail(f"a list of {item}")
        return tuple(value)
    return value
