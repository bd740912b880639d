"""Tile selections and evaluation sets: one way to write each, one way to read it back."""

from __future__ import annotations

import re

import pytest

from nucflow.errors import NucflowError
from nucflow.inference.predict_cli import parse_eval_set
from nucflow.study.layout import EvalSet, TileSelection


@pytest.mark.parametrize("key, selection, options", [
    ("train", TileSelection("train"), ["--split train"]),
    ("val-fg", TileSelection("val", foreground=True), ["--split val"]),
    ("train-n16-linesA549-fg", TileSelection("train", n=16, lines=("A549",), foreground=True),
     ["--split train", "--n 16", "--lines A549"]),
    ("train-n4-exHepG2", TileSelection("train", n=4, exclude_lines=("HepG2",)),
     ["--split train", "--n 4", "--exclude-lines HepG2"]),
    ("val-linesHeLa+MCF7", TileSelection("val", lines=("HeLa", "MCF7")), ["--split val", "--lines HeLa MCF7"]),
    ("f2-train-n16-linesA549-fg", TileSelection("train", n=16, lines=("A549",), foreground=True, fold=2),
     ["--split train", "--n 16", "--lines A549", "--fold 2"]),
    ("f0-val", TileSelection("val", fold=0), ["--split val", "--fold 0"]),
])
def test_tile_selection_key_parse_and_options(key, selection, options):
    assert TileSelection.parse(key) == selection
    assert selection.key == key
    assert selection.tiles_options() == options


@pytest.mark.parametrize("bad", ["", "training", "train-n", "train-fg-n4", "train-linesA-exB", "train-lines",
                                 "train-f1", "f-train", "fold1-train"])
def test_tile_selection_refuses_what_it_cannot_read(bad):
    with pytest.raises(NucflowError, match="tile selection"):
        TileSelection.parse(bad)


def test_tile_selection_checks_its_fields():
    with pytest.raises(NucflowError, match="split 'tests'"):
        TileSelection("tests")
    with pytest.raises(NucflowError, match="not both"):
        TileSelection("train", lines=("A",), exclude_lines=("B",))
    assert TileSelection.parse("train-n2").with_foreground().key == "train-n2-fg"


@pytest.mark.parametrize("text, key, eval_set", [
    ("seven_lines:test", "seven_lines-test", EvalSet("seven_lines", "test")),
    ("seven_lines:test:A549", "seven_lines-test-A549", EvalSet("seven_lines", "test", lines=("A549",))),
    ("seven_lines:test:exA549+HeLa", "seven_lines-test-exA549+HeLa",
     EvalSet("seven_lines", "test", exclude_lines=("A549", "HeLa"))),
    ("lncap:val", "lncap-val", EvalSet("lncap", "val")),
    ("seven_lines:f1:test:exA549", "seven_lines-f1-test-exA549",
     EvalSet("seven_lines", "test", exclude_lines=("A549",), fold=1)),
    ("lncap:f0:val", "lncap-f0-val", EvalSet("lncap", "val", fold=0)),
])
def test_eval_set_text_and_key(text, key, eval_set):
    assert EvalSet.parse(text) == eval_set == EvalSet.parse(key)
    assert (eval_set.text, eval_set.key) == (text, key)


def test_eval_set_on_the_command_line():
    assert parse_eval_set("seven_lines:test") == ("seven_lines", "test", None, None)
    assert parse_eval_set("seven_lines:test:A+B") == ("seven_lines", "test", ["A", "B"], None)
    assert parse_eval_set("seven_lines:test:exA") == ("seven_lines", "test", None, ["A"])
    for bad in ("seven_lines", "seven_lines:holdout", "a:test:b:c", ":test"):
        with pytest.raises(NucflowError, match=f"--eval-set '{bad}': expected dataset:split"):
            parse_eval_set(bad)


def test_focal_run_ids_and_groups():
    from nucflow.study.layout import FocalGroup, FocalRunId

    run = FocalRunId("unet", "seven_lines", (4, 0), 1)
    assert run.key == "focal_planes-unet-seven_lines-r2-p4.0-s1" and run.round == 2
    assert FocalRunId.parse(run.key) == run
    assert FocalRunId.parse("focal_planes-unet-seven_lines-r3-p4.0-s1") is None  # round disagrees with planes
    assert FocalRunId.parse("model_comparison-unet-bf-seven_lines-s0") is None
    assert FocalGroup.parse("deeplabv3plus-s2") == FocalGroup("deeplabv3plus", 2)
    assert FocalGroup("unet", 0).key == "unet-s0"
    with pytest.raises(NucflowError, match="expected <model>-s<seed>"):
        FocalGroup.parse("unet")


def test_workflow_patterns_match_what_the_layout_writes():
    import re

    from nucflow.study import layout

    for key in ("train", "val-fg", "train-n16-linesA549-fg", "train-n4-exHepG2+HeLa", "test-linesMCF7"):
        assert re.fullmatch(layout.SELECTION_PATTERN, TileSelection.parse(key).key)
    for text in ("seven_lines:test", "seven_lines:test:A549+HeLa", "lncap:val:exA549"):
        assert re.fullmatch(layout.EVAL_SET_PATTERN, EvalSet.parse(text).key)
    assert re.fullmatch(layout.FOCAL_GROUP_PATTERN, layout.FocalGroup("unetpp", 3).key)


def test_focal_round_folders():
    from nucflow.study.layout import LAYOUT, FocalGroup

    assert LAYOUT.focal_round(FocalGroup("unet", 1).key, 3) == "results/focal_planes/unet-s1/round3"
    assert FocalGroup.round_of("results/focal_planes/unet-s1/round3") == 3
    with pytest.raises(NucflowError, match=r"^results/x/round: expected a round<k> folder$"):
        FocalGroup.round_of("results/x/round")


def test_layout_gives_paths_and_rule_patterns_from_one_place():
    from nucflow.study.layout import LAYOUT, Layout

    assert LAYOUT.metrics("r1", "lncap-test", "published", "summary.json") == \
        "results/runs/r1/metrics/lncap-test/published/summary.json"
    assert LAYOUT.prob_dir("{run_id}", "{eval_set}") == "results/runs/{run_id}/prob/{eval_set}"
    assert LAYOUT.tiles("seven_lines", "brightfield", "4", "train-n16", ".aug.npz") == \
        "results/tiles/seven_lines/brightfield-4/train-n16.aug.npz"
    assert LAYOUT.lr_find_result("unet", "brightfield") == "results/lr_find/unet-brightfield/lr.json"
    assert LAYOUT.arm_table("smoothing", "best.json") == "results/tables/smoothing/best.json"
    assert LAYOUT.label_noise("lncap", 0) == "results/attribution/model_comparison/label_noise/lncap-s0"
    assert Layout("out").run_attribution("r", "e", "m", "tables") == "out/runs/r/attribution/e/m/tables"
    assert Layout("out").figure("04_model_comparison", "pdf") == "out/figures/04_model_comparison.pdf"


def test_a_plane_set_has_one_maker_for_each_spelling():
    from nucflow.errors import NucflowError
    from nucflow.study.layout import PlaneSet

    cycled = PlaneSet((4, 2, 4, 2))
    assert (cycled.key, cycled.option, cycled.order().key, cycled.order().label) == ("4.2.4.2", "4,2,4,2", "4.2", "{4, 2}")
    assert PlaneSet.parse("4.2.4.2") == cycled and PlaneSet.parse_option("4,2,4,2") == cycled
    assert PlaneSet().key == "none" and PlaneSet.parse("none") == PlaneSet() and PlaneSet().option == ""
    for bad, message in (("4.x", "planes '4.x': expected plane numbers separated by '.'"),
                         ("-1", "planes '-1': plane numbers start at 0")):
        with pytest.raises(NucflowError, match=re.escape(message)):
            PlaneSet.parse(bad)
    with pytest.raises(NucflowError, match=re.escape("--planes '4.2': expected plane numbers separated by ','")):
        PlaneSet.parse_option("4.2")


def test_eval_set_without_its_fold():
    folded = EvalSet.parse("seven_lines-f2-test-A549")
    assert folded.without_fold().key == "seven_lines-test-A549"
    assert EvalSet.parse("f1-test") == EvalSet("f1", "test")  # a data set named f1: no fold part

