"""Reading and writing images: TIFF in, TIFF out, with clear errors and atomic writes.

Every reader names the file in its error; every writer writes to a temporary file in the same
folder and renames it, so an interrupted job never leaves a half-written output behind.
"""

from __future__ import annotations

import json
import os
import tempfile
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


def _atomic_target(path: Path):
    """A temporary file beside ``path`` with the permissions a plain ``open`` would give
    (mkstemp's 0600 would hide outputs from the rest of a lab's group on a shared cluster).
    A folder at ``path``, or a file where a folder above it should be, is a one-line NucflowError."""
    if path.is_dir():
        raise NucflowError(f"{path}: is a folder; cannot write a file in its place")
    ensure_dir(path.parent, f"cannot write {path.name}:")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    return Path(tmp)


def staging_dir(target: str | os.PathLike, purpose: str = "staging") -> Path:
    """A new, empty hidden folder beside ``target`` (same file system, so it can be renamed into
    place) with the permissions a plain ``mkdir`` would give."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.{purpose}-", dir=target.parent))
    os.chmod(folder, 0o777 & ~_umask())
    return folder


def replace_dir(staging: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Put folder ``staging`` in the place of ``target`` (which may exist): two renames, the old
    folder removed only after the new one is in place."""
    import shutil

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
    tmp = _atomic_target(path)
    try:
        tifffile.imwrite(
            tmp,
            np.ascontiguousarray(array),
            compression="zlib" if compress else None,
            metadata=None,
            software=False,
            **{"photometric": "minisblack", **kwargs},
        )
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write JSON atomically with sorted keys, so the same object gives the same bytes."""
    path = Path(path)
    tmp = _atomic_target(path)
    try:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise NucflowError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise NucflowError(f"{path}: invalid JSON ({exc})") from None


def write_csv(path: str | os.PathLike, frame) -> Path:
    """Write a pandas DataFrame as CSV atomically (no index)."""
    path = Path(path)
    tmp = _atomic_target(path)
    try:
        frame.to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
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
