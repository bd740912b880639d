"""U-Net baseline of the study, with the paper's ablation variants as options.

Baseline (``UNet()``): 4 down-sampling levels; every level, the bottleneck and every decoder level
is two 3x3 convolutions + ReLU, **64 filters everywhere**, no batch normalisation; 2x2 max pooling
down, 2x2 stride-2 transposed convolution up, encoder features concatenated into the decoder; a
1x1 convolution gives the logits.

Why constant 64 filters: the study's U-Net is the "modified U-Net" of Fishman et al., and its
ablation (c) "gradually increased the number of filters in the contraction path to be 64, 128,
256, and 512 ... decreasing them symmetrically in the expansion path", which only makes sense if
the baseline does not already grow them; the paper also calls U-Net its smallest model, smaller
than PPU-Net (22 blocks of 64-filter convolutions), which a 64..1024 U-Net (~31 M parameters) is
not. The constant-64 U-Net has ~0.8 M parameters.

Ablation variants of the paper (section "architecture choices") are options, not copies:

- (a) ``double_skips=True`` -- "doubled the number of U-Net pathway connections". Read here as: each
  decoder level receives two connections from its encoder level, the encoder feature map itself and
  a convolved copy of it (one 3x3 conv [+BN] + ReLU with that level's filter count), i.e. the first
  node of a U-Net++ skip pathway. The decoder's first convolution therefore sees
  ``[up-sampled, skip, convolved skip]``.
- (b) ``double_skips=True, batch_norm=True`` -- batch normalisation after every convolution.
- (c) (b) + ``filters=[64, 128, 256, 512, 1024]`` -- growing filters; the last entry is the
  bottleneck, the decoder mirrors the encoder.

FREM (``frem={"channels": B, "factor": X}``) is applied to the bottleneck output, the deepest
feature map, before the first up-sampling, and ``deep_block`` right after it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from nucflow.errors import NucflowError
from nucflow.models.blocks import (ConvBNReLU, DoubleConv, crop_to, init_he_normal,
                                   pad_to_multiple, scaled_channels)
from nucflow.models.deep_blocks import deep_block_from_options
from nucflow.models.frem import frem_from_options

BASELINE_FILTERS: tuple[int, ...] = (64, 64, 64, 64, 64)
GROWING_FILTERS: tuple[int, ...] = (64, 128, 256, 512, 1024)


class UNet(nn.Module):
    """U-Net; ``(N, in_channels, H, W)`` float32 -> logits ``(N, out_channels, H, W)``, any H, W.

    Args:
        in_channels, out_channels, width, frem, deep_block: see :func:`nucflow.models.build`.
        filters: published filter count per level, encoder levels then bottleneck; its length
            minus one is the number of down-sampling steps (default: five times 64, four steps).
        batch_norm: batch normalisation after every convolution.
        double_skips: second, convolved connection per skip pathway (ablation (a)).

    Inputs are padded (reflect) to a multiple of ``2 ** depth`` and the logits cropped back.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: float = 1.0,
                 frem: Mapping[str, Any] | None = None, filters: Sequence[int] = BASELINE_FILTERS,
                 batch_norm: bool = False, double_skips: bool = False, *,
                 deep_block: Mapping[str, Any] | None = None):
        super().__init__()
        if (isinstance(filters, (str, bytes)) or len(filters) < 2
                or not all(isinstance(f, int) and not isinstance(f, bool) and f >= 1 for f in filters)):
            raise NucflowError(f"unet.filters: expected >= 2 positive integers, got {filters!r}")
        channels = [scaled_channels(f, width) for f in filters]
        self.depth = len(channels) - 1
        self.filters = tuple(int(f) for f in filters)
        self.batch_norm = bool(batch_norm)
        self.double_skips = bool(double_skips)

        self.encoder = nn.ModuleList()
        previous = in_channels
        for level in range(self.depth):
            self.encoder.append(DoubleConv(previous, channels[level], batch_norm=batch_norm))
            previous = channels[level]
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = DoubleConv(previous, channels[-1], batch_norm=batch_norm)
        self.frem = frem_from_options(frem, channels[-1])
        self.deep_block = deep_block_from_options(deep_block, channels[-1])

        self.up = nn.ModuleList()
        self.skip_convs = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for level in reversed(range(self.depth)):
            self.up.append(nn.ConvTranspose2d(channels[level + 1], channels[level], 2, stride=2))
            n_inputs = 2
            if double_skips:
                self.skip_convs.append(ConvBNReLU(channels[level], channels[level], batch_norm=batch_norm))
                n_inputs = 3
            self.decoder.append(DoubleConv(n_inputs * channels[level], channels[level], batch_norm=batch_norm))
        self.head = nn.Conv2d(channels[0], out_channels, 1)
        self.apply(init_he_normal)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x, size = pad_to_multiple(images, 2 ** self.depth)
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.deep_block(self.frem(self.bottleneck(x)))
        for i, (up, block) in enumerate(zip(self.up, self.decoder)):
            skip = skips[self.depth - 1 - i]
            parts = [up(x), skip]
            if self.double_skips:
                parts.append(self.skip_convs[i](skip))
            x = block(torch.cat(parts, dim=1))
        return crop_to(self.head(x), size)
