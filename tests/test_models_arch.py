"""Architecture checks for DeepLabv3+, Tiramisu (FC-DenseNet) and PPU-Net.

The generic contract (shapes, gradients, options) runs on narrow networks and small tiles; the
published sizes (parameter counts, filter counts) are checked on width-1 models without a forward
pass.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nucflow.errors import NucflowError
from nucflow.models.deeplabv3plus import ASPP, DeepLabV3Plus, SeparableConvBNReLU
from nucflow.models.ppunet import PPUNet, PyramidPooling
from nucflow.models.tiramisu import VARIANTS, Tiramisu

# (class, width, options that make train mode deterministic apart from FREM)
NARROW = {
    "deeplabv3plus": (DeepLabV3Plus, 0.125, {}),
    "tiramisu": (Tiramisu, 0.125, {}),
    "ppunet": (PPUNet, 0.25, {}),
}
NAMES = sorted(NARROW)
# Down-sampling of the feature map each model's FREM sees.
FREM_STRIDE = {"deeplabv3plus": 16, "tiramisu": 32, "ppunet": 32}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Many tiny ops: on a shared 2-core machine, intra-op threads spin far more than they help."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def narrow(name: str, **kwargs) -> nn.Module:
    cls, width, options = NARROW[name]
    torch.manual_seed(0)
    return cls(width=width, **{**options, **kwargs})


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("in_channels", [1, 9])
def test_output_size_equals_input_size(name, in_channels):
    model = narrow(name, in_channels=in_channels)
    for height, width in [(64, 64), (72, 50)]:
        images = torch.randn(2, in_channels, height, width)
        assert model(images).shape == (2, 1, height, width)


@pytest.mark.parametrize("name", NAMES)
def test_three_output_channels_and_finite_gradients_for_every_parameter(name):
    model = narrow(name, out_channels=3)
    logits = model(torch.randn(2, 1, 40, 56))
    assert logits.shape == (2, 3, 40, 56)
    logits.square().mean().backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_same_weights_and_logits(name):
    first, second = narrow(name).eval(), narrow(name).eval()
    images = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(first(images), second(images))


@pytest.mark.parametrize("name", NAMES)
def test_unknown_option_is_rejected(name):
    with pytest.raises(TypeError):
        narrow(name, kernel_size=5)


@pytest.mark.parametrize("name", NAMES)
def test_frem_changes_training_output_only(name):
    extra = {"dropout": 0.0} if name == "tiramisu" else {}
    plain = narrow(name, **extra)
    enhanced = narrow(name, frem={"channels": 1, "factor": 50.0}, **extra)
    enhanced.load_state_dict(plain.state_dict())
    seen_shapes = []
    enhanced.frem.register_forward_hook(lambda module, inputs, output: seen_shapes.append(output.shape))
    images = torch.randn(2, 1, 64, 64)

    with torch.no_grad():  # eval first: a training forward updates the BN running statistics
        assert torch.equal(plain.eval()(images), enhanced.eval()(images))
        # atol: a scaling that batch normalisation undoes would differ only by rounding
        assert not torch.allclose(plain.train()(images), enhanced.train()(images), atol=1e-3)
    stride = FREM_STRIDE[name]
    assert seen_shapes[0][-2:] == (64 // stride, 64 // stride)


@pytest.mark.parametrize("name", NAMES)
def test_frem_larger_than_the_feature_map_fails_at_construction(name):
    with pytest.raises(NucflowError, match="frem.channels"):
        narrow(name, frem={"channels": 10_000, "factor": 2.0})


# --- DeepLabv3+ ----------------------------------------------------------------------------------

def test_deeplab_xception_has_16_middle_units_of_three_separable_728_convs():
    model = DeepLabV3Plus(width=0.125)
    units = model.backbone.middle_units
    assert len(units) == 16
    for unit in units:
        assert len(unit.units) == 3
        assert all(conv.pointwise.out_channels == round(728 * 0.125) for conv in unit.units)
    entry_out = [block.units[2].pointwise.out_channels for block in model.backbone.entry_blocks]
    assert entry_out == [round(c * 0.125) for c in (128, 256, 728)]


def test_deeplab_aspp_rates_and_output_strides():
    model = DeepLabV3Plus(width=0.125)
    assert model.aspp.rates == (6, 12, 18)
    dilations = [branch.depthwise.dilation for branch in model.aspp.branches[1:]]
    assert dilations == [(6, 6), (12, 12), (18, 18)]
    # Exit flow: the last block is dilated instead of strided (output stride 16).
    assert all(conv.depthwise.dilation == (2, 2) for conv in model.backbone.exit_blocks[1].units)
    deep, low_level = model.backbone(torch.randn(1, 1, 64, 96))
    assert deep.shape[-2:] == (4, 6) and low_level.shape[-2:] == (16, 24)
    assert deep.shape[1] == round(2048 * 0.125) and low_level.shape[1] == round(256 * 0.125)


def test_deeplab_plain_head_uses_dense_atrous_convolutions():
    model = DeepLabV3Plus(width=0.125, separable_head=False)
    assert not any(isinstance(m, SeparableConvBNReLU) for m in model.aspp.modules())
    assert [branch[0].dilation for branch in model.aspp.branches[1:]] == [(6, 6), (12, 12), (18, 18)]
    assert model(torch.randn(2, 1, 48, 48)).shape == (2, 1, 48, 48)


def test_aspp_image_pooling_branch_trains_with_batch_size_one():
    aspp = ASPP(8, 4, (1, 2), separable=True).train()
    assert aspp(torch.randn(1, 8, 5, 7)).shape == (1, 4, 5, 7)


# --- Tiramisu ------------------------------------------------------------------------------------

def test_tiramisu_103_has_the_published_size():
    model = Tiramisu()
    assert abs(n_params(model) - 9.4e6) / 9.4e6 < 0.03
    assert [len(b.layers) for b in model.down_blocks] == [4, 5, 7, 10, 12]
    assert len(model.bottleneck.layers) == 15
    assert [len(b.layers) for b in model.up_blocks] == [12, 10, 7, 5, 4]
    assert model.first_conv.out_channels == 48
    assert all(layer[2].out_channels == 16 for layer in model.bottleneck.layers)
    # Only the new maps are up-sampled: 15 * 16 from the bottleneck, then 12 * 16, ...
    assert [t.in_channels for t in model.transitions_up] == [240, 192, 160, 112, 80]
    # The last block's full stack (80 up-sampled + 112 skip + 4 * 16 new) feeds the classifier.
    assert model.classifier.in_channels == 256


@pytest.mark.parametrize("variant, layers, growth, published_params", [
    ("67", 5, 16, 3.5e6), ("56", 4, 12, 1.5e6)])
def test_tiramisu_small_variants(variant, layers, growth, published_params):
    model = Tiramisu(variant=variant)
    assert model.layout == VARIANTS[variant]
    assert all(len(b.layers) == layers for b in [*model.down_blocks, model.bottleneck, *model.up_blocks])
    assert model.bottleneck.layers[0][2].out_channels == growth
    # The paper rounds to one decimal (1.5M / 3.5M); our counts are 1.37M and 3.46M.
    assert abs(n_params(model) - published_params) / published_params < 0.1
    narrow_model = Tiramisu(width=0.25, variant=variant)
    assert narrow_model(torch.randn(1, 1, 40, 40)).shape == (1, 1, 40, 40)


@pytest.mark.parametrize("options", [{"variant": "100"}, {"dropout": 1.0}, {"dropout": -0.1}])
def test_tiramisu_bad_option_values(options):
    with pytest.raises(NucflowError, match="Tiramisu"):
        Tiramisu(width=0.25, **options)


# --- PPU-Net -------------------------------------------------------------------------------------

def test_ppunet_blocks_filters_and_pyramid_levels_at_width_one():
    model = PPUNet()
    assert (len(model.contraction), len(model.bottleneck), len(model.expansion)) == (10, 2, 10)
    blocks = [*model.contraction, *model.bottleneck, *model.expansion]
    convs = [m for block in blocks for m in block.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 2 * 22
    assert all(conv.out_channels == 64 and conv.kernel_size == (3, 3) for conv in convs)
    for pyramid in model.pyramids:
        assert pyramid.pool_sizes == (16, 8, 4, 2, 1)
        level_convs = [level[0] for level in pyramid.levels]
        assert all(c.out_channels == 16 and c.kernel_size == (1, 1) for c in level_convs)
    # Expansion blocks see the previous block (64) and the pyramid skip (64 + 5 * 16).
    assert all(block[0][0].in_channels == 64 + 144 for block in model.expansion)


def test_ppunet_is_more_than_five_times_smaller_than_deeplab():
    ppunet, deeplab = PPUNet(), DeepLabV3Plus()
    assert n_params(ppunet) * 5 < n_params(deeplab)


def test_ppunet_downsampling_placement():
    model = PPUNet(width=0.125)
    assert model.levels == (0, 0, 1, 1, 2, 2, 3, 3, 4, 4)
    assert model.bottleneck_level == 5 and model.downsampling == 32
    upsampling = [not isinstance(u, nn.Identity) for u in model.upsamplers]
    assert upsampling == [True, False] * 5
    every_third = PPUNet(width=0.125, downsample_every=3, upsample="transposed")
    assert every_third.levels == (0, 0, 0, 1, 1, 1, 2, 2, 2, 3) and every_third.downsampling == 8
    assert sum(isinstance(u, nn.ConvTranspose2d) for u in every_third.upsamplers) == 3
    assert every_third(torch.randn(1, 1, 20, 28)).shape == (1, 1, 20, 28)


def test_pyramid_pooling_clamps_pools_and_averages_partial_windows():
    pyramid = PyramidPooling(1, 1, (16, 4)).eval()
    for level in pyramid.levels:  # make each level "ReLU(mean of the window)"
        nn.init.ones_(level[0].weight)
        nn.init.zeros_(level[0].bias)
    images = torch.arange(36, dtype=torch.float32).view(1, 1, 6, 6) + 1
    with torch.no_grad():
        out = pyramid(images)
    out[:, 1:] *= (1 + pyramid.levels[0][1].eps) ** 0.5  # undo BN's eval scaling x / sqrt(1 + eps)
    assert out.shape == (1, 3, 6, 6)
    assert torch.equal(out[0, 0], images[0, 0])
    # Pool 16 on a 6 x 6 map is clamped to a global average.
    assert torch.allclose(out[0, 1], torch.full((6, 6), images.mean().item()))
    # Pool 4 with ceil mode: windows rows/cols [0:4] and [4:6]; the corners keep the window means.
    assert out[0, 2, 0, 0].item() == pytest.approx(images[0, 0, :4, :4].mean().item())
    assert out[0, 2, 5, 5].item() == pytest.approx(images[0, 0, 4:, 4:].mean().item())
    assert out[0, 2, 0, 5].item() == pytest.approx(images[0, 0, :4, 4:].mean().item())


@pytest.mark.parametrize("options", [
    {"downsample_every": 0}, {"downsample_every": 11}, {"pool_sizes": ()},
    {"pool_sizes": (16, 0)}, {"upsample": "nearest"}])
def test_ppunet_bad_option_values(options):
    with pytest.raises(NucflowError, match="PPUNet"):
        PPUNet(width=0.125, **options)


def test_ppunet_trains_with_batch_size_one_when_pyramid_levels_pool_to_one_pixel():
    model = PPUNet(width=0.125).train()  # 64 px: the deepest skips are 4 x 4, pool 16 -> 1 x 1
    norm = model.pyramids[9].levels[0][1]
    nn.init.constant_(norm.bias, 0.5)  # a positive bias passes the ReLU, so it gets a gradient
    logits = model(torch.randn(1, 1, 64, 64))
    logits.mean().backward()
    assert logits.shape == (1, 1, 64, 64)
    assert norm.num_batches_tracked.item() == 0  # a single value leaves the running statistics
    assert torch.isfinite(norm.bias.grad).all() and norm.bias.grad.abs().sum() > 0
