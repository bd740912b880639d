"""The one hundred layers Tiramisu: fully convolutional DenseNets (Jégou et al. 2017), plain torch.

FC-DenseNet103 at ``width = 1``:

- a 3x3 convolution with 48 filters;
- down path: dense blocks of 4, 5, 7, 10, 12 layers (growth rate 16), each followed by a
  *transition down* (BN -> ReLU -> 1x1 conv keeping the channel count -> dropout -> 2x2 max-pool);
  a block's output is its input concatenated with all its new feature maps, and is kept as the
  skip connection;
- bottleneck: a dense block of 15 layers at 1/32 resolution;
- up path: for 12, 10, 7, 5, 4 layers, a *transition up* (3x3 transposed convolution, stride 2)
  applied only to the new feature maps of the previous block, concatenated with the skip, then a
  dense block; only the block's new feature maps travel further up, except after the last block,
  whose full output (input + new maps) feeds the final 1x1 convolution.

A dense-block layer is BN -> ReLU -> 3x3 conv (growth-rate filters) -> dropout (0.2).
Variants (``variant``): ``"103"`` as above; ``"67"`` 5 layers in every block, growth 16;
``"56"`` 4 layers in every block, growth 12. ``width`` scales the growth rate and the 48 initial
filters. Inputs are padded at the bottom/right to a multiple of 32 and the logits cropped back.

FREM (Ando & Hotta) sits on the bottleneck block's new feature maps, not on its input: every
consumer of the bottleneck input starts with batch normalisation, which in training mode exactly
undoes a per-channel scaling, so FREM there would do nothing. The bottleneck output instead feeds
a transposed convolution that mixes channels, where the enhancement takes effect.
Convolutions keep their bias (as in the authors' Lasagne code); weights are He-normal initialised.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from nucflow.errors import NucflowError
from nucflow.models.blocks import crop_to, init_he_normal, pad_to_multiple, scaled_channels
from nucflow.models.deep_blocks import deep_block_from_options
from nucflow.models.frem import frem_from_options


@dataclass(frozen=True)
class DenseNetLayout:
    """Layers per dense block (down path, bottleneck) and growth rate of one FC-DenseNet.

    The up path mirrors the down path (reversed ``down_layers``).
    """

    down_layers: tuple[int, ...]
    bottleneck_layers: int
    growth_rate: int
    initial_filters: int = 48


VARIANTS: dict[str, DenseNetLayout] = {
    "103": DenseNetLayout(down_layers=(4, 5, 7, 10, 12), bottleneck_layers=15, growth_rate=16),
    "67": DenseNetLayout(down_layers=(5,) * 5, bottleneck_layers=5, growth_rate=16),
    "56": DenseNetLayout(down_layers=(4,) * 5, bottleneck_layers=4, growth_rate=12),
}


class DenseLayer(nn.Sequential):
    """BN -> ReLU -> 3x3 conv -> dropout: ``(N, C, H, W) -> (N, growth_rate, H, W)``."""

    def __init__(self, in_channels: int, growth_rate: int, dropout: float):
        super().__init__(
            nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, growth_rate, 3, padding=1),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity())


class DenseBlock(nn.Module):
    """``n_layers`` dense layers, each seeing the block input and every earlier layer's output.

    ``forward`` returns ``(stack, new)``: ``stack`` = input and all new maps concatenated,
    ``(N, C + n_layers * growth_rate, H, W)``; ``new`` = the new maps only,
    ``(N, n_layers * growth_rate, H, W)``.
    """

    def __init__(self, in_channels: int, n_layers: int, growth_rate: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(
            DenseLayer(in_channels + i * growth_rate, growth_rate, dropout)
            for i in range(n_layers))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stack = features
        new_maps = []
        for layer in self.layers:
            new = layer(stack)
            new_maps.append(new)
            stack = torch.cat([stack, new], dim=1)
        return stack, torch.cat(new_maps, dim=1)


class TransitionDown(nn.Sequential):
    """BN -> ReLU -> 1x1 conv (same channels) -> dropout -> 2x2 max-pool: halves H and W."""

    def __init__(self, channels: int, dropout: float):
        super().__init__(
            nn.BatchNorm2d(channels), nn.ReLU(inplace=True), nn.Conv2d(channels, channels, 1),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(), nn.MaxPool2d(2))


def transition_up(channels: int) -> nn.ConvTranspose2d:
    """3x3 transposed convolution with stride 2 that exactly doubles H and W."""
    return nn.ConvTranspose2d(channels, channels, 3, stride=2, padding=1, output_padding=1)


class Tiramisu(nn.Module):
    """FC-DenseNet (default FC-DenseNet103) returning raw logits.

    Args:
        in_channels: input channels. out_channels: logit channels.
        width: multiplies growth rate and initial filters (1.0 = published).
        frem: ``{"channels": B, "factor": X}`` applied to the new feature maps of the bottleneck
            dense block, the deepest features handed to the up path (training only), or ``None``.
        deep_block: a block after FREM at the same place (:mod:`nucflow.models.deep_blocks`), or ``None``.
        variant: ``"103"``, ``"67"`` or ``"56"``.
        dropout: dropout rate after every convolution of dense layers and transitions down, in
            [0, 1) (element-wise, as published).

    Shape: ``(N, in_channels, H, W) float32 -> (N, out_channels, H, W)`` logits, any H, W.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: float = 1.0,
                 frem: dict | None = None, *, variant: str = "103", dropout: float = 0.2,
                 deep_block: dict | None = None):
        super().__init__()
        if variant not in VARIANTS:
            raise NucflowError(f"Tiramisu: variant must be one of {', '.join(VARIANTS)}, "
                               f"got {variant!r}")
        if not 0 <= dropout < 1:
            raise NucflowError(f"Tiramisu: dropout must be in [0, 1), got {dropout!r}")
        if in_channels < 1 or out_channels < 1:
            raise NucflowError(f"Tiramisu: in_channels and out_channels must be >= 1, "
                               f"got {in_channels} and {out_channels}")
        layout = VARIANTS[variant]
        growth = scaled_channels(layout.growth_rate, width)
        channels = scaled_channels(layout.initial_filters, width)
        self.layout = layout
        self.downsampling = 2 ** len(layout.down_layers)
        self.first_conv = nn.Conv2d(in_channels, channels, 3, padding=1)

        self.down_blocks = nn.ModuleList()
        self.transitions_down = nn.ModuleList()
        skip_channels = []
        for n_layers in layout.down_layers:
            self.down_blocks.append(DenseBlock(channels, n_layers, growth, dropout))
            channels += n_layers * growth
            skip_channels.append(channels)
            self.transitions_down.append(TransitionDown(channels, dropout))

        self.bottleneck = DenseBlock(channels, layout.bottleneck_layers, growth, dropout)
        upsampled = layout.bottleneck_layers * growth
        self.frem = frem_from_options(frem, upsampled)
        self.deep_block = deep_block_from_options(deep_block, upsampled)

        self.transitions_up = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for n_layers, skip in zip(reversed(layout.down_layers), reversed(skip_channels)):
            self.transitions_up.append(transition_up(upsampled))
            self.up_blocks.append(DenseBlock(upsampled + skip, n_layers, growth, dropout))
            last_stack = upsampled + skip + n_layers * growth
            upsampled = n_layers * growth
        self.classifier = nn.Conv2d(last_stack, out_channels, 1)
        self.apply(init_he_normal)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        padded, size = pad_to_multiple(images, self.downsampling)
        features = self.first_conv(padded)
        skips = []
        for block, transition in zip(self.down_blocks, self.transitions_down):
            features, _ = block(features)
            skips.append(features)
            features = transition(features)
        _, new = self.bottleneck(features)
        new = self.deep_block(self.frem(new))
        for transition, block, skip in zip(self.transitions_up, self.up_blocks, reversed(skips)):
            stack, new = block(torch.cat([transition(new), skip], dim=1))
        return crop_to(self.classifier(stack), size)
