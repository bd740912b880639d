"""Object outlines as GeoJSON, for QuPath and other viewers of per-object annotations.

:func:`label_outlines` traces each object of a label image along its pixel edges, so a polygon's
area equals the object's pixel count exactly. Coordinates are ``(x, y)`` = (column, row) in pixels
of the full image, with the image's top-left corner at (0, 0) and pixel (r, c) covering
[c, c + 1] x [r, r + 1] (QuPath's convention). Rings keep only their corners; exterior rings
have positive shoelace area in these coordinates and holes negative (RFC 7946's counterclockwise
rule with y taken as up). Diagonal neighbours are separate (4-connectivity): an object whose
pixels form several 4-connected parts is a MultiPolygon.

:func:`geojson_features` writes one Feature per object, as QuPath reads it::

    {"type": "Feature", "id": "<uuid>",
     "geometry": {"type": "Polygon", "coordinates": [[[x, y], ...]]},
     "properties": {"objectType": "detection", "name": "nucleus 5",
                    "classification": {"name": "Nucleus", "color": [...]},
                    "measurements": {"Area px^2": 305.0, ...}, "nucflow_id": 5}}

The ``id`` is a UUID derived from the image's output stem and the object id, so the same labels
always give the same bytes.
"""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from nucflow.io import atomic_file

OBJECT_TYPES = ("detection", "annotation")
CLASS_NAME = "Nucleus"
CLASS_COLOR = (255, 0, 0)
#: UUIDs of features are derived from this namespace, the image stem and the object id
NAMESPACE = uuid.UUID("6f1d2c1e-8c52-4d0b-9a57-5f4f0f6b0c11")

Ring = list[tuple[int, int]]


def _edges(mask: np.ndarray) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Directed boundary edges ((x0, y0), (x1, y1)) of a boolean mask, foreground on the right
    when walking in image coordinates (y down)."""
    padded = np.pad(mask, 1)
    inner = padded[1:-1, 1:-1]
    edges = []
    for (dy, dx), start, end in (((-1, 0), (0, 0), (1, 0)),   # top: +x
                                 ((0, 1), (1, 0), (1, 1)),    # right: +y
                                 ((1, 0), (1, 1), (0, 1)),    # bottom: -x
                                 ((0, -1), (0, 1), (0, 0))):  # left: -y
        neighbour = padded[1 + dy:padded.shape[0] - 1 + dy, 1 + dx:padded.shape[1] - 1 + dx]
        rows, cols = np.nonzero(inner & ~neighbour)
        for r, c in zip(rows.tolist(), cols.tolist()):
            edges.append(((c + start[0], r + start[1]), (c + end[0], r + end[1])))
    return edges


def _link(edges) -> list[Ring]:
    """Closed rings from directed edges; at a vertex where two rings touch, turn right (towards the
    foreground), which keeps diagonal neighbours apart."""
    outgoing: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for start, end in sorted(edges):
        outgoing.setdefault(start, []).append(end)
    rings = []
    while outgoing:
        start = min(outgoing)
        ring = [start]
        previous, current = None, start
        while True:
            choices = outgoing[current]
            if len(choices) == 1 or previous is None:
                nxt = choices[0]
            else:
                din = (current[0] - previous[0], current[1] - previous[1])
                nxt = max(choices, key=lambda p: din[0] * (p[1] - current[1]) - din[1] * (p[0] - current[0]))
            choices.remove(nxt)
            if not choices:
                del outgoing[current]
            previous, current = current, nxt
            if current == start:
                break
            ring.append(current)
        rings.append(_corners(ring))
    return rings


def _corners(ring: Ring) -> Ring:
    """The ring without its collinear vertices, closed (first point repeated at the end)."""
    n = len(ring)
    kept = []
    for i in range(n):
        a, b, c = ring[i - 1], ring[i], ring[(i + 1) % n]
        if (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]) != 0:
            kept.append(b)
    return kept + kept[:1]


def ring_area(ring: Ring) -> float:
    """Shoelace area of a closed ring (positive for exterior rings here)."""
    x = np.asarray([p[0] for p in ring], np.float64)
    y = np.asarray([p[1] for p in ring], np.float64)
    return 0.5 * float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]))


def _polygons(rings: list[Ring]) -> list[list[Ring]]:
    """Group rings into polygons: each exterior ring with the holes that lie inside it."""
    exteriors = [r for r in rings if ring_area(r) > 0]
    holes = [r for r in rings if ring_area(r) < 0]
    polygons = [[r] for r in exteriors]
    for hole in holes:
        # the midpoint of one of its edges: on the hole, so inside exactly one exterior ring
        x, y = (hole[0][0] + hole[1][0]) / 2, (hole[0][1] + hole[1][1]) / 2
        for polygon in polygons:
            if _inside(polygon[0], x, y):
                polygon.append(hole)
                break
    return polygons


def _inside(ring: Ring, x: float, y: float) -> bool:
    """Even-odd point-in-polygon test."""
    inside = False
    for (x0, y0), (x1, y1) in zip(ring[:-1], ring[1:]):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def label_outlines(labels: np.ndarray) -> dict[int, list[list[Ring]]]:
    """Per object id (ascending), its polygons: each a list of rings, exterior first, then holes.

    ``labels`` is (H, W) non-negative integers, 0 = background. Ring points are (x, y) pixel
    corners in full-image coordinates.
    """
    labels = np.asarray(labels)
    outlines = {}
    for index, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        mask = labels[box] == index
        rings = _link(_edges(mask))
        dx, dy = box[1].start, box[0].start
        rings = [[(x + dx, y + dy) for x, y in ring] for ring in rings]
        outlines[index] = _polygons(rings)
    return outlines


def _measurements(row: pd.Series) -> dict:
    """QuPath measurement names -> values of one object table row (NaN becomes null)."""
    names = {"area_px2": "Area px^2", "perimeter_px": "Perimeter px", "equivalent_radius_px": "Equivalent radius px",
             "area_um2": "Area µm^2", "perimeter_um": "Perimeter µm", "equivalent_radius_um": "Equivalent radius µm",
             "centroid_x_um": "Centroid X µm", "centroid_y_um": "Centroid Y µm",
             "circularity": "Circularity", "solidity": "Solidity", "eccentricity": "Eccentricity",
             "shape_index": "Shape index"}
    out = {}
    for column, value in row.items():
        if column in names:
            name = names[column]
        elif str(column).startswith("mean_intensity_"):
            name = f"Mean intensity {str(column)[len('mean_intensity_'):]}"
        else:
            continue
        value = float(value)
        out[name] = value if math.isfinite(value) else None
    return out


def geojson_features(labels: np.ndarray, table: pd.DataFrame, stem: str, object_type: str = "detection") -> dict:
    """A GeoJSON FeatureCollection with one feature per object of ``labels`` (H, W).

    ``table`` is the object table of these labels (column ``id`` plus measurements, as
    :func:`nucflow.inference.files.object_table` writes it); its measurements go into each
    feature's ``measurements``. ``object_type`` is ``detection`` or ``annotation`` (QuPath's kinds).
    """
    if object_type not in OBJECT_TYPES:
        raise ValueError(f"object_type must be one of {OBJECT_TYPES}, got {object_type!r}")
    rows = {int(row["id"]): row for _, row in table.iterrows()}
    features = []
    for object_id, polygons in label_outlines(labels).items():
        coordinates = [[[list(p) for p in ring] for ring in polygon] for polygon in polygons]
        geometry = ({"type": "Polygon", "coordinates": coordinates[0]} if len(coordinates) == 1
                    else {"type": "MultiPolygon", "coordinates": coordinates})
        row = rows.get(object_id)
        properties = {"objectType": object_type, "name": f"nucleus {object_id}",
                      "classification": {"name": CLASS_NAME, "color": list(CLASS_COLOR)},
                      "isLocked": False, "nucflow_id": object_id,
                      "measurements": _measurements(row) if row is not None else {}}
        features.append({"type": "Feature", "id": str(uuid.uuid5(NAMESPACE, f"{stem}/{object_id}")),
                         "geometry": geometry, "properties": properties})
    return {"type": "FeatureCollection", "features": features}


def write_geojson(path: str | Path, collection: dict) -> Path:
    """Write a FeatureCollection atomically, compact and with a fixed key order (same input, same bytes)."""
    path = Path(path)
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(collection, separators=(",", ":"), allow_nan=False) + "\n")
    return path
