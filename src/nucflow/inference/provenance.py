"""What produced a user-mode prediction, so a rerun skips only outputs that are still right.

Each image's outputs carry a provenance record: the SHA-256 of the input file, the model's identity
(its weights file and their SHA-256), the post-processing method and parameters and every setting
that changes the result (tile, overlap, TTA, autocast, planes, normalisation, pixel sizes and the
rescale factor). The record is written as JSON into the ImageDescription of ``<stem>_labels.tif``
and ``<stem>_prob.tif``; its short hash (:func:`provenance_key`) is the ``provenance`` column of
``summary.csv``. An image is skipped only when its labels carry the key of the present run.

``predict.json`` of a folder names the model that filled it (written when a run starts, and again
when it ends); :func:`check_same_model` refuses to add another model's outputs to that folder
unless ``--overwrite``. :func:`claim_folder` keeps two runs from writing into one folder at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from nucflow.errors import NucflowError
from nucflow.io import file_sha256, read_json

#: the key of the JSON object written into the TIFF description
TAG = "nucflow_provenance"


def weights_file(model: str | Path) -> Path | None:
    """The weights of ``--model``: ``model.ts`` of an export, ``model.pt`` of a run folder (or the
    file given); None when neither is there."""
    path = Path(model)
    folder = path if path.is_dir() else path.parent
    sidecar = folder / "nucflow_model.json"
    if sidecar.is_file():
        data = read_json(sidecar)
        name = data.get("weights", "model.ts") if isinstance(data, dict) else "model.ts"
        # only a file inside the folder is hashed (the loader refuses any other)
        return folder / name if isinstance(name, str) and len(Path(name).parts) == 1 else None
    if path.is_file():
        return path
    return folder / "model.pt" if (folder / "model.pt").is_file() else None


def model_identity(model: str | Path, run_id: str) -> dict:
    """``{"run_id", "weights_sha256"}`` of ``--model`` (the hash of its weights file)."""
    weights = weights_file(model)
    return {"run_id": run_id, "weights_sha256": file_sha256(weights) if weights is not None else None}


def provenance_key(record: dict) -> str:
    """16 hex digits of the SHA-256 of ``record`` as canonical JSON."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def description(record: dict) -> str:
    """The TIFF ImageDescription holding ``record`` and its key."""
    return json.dumps({TAG: {**record, "key": provenance_key(record)}}, sort_keys=True, default=str)


def recorded(path: Path) -> dict | None:
    """The provenance record in a TIFF written by :func:`description`; None when the file is
    missing, unreadable or carries none (not written by nucflow predict)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            text = tif.pages[0].description
        record = json.loads(text)[TAG]
        return record if isinstance(record, dict) else None
    except Exception:  # missing, unreadable or foreign: no record
        return None


def recorded_key(path: Path) -> str | None:
    """The provenance key in a TIFF written by :func:`description`; None when absent or unreadable."""
    record = recorded(path)
    return record.get("key") if record is not None else None


#: the lock file by which a ``nucflow predict`` run claims its output folder
LOCK = ".nucflow-predict.lock"


@contextlib.contextmanager
def claim_folder(out: Path):
    """Hold ``out`` for one ``nucflow predict`` run: an exclusively created lock file naming this
    process, removed at the end. A folder held by a live process is refused in one line; the lock
    of a process that no longer exists (a killed run) is taken over."""
    lock = Path(out) / LOCK
    for _ in range(2):
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _lock_holder(lock)
            if holder is not None and _alive(holder):
                raise NucflowError(f"{lock}: another nucflow predict (process {holder}) is writing into {out}; "
                                   "wait for it, or give another --out") from None
            lock.unlink(missing_ok=True)  # left by a run that was killed
            continue
        with os.fdopen(handle, "w") as stream:
            stream.write(f"{os.getpid()}\n")
        break
    else:
        raise NucflowError(f"{lock}: could not claim {out}; remove the file if no nucflow predict is running")
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _lock_holder(lock: Path) -> int | None:
    try:
        return int(lock.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def check_same_model(out: Path, identity: dict, overwrite: bool) -> None:
    """Refuse to predict with another model into a folder whose ``predict.json`` names one, unless
    ``overwrite``. A folder whose model cannot be compared (no weights hash) is refused only when
    its run id differs."""
    previous_path = Path(out) / "predict.json"
    if overwrite or not previous_path.is_file():
        return
    previous = read_json(previous_path)
    if not isinstance(previous, dict):
        return
    before = previous.get("model_identity") or {}
    old_hash, old_run = before.get("weights_sha256"), before.get("run_id") or previous.get("spec", {}).get("run_id")
    if old_hash is not None and old_hash == identity.get("weights_sha256"):
        return
    if old_hash is None and old_run in (None, identity.get("run_id")):
        return
    old = f"model {old_run}" + (f" (weights {old_hash[:12]})" if old_hash else "")
    new = f"model {identity.get('run_id')}" + (f" (weights {identity['weights_sha256'][:12]})"
                                               if identity.get("weights_sha256") else "")
    raise NucflowError(f"{previous_path}: {out} holds the outputs of {old} ({previous.get('model')}); predicting "
                       f"with {new} would mix two models in one folder. Give another --out, or --overwrite")
