"""Run ids: each family writes and reads its own ids, and the workflow's train / finetune patterns
come from the same expressions."""

from __future__ import annotations

import re

import pytest

from nucflow.config import load_config
from nucflow.errors import NucflowError
from nucflow.study.layout import FocalRunId
from nucflow.study.plan import plan_runs
from nucflow.study.run_ids import (
    FINETUNE_RUN_ID_PATTERN,
    TRAIN_RUN_ID_PATTERN,
    ComparisonId,
    DataSizeId,
    LrFindId,
    SmoothingId,
    TransferId,
    VariantId,
    parse_run_id,
)

IDS = {
    "model_comparison-unet-bf-seven_lines-s0": ComparisonId("unet", "brightfield", "seven_lines", 0),
    "data_size-ppunet-fl-A549-n16-aug-s2": DataSizeId("ppunet", "fluorescence", "A549", 16, "aug", 2),
    "smoothing-unet-bf-seven_lines-ls0.05-s0": SmoothingId("unet", "brightfield", "seven_lines", 0.05, 0),
    "ablation-unet-double_skips+batch_norm-bf-seven_lines-s1":
        VariantId("ablation", "unet", "double_skips+batch_norm", "brightfield", "seven_lines", 1),
    "extensions-unet-three_class-bf-seven_lines-s0":
        VariantId("extensions", "unet", "three_class", "brightfield", "seven_lines", 0),
    "transfer-unet-bf-loloHepG2-source-s0": TransferId("unet", "brightfield", "loloHepG2", 0),
    "transfer-unet-bf-lncap_to_seven_lines-ft-target+source-n4-s1":
        TransferId("unet", "brightfield", "lncap_to_seven_lines", 1, "target+source", 4),
    "focal_planes-unet-lncap-r2-p4.0-s0": FocalRunId("unet", "lncap", (4, 0), 0),
    "lr_find-deeplabv3plus-fluorescence": LrFindId("deeplabv3plus", "fluorescence"),
    # a study with folds (splits.folds > 1): the fold ends the id
    "model_comparison-unet-bf-seven_lines-s0-f2": ComparisonId("unet", "brightfield", "seven_lines", 0, 2),
    "data_size-unet-bf-A549-n1-plain-s0-f0": DataSizeId("unet", "brightfield", "A549", 1, "plain", 0, 0),
    "smoothing-unet-bf-seven_lines-ls0.1-s0-f1": SmoothingId("unet", "brightfield", "seven_lines", 0.1, 0, 1),
    "ablation-unet-plain-bf-seven_lines-s0-f1": VariantId("ablation", "unet", "plain", "brightfield", "seven_lines",
                                                         0, 1),
    "transfer-unet-bf-loloA549-source-s0-f1": TransferId("unet", "brightfield", "loloA549", 0, fold=1),
    "transfer-unet-bf-loloA549-ft-target-n1-s0-f1": TransferId("unet", "brightfield", "loloA549", 0, "target", 1, 1),
    "focal_planes-unet-lncap-r1-p2-s0-f2": FocalRunId("unet", "lncap", (2,), 0, 2),
}


@pytest.mark.parametrize("text", sorted(IDS))
def test_each_family_reads_back_what_it_writes(text):
    assert IDS[text].key == text
    assert parse_run_id(text) == IDS[text]


def test_fine_tuning_is_a_field_of_the_id():
    finetune = parse_run_id("transfer-unet-bf-loloHepG2-ft-target-n1-s0")
    assert finetune.finetune and finetune.mode == "target" and finetune.n == 1
    assert finetune.source().key == "transfer-unet-bf-loloHepG2-source-s0" and not finetune.source().finetune
    with pytest.raises(NucflowError, match="both a mode and n"):
        TransferId("unet", "brightfield", "loloHepG2", 0, mode="target")
    folded = parse_run_id("transfer-unet-bf-loloHepG2-ft-target-n1-s0-f2")
    assert folded.source().key == "transfer-unet-bf-loloHepG2-source-s0-f2"


@pytest.mark.parametrize("text", ["model_comparison-UNet-bf-seven_lines-s0", "data_size-unet-bf-A549-n16-s0",
                                  "transfer-unet-bf-loloHepG2-ft-target-s0", "mystery-run"])
def test_an_id_no_family_writes_is_a_one_line_error(text):
    with pytest.raises(NucflowError, match=f"run id '{re.escape(text)}' is not one the study writes"):
        parse_run_id(text)


def _path_rule(pattern: str) -> re.Pattern:
    """The run id wildcard inside a rule's output path, as Snakemake builds it."""
    return re.compile(rf"results/runs/(?P<run_id>{pattern})/model\.pt$")


@pytest.mark.parametrize("folds", [1, 3])
@pytest.mark.parametrize("config", ["config/config.yaml", "config/paper.yaml", "config/smoke.yaml"])
def test_train_and_finetune_rules_split_the_plan_by_the_id_family(config, folds):
    loaded = load_config(config)
    loaded["splits"]["folds"] = folds
    runs = plan_runs(loaded)
    assert runs
    assert {parse_run_id(r.run_id).fold for r in runs if r.arm != "lr_range"} == ({None} if folds == 1
                                                                                    else {0, 1, 2})
    for run in runs:
        path = f"results/runs/{run.run_id}/model.pt"
        is_finetune = run.init_from is not None
        assert parse_run_id(run.run_id).key == run.run_id
        assert bool(_path_rule(FINETUNE_RUN_ID_PATTERN).match(path)) == is_finetune, run.run_id
        assert bool(_path_rule(TRAIN_RUN_ID_PATTERN).match(path)) != is_finetune, run.run_id
