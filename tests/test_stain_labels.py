"""Labels from the stain: label sources, the classical and model labellers, importers without masks,
``nucflow label`` (relabelled data set, comparison with the truth) and the manifest's label_source."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch
from skimage.draw import disk

from nucflow.cli import main
from nucflow.data.importers.folder import import_folder
from nucflow.data.manifest import load_manifest
from nucflow.labels.stain_labels import ClassicalLabeller, LabelSource, parse_label_source
from nucflow.inference.stain_model import make_labeller
from nucflow.errors import ManifestError, NucflowError
from nucflow.evaluation.matching import match
from nucflow.models import build
from nucflow.training.config import RunConfig

SHAPE = (64, 80)
CENTRES = ((16, 16), (20, 56), (46, 36))


def drawn_disks(radius: int = 8) -> np.ndarray:
    """(64, 80) uint16 labels: three disks, ids 1..3."""
    labels = np.zeros(SHAPE, np.uint16)
    for i, centre in enumerate(CENTRES, start=1):
        rr, cc = disk(centre, radius, shape=SHAPE)
        labels[rr, cc] = i
    return labels


def stain(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """A nuclear-stain image of ``labels``: 1000 inside, noise 0..99 everywhere."""
    return ((labels > 0) * 1000 + np.random.default_rng(seed).integers(0, 100, labels.shape)).astype(np.uint16)


# ------------------------------------------------------------------------------------------ sources

@pytest.mark.parametrize("text, kind, value", [
    ("", "given", "given"), (None, "given", "given"), (float("nan"), "given", "given"),
    ("given", "given", "given"), ("manual", "manual", "manual"),
    ("classical(d=8.0um)", "classical", "classical(d=8.0um)"), ("classical(d=12.5um)", "classical", "classical(d=12.5um)"),
    ("model:seven_lines-unet-fluorescence", "model", "model:seven_lines-unet-fluorescence"),
])
def test_label_sources_parse_and_print(text, kind, value):
    source = parse_label_source(text)
    assert source.kind == kind and source.text == value
    assert LabelSource("classical", diameter_um=8).text == "classical(d=8.0um)"


@pytest.mark.parametrize("text", ["cellpose", "classical(d=0um)", "classical(8um)", "model:", "classical(d=-3um)"])
def test_unknown_label_source_is_refused(text):
    with pytest.raises(NucflowError, match="is not a label source; expected given, manual"):
        parse_label_source(text)


def test_manifest_validates_and_summarises_label_source(toy_manifest):
    frame = pd.read_csv(toy_manifest)
    frame["label_source"] = ["classical(d=7.0um)"] * 3 + [""] * 9
    frame.to_csv(toy_manifest, index=False)
    assert load_manifest(toy_manifest).summary().endswith("labels: 3 classical(d=7.0um), 9 given")
    frame.loc[4, "label_source"] = "by hand"
    frame.to_csv(toy_manifest, index=False)
    with pytest.raises(ManifestError) as info:
        load_manifest(toy_manifest)
    assert str(info.value) == (f"{toy_manifest.resolve()} row 5 (image_id=toy_HeLa_04), column label_source: "
                               "'by hand' is not a label source; expected given, manual, classical(d=<diameter>um) "
                               "or model:<run id>")


# ----------------------------------------------------------------------------------------- labellers

def test_classical_labeller_finds_drawn_disks():
    truth = drawn_disks()
    labels = ClassicalLabeller(8.0)(stain(truth), 0.5, "disks")
    assert labels.dtype == np.uint16 and labels.shape == SHAPE and int(labels.max()) == 3
    matched = match(truth, labels, 0.95)
    assert (matched.tp, matched.fp, matched.fn) == (3, 0, 0)
    assert np.array_equal(ClassicalLabeller(8.0)(stain(truth), 0.5), labels)  # deterministic


def test_bad_labeller_options_are_one_line_errors():
    with pytest.raises(NucflowError, match="--labels-from 'watershed': expected classical or model:RUN"):
        make_labeller("watershed")
    with pytest.raises(NucflowError, match="--nucleus-diameter-um: 0.0 is not a nucleus diameter"):
        make_labeller("classical", 0.0)
    with pytest.raises(NucflowError, match="--model .*missing-run: not found"):
        make_labeller("model:missing-run")


def tiny_run(root: Path, modality: str = "fluorescence") -> Path:
    """A run folder of a tiny random U-Net and its training tile metadata."""
    tiles = root / "tiles" / "train.npz"
    tiles.parent.mkdir(parents=True, exist_ok=True)
    meta = {"size": 32, "normalisation": "percentile", "percentiles": [1.0, 99.8], "pixel_size_um": 0.5}
    np.savez(tiles, meta=np.asarray(json.dumps(meta)))
    run_dir = root / "runs" / "tiny"
    run_dir.mkdir(parents=True)
    run = RunConfig(run_id="tiny", model="unet", in_channels=1, modality=modality, train_tiles=(str(tiles),),
                    val_tiles=(str(tiles),), batch_size=2, out_dir=str(run_dir), width=0.0625)
    run.to_json(run_dir / "run.json")
    torch.manual_seed(0)
    torch.save(build("unet", **run.model_kwargs).state_dict(), run_dir / "model.pt")
    return run_dir


def test_model_labeller_runs_a_fluorescence_run(tmp_path):
    labeller = make_labeller(f"model:{tiny_run(tmp_path)}")
    assert labeller.source.text == "model:tiny"
    first = labeller(stain(drawn_disks()), 0.5, "disks")
    assert first.shape == SHAPE and first.dtype == np.uint16
    assert np.array_equal(labeller(stain(drawn_disks()), 0.5, "disks"), first)
    assert labeller.describe()["postprocess"] == "published"


def saturated_disks() -> np.ndarray:
    """Drawn disks whose bright stain fills 60 % of the field at the uint16 maximum."""
    image = stain(drawn_disks())
    image[: int(0.6 * SHAPE[0]) + 1] = np.iinfo(np.uint16).max
    return image


BLANK_FIELDS = {
    "empty": (lambda: np.zeros(SHAPE, np.uint16), "empty: every pixel of the nuclear stain is 0"),
    "flat": (lambda: np.full(SHAPE, 120.0, np.float32), "flat: every pixel of the nuclear stain is 120"),
    "saturated": (lambda: np.full(SHAPE, 255, np.uint8), "saturated: every pixel of the nuclear stain is 255"),
    "mostly_saturated": (saturated_disks, "saturated: 61 % of the nuclear stain's pixels are at its maximum, 65535, "
                                          "in a plateau rather than nuclei"),
    "noise": (lambda: stain(np.zeros(SHAPE, np.uint16)), "no stain above the noise: the stain's bright and dark "
                                                         "classes differ by"),
}


@pytest.mark.parametrize("method", ["classical", "model"])
@pytest.mark.parametrize("field", list(BLANK_FIELDS))
def test_empty_or_saturated_stain_is_left_out_with_a_warning(tmp_path, capsys, method, field):
    """Regression: such a field was kept with an all-zero label image, which trains as "no nuclei"."""
    spec = "classical" if method == "classical" else f"model:{tiny_run(tmp_path)}"
    labeller = make_labeller(spec, 8.0)
    make, reason = BLANK_FIELDS[field]
    assert labeller(make(), 0.5, f"plate/A/1/{field}") is None
    assert labeller.left_out[f"plate/A/1/{field}"].startswith(reason)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err == labeller.warnings[0] + "\n" and len(labeller.warnings) == 1
    assert err.startswith(f"plate/A/1/{field}: warning: {reason}")
    assert err.endswith("; the field is left out (no labels from its stain)\n")


def test_a_crowded_field_whose_nuclei_are_clipped_is_not_taken_for_a_plateau():
    """Regression: a confluent field with clipped Hoechst (over half its pixels at the maximum) was
    taken for a saturated, empty field; clipped nuclei split the field into many regions, a plateau
    into few."""
    from scipy import ndimage as ndi

    from nucflow.labels.stain_labels import saturated_plateau, stain_problem

    rows, cols = np.indices((64, 64))
    nuclei = np.zeros((64, 64))
    for r in range(6, 64, 13):
        for c in range(6, 64, 13):
            nuclei[(rows - r) ** 2 + (cols - c) ** 2 <= 36] = 1.0
    blurred = ndi.gaussian_filter(nuclei, 1.0) * 120_000 + 400 + 30 * np.random.default_rng(0).standard_normal((64, 64))
    crowded = np.clip(blurred, 0, 65535).astype(np.uint16)
    assert np.mean(crowded == 65535) > 0.5 and not saturated_plateau(crowded == 65535)
    assert stain_problem(crowded, 0.5) == "" and ClassicalLabeller(6.0)(crowded, 0.5, "crowded") is not None
    plateau = np.zeros((64, 64), bool)
    plateau[:40] = True
    assert saturated_plateau(plateau)


def test_stain_without_nuclei_found_warns(capsys):
    labeller = ClassicalLabeller(8.0)
    specks = stain(drawn_disks(radius=2))  # stained, but far below a fifth of an 8 µm nucleus
    assert labeller(specks, 0.5, "specks") is None
    assert capsys.readouterr().err == ("specks: warning: classical(d=8.0um) found no nuclei in the nuclear stain; "
                                       "the field is left out (no labels from its stain)\n")
    labeller(stain(drawn_disks()), 0.5, "disks")
    assert capsys.readouterr().err == "" and len(labeller.warnings) == 1
    with pytest.raises(NucflowError, match="^nan: the nuclear stain contains NaN or inf$"):
        labeller(np.full(SHAPE, np.nan, np.float32), 0.5, "nan")


def test_model_labeller_refuses_a_brightfield_run(tmp_path):
    run = tiny_run(tmp_path, modality="brightfield")
    with pytest.raises(NucflowError, match="run tiny is a brightfield model; labels from the stain need a "
                                           "fluorescence model"):
        make_labeller(f"model:{run}")


# ------------------------------------------------------------------------------- importers, no masks

def stain_folder(root: Path) -> Path:
    root.mkdir(parents=True)
    tifffile.imwrite(root / "a.tif", stain(drawn_disks()))
    tifffile.imwrite(root / "b.tif", stain(drawn_disks(), seed=1))
    return root


def test_folder_without_masks_gets_classical_labels(tmp_path, capsys):
    source = stain_folder(tmp_path / "in")
    status = main(["import", "folder", str(source), "--modality", "fluorescence", "--pixel-size-um", "0.5",
                   "--dataset", "d", "--nucleus-diameter-um", "8", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert status == 0
    assert "no masks for 2 of 2 images: their labels were made from the nuclear stain by classical(d=8.0um)" in out
    manifest = load_manifest(tmp_path / "out" / "manifest.csv", deep=True)
    assert manifest.label_sources().tolist() == ["classical(d=8.0um)"] * 2
    labels = tifffile.imread(manifest.file("a", "labels"))
    assert (match(drawn_disks(), labels, 0.95).tp, int(labels.max())) == (3, 3)
    record = json.loads((tmp_path / "out" / "import.json").read_text())["arguments"]["labels_from"]
    assert record == {"label_source": "classical(d=8.0um)", "method": "classical", "nucleus_diameter_um": 8.0}


def test_folder_with_some_masks_fills_the_rest_only_when_asked(tmp_path):
    source = stain_folder(tmp_path / "in")
    tifffile.imwrite(source / "a_masks.tif", drawn_disks())
    with pytest.raises(NucflowError, match="b.tif: image has no mask; give --labels-from classical"):
        import_folder(source, tmp_path / "out", modality="fluorescence", pixel_size_um=0.5, dataset="d")
    manifest = import_folder(source, tmp_path / "out", modality="fluorescence", pixel_size_um=0.5, dataset="d",
                             labeller=ClassicalLabeller(8))
    assert manifest.label_sources().tolist() == ["given", "classical(d=8.0um)"]


def test_brightfield_without_masks_is_a_one_line_error(tmp_path, capsys):
    source = stain_folder(tmp_path / "in")
    status = main(["import", "folder", str(source), "--modality", "brightfield", "--pixel-size-um", "0.5",
                   "--dataset", "d", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert "a.tif: image has no mask and there is no nuclear channel (--modality brightfield)" in err


# ------------------------------------------------------------------------------------- nucflow label

def test_label_writes_a_relabelled_data_set(toy_manifest, tmp_path, capsys):
    before = {p: p.read_bytes() for p in toy_manifest.parent.rglob("*") if p.is_file()}
    frame = pd.read_csv(toy_manifest)
    frame["labels"] = ""  # a data set without masks
    frame.to_csv(toy_manifest, index=False)
    out = tmp_path / "relabelled"
    assert main(["label", str(toy_manifest), "--labels-from", "classical", "--nucleus-diameter-um", "7",
                 "--out", str(out)]) == 0
    assert "labels of 12 images made from the nuclear stain by classical(d=7.0um)" in capsys.readouterr().out
    manifest = load_manifest(out / "manifest.csv", deep=True)
    assert set(manifest.label_sources()) == {"classical(d=7.0um)"}
    row = manifest.row("toy_HeLa_00")
    assert row["labels"] == "toy/labels/toy_HeLa_00.tif" and row["fluorescence"] == "../toy/img/toy_HeLa_00_fluorescence.tif"
    truth = tifffile.imread(manifest.file("toy_HeLa_00", "labels_true"))
    assert match(truth, tifffile.imread(manifest.file("toy_HeLa_00", "labels")), 0.8).tp == 3
    assert json.loads((out / "label.json").read_text())["label_source"] == "classical(d=7.0um)"
    before.pop(toy_manifest)
    assert all(p.read_bytes() == data for p, data in before.items())  # images untouched


def test_label_leaves_out_a_field_whose_stain_gives_no_labels(toy_manifest, tmp_path, capsys):
    """Regression: such a field was kept with an all-zero label image (trained as "no nuclei")."""
    frame = pd.read_csv(toy_manifest)
    flat = toy_manifest.parent / frame.loc[1, "fluorescence"]
    tifffile.imwrite(flat, np.zeros_like(tifffile.imread(flat)))
    out = tmp_path / "relabelled"
    assert main(["label", str(toy_manifest), "--labels-from", "classical", "--nucleus-diameter-um", "7",
                 "--out", str(out)]) == 0
    assert f"{flat}: warning: empty: every pixel of the nuclear stain is 0; the field is left out" in \
        capsys.readouterr().err
    manifest = load_manifest(out / "manifest.csv", deep=True)
    assert len(manifest.frame) == len(frame) - 1 and "toy_HeLa_01" not in set(manifest.frame["image_id"])
    assert pd.read_csv(out / "left_out.csv").values.tolist() == [
        ["toy_HeLa_01", "empty: every pixel of the nuclear stain is 0"]]
    assert json.loads((out / "label.json").read_text())["n_left_out"] == 1


def test_label_needs_a_stain_image(toy_manifest, tmp_path, capsys):
    frame = pd.read_csv(toy_manifest)
    frame.loc[1, "fluorescence"] = ""
    frame.to_csv(toy_manifest, index=False)
    status = main(["label", str(toy_manifest), "--labels-from", "classical", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert "row 2 (image_id=toy_HeLa_01): no fluorescence image to make labels from" in err
    assert not (tmp_path / "out").exists()


def test_compare_truth_table(toy_manifest, tmp_path):
    table_path = tmp_path / "noise.csv"
    assert main(["label", str(toy_manifest), "--compare-truth", "--labels-from", "classical",
                 "--nucleus-diameter-um", "7", "--table", str(table_path)]) == 0
    table = pd.read_csv(table_path)
    assert table["method"].tolist() == ["manifest", "classical(d=7.0um)"]
    given, classical = table.iloc[0], table.iloc[1]
    # the toy manifest's labels are its truth
    assert (given.n_images, given.n_true, given.n_labels, given.pixel_f1, given.object_f1_iou50,
            given.merges_per_100) == (12, 36, 36, 1.0, 1.0, 0.0)
    assert (classical.n_true, classical.n_labels, classical.object_f1_iou50, classical.merges_per_100) == (36, 36, 1.0, 0.0)
    assert 0.9 < classical.pixel_f1 < 1.0


def test_compare_truth_needs_labels_true(toy_manifest, capsys):
    frame = pd.read_csv(toy_manifest)
    frame["labels_true"] = ""
    frame.to_csv(toy_manifest, index=False)
    assert main(["label", str(toy_manifest), "--compare-truth"]) == 2
    assert "row 1 (image_id=toy_HeLa_00): no labels_true; --compare-truth needs the exact truth" in capsys.readouterr().err


def test_compare_against_the_manifest_labels_on_one_split(toy_manifest, tmp_path):
    """The classical baseline of a real-data study: classical labels scored against the given masks
    of the test images only."""
    splits = tmp_path / "splits.json"
    splits.write_text(json.dumps({"toy": {"train": ["toy_HeLa_00"], "test": ["toy_HeLa_01", "toy_HeLa_02"]}}))
    table_path = tmp_path / "baseline.csv"
    assert main(["label", str(toy_manifest), "--compare-truth", "--truth", "labels", "--labels-from", "classical",
                 "--nucleus-diameter-um", "7", "--splits", str(splits), "--split", "test",
                 "--table", str(table_path)]) == 0
    table = pd.read_csv(table_path)
    assert table["method"].tolist() == ["classical(d=7.0um)"]  # the manifest is the reference, not a row
    row = table.iloc[0]
    assert (row.n_images, row.n_true, row.n_labels, row.object_f1_iou50) == (2, 6, 6, 1.0)


def test_compare_split_errors_are_one_line(toy_manifest, tmp_path, capsys):
    splits = tmp_path / "splits.json"
    splits.write_text(json.dumps({"toy": {"test": ["toy_HeLa_99"]}}))
    base = ["label", str(toy_manifest), "--compare-truth", "--labels-from", "classical"]
    assert main([*base, "--splits", str(splits)]) == 2
    assert "--splits and --split go together" in capsys.readouterr().err
    assert main([*base, "--splits", str(splits), "--split", "test"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "image_id 'toy_HeLa_99' (of the split) is not in the manifest" in err
    assert main([*base, "--splits", str(splits), "--split", "val"]) == 2
    assert "split 'val' holds no images" in capsys.readouterr().err
    assert main(["label", str(toy_manifest), "--compare-truth", "--truth", "labels"]) == 2
    assert "--truth labels scores --labels-from methods" in capsys.readouterr().err
