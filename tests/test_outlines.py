"""Object outlines as GeoJSON (QuPath) and the per-object table's physical units."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch
from skimage.draw import disk

from nucflow.inference.model_spec import ModelSpec
from nucflow.inference.files import FilesRun, object_table, predict_files
from nucflow.inference.outlines import geojson_features, label_outlines, ring_area
from nucflow.inference.predict import InferenceSettings


def shapes() -> np.ndarray:
    """(40, 40) labels: 1 a disk, 2 a square with a square hole, 3 two diagonal pixels, 4 a 3 x 3 square."""
    labels = np.zeros((40, 40), np.uint16)
    rr, cc = disk((10, 10), 6)
    labels[rr, cc] = 1
    labels[20:30, 20:30] = 2
    labels[23:26, 23:26] = 0
    labels[5, 30] = labels[6, 31] = 3
    labels[32:35, 2:5] = 4
    return labels


def test_outlines_follow_pixel_edges():
    labels = shapes()
    outlines = label_outlines(labels)
    assert sorted(outlines) == [1, 2, 3, 4]
    assert outlines[4] == [[[(2, 32), (5, 32), (5, 35), (2, 35), (2, 32)]]]  # corners only, closed
    square, hole = outlines[2][0]
    assert ring_area(square) == 100 and ring_area(hole) == -9  # exterior positive, hole negative
    assert [len(polygon) for polygon in outlines[3]] == [1, 1]  # diagonal pixels: two polygons
    for object_id, polygons in outlines.items():  # polygon area = pixel count, exactly
        assert sum(ring_area(ring) for polygon in polygons for ring in polygon) == np.count_nonzero(labels == object_id)


def test_geojson_is_a_qupath_feature_collection():
    labels = shapes()
    table = object_table(labels, labels[None].astype(np.float64), ["fluorescence"], pixel_size_um=0.5)
    collection = geojson_features(labels, table, "img", "annotation")
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 4
    kinds = [f["geometry"]["type"] for f in collection["features"]]
    assert kinds == ["Polygon", "Polygon", "MultiPolygon", "Polygon"]
    feature = collection["features"][1]
    properties = feature["properties"]
    assert properties["objectType"] == "annotation" and properties["classification"]["name"] == "Nucleus"
    assert properties["nucflow_id"] == 2 and properties["name"] == "nucleus 2"
    assert properties["measurements"]["Area px^2"] == 91.0 and properties["measurements"]["Area µm^2"] == 91 * 0.25
    assert properties["measurements"]["Mean intensity fluorescence"] == 2.0
    assert len(feature["geometry"]["coordinates"]) == 2  # exterior and hole
    assert geojson_features(labels, table, "img", "annotation") == collection  # ids derive from stem and id
    json.dumps(collection, allow_nan=False)  # strict JSON: NaN became null


def test_object_table_in_pixels_and_micrometres():
    labels = np.zeros((20, 20), np.uint16)
    labels[2:6, 2:7] = 5
    table = object_table(labels, np.ones((1, 20, 20)), ["fluorescence"], pixel_size_um=0.5)
    assert list(table.columns) == ["id", "centroid_y", "centroid_x", "centroid_y_um", "centroid_x_um", "area_px2",
                                   "perimeter_px", "equivalent_radius_px", "area_um2", "perimeter_um",
                                   "equivalent_radius_um", "circularity", "solidity", "eccentricity", "shape_index",
                                   "mean_intensity_fluorescence", "pixel_size_um"]
    row = table.iloc[0]
    assert (row.centroid_y, row.centroid_x, row.centroid_y_um, row.centroid_x_um) == (3.5, 4.0, 1.75, 2.0)
    assert (row.area_px2, row.area_um2, row.pixel_size_um) == (20, 5.0, 0.5)
    plain = object_table(labels, np.ones((1, 20, 20)), ["fluorescence"])
    assert not [c for c in plain.columns if c.endswith(("_um", "_um2"))] and "pixel_size_um" not in plain.columns


class Threshold(torch.nn.Module):
    def forward(self, x):
        return 40 * (x.mean(dim=1, keepdim=True) - 0.5)


def test_predict_writes_geojson_and_micrometres_from_the_file(tmp_path):
    """An ImageJ TIFF stating 0.5 µm/px: the object table is in µm without --pixel-size-um."""
    image = np.random.default_rng(0).integers(0, 100, (64, 80)).astype(np.uint16)
    for centre in ((16, 16), (20, 56), (46, 36)):
        rr, cc = disk(centre, 8, shape=image.shape)
        image[rr, cc] += 1000
    tifffile.imwrite(tmp_path / "a.tif", image, imagej=True, resolution=(2.0, 2.0), metadata={"unit": "um"})
    spec = ModelSpec(run_id="toy", model="toy", width=1.0, modality="fluorescence", in_channels=1, out_channels=1,
                     planes=(), tile=32, normalisation="percentile", percentiles=(1.0, 99.8))
    run = FilesRun(settings=InferenceSettings(batch_size=4), method="published")
    summary = predict_files(Threshold(), spec, [str(tmp_path / "a.tif")], tmp_path / "out", run)
    assert summary["count"].tolist() == [3] and summary["pixel_size_um"].tolist() == [0.5]
    table = pd.read_csv(tmp_path / "out" / "a_objects.csv")
    labels = tifffile.imread(tmp_path / "out" / "a_labels.tif")
    assert table["area_um2"].tolist() == pytest.approx((table["area_px2"] * 0.25).tolist())
    assert set(table["pixel_size_um"]) == {0.5}
    collection = json.loads((tmp_path / "out" / "a_objects.geojson").read_text())
    assert len(collection["features"]) == 3
    areas = [ring_area([tuple(p) for p in f["geometry"]["coordinates"][0]]) for f in collection["features"]]
    assert areas == [np.count_nonzero(labels == i) for i in (1, 2, 3)] == table["area_px2"].tolist()
    assert {f["properties"]["objectType"] for f in collection["features"]} == {"detection"}
