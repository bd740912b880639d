"""Apply a trained run to images: the run's own planes and normalisation, then sliding windows.

:func:`load_run` rebuilds the network of a run folder (``run.json`` + ``model.pt``) with safe
loading (``weights_only=True``). :func:`predict_field` takes a raw field as read from disk —
fluorescence (H, W) or a plane stack (n_planes, H, W) — selects the planes the model was trained
on, normalises as in training, and returns probabilities (K, H, W). For NuSeT's foreground
normalisation it runs twice, as NuSeT does: a first pass on the image standardised over all pixels
gives the foreground, whose statistics normalise the second pass. :func:`predict_field_rescaled`
predicts a field at another pixel size (the model's) and maps the result back to the field's grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nucflow.data.normalise import as_float32, foreground_normalise, percentile_normalise
from nucflow.data.shapes import check_min_size
from nucflow.errors import NucflowError
from nucflow.inference.sliding import predict_tiled
from nucflow.training.config import RunConfig


@dataclass(frozen=True)
class InferenceSettings:
    """How to run a network over whole fields (``inference`` section of the config)."""

    overlap: float = 0.5
    batch_size: int = 8
    tta: bool = False
    device: str = "cpu"
    autocast_dtype: torch.dtype | None = None
    channels_last: bool = False
    precision: str = "32-true"


def pick_device(requested: str | None = None) -> str:
    """``requested`` if given, else CUDA when available, else CPU."""
    if requested:
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise NucflowError(f"--device {requested}: CUDA is not available on this machine")
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_run(run_dir: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, RunConfig]:
    """The trained network of a run folder, in eval mode on ``device``, and its RunConfig."""
    run_dir = Path(run_dir)
    run = RunConfig.from_json(run_dir / "run.json")
    weights = run_dir / "model.pt"
    if not weights.is_file():
        raise NucflowError(f"{weights}: not found; has the run finished training?")
    return network_from_weights(run, weights, device), run


def network_from_weights(run: RunConfig, weights: Path, device: str = "cpu") -> torch.nn.Module:
    """``run``'s architecture from the registry with the state_dict in ``weights`` (loaded with
    ``weights_only=True``: tensors only, no code), in eval mode on ``device``."""
    from nucflow.models import build

    model = build(run.model, **run.model_kwargs)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise NucflowError(f"{weights}: cannot load weights ({type(exc).__name__}: {exc})") from None
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise NucflowError(f"{weights}: weights do not fit model {run.model!r}: {str(exc).splitlines()[0]}") from None
    return model.to(device).eval()


def select_input(raw: np.ndarray, run: RunConfig, name: str = "image", tile: int | None = None) -> np.ndarray:
    """The network input channels (C, H, W) float32 from a raw field, as the run was trained.

    Refuses fields with a side under ``min(16, tile)`` px (:func:`~nucflow.data.shapes.check_min_size`).
    """
    raw = np.asarray(raw)
    if raw.ndim not in (2, 3):
        raise NucflowError(f"{name}: expected (H, W) or (planes, H, W), got shape {raw.shape}")
    if raw.size == 0:
        raise NucflowError(f"{name}: empty image")
    check_min_size(raw.shape, name, tile)
    stack = raw[None] if raw.ndim == 2 else raw
    if run.modality == "fluorescence":
        if len(stack) != 1:
            raise NucflowError(f"{name}: model {run.run_id} takes one fluorescence channel, got {len(stack)} planes")
        image = stack
    else:
        planes = list(run.planes) or list(range(run.in_channels))
        needed = max(planes) + 1
        if len(stack) < needed:
            raise NucflowError(f"{name}: has {len(stack)} plane(s), but model {run.run_id} was trained on planes "
                               f"{planes} of a stack of at least {needed}")
        image = stack[planes]
    image = as_float32(image)
    if not np.isfinite(image).all():
        raise NucflowError(f"{name}: contains NaN or inf")
    return image


def predict_field(model: torch.nn.Module, run: RunConfig, raw: np.ndarray, settings: InferenceSettings,
                  *, tile: int, normalisation: str = "percentile", percentiles=(1.0, 99.8),
                  name: str = "image") -> np.ndarray:
    """Probabilities (K, H, W) float32 for one raw field."""
    image = select_input(raw, run, name, tile)
    kwargs = dict(tile=tile, overlap=settings.overlap, batch_size=settings.batch_size, device=settings.device,
                  tta=settings.tta, autocast_dtype=settings.autocast_dtype, channels_last=settings.channels_last)
    if normalisation == "percentile":
        return predict_tiled(model, percentile_normalise(image, *percentiles), **kwargs)
    if normalisation == "foreground":
        everything = np.ones(image.shape[1:], bool)
        first = predict_tiled(model, foreground_normalise(image, everything, *percentiles), **kwargs)
        foreground = (first[0] > 0.5) if len(first) == 1 else (first.argmax(0) != 0)
        return predict_tiled(model, foreground_normalise(image, foreground, *percentiles), **kwargs)
    raise NucflowError(f"unknown normalisation {normalisation!r} recorded for run {run.run_id}")


def _resize(array: np.ndarray, spatial: tuple[int, int]) -> np.ndarray:
    """(..., H, W) -> (..., *spatial) float32, bilinear; anti-aliased when shrinking."""
    from skimage.transform import resize

    shrink = spatial[0] < array.shape[-2] or spatial[1] < array.shape[-1]
    return resize(as_float32(array), array.shape[:-2] + tuple(spatial), order=1, preserve_range=True,
                  anti_aliasing=shrink).astype(np.float32)


def predict_field_rescaled(model: torch.nn.Module, run: RunConfig, raw: np.ndarray, settings: InferenceSettings,
                           factor: float, *, tile: int, normalisation: str = "percentile",
                           percentiles=(1.0, 99.8), name: str = "image") -> np.ndarray:
    """Probabilities (K, H, W) float32 of a field predicted at ``factor`` times its size.

    ``factor`` = image pixel size / training pixel size: a field imaged at 0.65 µm/px for a model
    trained at 0.325 µm/px is enlarged twofold, so its nuclei have the size the model learnt. The
    probabilities are resized back to the field's (H, W) (bilinear, which keeps 3-class maps summing
    to 1). ``factor`` 1 is plain :func:`predict_field`.
    """
    raw = np.asarray(raw)
    if factor == 1.0:
        return predict_field(model, run, raw, settings, tile=tile, normalisation=normalisation,
                             percentiles=percentiles, name=name)
    spatial = raw.shape[-2:]
    check_min_size(raw.shape, name, tile)
    scaled = _resize(raw, tuple(max(1, round(d * factor)) for d in spatial))
    prob = predict_field(model, run, scaled, settings, tile=tile, normalisation=normalisation,
                         percentiles=percentiles, name=name)
    return np.clip(_resize(prob, spatial), 0.0, 1.0)


def predict_field_scales(model: torch.nn.Module, run: RunConfig, raw: np.ndarray, settings: InferenceSettings,
                         scales, *, tile: int, normalisation: str = "percentile", percentiles=(1.0, 99.8),
                         name: str = "image") -> np.ndarray:
    """Foreground probabilities (S, H, W) float32 of one field predicted at several input scales
    (LipoPose's multi-scale inference): the field is resized by each scale (bilinear, anti-aliased
    when shrinking), predicted as usual and its map resized back to (H, W). For a 3-class model
    the foreground probability is 1 - P(background)."""
    from skimage.transform import resize

    raw = np.asarray(raw)
    spatial = raw.shape[-2:]
    maps = []
    for scale in scales:
        scale = float(scale)
        if not scale > 0:
            raise NucflowError(f"--scales: every scale must be > 0, got {scale}")
        if scale == 1.0:
            scaled = raw
        else:
            shape = raw.shape[:-2] + tuple(max(8, round(d * scale)) for d in spatial)
            scaled = resize(as_float32(raw), shape, order=1, preserve_range=True,
                            anti_aliasing=scale < 1).astype(np.float32)
        prob = predict_field(model, run, scaled, settings, tile=tile, normalisation=normalisation,
                             percentiles=percentiles, name=name)
        foreground = prob[0] if len(prob) == 1 else 1.0 - prob[0]
        if scale != 1.0:
            foreground = resize(foreground, spatial, order=1, preserve_range=True)
        maps.append(np.clip(foreground, 0.0, 1.0).astype(np.float32))
    return np.stack(maps)
