"""OME-Zarr (NGFF 0.4 / zarr v2 and 0.5 / zarr v3) plates: import, predict with labels written back,
one-line errors. The plates are written by ome-zarr itself."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch
import zarr
from ome_zarr.format import FormatV04, FormatV05
from ome_zarr.writer import write_image, write_labels, write_plate_metadata, write_well_metadata
from skimage.draw import disk

from nucflow.cli import main
from nucflow.data import ngff
from nucflow.data.importers.omezarr import import_omezarr
from nucflow.errors import NucflowError
from nucflow.evaluation.matching import match
from nucflow.inference.model_spec import ModelSpec
from nucflow.inference.files import FilesRun, predict_files
from nucflow.inference.predict import InferenceSettings

SHAPE = (64, 80)
CENTRES = ((16, 16), (20, 56), (46, 36))
FIELDS = {"A/1": ("0", "1"), "B/3": ("0",)}
FORMATS = {"0.4": FormatV04, "0.5": FormatV05}
Z_GAIN = (0.5, 1.0, 0.3)  # stain brightness per z plane: plane 1 is in focus


def drawn_disks() -> np.ndarray:
    labels = np.zeros(SHAPE, np.uint16)
    for i, centre in enumerate(CENTRES, start=1):
        rr, cc = disk(centre, 8, shape=SHAPE)
        labels[rr, cc] = i
    return labels


def field_data(seed: int) -> np.ndarray:
    """(c, z, y, x) uint16: channel 0 Hoechst (disks, brightest at z = 1), channel 1 BF (10 (z + 1) + noise)."""
    rng = np.random.default_rng(seed)
    stain = (drawn_disks() > 0) * 1000 + rng.integers(0, 100, SHAPE)
    hoechst = np.stack([(stain * gain).astype(np.uint16) for gain in Z_GAIN])
    bright = np.stack([np.full(SHAPE, 10 * (z + 1), np.uint16) + rng.integers(0, 3, SHAPE).astype(np.uint16)
                       for z in range(3)])
    return np.stack([hoechst, bright])


def write_ngff_image(group, data: np.ndarray, fmt, with_labels: bool = False, pixel_um: float = 0.5,
                     units: bool = True) -> None:
    """``data`` (c, z, y, x) as an NGFF image; ``units=False`` leaves the axes without units (no pixel size)."""
    channels = [{"label": name, "color": "FFFFFF", "active": True,
                 "window": {"start": 0, "end": 1000, "min": 0, "max": 65535}} for name in ("Hoechst", "BF")]
    write_image(data, group, fmt=fmt, axes=["c", "z", "y", "x"], scale_factors=[2],
                scale={"c": 1.0, "z": 2.0, "y": pixel_um, "x": pixel_um},
                axes_units={"z": "micrometer", "y": "micrometer", "x": "micrometer"} if units else None,
                omero={"channels": channels})
    if with_labels:
        write_labels(drawn_disks(), group, name="nuclei", fmt=fmt, axes=["y", "x"], scale_factors=[2],
                     scale={"y": pixel_um, "x": pixel_um}, scaler=None)


def write_plate(path: Path, version: str = "0.5", with_labels: bool = False, *, units: bool = True,
                data: dict[str, np.ndarray] | None = None) -> Path:
    """An HCS plate: wells A/1 (two fields) and B/3 (one), channels Hoechst and BF, 3 z planes, 0.5 µm/px.

    ``data`` replaces the pixels of some fields (key ``A/1/1``: (c, z, y, x) array); ``units=False``
    writes axes without units."""
    fmt = FORMATS[version]()
    root = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
    write_plate_metadata(root, ["A", "B"], ["1", "2", "3"], list(FIELDS), fmt=fmt, field_count=2, name="test")
    seed = 0
    for well, fields in FIELDS.items():
        row, column = well.split("/")
        group = root.require_group(row).require_group(column)
        write_well_metadata(group, [{"path": f} for f in fields], fmt=fmt)
        for field in fields:
            pixels = (data or {}).get(f"{well}/{field}", field_data(seed))
            write_ngff_image(group.require_group(field), pixels, fmt, with_labels, units=units)
            seed += 1
    return path


def array_digest(path: Path) -> str:
    """SHA-256 over every file of the image's own arrays (not its labels/)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(path).rglob("*") if p.is_file() and "labels" not in p.relative_to(path).parts):
        digest.update(str(file.relative_to(path)).encode() + file.read_bytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------- import

@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_plate_import_without_masks_labels_from_the_stain(tmp_path, version, capsys):
    plate = write_plate(tmp_path / f"plate{version}.zarr", version)
    out = tmp_path / "out"
    assert main(["import", "omezarr", str(plate), "--dataset", "p", "--nuclear-channel", "Hoechst",
                 "--brightfield-channel", "BF", "--nucleus-diameter-um", "8", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "no masks for 3 of 3 images: their labels were made from the nuclear stain by classical(d=8.0um)" in printed
    table = pd.read_csv(out / "manifest.csv", dtype=str, keep_default_na=False)
    assert table["image_id"].tolist() == ["A01_f0", "A01_f1", "B03_f0"]
    assert table["well"].tolist() == ["A01", "A01", "B03"] and table["field"].tolist() == ["0", "1", "0"]
    assert set(table["pixel_size_um"]) == {"0.5"} and set(table["n_planes"]) == {"3"}
    assert set(table["label_source"]) == {"classical(d=8.0um)"}
    data = field_data(1)
    fluorescence = tifffile.imread(out / "p/fluorescence/A01_f1.tif")
    assert np.array_equal(fluorescence, data[0].max(axis=0))  # max projection over z
    assert np.array_equal(tifffile.imread(out / "p/brightfield/A01_f1.tif"), data[1])  # z planes, in order
    labels = tifffile.imread(out / "p/labels/A01_f1.tif")
    assert int(labels.max()) == 3 and match(drawn_disks(), labels, 0.95).tp == 3


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_plate_import_with_ngff_masks(tmp_path, version):
    plate = write_plate(tmp_path / "plate.zarr", version, with_labels=True)
    manifest = import_omezarr(plate / "B" / "3", tmp_path / "out", dataset="p", nuclear_channel="Hoechst",
                              label_image="nuclei")
    assert manifest.ids == ["B03_f0"] and manifest.label_sources().tolist() == ["given"]
    assert np.array_equal(tifffile.imread(manifest.file("B03_f0", "labels")), drawn_disks())


def test_plain_image_and_pixel_size(tmp_path):
    fmt = FormatV05()
    group = zarr.open_group(str(tmp_path / "cells.ome.zarr"), mode="w", zarr_format=3)
    write_ngff_image(group, field_data(0), fmt, pixel_um=0.65)
    image = ngff.list_images(tmp_path / "cells.ome.zarr")[0]
    assert (image.stem, image.pixel_size_um, image.axes, image.channel_names) == (
        "cells", 0.65, ("c", "z", "y", "x"), ("Hoechst", "BF"))
    manifest = import_omezarr(tmp_path / "cells.ome.zarr", tmp_path / "out", dataset="c", nuclear_channel="Hoechst")
    assert manifest.ids == ["cells"] and float(manifest.row("cells")["pixel_size_um"]) == 0.65


@pytest.mark.parametrize("argv, expected", [
    (["--nuclear-channel", "DAPI"], "no channel named 'DAPI' (--nuclear-channel); the image has 0: Hoechst, 1: BF"),
    (["--brightfield-channel", "BF"], "no masks (--label-image) and no nuclear channel (--nuclear-channel) to "
                                      "make labels from"),
    (["--nuclear-channel", "Hoechst", "--label-image", "cells"], "no labels entry named 'cells' (entries: none)"),
])
def test_import_errors_are_one_line(tmp_path, capsys, argv, expected):
    plate = write_plate(tmp_path / "plate.zarr")
    status = main(["import", "omezarr", str(plate), "--dataset", "p", "--out", str(tmp_path / "out"), *argv])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and expected in err
    assert not (tmp_path / "out").exists()


def test_plate_without_pixel_size_needs_the_option(tmp_path, capsys):
    plate = write_plate(tmp_path / "plate.zarr", units=False)
    argv = ["import", "omezarr", str(plate), "--dataset", "p", "--nuclear-channel", "Hoechst", "--nucleus-diameter-um",
            "8", "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and not (tmp_path / "out").exists()
    assert (f"{plate / 'A' / '1' / '0'}: the image states no physical pixel size (y/x axes without a known unit); "
            "give --pixel-size-um") in err
    assert main([*argv, "--pixel-size-um", "0.5"]) == 0
    assert set(pd.read_csv(tmp_path / "out" / "manifest.csv")["pixel_size_um"]) == {0.5}


def test_well_with_fields_of_different_shapes_is_named(tmp_path, capsys):
    plate = write_plate(tmp_path / "plate.zarr", data={"A/1/1": field_data(1)[..., :, :48]})
    status = main(["import", "omezarr", str(plate), "--dataset", "p", "--nuclear-channel", "Hoechst",
                   "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and not (tmp_path / "out").exists()
    assert (f"{plate / 'A' / '1'}: well A01 has fields of different shapes (f0 64 x 80, f1 64 x 48 px); the fields "
            "of one well must have one shape") in err
    assert import_omezarr(plate / "B" / "3", tmp_path / "b3", dataset="p", nuclear_channel="Hoechst").ids == ["B03_f0"]
    # wells may differ from each other
    plate = write_plate(tmp_path / "wells.zarr", data={"B/3/0": field_data(2)[..., :, :48]})
    manifest = import_omezarr(plate, tmp_path / "wells", dataset="p", nuclear_channel="Hoechst")
    assert tifffile.imread(manifest.file("B03_f0", "fluorescence")).shape == (64, 48)


def test_empty_and_saturated_fields_are_left_out_with_a_warning(tmp_path, capsys):
    """Regression: they were kept with all-zero labels, which train as "no nuclei"."""
    empty, saturated = field_data(1), field_data(2)
    empty[0] = 0
    saturated[0] = np.iinfo(np.uint16).max
    plate = write_plate(tmp_path / "plate.zarr", data={"A/1/1": empty, "B/3/0": saturated})
    out = tmp_path / "out"
    assert main(["import", "omezarr", str(plate), "--dataset", "p", "--nuclear-channel", "Hoechst",
                 "--brightfield-channel", "BF", "--nucleus-diameter-um", "8", "--out", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    reasons = {"A01_f1": "empty: every pixel of the nuclear stain is 0",
               "B03_f0": "saturated: every pixel of the nuclear stain is 65535"}
    assert [line for line in err if ": warning: " in line] == [
        f"{plate / 'A' / '1' / '1'}: warning: {reasons['A01_f1']}; the field is left out (no labels from its stain)",
        f"{plate / 'B' / '3' / '0'}: warning: {reasons['B03_f0']}; the field is left out (no labels from its stain)"]
    assert pd.read_csv(out / "manifest.csv")["image_id"].tolist() == ["A01_f0"]
    assert pd.read_csv(out / "left_out.csv").to_dict("list") == {"image_id": list(reasons),
                                                                "reason": list(reasons.values())}
    assert json.loads((out / "import.json").read_text())["n_left_out"] == 2


def test_not_an_ngff_path_is_one_line(tmp_path, capsys):
    folder = tmp_path / "tiffs"
    folder.mkdir()
    tifffile.imwrite(folder / "a.tif", drawn_disks())
    status = main(["import", "omezarr", str(folder), "--dataset", "p", "--nuclear-channel", "Hoechst",
                   "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert f"{folder}: not an OME-Zarr (NGFF) image or plate (no zarr group here)" in err
    group = zarr.open_group(str(tmp_path / "bare.zarr"), mode="w")
    group.create_group("A")
    with pytest.raises(NucflowError, match="bare.zarr: a zarr group, but not an NGFF plate, well or image"):
        ngff.list_images(tmp_path / "bare.zarr")


# --------------------------------------------------------------------------------------------- predict

class Threshold(torch.nn.Module):
    """A toy 'network': logit 40 (x - 0.5) of the normalised input, so the disks come out exactly."""

    def forward(self, x):
        return 40 * (x.mean(dim=1, keepdim=True) - 0.5)


def toy_spec() -> ModelSpec:
    return ModelSpec(run_id="toy", model="toy", width=1.0, modality="fluorescence", in_channels=1, out_channels=1,
                     planes=(), tile=32, normalisation="percentile", percentiles=(1.0, 99.8))


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_predict_writes_labels_into_the_plate(tmp_path, version):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Reader

    plate = write_plate(tmp_path / "plate.zarr", version)
    before = {f"{w}/{f}": array_digest(plate / w / f) for w, fields in FIELDS.items() for f in fields}
    run = FilesRun(settings=InferenceSettings(batch_size=4), method="published", channel="Hoechst")
    summary = predict_files(Threshold(), toy_spec(), [str(plate / "A" / "1" / "0")], tmp_path / "out", run)
    assert summary["status"].tolist() == ["ok"] and summary["count"].tolist() == [3]
    labels = tifffile.imread(tmp_path / "out" / "plate_A01_f0_labels.tif")
    assert match(drawn_disks(), labels, 0.9).tp == 3
    nodes = list(Reader(parse_url(str(plate / "A" / "1" / "0")))())  # what napari's plugin reads
    label_nodes = [n for n in nodes if n.load(Label) is not None]
    assert [n.metadata["name"] for n in label_nodes] == ["nucflow"]
    assert np.array_equal(np.asarray(label_nodes[0].data[0]), labels) and len(label_nodes[0].data) == 2
    assert array_digest(plate / "A" / "1" / "0") == before["A/1/0"]  # image arrays untouched
    image = ngff.read_image(plate / "A" / "1" / "0")
    assert image.labels == ("nucflow",)
    # the plate: every field; the done one is skipped, its labels entry not duplicated
    summary = predict_files(Threshold(), toy_spec(), [str(plate)], tmp_path / "out", run)
    assert summary["status"].tolist() == ["skipped", "ok", "ok"]
    assert sorted(p.name for p in (tmp_path / "out").glob("*_labels.tif")) == [
        "plate_A01_f0_labels.tif", "plate_A01_f1_labels.tif", "plate_B03_f0_labels.tif"]
    assert ngff.read_image(plate / "B" / "3" / "0").labels == ("nucflow",)
    assert all(array_digest(plate / key) == digest for key, digest in before.items())


def test_no_ngff_labels_and_missing_channel(tmp_path):
    plate = write_plate(tmp_path / "plate.zarr")
    run = FilesRun(settings=InferenceSettings(batch_size=4), method="published", channel="Hoechst", ngff_labels=None)
    predict_files(Threshold(), toy_spec(), [str(plate / "B" / "3" / "0")], tmp_path / "out", run)
    assert (tmp_path / "out" / "plate_B03_f0_labels.tif").is_file()
    assert ngff.read_image(plate / "B" / "3" / "0").labels == () and not (plate / "B" / "3" / "0" / "labels").exists()
    run = FilesRun(settings=InferenceSettings(batch_size=4), method="published", channel=None)
    summary = predict_files(Threshold(), toy_spec(), [str(plate / "A" / "1" / "0")], tmp_path / "out2", run)
    assert summary["status"].tolist() == ["error"]
    assert summary["message"][0].endswith("has 2 channels (0: Hoechst, 1: BF); say which with --channel NAME")


def tiny_run(root: Path) -> Path:
    """A run folder of a tiny random fluorescence U-Net and its training tile metadata."""
    import json

    from nucflow.models import build
    from nucflow.training.config import RunConfig

    tiles = root / "tiles" / "train.npz"
    tiles.parent.mkdir(parents=True)
    np.savez(tiles, meta=np.asarray(json.dumps({"size": 32, "normalisation": "percentile",
                                                 "percentiles": [1.0, 99.8], "pixel_size_um": 0.5})))
    run_dir = root / "runs" / "tiny"
    run_dir.mkdir(parents=True)
    run = RunConfig(run_id="tiny", model="unet", in_channels=1, modality="fluorescence", train_tiles=(str(tiles),),
                    val_tiles=(str(tiles),), batch_size=2, out_dir=str(run_dir), width=0.0625)
    run.to_json(run_dir / "run.json")
    torch.manual_seed(0)
    torch.save(build("unet", **run.model_kwargs).state_dict(), run_dir / "model.pt")
    return run_dir


def test_predict_cli_on_a_plate_field(tmp_path):
    plate = write_plate(tmp_path / "plate.zarr")
    run = tiny_run(tmp_path / "model")
    field = plate / "A" / "1" / "1"
    assert main(["predict", "--model", str(run), "--out", str(tmp_path / "out"), "--channel", "Hoechst",
                 "--ngff-labels-name", "mine", "--device", "cpu", str(field)]) == 0
    labels = tifffile.imread(tmp_path / "out" / "plate_A01_f1_labels.tif")
    assert ngff.read_image(field).labels == ("mine",)
    assert np.array_equal(ngff.read_labels(ngff.read_image(field), "mine"), labels)
    assert (tmp_path / "out" / "plate_A01_f1_objects.geojson").is_file()
    assert main(["predict", "--model", str(run), "--out", str(tmp_path / "out2"), "--channel", "Hoechst",
                 "--no-ngff-labels", "--device", "cpu", str(plate / "B" / "3" / "0")]) == 0
    assert ngff.read_image(plate / "B" / "3" / "0").labels == ()


def test_a_channel_name_two_channels_share_is_refused_and_an_index_is_accepted(tmp_path):
    """Regression: import and predict silently took the first of two channels named Hoechst."""
    from nucflow.data.ngff import NgffImage, channel_index

    image = NgffImage(path=tmp_path / "img.zarr", version="0.5", axes=("c", "y", "x"), shape=(3, 8, 8),
                      channel_names=("Hoechst", "BF", "Hoechst"), pixel_size_um=0.5)
    with pytest.raises(NucflowError) as info:
        channel_index(image, "Hoechst", "--nuclear-channel")
    assert str(info.value) == (f"{image.path}: channels 0 and 2 are both named 'Hoechst'; give the one you mean "
                               "by its index (--nuclear-channel 0)")
    assert channel_index(image, "2", "--nuclear-channel") == 2 and channel_index(image, "BF") == 1
    with pytest.raises(NucflowError, match=r"no channel 3 \(--channel\); the image has 3 channels \(0: Hoechst"):
        channel_index(image, "3")


def test_predict_does_not_replace_labels_it_did_not_write(tmp_path):
    """Regression: predict deleted and rewrote a labels entry of the image that it had not made (a
    hand-made ground truth named like its own entry) or that another model had made."""
    plate = write_plate(tmp_path / "plate.zarr", "0.5", with_labels=True)
    field = plate / "A" / "1" / "0"
    truth = array_digest(field / "labels" / "nuclei")
    run = FilesRun(settings=InferenceSettings(batch_size=4), method="published", channel="Hoechst",
                   ngff_labels="nuclei")
    summary = predict_files(Threshold(), toy_spec(), [str(field)], tmp_path / "out", run)
    assert summary["status"].tolist() == ["error"] and array_digest(field / "labels" / "nuclei") == truth
    assert summary["message"][0] == (f"{field}/labels/nuclei: a labels entry nucflow did not write; it is not "
                                     "replaced (give another name with --ngff-labels-name, or --overwrite)")
    # an entry another model wrote stays too; the same model's is redone
    model_a = {"run_id": "a", "weights_sha256": "a" * 64}
    first = FilesRun(settings=run.settings, method="published", channel="Hoechst", model=model_a)
    assert predict_files(Threshold(), toy_spec(), [str(field)], tmp_path / "a", first)["status"].tolist() == ["ok"]
    other = FilesRun(settings=run.settings, method="published", channel="Hoechst",
                     model={"run_id": "b", "weights_sha256": "b" * 64})
    message = predict_files(Threshold(), toy_spec(), [str(field)], tmp_path / "b", other)["message"][0]
    assert message.startswith(f"{field}/labels/nucflow: written by nucflow predict with model a; it is not replaced")
    again = FilesRun(settings=run.settings, method="watershed", channel="Hoechst", model=model_a)
    assert predict_files(Threshold(), toy_spec(), [str(field)], tmp_path / "a", again)["status"].tolist() == ["ok"]


def test_replacing_a_labels_entry_is_all_or_nothing(tmp_path, monkeypatch):
    """Regression: the labels entry was deleted, then written; a write that failed midway lost it."""
    import ome_zarr.writer

    plate = write_plate(tmp_path / "plate.zarr", "0.5")
    image = ngff.read_image(plate / "A" / "1" / "0")
    first = drawn_disks().astype(np.uint16)
    ngff.write_labels(image, "nucflow", first, properties={"key": "first"})
    real = ome_zarr.writer.write_labels

    def fails_midway(*args, **kwargs):
        real(*args, **kwargs)  # the new arrays are written ...
        raise OSError(28, "No space left on device")  # ... and then the disk is full

    monkeypatch.setattr(ome_zarr.writer, "write_labels", fails_midway)
    with pytest.raises(NucflowError, match="cannot write labels 'nucflow' .*No space left on device"):
        ngff.write_labels(ngff.read_image(image.path), "nucflow", np.zeros_like(first))
    monkeypatch.undo()
    kept = ngff.read_image(image.path)
    assert kept.labels == ("nucflow",) and not list((image.path / "labels").glob(".*"))
    assert np.array_equal(ngff.read_labels(kept, "nucflow"), first)
    (image.path / "labels" / ".nucflow.part-deadbeef").mkdir()  # left by a killed write
    ngff.write_labels(kept, "nucflow", first + 1)
    assert not list((image.path / "labels").glob(".*")) and ngff.read_image(image.path).labels == ("nucflow",)
