"""PPU-Net: the pyramid pooling U-Net proposed by Ali et al. (2021), in plain torch.

What the paper states (at ``width = 1``):

- 10 contraction blocks, 2 bottleneck blocks, 10 expansion blocks; a block is two 3x3
  convolutions with 64 filters, each followed by batch normalisation and ReLU.
- The output of every contraction block passes, on its skip path, through a pyramid pooling
  module: average pooling with pool size = stride = 16, 8, 4, 2, 1; per level sixteen 1x1
  convolutions + BN + ReLU; bilinear resizing back to the module's input size; concatenation of
  all levels with the module's input (64 + 5 x 16 = 144 channels). That result is concatenated to
  the input of the matching expansion block (expansion block ``j`` pairs with contraction block
  ``11 - j``).

What the paper leaves open, and the choices made here:

- **Where resolution changes.** With ``downsample_every = k`` (default 2), a 2x2 max-pool follows
  every k-th contraction block, i.e. blocks 2, 4, 6, 8, 10 -> five down-samplings, so a 288 px tile
  reaches the bottleneck at 9 x 9. The expansion path mirrors this: a 2x bilinear up-sampling
  (parameter-free, in keeping with a light model; ``upsample="transposed"`` uses a learned 2x2
  transposed convolution instead) comes before every expansion block whose skip partner lies one
  level higher: before expansion blocks 1, 3, 5, 7, 9 for k = 2.
- **Pools larger than the feature map.** At the deepest contraction levels a pool of 16 can cover
  the whole map or overhang it. Each pool size is clamped to the map's height and width, and pooling
  uses ``ceil_mode`` so a border strip narrower than the pool forms its own (smaller) window
  averaged over the pixels it contains: every pixel contributes, none is padded with zeros.
  When a level pools to one pixel and the batch holds one image, its batch normalisation outputs
  the BN bias instead of failing (:class:`PooledBatchNorm2d`), so batch-1 training works on any
  tile size.
- Inputs are padded at the bottom/right to a multiple of ``2 ** (number of down-samplings)`` and the
  logits cropped back; a final 1x1 convolution maps 64 channels to ``out_channels``.
- Convolutions keep their bias (Keras default); weights are He-normal initialised.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nucflow.errors import NucflowError
from nucflow.models.blocks import (DoubleConv, crop_to, init_he_normal, pad_to_multiple,
                                   scaled_channels)
from nucflow.models.deep_blocks import deep_block_from_options
from nucflow.models.frem import frem_from_options

CONTRACTION_BLOCKS = 10
BOTTLENECK_BLOCKS = 2
BLOCK_FILTERS = 64
PYRAMID_FILTERS = 16
UPSAMPLE_MODES = ("bilinear", "transposed")


class PooledBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` that also trains on a single value per channel (batch 1, 1 x 1 map).

    A coarse pyramid level of a small tile pools to one pixel; with one image per batch, torch's
    batch normalisation refuses to train on it. Here such a batch normalises to zero (the limit of
    ``(x - mean) / sqrt(var + eps)`` with one sample, which is also what Keras computes), so the
    output is the BN bias, and the running statistics are left unchanged. Otherwise identical to
    ``BatchNorm2d``.
    """

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.training and features.shape[0] * features.shape[2] * features.shape[3] == 1:
            return (features - features.detach()) * self.weight.view(1, -1, 1, 1) \
                + self.bias.view(1, -1, 1, 1)
        return super().forward(features)


def _pyramid_level(in_channels: int, out_channels: int) -> nn.Sequential:
    """1x1 conv -> :class:`PooledBatchNorm2d` -> ReLU, one pyramid pooling level."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), PooledBatchNorm2d(out_channels),
                         nn.ReLU(inplace=True))


class PyramidPooling(nn.Module):
    """Multi-scale context on a skip path: ``(N, C, H, W) -> (N, C + len(pool_sizes) * F, H, W)``.

    Per pool size ``p``: average pooling (kernel = stride = ``p``, clamped to H and W, ceil mode) ->
    1x1 conv with ``F = level_channels`` filters -> BN -> ReLU -> bilinear resize to (H, W).
    The input comes first in the concatenation, then the levels in ``pool_sizes`` order.
    """

    def __init__(self, in_channels: int, level_channels: int, pool_sizes: tuple[int, ...]):
        super().__init__()
        self.pool_sizes = tuple(pool_sizes)
        self.levels = nn.ModuleList(
            _pyramid_level(in_channels, level_channels) for _ in self.pool_sizes)
        self.out_channels = in_channels + len(self.pool_sizes) * level_channels

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        height, width = features.shape[-2:]
        outputs = [features]
        for pool_size, level in zip(self.pool_sizes, self.levels):
            kernel = (min(pool_size, height), min(pool_size, width))
            pooled = features
            if kernel != (1, 1):
                pooled = F.avg_pool2d(features, kernel, stride=kernel, ceil_mode=True)
            context = level(pooled)
            if context.shape[-2:] != (height, width):
                context = F.interpolate(context, size=(height, width), mode="bilinear",
                                        align_corners=False)
            outputs.append(context)
        return torch.cat(outputs, dim=1)


def _check_options(downsample_every: int, pool_sizes: tuple[int, ...], upsample: str) -> None:
    if isinstance(downsample_every, bool) or not isinstance(downsample_every, int) \
            or not 1 <= downsample_every <= CONTRACTION_BLOCKS:
        raise NucflowError(f"PPUNet: downsample_every must be an integer in 1..{CONTRACTION_BLOCKS}, "
                           f"got {downsample_every!r}")
    if not isinstance(pool_sizes, (tuple, list)) or not pool_sizes or any(
            isinstance(p, bool) or not isinstance(p, int) or p < 1 for p in pool_sizes):
        raise NucflowError(f"PPUNet: pool_sizes must be a non-empty list of integers >= 1, "
                           f"got {pool_sizes!r}")
    if upsample not in UPSAMPLE_MODES:
        raise NucflowError(f"PPUNet: upsample must be one of {', '.join(UPSAMPLE_MODES)}, "
                           f"got {upsample!r}")


class PPUNet(nn.Module):
    """Pyramid pooling U-Net returning raw logits.

    Args:
        in_channels: input channels. out_channels: logit channels.
        width: multiplies the 64 block filters and the 16 pyramid filters (1.0 = published).
        frem: ``{"channels": B, "factor": X}`` applied to the bottleneck input (training only), or
            ``None``.
        deep_block: a block after FREM at the same place (:mod:`nucflow.models.deep_blocks`), or ``None``.
        downsample_every: a 2x2 max-pool after every this many contraction blocks (default 2).
        pool_sizes: pyramid pooling sizes (= strides), default ``(16, 8, 4, 2, 1)``.
        upsample: ``"bilinear"`` (default) or ``"transposed"`` 2x up-sampling in the expansion path.

    Attributes: ``levels[k]`` is the resolution level (number of poolings applied) of contraction
    block ``k`` (0-based); ``bottleneck_level`` that of the bottleneck.

    Shape: ``(N, in_channels, H, W) float32 -> (N, out_channels, H, W)`` logits, any H, W.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: float = 1.0,
                 frem: dict | None = None, *, downsample_every: int = 2,
                 pool_sizes: tuple[int, ...] = (16, 8, 4, 2, 1), upsample: str = "bilinear",
                 deep_block: dict | None = None):
        super().__init__()
        _check_options(downsample_every, pool_sizes, upsample)
        if in_channels < 1 or out_channels < 1:
            raise NucflowError(f"PPUNet: in_channels and out_channels must be >= 1, "
                               f"got {in_channels} and {out_channels}")
        filters = scaled_channels(BLOCK_FILTERS, width)
        pyramid_filters = scaled_channels(PYRAMID_FILTERS, width)
        self.levels = tuple(k // downsample_every for k in range(CONTRACTION_BLOCKS))
        self.bottleneck_level = CONTRACTION_BLOCKS // downsample_every
        self.downsampling = 2 ** self.bottleneck_level

        self.contraction = nn.ModuleList(
            DoubleConv(in_channels if k == 0 else filters, filters)
            for k in range(CONTRACTION_BLOCKS))
        self.pyramids = nn.ModuleList(
            PyramidPooling(filters, pyramid_filters, tuple(pool_sizes))
            for _ in range(CONTRACTION_BLOCKS))
        self.frem = frem_from_options(frem, filters)
        self.deep_block = deep_block_from_options(deep_block, filters)
        self.bottleneck = nn.Sequential(
            *(DoubleConv(filters, filters) for _ in range(BOTTLENECK_BLOCKS)))
        skip_channels = self.pyramids[0].out_channels
        self.expansion = nn.ModuleList(
            DoubleConv(filters + skip_channels, filters) for _ in range(CONTRACTION_BLOCKS))
        # One up-sampler per expansion block that changes level (None where none is needed).
        self.upsamplers = nn.ModuleList()
        level = self.bottleneck_level
        for k in reversed(range(CONTRACTION_BLOCKS)):
            if self.levels[k] < level:
                self.upsamplers.append(
                    nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
                    if upsample == "bilinear" else nn.ConvTranspose2d(filters, filters, 2, stride=2))
                level = self.levels[k]
            else:
                self.upsamplers.append(nn.Identity())
        self.classifier = nn.Conv2d(filters, out_channels, 1)
        self.apply(init_he_normal)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        padded, size = pad_to_multiple(images, self.downsampling)
        features = padded
        skips = []
        for k, (block, pyramid) in enumerate(zip(self.contraction, self.pyramids)):
            features = block(features)
            skips.append(pyramid(features))
            next_level = self.levels[k + 1] if k + 1 < CONTRACTION_BLOCKS else self.bottleneck_level
            if next_level > self.levels[k]:
                features = F.max_pool2d(features, 2)
        features = self.bottleneck(self.deep_block(self.frem(features)))
        for block, upsampler, skip in zip(self.expansion, self.upsamplers, reversed(skips)):
            features = block(torch.cat([upsampler(features), skip], dim=1))
        return crop_to(self.classifier(features), size)
