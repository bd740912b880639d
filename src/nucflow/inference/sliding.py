"""Sliding-window inference with Gaussian blending and optional D4 test-time augmentation.

Pure helpers in the style of nnU-Net: :func:`gaussian_weights` gives the per-pixel weight of a
tile (highest in the centre, so tile borders, where a network sees least context, count least),
:func:`window_starts` the tile positions, and :func:`predict_tiled` runs a network over an image of
any size in batches of tiles, so memory is bounded by the batch, not the image: only the output
accumulators, (K, H, W) float32, scale with the image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from nucflow.data.tiles import tile_starts
from nucflow.errors import NucflowError

# The dihedral group D4 on the last two axes: (number of 90° rotations, flip x first).
D4 = tuple((k, flip) for flip in (False, True) for k in range(4))


def gaussian_weights(size: int, sigma_scale: float = 0.125) -> np.ndarray:
    """(size, size) float32 weights: a Gaussian of sigma ``size * sigma_scale``, max 1, no zeros."""
    centre = (size - 1) / 2
    coords = np.arange(size, dtype=np.float64) - centre
    g1 = np.exp(-(coords**2) / (2 * (size * sigma_scale) ** 2))
    weights = np.outer(g1, g1)
    weights /= weights.max()
    return np.maximum(weights, weights[weights > 0].min()).astype(np.float32)


def window_starts(shape: tuple[int, int], tile: int, overlap: float) -> list[tuple[int, int]]:
    """Top-left corners of the tiles covering an (H, W) image (already padded to >= tile)."""
    return [(y, x) for y in tile_starts(shape[0], tile, overlap) for x in tile_starts(shape[1], tile, overlap)]


def _d4(x: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    if flip:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, k, dims=(-2, -1))


def _d4_inverse(x: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    x = torch.rot90(x, -k, dims=(-2, -1))
    return torch.flip(x, dims=(-1,)) if flip else x


def activation(logits: torch.Tensor) -> torch.Tensor:
    """Probabilities from logits: sigmoid for one channel, softmax over channels otherwise."""
    return torch.sigmoid(logits) if logits.shape[1] == 1 else torch.softmax(logits, dim=1)


def _batches(starts: list[tuple[int, int]], batch_size: int) -> Iterator[list[tuple[int, int]]]:
    for i in range(0, len(starts), batch_size):
        yield starts[i:i + batch_size]


@torch.inference_mode()
def predict_tiled(model: torch.nn.Module, image: np.ndarray, *, tile: int, overlap: float = 0.5,
                  batch_size: int = 4, device: str | torch.device = "cpu", tta: bool = False,
                  autocast_dtype: torch.dtype | None = None, channels_last: bool = False,
                  progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Probability maps (K, H, W) float32 in [0, 1] for a normalised image (C, H, W).

    Tiles of ``tile`` px overlap by ``overlap`` (fraction) and are blended with Gaussian weights.
    ``tta`` averages the probabilities over the eight D4 transforms. ``autocast_dtype`` (e.g.
    ``torch.bfloat16``) runs the network under autocast on ``device``; the probabilities are computed
    from float32 logits either way. ``channels_last`` converts the model's weights (in place) and
    the inputs to that memory format. ``progress`` is called with
    the number of tiles done after each batch.
    """
    if image.ndim != 3:
        raise NucflowError(f"expected a normalised (C, H, W) image, got shape {image.shape}")
    if not np.isfinite(image).all():
        raise NucflowError("image contains NaN or inf")
    model.eval()
    if channels_last:  # in place; a no-op for weights already in that format
        model.to(memory_format=torch.channels_last)
    device = torch.device(device)
    _, height, width = image.shape
    pad_h, pad_w = max(0, tile - height), max(0, tile - width)
    padded = np.pad(image, ((0, 0), (0, pad_h), (0, pad_w)), mode="reflect") if pad_h or pad_w else image
    weights = torch.from_numpy(gaussian_weights(tile)).to(device)
    starts = window_starts(padded.shape[1:], tile, overlap)
    source = torch.from_numpy(np.ascontiguousarray(padded, dtype=np.float32))
    accumulator = None
    norm = torch.zeros(padded.shape[1:], device=device)
    transforms = D4 if tta else ((0, False),)
    done = 0
    for batch in _batches(starts, batch_size):
        x = torch.stack([source[:, y:y + tile, x0:x0 + tile] for y, x0 in batch]).to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        prob = None
        for k, flip in transforms:
            with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                logits = model(_d4(x, k, flip))
            p = _d4_inverse(activation(logits.float()), k, flip)
            prob = p if prob is None else prob + p
        prob = prob / len(transforms)
        if accumulator is None:
            accumulator = torch.zeros((prob.shape[1],) + padded.shape[1:], device=device)
        for (y, x0), p in zip(batch, prob):
            accumulator[:, y:y + tile, x0:x0 + tile] += p * weights
            norm[y:y + tile, x0:x0 + tile] += weights
        done += len(batch)
        if progress is not None:
            progress(done)
    out = (accumulator / norm).clamp_(0.0, 1.0)[:, :height, :width]
    return out.cpu().numpy().astype(np.float32)
