"""The model registry, shared blocks, FREM, U-Net / U-Net++ and ``nucflow models``.

The generic contract runs over every registered model (a model whose module does not exist yet is
skipped) on narrow networks and small tiles; published sizes are checked on width-1 models built
on the meta device (no arithmetic).
"""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest
import torch
from torch import nn

from nucflow.cli import main as cli_main
from nucflow.errors import NucflowError
from nucflow.models import MODEL_NAMES, build
from nucflow.models import models_cli, registry
from nucflow.models.blocks import crop_to, pad_to_multiple, scaled_channels
from nucflow.models.frem import FREM, resample_all
from nucflow.models.summary import SUMMARY_COLUMNS, count_macs, count_parameters

SMALL_WIDTH = 0.125


def require(name: str) -> str:
    """Skip the test if model ``name``'s module has not been written yet."""
    module = registry.REGISTRY[name].target.split(":")[0]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} not available yet")
    return name


def small(name: str, **kwargs) -> nn.Module:
    torch.manual_seed(0)
    return build(require(name), width=SMALL_WIDTH, **kwargs)


def meta_counts(name: str, **kwargs):
    with torch.device("meta"):
        model = build(require(name), **kwargs)
    return count_parameters(model)


# ---------------------------------------------------------------- contract for every model


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("in_channels", [1, 9])
def test_forward_backward_keeps_input_size(name, in_channels):
    model = small(name, in_channels=in_channels)
    for height, width in [(72, 72), (64, 40)]:
        model.zero_grad()
        images = torch.randn(2, in_channels, height, width)
        logits = model(images)
        assert logits.shape == (2, 1, height, width)
        logits.square().mean().backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_three_class_output(name):
    model = small(name, out_channels=3).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 64, 64)).shape == (1, 3, 64, 64)


# Regression: FREM placed right before a BatchNorm in training mode is undone by it (no effect);
# the factor-50 run must differ from the plain one while a factor-1 control must not.
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_frem_changes_training_outputs_only(name):
    plain = small(name)
    enhanced = small(name, frem={"channels": 1, "factor": 50.0})
    control = small(name, frem={"channels": 1, "factor": 1.0})
    state = plain.state_dict()
    enhanced.load_state_dict(state)  # FREM adds no weights or buffers
    control.load_state_dict(state)
    images = torch.randn(2, 1, 64, 64)

    def train_output(model):
        assert resample_all(model, torch.Generator().manual_seed(3)) == (model is not plain)
        model.train()
        torch.manual_seed(7)  # same dropout masks in every model
        return model(images)

    reference = train_output(plain)
    assert torch.allclose(train_output(control), reference, atol=1e-5)
    assert not torch.allclose(train_output(enhanced), reference, atol=1e-3)
    for model in (plain, enhanced):
        model.load_state_dict(state)  # undo BN running-statistic updates of the train passes
        model.eval()
    with torch.no_grad():
        assert torch.equal(enhanced(images), plain(images))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_unknown_option_is_named(name):
    with pytest.raises(NucflowError, match="bogus_option"):
        build(require(name), bogus_option=3)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_same_seed_same_weights(name):
    first, second = small(name).state_dict(), small(name).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_unknown_model_name_lists_valid_names():
    with pytest.raises(NucflowError, match="'resnet'.*unet, unetpp, deeplabv3plus, tiramisu, ppunet"):
        build("resnet")


@pytest.mark.parametrize("kwargs, word", [({"width": 0}, "width"), ({"in_channels": 0}, "in_channels"),
                                          ({"frem": {"channels": 2}}, "factor"),
                                          ({"frem": {"channels": 2, "factor": 5, "p": 1}}, "p"),
                                          ({"frem": {"channels": 10_000, "factor": 5}}, "10000")])
def test_bad_common_arguments(kwargs, word):
    with pytest.raises(NucflowError, match=word):
        build("unet", **kwargs)


# ---------------------------------------------------------------- published sizes (width 1)


def test_unetpp_matches_the_keras_reference_count():
    counts = meta_counts("unetpp")
    assert counts.keras_total == 9_041_601  # Nest_Net in MrGiovanni/UNetPlusPlus model_logic.py
    assert counts.params_trainable == 9_041_601 and counts.bn_buffers == 0


def test_unetpp_half_skip_convs_drops_one_conv_per_nested_skip_node():
    # X01, X02, X03 lose a 32->32 conv, X11, X12 a 64->64 conv, X21 a 128->128 conv (3x3 + bias).
    dropped = 3 * (32 * 9 * 32 + 32) + 2 * (64 * 9 * 64 + 64) + (128 * 9 * 128 + 128)
    assert meta_counts("unetpp", half_skip_convs=True).params == 9_041_601 - dropped


def test_unet_baseline_and_ablation_counts():
    # Baseline: 64 filters at every level, 2x2 transposed-conv up-sampling, 1x1 head.
    assert meta_counts("unet").params == 841_729
    # (a) one extra 3x3 64->64 conv per skip and a 64-channel wider first decoder conv, x4 levels.
    assert meta_counts("unet", double_skips=True).params == 841_729 + 4 * (36_928 + 64 * 9 * 64)
    # (b) + BN: gamma and beta per conv output channel (22 convs of 64: 8 encoder, 2 bottleneck, 8 decoder, 4 skip) plus 2 buffers each.
    counts = meta_counts("unet", double_skips=True, batch_norm=True)
    assert counts.params - meta_counts("unet", double_skips=True).params == 22 * 64 * 2
    assert counts.bn_buffers == 22 * 64 * 2


def test_tiramisu_103_has_about_9_4_million_parameters():
    assert meta_counts("tiramisu").params_trainable == pytest.approx(9.4e6, rel=0.03)


def test_ppunet_is_much_smaller_than_deeplabv3plus():
    ratio = meta_counts("deeplabv3plus").params / meta_counts("ppunet").params
    assert ratio > 5


def test_width_scales_filters():
    assert scaled_channels(64, 0.25) == 16 and scaled_channels(3, 0.1) == 1
    assert meta_counts("unet", width=0.5).params < meta_counts("unet").params / 3


# ---------------------------------------------------------------- U-Net++ options


def test_unetpp_deep_supervision_forward_is_mean_of_heads():
    model = small("unetpp", deep_supervision=True).eval()
    images = torch.randn(1, 1, 48, 48)
    with torch.no_grad():
        sides = model.side_logits(images)
        assert len(sides) == 4 and all(s.shape == (1, 1, 48, 48) for s in sides)
        assert torch.allclose(model(images), torch.stack(sides).mean(0))


# ---------------------------------------------------------------- FREM module


def test_frem_multiplies_the_same_channels_of_every_sample():
    frem = FREM(3, 5.0)
    features = torch.ones(2, 8, 3, 3)
    torch.manual_seed(0)
    out = frem(features)
    selected = frem.selected
    assert selected.tolist() == sorted(set(selected.tolist())) and len(selected) == 3
    expected = torch.ones(2, 8, 3, 3)
    expected[:, selected] = 5.0
    assert torch.equal(out, expected)
    torch.manual_seed(0)
    assert torch.equal(FREM(3, 5.0)(features), expected)  # first draw follows the global seed
    assert torch.equal(frem.eval()(features), features)


def test_frem_resample_is_seeded_and_changes_selection():
    frems = [FREM(2, 10.0, feature_channels=64) for _ in range(2)]
    for frem in frems:
        frem.resample(torch.Generator().manual_seed(5))
    assert torch.equal(frems[0].selected, frems[1].selected)
    generator = torch.Generator().manual_seed(5)
    draws = set()
    for _ in range(5):
        frems[0].resample(generator)
        draws.add(tuple(frems[0].selected.tolist()))
    assert len(draws) > 1


def test_frem_resample_before_channel_count_is_known_is_deterministic():
    selections = []
    for _ in range(2):
        frem = FREM(2, 10.0)
        frem.resample(torch.Generator().manual_seed(9))
        frem(torch.ones(1, 16, 2, 2))
        selections.append(frem.selected.tolist())
    assert selections[0] == selections[1]


# ---------------------------------------------------------------- blocks


def test_pad_and_crop_round_trip_small_and_odd_sizes():
    for height, width in [(5, 3), (1, 1), (32, 32)]:
        images = torch.arange(height * width, dtype=torch.float32).reshape(1, 1, height, width)
        padded, size = pad_to_multiple(images, 16)
        assert padded.shape[-2:] == (max(16, -(-height // 16) * 16), max(16, -(-width // 16) * 16))
        assert torch.equal(crop_to(padded, size), images)


# ---------------------------------------------------------------- summary and CLI


def test_macs_of_a_single_conv_and_transposed_conv():
    conv = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ConvTranspose2d(4, 3, 2, stride=2))
    # conv: 4*8*8 outputs x 2 inputs x 9; transposed: 4*8*8 inputs x 3 outputs x 4.
    assert count_macs(conv, in_channels=2, size=8) == 256 * 18 + 256 * 12


def test_models_cli_writes_table(tmp_path, capsys):
    out = tmp_path / "models.csv"
    rc = cli_main(["models", "--models", "unet", "unetpp", "--width", "0.125", "--size", "32",
                   "--repeats", "1", "--out", str(out)])
    assert rc == 0
    table = pd.read_csv(out)
    assert tuple(table.columns) == SUMMARY_COLUMNS
    assert table["model"].tolist() == ["unet", "unetpp"]
    assert (table["size"] == 32).all() and (table["macs"] > 0).all()


def test_models_cli_skips_unavailable_models_unless_named(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(registry, "REGISTRY", {"unet": registry.REGISTRY["unet"], "ghost": registry.ModelEntry(
        "ghost", "nucflow.models.ghost_net:Ghost", "Ghost", "#000000", 8, 4)})
    assert cli_main(["models", "--width", "0.125", "--size", "16", "--repeats", "1"]) == 0
    assert "skipping ghost" in capsys.readouterr().err
    assert cli_main(["models", "--models", "ghost", "--size", "16"]) == 2
    assert "ghost_net is not available" in capsys.readouterr().err


def test_ppunet_size_ratio_beside_the_papers_claim():
    import pandas as pd

    from nucflow.models.summary import ppunet_size_line, with_ppunet_ratio

    table = with_ppunet_ratio(pd.DataFrame({"model": ["deeplabv3plus", "tiramisu", "ppunet"],
                                            "params": [40_000_000, 9_000_000, 2_000_000]}))
    assert table["params_vs_ppunet"].tolist() == [20.0, 4.5, 1.0]
    assert ppunet_size_line(table) == ("PPU-Net parameters: 20.0x fewer than deeplabv3plus, 4.5x fewer than "
                                       "tiramisu (paper: about 20-fold fewer)")
    no_ppunet = with_ppunet_ratio(pd.DataFrame({"model": ["unet"], "params": [10]}))
    assert "params_vs_ppunet" not in no_ppunet and ppunet_size_line(no_ppunet) == ""


def test_every_registry_entry_is_named_as_run_ids_need():
    """Model names become part of run ids and file names: lower case letters and digits only."""
    for name, entry in registry.REGISTRY.items():
        assert registry.NAME_PATTERN.fullmatch(name) and entry.name == name, name
