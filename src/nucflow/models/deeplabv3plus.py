"""DeepLabv3+ with the modified aligned Xception backbone (Chen et al. 2018), in plain torch.

Layout at ``width = 1`` (channel counts; every count is multiplied by ``width``):

- **Entry flow**: 3x3 conv 32 (stride 2), 3x3 conv 64, then three Xception blocks of three
  separable convolutions each (128, 256, 728 filters), the last convolution of each block with
  stride 2 and a 1x1 strided convolution as residual shortcut. Output stride after the entry flow: 16.
- **Middle flow**: 16 units of three separable 728-filter convolutions with identity residual.
- **Exit flow**: a block 728 -> 1024 -> 1024 with 1x1 shortcut, then separable convolutions
  1536, 1536, 2048. The published network strides in the first exit block; at output stride 16
  that stride is dropped and the following layers use dilation 2 instead.
- **ASPP** on the stride-16 features: a 1x1 convolution, three 3x3 atrous separable convolutions
  (rates 6, 12, 18) and an image-pooling branch, 256 filters each; concatenated and projected to
  256 by a 1x1 convolution.
- **Decoder**: stride-4 low-level features projected to 48 channels, concatenated with the 4x
  bilinearly up-sampled ASPP output, two 3x3 separable convolutions of 256, a 1x1 classifier,
  and a 4x bilinear up-sampling to the input size.

A separable convolution here is depthwise 3x3 -> BN -> pointwise 1x1 -> BN -> ReLU (the paper adds
BN and ReLU after each depthwise convolution; we keep BN there and apply one ReLU at the end).

Choices the papers leave open, made here:

- Low-level decoder features are taken, as in the authors' TensorFlow release, after the second
  separable convolution of the second entry block (stride 4, 256 channels), before its stride.
- The image-pooling branch has a biased 1x1 convolution and ReLU but no batch normalisation, so
  that training with batch size 1 works (BN over one 1x1 map is undefined).
- Inputs are padded at the bottom/right to a multiple of 16 and the logits cropped back, so any
  input size is accepted.
- No ImageNet pretraining (weights are He-normal initialised).

``separable_head=False`` replaces the separable convolutions of ASPP and decoder with plain 3x3
convolutions (the DeepLabv3 head); the backbone is unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nucflow.errors import NucflowError
from nucflow.models.blocks import (ConvBNReLU, crop_to, init_he_normal, pad_to_multiple,
                                   scaled_channels)
from nucflow.models.deep_blocks import deep_block_from_options
from nucflow.models.frem import frem_from_options

OUTPUT_STRIDE = 16
ASPP_RATES = (6, 12, 18)
MIDDLE_FLOW_UNITS = 16


class SeparableConvBNReLU(nn.Module):
    """Depthwise ``3x3`` conv -> BN -> pointwise ``1x1`` conv -> BN -> ReLU.

    Shape: ``(N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, stride=stride, padding=dilation,
                                   dilation=dilation, groups=in_channels, bias=False)
        self.depthwise_bn = nn.BatchNorm2d(in_channels)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.pointwise_bn = nn.BatchNorm2d(out_channels)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        features = self.depthwise_bn(self.depthwise(features))
        return F.relu(self.pointwise_bn(self.pointwise(features)))


class XceptionBlock(nn.Module):
    """Three separable convolutions plus a residual shortcut (1x1 conv, identity, or none).

    ``stride`` applies to the third convolution (and the 1x1 shortcut). ``forward`` returns the
    block output and the features after the second convolution (before any stride), which the
    decoder uses as its low-level input.
    """

    def __init__(self, in_channels: int, depths: tuple[int, int, int], *, stride: int = 1,
                 dilation: int = 1, shortcut: str = "conv"):
        super().__init__()
        channels = (in_channels, *depths)
        self.units = nn.ModuleList(
            SeparableConvBNReLU(channels[i], channels[i + 1], dilation=dilation,
                                stride=stride if i == 2 else 1)
            for i in range(3))
        if shortcut == "conv":
            self.shortcut: nn.Module | None = nn.Sequential(
                nn.Conv2d(in_channels, depths[2], 1, stride=stride, bias=False),
                nn.BatchNorm2d(depths[2]))
        elif shortcut == "identity":
            if in_channels != depths[2] or stride != 1:
                raise ValueError("identity shortcut needs equal channels and stride 1")
            self.shortcut = nn.Identity()
        elif shortcut == "none":
            self.shortcut = None
        else:
            raise ValueError(f"unknown shortcut {shortcut!r}")

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.units[1](self.units[0](features))
        out = self.units[2](hidden)
        if self.shortcut is not None:
            out = out + self.shortcut(features)
        return out, hidden


class AlignedXception(nn.Module):
    """Modified aligned Xception encoder at output stride 16.

    ``forward``: ``(N, C_in, H, W)`` with H, W multiples of 16 -> ``(deep, low_level)`` where
    ``deep`` is ``(N, c(2048), H/16, W/16)`` and ``low_level`` is ``(N, c(256), H/4, W/4)``.
    """

    def __init__(self, in_channels: int, width: float):
        super().__init__()
        c = lambda n: scaled_channels(n, width)  # noqa: E731 - local shorthand
        self.stem = nn.Sequential(
            ConvBNReLU(in_channels, c(32), 3, stride=2, bias=False),
            ConvBNReLU(c(32), c(64), 3, bias=False))
        self.entry_blocks = nn.ModuleList([
            XceptionBlock(c(64), (c(128),) * 3, stride=2),
            XceptionBlock(c(128), (c(256),) * 3, stride=2),
            XceptionBlock(c(256), (c(728),) * 3, stride=2),
        ])
        self.middle_units = nn.ModuleList(
            XceptionBlock(c(728), (c(728),) * 3, shortcut="identity")
            for _ in range(MIDDLE_FLOW_UNITS))
        # Exit flow: the published stride 2 becomes stride 1; later layers are dilated by 2.
        self.exit_blocks = nn.ModuleList([
            XceptionBlock(c(728), (c(728), c(1024), c(1024)), stride=1, dilation=1),
            XceptionBlock(c(1024), (c(1536), c(1536), c(2048)), dilation=2, shortcut="none"),
        ])
        self.out_channels = c(2048)
        self.low_level_channels = c(256)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.stem(images)
        features, _ = self.entry_blocks[0](features)
        features, low_level = self.entry_blocks[1](features)
        features, _ = self.entry_blocks[2](features)
        for unit in self.middle_units:
            features, _ = unit(features)
        for block in self.exit_blocks:
            features, _ = block(features)
        return features, low_level


def _head_conv(in_channels: int, out_channels: int, *, separable: bool,
               dilation: int = 1) -> nn.Module:
    """A 3x3 (optionally atrous) conv -> BN -> ReLU of the ASPP/decoder head."""
    if separable:
        return SeparableConvBNReLU(in_channels, out_channels, dilation=dilation)
    return ConvBNReLU(in_channels, out_channels, 3, dilation=dilation, bias=False)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: ``(N, C, h, w) -> (N, channels, h, w)``.

    Branches: 1x1 conv, one 3x3 atrous conv per rate in ``rates``, image pooling; each gives
    ``channels`` maps; their concatenation is projected to ``channels`` by a 1x1 conv.
    """

    def __init__(self, in_channels: int, channels: int, rates: tuple[int, ...], *,
                 separable: bool):
        super().__init__()
        self.rates = tuple(rates)
        self.branches = nn.ModuleList(
            [ConvBNReLU(in_channels, channels, 1, bias=False)]
            + [_head_conv(in_channels, channels, separable=separable, dilation=rate)
               for rate in self.rates])
        self.image_pooling = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, channels, 1), nn.ReLU(inplace=True))
        n_branches = len(self.branches) + 1
        self.project = ConvBNReLU(n_branches * channels, channels, 1, bias=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        pooled = self.image_pooling(features).expand(-1, -1, *features.shape[-2:])
        outputs = [branch(features) for branch in self.branches] + [pooled]
        return self.project(torch.cat(outputs, dim=1))


class DeepLabV3Plus(nn.Module):
    """DeepLabv3+ (Xception backbone, output stride 16) returning raw logits.

    Args:
        in_channels: input channels (1 brightfield plane, up to 9 focal planes, ...).
        out_channels: logit channels.
        width: multiplies every filter count (1.0 = the published network).
        frem: ``{"channels": B, "factor": X}`` to apply FREM to the backbone output before ASPP
            (training only), or ``None``.
        deep_block: a block after FREM at the same place (:mod:`nucflow.models.deep_blocks`), or ``None``.
        separable_head: separable (published) or plain 3x3 convolutions in ASPP and decoder.

    Shape: ``(N, in_channels, H, W) float32 -> (N, out_channels, H, W)`` logits, any H, W.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: float = 1.0,
                 frem: dict | None = None, *, separable_head: bool = True,
                 deep_block: dict | None = None):
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise NucflowError(f"DeepLabV3Plus: in_channels and out_channels must be >= 1, "
                               f"got {in_channels} and {out_channels}")
        c = lambda n: scaled_channels(n, width)  # noqa: E731 - local shorthand
        self.backbone = AlignedXception(in_channels, width)
        self.frem = frem_from_options(frem, self.backbone.out_channels)
        self.deep_block = deep_block_from_options(deep_block, self.backbone.out_channels)
        self.aspp = ASPP(self.backbone.out_channels, c(256), ASPP_RATES,
                         separable=separable_head)
        self.low_level_project = ConvBNReLU(self.backbone.low_level_channels, c(48), 1, bias=False)
        self.decoder = nn.Sequential(
            _head_conv(c(256) + c(48), c(256), separable=separable_head),
            _head_conv(c(256), c(256), separable=separable_head))
        self.classifier = nn.Conv2d(c(256), out_channels, 1)
        self.apply(init_he_normal)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        padded, size = pad_to_multiple(images, OUTPUT_STRIDE)
        deep, low_level = self.backbone(padded)
        deep = self.deep_block(self.frem(deep))
        context = self.aspp(deep)
        low_level = self.low_level_project(low_level)
        context = F.interpolate(context, size=low_level.shape[-2:], mode="bilinear",
                                align_corners=False)
        logits = self.classifier(self.decoder(torch.cat([context, low_level], dim=1)))
        logits = F.interpolate(logits, size=padded.shape[-2:], mode="bilinear",
                               align_corners=False)
        return crop_to(logits, size)
