"""Per-object shape measurements (the cell characteristics of Vasinkova et al. 2024).

Unit convention: every size column carries its unit as a suffix. Without a pixel size, lengths
end in ``_px`` and areas in ``_px2``; with ``pixel_size_um`` they end in ``_um`` and ``_um2``.
Dimensionless columns (circularity, solidity, eccentricity, shape_index) have no suffix.

Definitions (A = area, P = perimeter as estimated by ``skimage.measure.regionprops``, which
traces the 4-connected boundary and weights diagonal steps by sqrt(2)):

* circularity = 4 pi A / P**2 (1 for a disk; pixel perimeters make small objects slightly
  off, occasionally above 1; NaN when P = 0, i.e. a single pixel);
* solidity = A / area of the convex hull;
* equivalent radius = sqrt(A / pi);
* eccentricity of the ellipse with the same second moments (0 = circle);
* shape index = P / sqrt(A) (TrackMate's definition; 2 sqrt(pi) ~ 3.545 for a disk, larger for
  elongated or ragged outlines; NaN when P = 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from skimage.measure import regionprops_table

from nucflow.errors import NucflowError
from nucflow.evaluation.validate import check_labels

_PROPERTIES = ("label", "area", "perimeter", "solidity", "eccentricity")


def unit_suffixes(pixel_size_um: float | None) -> tuple[str, str]:
    """(length suffix, area suffix): ``("um", "um2")`` with a pixel size, else ``("px", "px2")``."""
    return ("um", "um2") if pixel_size_um is not None else ("px", "px2")


def object_morphology(labels, pixel_size_um: float | None = None) -> pd.DataFrame:
    """Shape measurements of every object in a label image.

    Args:
        labels: (H, W) non-negative integer instance labels (0 = background).
        pixel_size_um: edge length of a pixel in micrometres; None reports pixel units.

    Returns:
        DataFrame, one row per object in ascending id order, columns ``object_id,
        area_<a>, perimeter_<l>, equivalent_radius_<l>, circularity, solidity, eccentricity,
        shape_index`` with <l>/<a> the length/area unit suffixes (:func:`unit_suffixes`).
    """
    labels = check_labels(labels, "labels")
    if pixel_size_um is not None and not (np.isfinite(pixel_size_um) and pixel_size_um > 0):
        raise NucflowError(f"pixel_size_um: must be a positive number, got {pixel_size_um}")
    length, area_unit = unit_suffixes(pixel_size_um)
    scale = 1.0 if pixel_size_um is None else float(pixel_size_um)
    table = regionprops_table(labels, properties=_PROPERTIES)
    area_px = np.asarray(table["area"], dtype=np.float64)
    perimeter_px = np.asarray(table["perimeter"], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        circularity = np.where(perimeter_px > 0, 4 * np.pi * area_px / perimeter_px**2, np.nan)
        shape_index = np.where(perimeter_px > 0, perimeter_px / np.sqrt(area_px), np.nan)
    return pd.DataFrame({
        "object_id": np.asarray(table["label"], dtype=np.int64),
        f"area_{area_unit}": area_px * scale**2,
        f"perimeter_{length}": perimeter_px * scale,
        f"equivalent_radius_{length}": np.sqrt(area_px / np.pi) * scale,
        "circularity": circularity,
        "solidity": np.asarray(table["solidity"], dtype=np.float64),
        "eccentricity": np.asarray(table["eccentricity"], dtype=np.float64),
        "shape_index": shape_index,
    })
