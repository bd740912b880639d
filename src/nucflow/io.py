"""Reading and writing images: TIFF in, TIFF out, with clear errors and atomic writes.

Every reader names the file in its error; every writer writes to a temporary file in the same
folder and renames it, so an interrupted job never leaves a half-written output behind. A job
killed mid-write does leave its hidden temporary (``.<name>.XXXXXXXX.part``, or a staging folder
``.<name>.<purpose>-XXXXXXXX``); the next write of the same file (or folder) removes it, and
:func:`remove_stale_temporaries` sweeps a whole folder. Only temporaries older than the current
process are removed, so a write in progress in this process is never touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from nucflow.errors import NucflowError


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a TIFF (or PNG) image as a numpy array, raising a one-line error if it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise NucflowError(f"{path}: file not found")
    try:
        if path.suffix.lower() == ".png":
            from skimage.io import imread

            return np.asarray(imread(path))
        return tifffile.imread(path)
    except Exception as exc:  # tifffile raises many types; the user needs the file and the reason
        raise NucflowError(f"{path}: unreadable image ({type(exc).__name__}: {exc})") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Temporaries written before this moment belong to earlier (killed) processes.
_PROCESS_START = time.time()
#: mkstemp's random part: 8 characters of ``[a-z0-9_]``.
_RANDOM = r"[a-z0-9_]{8}"


#: Hidden temporaries of atomic writes: ``.<name>.part`` or ``.<name>.XXXXXXXX.part``, with an
#: optional extension after ``.part`` (matplotlib needs one).
_TEMPORARY = re.compile(rf"\.(?P<name>.+?)(\.{_RANDOM})?\.part(\.[A-Za-z0-9]+)?")
#: folder -> {file name: its stale temporaries}, listed once per process and folder (a folder of
#: thousands of outputs is not listed again for each of them).
_STALE_FOUND: dict[Path, dict[str, list[Path]]] = {}


def _stale(path: Path) -> bool:
    try:
        return path.lstat().st_mtime < _PROCESS_START
    except FileNotFoundError:
        return False


def _stale_temporaries(folder: Path) -> dict[str, list[Path]]:
    key = folder.absolute()
    found = _STALE_FOUND.get(key)
    if found is None:
        found = {}
        with os.scandir(folder) as entries:
            for entry in entries:
                match = _TEMPORARY.fullmatch(entry.name)
                if match and entry.is_file(follow_symlinks=False) and _stale(Path(entry.path)):
                    found.setdefault(match.group("name"), []).append(Path(entry.path))
        _STALE_FOUND[key] = found
    return found


def remove_stale_temporaries(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Remove the temporary files that killed atomic writes left in ``folder`` (of file ``name``
    only, or of every file); returns what was removed. A missing folder is fine.

    Only a folder that one job owns should be swept whole: in a folder where several jobs write,
    each removes the temporaries of its own files, as every writer of this module does."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    if name is None:  # a sweep looks afresh
        _STALE_FOUND.pop(folder.absolute(), None)
    found = _stale_temporaries(folder)
    removed = [p for key in ([name] if name is not None else list(found)) for p in found.pop(key, [])]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def _atomic_target(path: Path):
    """A temporary file beside ``path`` with the permissions a plain ``open`` would give
    (mkstemp's 0600 would hide outputs from the rest of a lab's group on a shared cluster).
    A folder at ``path``, or a file where a folder above it should be, is a one-line NucflowError.
    Stale temporaries of ``path`` from killed writes are removed first."""
    if path.is_dir():
        raise NucflowError(f"{path}: is a folder; cannot write a file in its place")
    ensure_dir(path.parent, f"cannot write {path.name}:")
    remove_stale_temporaries(path.parent, path.name)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    return Path(tmp)


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; it replaces ``path`` when the block ends
    without an exception and is removed otherwise.

    >>> with atomic_file("out/x.bin") as tmp:  # doctest: +SKIP
    ...     tmp.write_bytes(b"...")
    """
    path = Path(path)
    tmp = _atomic_target(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _remove_stale_staging(target: Path) -> None:
    """Remove staging folders of ``target`` left by killed processes. A killed
    :func:`replace_dir` may have moved the old ``target`` into its ``old`` folder without
    putting the new one in place; that old version is moved back first."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.([a-z]+)-{_RANDOM}")
    for folder in sorted(target.parent.iterdir()) if target.parent.is_dir() else []:
        match = pattern.fullmatch(folder.name)
        if not (match and folder.is_dir() and _stale(folder)):
            continue
        kept = folder / target.name
        if match.group(1) == "old" and kept.exists() and not target.exists():
            os.replace(kept, target)
        shutil.rmtree(folder, ignore_errors=True)


def staging_dir(target: str | os.PathLike, purpose: str = "staging") -> Path:
    """A new, empty hidden folder beside ``target`` (same file system, so it can be renamed into
    place) with the permissions a plain ``mkdir`` would give. Staging folders of ``target`` left
    by killed processes are removed first (see :func:`replace_dir`)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(target)
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.{purpose}-", dir=target.parent))
    os.chmod(folder, 0o777 & ~_umask())
    return folder


def replace_dir(staging: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Put folder ``staging`` in the place of ``target`` (which may exist): two renames, the old
    folder removed only after the new one is in place."""
    staging, target = Path(staging), Path(target)
    old = None
    if target.exists():
        old = staging_dir(target, "old")
        os.replace(target, old / target.name)
    os.rename(staging, target)
    if old is not None:
        shutil.rmtree(old)
    return target


def ensure_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """Create folder ``path`` (and parents); a one-line error naming ``option`` when a file is in the way."""
    path = Path(path)
    blocking = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        what = "exists and is not a folder" if blocking == path else f"{blocking} is a file, not a folder"
        raise NucflowError(f"{option} {path}: {what}")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_tiff(path: str | os.PathLike, array: np.ndarray, *, compress: bool = True, **kwargs) -> Path:
    """Write ``array`` as a TIFF atomically. Output is byte-deterministic (no timestamps).

    ``compress`` uses zlib (lossless, readable by Fiji and napari). Stacks are written planes
    first as grey pages (``photometric="minisblack"``), never as RGB.
    """
    path = Path(path)
    with atomic_file(path) as tmp:
        tifffile.imwrite(
            tmp,
            np.ascontiguousarray(array),
            compression="zlib" if compress else None,
            metadata=None,
            software=False,
            **{"photometric": "minisblack", **kwargs},
        )
    return path


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write JSON atomically with sorted keys, so the same object gives the same bytes."""
    path = Path(path)
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")
    return path


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise NucflowError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise NucflowError(f"{path}: invalid JSON ({exc})") from None


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes: the one checksum of inputs, weights and exported files."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def write_csv(path: str | os.PathLike, frame) -> Path:
    """Write a pandas DataFrame as CSV atomically (no index)."""
    path = Path(path)
    with atomic_file(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
