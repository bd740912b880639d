"""The run folder of ``nucflow train``: its files, what the run was made from, and moving an
earlier run's training state aside when the run is started afresh.

A run folder may only be resumed by the run that began it: same settings (``run.json``, except
:data:`~nucflow.training.config.RUNTIME_FIELDS`) and same input bytes (``inputs.json``: SHA-256
of every tile set and of the ``init_from`` weights). Anything else would continue (or, for a
finished run, simply keep) weights that were learned from something else. Runs begun before
``inputs.json`` existed get it at their next invocation, from the inputs present then.

Starting afresh never deletes: the earlier run's ``run.json``, ``inputs.json``, ``log.csv``,
``checkpoints/``, ``model.pt`` and ``train_done.json`` are moved to
``<out_dir>/previous/<UTC time>/`` (:func:`set_aside`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from nucflow.io import file_sha256, read_json, write_json
from nucflow.training.config import RUNTIME_FIELDS, RunConfig

#: What training writes in a run folder (moved aside together by :func:`set_aside`).
TRAINING_STATE = ("run.json", "inputs.json", "log.csv", "checkpoints", "model.pt", "train_done.json")


@dataclass(frozen=True)
class RunPaths:
    """The files of one run folder."""

    out_dir: Path

    @property
    def run_json(self) -> Path: return self.out_dir / "run.json"
    @property
    def inputs_json(self) -> Path: return self.out_dir / "inputs.json"
    @property
    def log_csv(self) -> Path: return self.out_dir / "log.csv"
    @property
    def checkpoints(self) -> Path: return self.out_dir / "checkpoints"
    @property
    def best_ckpt(self) -> Path: return self.checkpoints / "best.ckpt"
    @property
    def last_ckpt(self) -> Path: return self.checkpoints / "last.ckpt"
    @property
    def model_pt(self) -> Path: return self.out_dir / "model.pt"
    @property
    def done_json(self) -> Path: return self.out_dir / "train_done.json"
    @property
    def previous(self) -> Path: return self.out_dir / "previous"


def input_files(config: RunConfig) -> list[str]:
    """The files the run learns from: its tile sets and ``init_from``."""
    return [*config.train_tiles, *config.val_tiles, *([config.init_from] if config.init_from else [])]


def input_digests(config: RunConfig) -> dict[str, str]:
    """``{path: sha256}`` of the run's input files that exist (a missing one is reported by
    whatever reads it, not taken for a change)."""
    return {str(p): file_sha256(p) for p in input_files(config) if Path(p).is_file()}


def record_inputs(config: RunConfig, paths: RunPaths) -> None:
    """Write ``inputs.json`` if the folder has none and every input file exists."""
    if not paths.inputs_json.is_file() and all(Path(p).is_file() for p in input_files(config)):
        write_json(paths.inputs_json, input_digests(config))


def changes_since_earlier_run(config: RunConfig, paths: RunPaths) -> list[str]:
    """What differs between ``config`` (with its current input files) and the run that wrote
    ``paths``: setting names, then ``contents of <file>``; empty for a new folder or the same run."""
    changed = []
    if paths.run_json.is_file():
        previous, current = {**RunConfig.defaults(), **read_json(paths.run_json)}, config.to_dict()
        changed = sorted(k for k in set(previous) | set(current)
                         if k not in RUNTIME_FIELDS and previous.get(k) != current.get(k))
    if paths.inputs_json.is_file() and not changed:
        recorded, current = read_json(paths.inputs_json), input_digests(config)
        changed = [f"contents of {p}" for p in sorted(current) if recorded.get(p) != current[p]]
    return changed


def set_aside(paths: RunPaths, names: tuple[str, ...] = TRAINING_STATE, suffix: str = "") -> Path:
    """Move the training state of the run in ``paths.out_dir`` (``names``, default all of it) to a
    new ``previous/<UTC time><suffix>[-n]/`` folder inside it; returns that folder."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + suffix
    target, n = paths.previous / stamp, 1
    while target.exists():
        n += 1
        target = paths.previous / f"{stamp}-{n}"
    target.mkdir(parents=True)
    for name in names:
        if (paths.out_dir / name).exists():
            os.replace(paths.out_dir / name, target / name)
    return target
