"""Reading network weights safely: ``torch.load(weights_only=True)`` only, never arbitrary pickles.

Two formats are accepted wherever weights are read:

* ``model.pt`` -- a plain ``state_dict`` of the network (what ``nucflow train`` exports);
* a training checkpoint (``checkpoints/best.ckpt`` or ``last.ckpt``: Lightning checkpoints of
  :class:`~nucflow.training.module.SegmentationModule`, and those of the plain-torch trainer of
  earlier versions) -- its ``"state_dict"`` with the ``"net."`` prefix removed.

Training state is another matter: only a Lightning checkpoint resumes (:func:`check_resumable`).
Lightning's own checkpoint I/O is replaced by :class:`SafeCheckpointIO`, which loads with
``weights_only=True`` and saves atomically in the checkpoint's own folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from lightning_fabric.plugins import TorchCheckpointIO
from torch import nn

from nucflow.errors import NucflowError
from nucflow.io import atomic_file

NET_PREFIX = "net."


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint I/O, loading with ``weights_only=True`` and saving atomically.

    Lightning defaults to ``weights_only=False`` where a caller passes nothing (the LR tuner
    restoring its temporary checkpoint); this plugin closes that door for every load. Lightning
    saves through an fsspec transaction whose temporary file lies in the system temp folder and
    is *copied* over the checkpoint when that is another file system (a node's /tmp and a
    cluster's shared results), so a kill mid-copy leaves a truncated ``last.ckpt``; here the
    temporary lies in the checkpoint's own folder and is renamed (:func:`save_checkpoint`).
    """

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        if storage_options is not None:
            raise TypeError("SafeCheckpointIO.save_checkpoint takes no storage_options")
        save_checkpoint(checkpoint, path)

    def load_checkpoint(self, path, map_location=None, weights_only=None):
        return super().load_checkpoint(path, map_location=map_location, weights_only=True)


def save_checkpoint(checkpoint: dict, path: str | os.PathLike) -> None:
    """``torch.save`` ``checkpoint`` to ``path`` atomically: the temporary lies in the checkpoint's
    own folder and is renamed over it, so a job killed mid-save leaves the previous checkpoint
    whole (and a hidden ``.part`` file that :func:`nucflow.io.remove_stale_temporaries` removes),
    also where that folder is on another file system than ``/tmp``. Saved through a file object,
    so the archive's inner folder is torch's fixed ``archive/``, not the temporary's random name:
    the same state gives the same bytes."""
    with atomic_file(path) as tmp, open(tmp, "wb") as stream:
        torch.save(checkpoint, stream)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """A training checkpoint, loaded with ``weights_only=True`` (tensors and plain values only)."""
    return torch.load(path, map_location=map_location, weights_only=True)


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The network ``state_dict`` stored in ``path`` (``model.pt`` or a training checkpoint), on CPU."""
    path = Path(path)
    if not path.is_file():
        raise NucflowError(f"{path}: checkpoint not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types; report file and reason
        raise NucflowError(f"{path}: not a loadable weights file ({type(exc).__name__}: {exc})") from None
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = {k[len(NET_PREFIX):]: v for k, v in data["state_dict"].items() if k.startswith(NET_PREFIX)}
    if not isinstance(data, dict) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise NucflowError(f"{path}: holds no network state_dict")
    return data


def check_resumable(last: str | os.PathLike, best: str | os.PathLike) -> None:
    """Refuse to resume from a ``last.ckpt`` that does not load (a job killed while writing it, a
    full disk), with how to recover: delete it to restart, or resume from ``best`` when that loads.

    Loads on CPU with ``weights_only=True``, as the resume itself does; a good checkpoint is a dict
    with the trainer's ``state_dict``, ``epoch`` and Lightning's ``loops``. A ``last.ckpt`` of the
    plain-torch trainer of earlier versions (no ``loops``) is refused with one line that says to
    retrain: its loop state cannot be handed to Lightning.
    """
    last, best = Path(last), Path(best)
    try:
        data = torch.load(last, map_location="cpu", weights_only=True)
        problem = "" if isinstance(data, dict) and "state_dict" in data and "epoch" in data \
            else "holds no training state"
    except Exception as exc:  # truncated zip, bad pickle, ...: each torch version words it differently
        problem = f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
    if not problem and "loops" not in data:
        raise NucflowError(f"{last}: written by the plain-torch trainer of an earlier nucflow, which "
                           "Lightning cannot resume; delete the run folder's checkpoints/ folder (or the "
                           "whole run folder) to train the run again from its first epoch")
    if not problem:
        return
    fallback = ""
    if best.is_file() and best != last:
        try:
            torch.load(best, map_location="cpu", weights_only=True)
            fallback = f", or copy {best} over it to resume from the best epoch so far"
        except Exception:  # a damaged best.ckpt is simply not offered
            pass
    raise NucflowError(f"{last}: damaged or truncated checkpoint, cannot resume ({problem}); delete it to "
                       f"restart the run from its first epoch{fallback}")


def load_weights(net: nn.Module, path: str | os.PathLike) -> None:
    """Load the weights in ``path`` into ``net`` strictly; a mismatch names the offending keys."""
    state = read_state_dict(path)
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    problems = []
    for what, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", wrong_shape)):
        if keys:
            shown = ", ".join(keys[:3]) + (f" (+{len(keys) - 3} more)" if len(keys) > 3 else "")
            problems.append(f"{what}: {shown}")
    if problems:
        raise NucflowError(f"{path}: weights do not fit the network ({'; '.join(problems)})")
    net.load_state_dict(state, strict=True)


def export_state_dict(checkpoint: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the network weights of a training checkpoint as a plain ``state_dict`` file
    (atomically; the same weights give the same bytes, see :func:`save_checkpoint`)."""
    out = Path(out)
    state = read_state_dict(checkpoint)
    with atomic_file(out) as tmp, open(tmp, "wb") as stream:
        torch.save({k: v.contiguous() for k, v in state.items()}, stream)
    return out
