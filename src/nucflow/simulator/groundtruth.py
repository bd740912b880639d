"""Where the simulated nuclei and cells are, and their exact rasterised maps.

:func:`place_nuclei` draws a :class:`NucleusLayout` (centres, shapes, brightness, z order) for one
field from a cell line's parameters; :func:`rasterise` turns it into the exact instance labels and
the physical maps the optics need (stain density, nucleus and cell heights, nucleoli). Loops run
over nuclei only, each on its own bounding box; every pixel operation is vectorised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nucflow.simulator.lines import LineParams

N_HARMONICS = 4  # boundary wobble uses harmonics 2..N_HARMONICS+1


@dataclass(frozen=True)
class NucleusLayout:
    """Nuclei of one field, in drawing order (a later nucleus lies on top of an earlier one).

    Arrays have length N (number of nuclei); lengths are in pixels.

    Attributes:
        centre_yx: (N, 2) float64 centre positions (px).
        semi_axes: (N, 2) float64 semi-major and semi-minor axis of the base ellipse (px).
        angle: (N,) float64 orientation of the major axis (rad).
        wobble: (N, N_HARMONICS, 2) float64 boundary harmonics as (amplitude, phase).
        brightness: (N,) float64 relative stain brightness (1 = typical).
        cell_scale: (N,) float64 cell radius / nucleus radius.
        cell_offset_yx: (N, 2) float64 shift of the cell centre from the nucleus centre (px).
        target_count: expected number of nuclei for the field before rejections.
    """

    centre_yx: np.ndarray
    semi_axes: np.ndarray
    angle: np.ndarray
    wobble: np.ndarray
    brightness: np.ndarray
    cell_scale: np.ndarray
    cell_offset_yx: np.ndarray
    target_count: float

    @property
    def count(self) -> int:
        return int(self.centre_yx.shape[0])


@dataclass(frozen=True)
class FieldMaps:
    """Exact maps of one field, each (H, W).

    Attributes:
        labels_true: uint32 instance labels 1..N in drawing order, 0 = background; where nuclei
            overlap, the pixel belongs to the upper (later) nucleus.
        stain: float32 relative stain density (sums where nuclei overlap).
        nucleus_height_um: float32 nucleus height above the cell body (µm).
        cell_height_um: float32 cell body height above the glass (µm); overlapping cells add up.
        nucleoli: float32 nucleolus density in [0, 1].
    """

    labels_true: np.ndarray
    stain: np.ndarray
    nucleus_height_um: np.ndarray
    cell_height_um: np.ndarray
    nucleoli: np.ndarray


def place_nuclei(rng: np.random.Generator, line: LineParams, shape: tuple[int, int],
                 pixel_size_um: float, density_scale: float = 1.0) -> NucleusLayout:
    """Draw the nuclei of one ``shape`` = (H, W) field at ``pixel_size_um`` µm/px.

    The count is Poisson with mean ``density_per_mm2 * density_scale * area``, and at least 1. A share
    ``clustering`` of nuclei sits around cluster centres (Gaussian offsets, ``cluster_radius_um``);
    the rest is uniform. Candidates closer to a placed nucleus than the sum of the radii are
    redrawn (a share ``overlap_fraction`` may come as close as 60 % of it); after 25 failed draws a
    nucleus is dropped. Centres lie inside the field.
    """
    height, width = shape
    area_mm2 = height * width * pixel_size_um**2 / 1e6
    target = line.density_per_mm2 * density_scale * area_mm2
    # At least one: the published fields (1080 px at 0.59 um/px, ~0.4 mm^2) always hold nuclei, and
    # an empty simulated field -- possible for a sparse line on a small field -- makes per-field
    # percentile normalisation stretch background noise to full range.
    n = max(1, int(rng.poisson(target)))
    radius_px = 0.5 * line.diameter_um / pixel_size_um
    sd_log = math.sqrt(math.log1p(line.diameter_cv**2))
    radii = radius_px * np.exp(rng.normal(-0.5 * sd_log**2, sd_log, n))
    ecc = np.clip(rng.normal(line.eccentricity, 0.1, n), 0.0, 0.95)
    ratio = np.sqrt(1.0 - ecc**2)  # minor / major
    # equal area to a circle of the drawn radius
    major = radii / np.sqrt(ratio)
    clustered = rng.random(n) < line.clustering
    overlapper = rng.random(n) < line.overlap_fraction
    n_clusters = max(1, int(math.ceil(clustered.sum() / 8.0)))
    cluster_centres = rng.random((n_clusters, 2)) * np.array([height, width])
    cluster_sd = line.cluster_radius_um / pixel_size_um

    placed = np.empty((n, 2))
    placed_radii = np.empty(n)
    keep = np.zeros(n, dtype=bool)
    k = 0
    for i in range(n):
        cluster = cluster_centres[rng.integers(n_clusters)]
        for _ in range(25):
            if clustered[i]:
                candidate = cluster + rng.normal(0.0, cluster_sd, 2)
            else:
                candidate = rng.random(2) * np.array([height, width])
            if not (0 <= candidate[0] < height and 0 <= candidate[1] < width):
                continue
            if k:
                dist = np.hypot(placed[:k, 0] - candidate[0], placed[:k, 1] - candidate[1])
                factor = 0.6 if overlapper[i] else 1.0
                if np.any(dist < factor * (placed_radii[:k] + radii[i])):
                    continue
            placed[k] = candidate
            placed_radii[k] = radii[i]
            keep[i] = True
            k += 1
            break
    idx = np.flatnonzero(keep)
    m = idx.size
    amplitude = line.irregularity * rng.random((m, N_HARMONICS)) / np.arange(1, N_HARMONICS + 1)
    phase = rng.random((m, N_HARMONICS)) * 2 * np.pi
    sd_b = math.sqrt(math.log1p(line.brightness_cv**2))
    cell_scale = line.cytoplasm_extent * rng.uniform(0.85, 1.2, m)
    offset_len = 0.35 * (cell_scale - 1.0) * radii[idx] * rng.random(m)
    offset_dir = rng.random(m) * 2 * np.pi
    return NucleusLayout(
        centre_yx=placed[:m].copy(),
        semi_axes=np.stack([major[idx], major[idx] * ratio[idx]], axis=1),
        angle=rng.random(m) * np.pi,
        wobble=np.stack([amplitude, phase], axis=2),
        brightness=np.exp(rng.normal(-0.5 * sd_b**2, sd_b, m)),
        cell_scale=cell_scale,
        cell_offset_yx=np.stack([offset_len * np.sin(offset_dir), offset_len * np.cos(offset_dir)], 1),
        target_count=float(target),
    )


def _local_shape(centre, semi_axes, angle, wobble, scale, shape):
    """Bounding box slices and (normalised radius / boundary radius) on it; > 1 is outside."""
    a, b = semi_axes[0] * scale, semi_axes[1] * scale
    reach = a * (1.0 + wobble[:, 0].sum()) + 1.0
    y0, y1 = max(int(centre[0] - reach), 0), min(int(centre[0] + reach) + 2, shape[0])
    x0, x1 = max(int(centre[1] - reach), 0), min(int(centre[1] + reach) + 2, shape[1])
    if y0 >= y1 or x0 >= x1:
        return None
    dy = (np.arange(y0, y1) + 0.5 - centre[0])[:, None]
    dx = (np.arange(x0, x1) + 0.5 - centre[1])[None, :]
    c, s = math.cos(angle), math.sin(angle)
    u = (dx * c + dy * s) / a
    v = (-dx * s + dy * c) / b
    rho = np.sqrt(u * u + v * v)
    theta = np.arctan2(v, u)
    boundary = np.ones_like(rho)
    for h in range(wobble.shape[0]):
        boundary += wobble[h, 0] * np.cos((h + 2) * theta + wobble[h, 1])
    return (slice(y0, y1), slice(x0, x1)), rho / boundary, (dy, dx)


def rasterise(layout: NucleusLayout, line: LineParams, shape: tuple[int, int],
              pixel_size_um: float, rng: np.random.Generator) -> FieldMaps:
    """Draw the nuclei, nucleoli and cells of ``layout`` on an (H, W) grid (see :class:`FieldMaps`)."""
    labels = np.zeros(shape, dtype=np.uint32)
    stain = np.zeros(shape, dtype=np.float32)
    nucleus_h = np.zeros(shape, dtype=np.float32)
    cell_h = np.zeros(shape, dtype=np.float32)
    nucleoli = np.zeros(shape, dtype=np.float32)
    n_nucleoli = rng.poisson(line.nucleoli, layout.count)
    cell_wobble_scale = 3.0
    for i in range(layout.count):
        centre = layout.centre_yx[i]
        # cell body: a smooth dome around an offset centre; where cells overlap they pile up
        cell = _local_shape(centre + layout.cell_offset_yx[i], layout.semi_axes[i], layout.angle[i],
                            layout.wobble[i] * np.array([cell_wobble_scale, 1.0]),
                            layout.cell_scale[i], shape)
        if cell is not None:
            box, r, _ = cell
            dome = (line.cell_height_um * np.clip(1.0 - r * r, 0.0, None) ** 0.6).astype(np.float32)
            cell_h[box] += dome
        local = _local_shape(centre, layout.semi_axes[i], layout.angle[i], layout.wobble[i], 1.0, shape)
        if local is None:
            continue
        box, r, (dy, dx) = local
        inside = r < 1.0
        if not inside.any():
            continue
        labels[box][inside] = i + 1
        profile = np.clip(1.0 - r * r, 0.0, None)
        spots = np.zeros(r.shape, dtype=np.float64)
        minor = layout.semi_axes[i, 1]
        for _ in range(n_nucleoli[i]):
            oy, ox = rng.normal(0.0, 0.3 * minor, 2)
            size = max(0.8 / pixel_size_um, 0.12 * minor) * rng.uniform(0.7, 1.3)
            spots += np.exp(-((dy - oy) ** 2 + (dx - ox) ** 2) / (2 * size * size))
        spots = np.minimum(spots, 1.0) * inside
        nucleoli[box] = np.maximum(nucleoli[box], spots)
        stain[box] += (layout.brightness[i] * profile**0.25 * (1.0 - 0.45 * spots)).astype(np.float32)
        height = (line.nucleus_height_um * profile**0.25).astype(np.float32)
        np.maximum(nucleus_h[box], height, out=nucleus_h[box])
    return FieldMaps(labels, stain, nucleus_h, cell_h, nucleoli)
