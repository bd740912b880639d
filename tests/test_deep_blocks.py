"""The blocks compared with FREM at its place: squeeze-and-excitation and channel dropout."""

import pytest
import torch
from torch import nn

from nucflow.errors import NucflowError
from nucflow.models.deep_blocks import ChannelDropout, SqueezeExcitation, deep_block_from_options
from nucflow.models.registry import build, model_names


def test_squeeze_excitation_is_a_learned_channel_gate():
    se = SqueezeExcitation(8, reduction=4)
    assert (se.squeeze.in_channels, se.squeeze.out_channels) == (8, 2)
    assert (se.excite.in_channels, se.excite.out_channels) == (2, 8)
    with torch.no_grad():  # gate = sigmoid(excite bias) when the squeeze path gives zeros
        se.squeeze.weight.zero_()
        se.squeeze.bias.zero_()
        se.excite.bias.copy_(torch.tensor([0.0, 100.0, -100.0, 0.0, 0.0, 0.0, 0.0, 0.0]))
    x = torch.ones(2, 8, 3, 5)
    y = se(x)
    assert y.shape == (2, 8, 3, 5)
    assert torch.allclose(y[:, 0], torch.full((2, 3, 5), 0.5))
    assert torch.allclose(y[:, 1], torch.ones(2, 3, 5))
    assert torch.allclose(y[:, 2], torch.zeros(2, 3, 5))
    assert se.eval()(x).equal(y)  # the gate is active at test time too
    assert SqueezeExcitation(3, reduction=16).squeeze.out_channels == 1  # at least one hidden unit


def test_squeeze_excitation_gate_depends_on_the_input_and_learns():
    torch.manual_seed(0)
    se = SqueezeExcitation(4, reduction=2)
    x = torch.randn(3, 4, 6, 6)
    gate = se.gate(x)
    assert gate.shape == (3, 4, 1, 1)
    assert not torch.allclose(gate[0], gate[1])
    se(x).sum().backward()
    assert se.squeeze.weight.grad is not None and se.squeeze.weight.grad.abs().sum() > 0


def test_channel_dropout_drops_whole_channels_in_training_only():
    drop = ChannelDropout(2, 8)
    assert drop.p == 0.25
    torch.manual_seed(0)
    x = torch.ones(64, 8, 4, 4)
    y = drop.train()(x)
    assert y.shape == x.shape
    per_channel = y.amax(dim=(2, 3))
    assert torch.equal(per_channel, y.amin(dim=(2, 3)))  # a channel is dropped or kept whole
    assert per_channel.unique().tolist() == [0.0, torch.tensor(8 / 6).item()]  # kept: x C / (C - B)
    assert abs((per_channel == 0).float().mean().item() - 0.25) < 0.05
    assert drop.eval()(x).equal(x)


@pytest.mark.parametrize("options, message", [
    ({"kind": "pool"}, "deep_block: expected null or a mapping"),
    ({"kind": "se"}, "kind 'se' takes exactly the key(s) reduction, got none"),
    ({"kind": "dropout", "channels": 2, "rate": 0.1}, "takes exactly the key(s) channels, got channels, rate"),
    ({"kind": "dropout", "channels": 8}, "deep_block.channels: 8 leaves none of the 8 channels"),
    ({"kind": "dropout", "channels": 0}, "deep_block.channels: must be an integer >= 1"),
    ({"kind": "se", "reduction": 0}, "deep_block.reduction: must be an integer >= 1"),
])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(NucflowError, match=message.replace("(", r"\(").replace(")", r"\)")):
        deep_block_from_options(options, 8)


def test_no_options_is_the_identity():
    assert isinstance(deep_block_from_options(None, 8), nn.Identity)


@pytest.mark.parametrize("name", model_names())
def test_every_model_puts_the_block_after_frem_on_its_deepest_feature_map(name):
    torch.manual_seed(0)
    plain = build(name, width=0.25)
    gated = build(name, width=0.25, frem={"channels": 1, "factor": 2.0}, deep_block={"kind": "se", "reduction": 2})
    dropped = build(name, width=0.25, deep_block={"kind": "dropout", "channels": 1})
    assert isinstance(plain.deep_block, nn.Identity)
    assert isinstance(gated.deep_block, SqueezeExcitation)
    channels = gated.deep_block.excite.out_channels
    assert gated.frem.feature_channels == channels  # the map FREM enhances
    assert dropped.deep_block.feature_channels == channels and dropped.deep_block.p == 1 / channels
    seen = []
    gated.frem.register_forward_hook(lambda module, inputs, output: seen.append(("frem", output.shape)))
    gated.deep_block.register_forward_hook(lambda module, inputs, output: seen.append(("se", output.shape)))
    gated(torch.randn(1, 1, 64, 64))
    assert [s[0] for s in seen] == ["frem", "se"] and seen[0][1] == seen[1][1] and seen[1][1][1] == channels
    assert set(plain.state_dict()) == {k for k in gated.state_dict() if not k.startswith("deep_block.")}
