"""Sample-preparation artifacts: debris clumps, fibres and bubbles, with their binary mask.

Every artifact changes the brightfield specimen (absorption and phase); debris and fibres are
sometimes autofluorescent and then also add signal to the nuclear-stain image, where the classical
ground-truth pipeline may mistake them for nuclei (a realistic source of label noise). Bubbles are
seen in brightfield only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

ARTIFACT_KINDS = ("debris", "fibre", "bubble")
KIND_PROBABILITIES = (0.5, 0.3, 0.2)
AUTOFLUORESCENT_PROBABILITY = {"debris": 0.5, "fibre": 0.3, "bubble": 0.0}


@dataclass(frozen=True)
class ArtifactLayer:
    """Artifacts of one field, all (H, W).

    Attributes:
        mask: uint8 1 inside an artifact footprint (dilated by ~1 µm), else 0.
        absorption: float32 extra absorption (unitless).
        phase: float32 extra phase (rad).
        stain: float32 extra autofluorescence in relative stain units.
        kinds: the kind of each artifact drawn, in order.
    """

    mask: np.ndarray
    absorption: np.ndarray
    phase: np.ndarray
    stain: np.ndarray
    kinds: tuple[str, ...]


def empty_layer(shape: tuple[int, int]) -> ArtifactLayer:
    zeros = np.zeros(shape, dtype=np.float32)
    return ArtifactLayer(np.zeros(shape, dtype=np.uint8), zeros, zeros.copy(), zeros.copy(), ())


def _blob(canvas: np.ndarray, centre, radius: float, value: float) -> None:
    """Add a soft disk (value at the centre) to ``canvas`` in place, on its bounding box only."""
    h, w = canvas.shape
    reach = 2.0 * radius + 1
    y0, y1 = max(int(centre[0] - reach), 0), min(int(centre[0] + reach) + 1, h)
    x0, x1 = max(int(centre[1] - reach), 0), min(int(centre[1] + reach) + 1, w)
    if y0 >= y1 or x0 >= x1:
        return
    dy = (np.arange(y0, y1) - centre[0])[:, None]
    dx = (np.arange(x0, x1) - centre[1])[None, :]
    d = np.sqrt(dy * dy + dx * dx) / radius
    canvas[y0:y1, x0:x1] += value / (1.0 + np.exp((d - 1.0) * 6.0))


def _debris(rng, shape, um):
    footprint = np.zeros(shape, dtype=np.float32)
    centre = rng.random(2) * np.array(shape)
    for j in range(rng.integers(4, 16)):
        offset = rng.normal(0.0, 5.0 / um, 2) if j else np.zeros(2)
        _blob(footprint, centre + offset, rng.uniform(1.0, 4.0) / um, 1.0)
    footprint = np.minimum(footprint, 1.0)
    return footprint, rng.uniform(0.15, 0.5), rng.uniform(0.3, 0.8)


def _fibre(rng, shape, um):
    length_px = rng.uniform(60.0, 300.0) / um
    steps = int(length_px * 2)
    heading = rng.random() * 2 * np.pi + np.cumsum(rng.normal(0.0, 0.03, steps))
    start = rng.random(2) * np.array(shape)
    path = start + 0.5 * np.cumsum(np.stack([np.sin(heading), np.cos(heading)], 1), axis=0)
    rows, cols = np.rint(path).astype(int).T
    ok = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
    line = np.zeros(shape, dtype=bool)
    line[rows[ok], cols[ok]] = True
    width_px = rng.uniform(0.7, 1.8) / um
    if not line.any():
        return np.zeros(shape, dtype=np.float32), 0.0, 0.0
    footprint = ndi.gaussian_filter(line.astype(np.float32), width_px) * (2.5 * width_px)
    return np.minimum(footprint, 1.0), rng.uniform(0.1, 0.3), rng.uniform(0.3, 0.6)


def _bubble(rng, shape, um, absorption, phase):
    radius = rng.uniform(15.0, 50.0) / um
    centre = rng.random(2) * np.array(shape)
    rim = rng.uniform(1.5, 3.0) / um
    h, w = shape
    reach = radius + 3 * rim
    y0, y1 = max(int(centre[0] - reach), 0), min(int(centre[0] + reach) + 1, h)
    x0, x1 = max(int(centre[1] - reach), 0), min(int(centre[1] + reach) + 1, w)
    footprint = np.zeros(shape, dtype=np.float32)
    if y0 >= y1 or x0 >= x1:
        return footprint
    d = np.hypot((np.arange(y0, y1) - centre[0])[:, None], (np.arange(x0, x1) - centre[1])[None, :])
    ring = np.exp(-((d - radius) ** 2) / (2 * rim * rim))
    inside = 1.0 / (1.0 + np.exp((d - radius) / (0.3 * rim)))
    absorption[y0:y1, x0:x1] += 0.5 * ring
    phase[y0:y1, x0:x1] -= 1.2 * inside
    footprint[y0:y1, x0:x1] = np.maximum(ring, inside)
    return footprint


def draw_artifacts(rng: np.random.Generator, shape: tuple[int, int], pixel_size_um: float,
                   stain_level: float = 1.0) -> ArtifactLayer:
    """One to three artifacts on an (H, W) field at ``pixel_size_um`` µm/px.

    ``stain_level`` scales autofluorescence relative to a typical nucleus.
    """
    absorption = np.zeros(shape, dtype=np.float32)
    phase = np.zeros(shape, dtype=np.float32)
    stain = np.zeros(shape, dtype=np.float32)
    footprint_all = np.zeros(shape, dtype=bool)
    kinds = []
    for _ in range(int(rng.integers(1, 4))):
        kind = ARTIFACT_KINDS[int(rng.choice(len(ARTIFACT_KINDS), p=KIND_PROBABILITIES))]
        kinds.append(kind)
        if kind == "bubble":
            footprint = _bubble(rng, shape, pixel_size_um, absorption, phase)
        else:
            maker = _debris if kind == "debris" else _fibre
            footprint, absorb, ph = maker(rng, shape, pixel_size_um)
            absorption += absorb * footprint
            phase += ph * footprint
            if rng.random() < AUTOFLUORESCENT_PROBABILITY[kind]:
                stain += rng.uniform(0.5, 2.0) * stain_level * footprint
        footprint_all |= footprint > 0.25
    grow = max(1, int(round(1.0 / pixel_size_um)))
    mask = ndi.binary_dilation(footprint_all, iterations=grow) if footprint_all.any() else footprint_all
    return ArtifactLayer(mask.astype(np.uint8), absorption, phase, stain, tuple(kinds))
