"""U-Net++ (Zhou et al. 2018), built like the authors' Keras reference ``Nest_Net``.

Nodes ``X_{i,j}``: ``i`` is the resolution level (0 = full size, 4 = 1/16), ``j`` the position
along the skip pathway. The backbone ``X_{i,0}`` is a plain encoder (2x2 max pooling between
levels); every other node convolves the concatenation of all earlier nodes of its level,
``X_{i,0} .. X_{i,j-1}``, with an up-sampled ``X_{i+1,j-1}``. Nodes with ``i + j < 4`` form the
nested skip pathways, nodes with ``i + j == 4`` the decoder; the logits come from ``X_{0,4}``.

Layer choices, matched to the reference (``model_logic.py`` of MrGiovanni/UNetPlusPlus), whose
summary reports 9,041,601 parameters for one input and one output channel:

- filters per level ``[32, 64, 128, 256, 512]``;
- a node is two 3x3 convolutions (with bias) each followed by ReLU and element-wise dropout 0.5;
  **no batch normalisation** (with BN after each conv and the biases kept, Keras would count
  9,056,193: 9,048,897 trainable + 7,296 moving mean/variance);
- each up-sampling is its own 2x2 stride-2 transposed convolution (with bias) whose filter count
  is that of the target level;
- a 1x1 convolution head on ``X_{0,4}`` (the reference applies a sigmoid; we return logits).

With these choices the parameter count is exactly 9,041,601. Options beyond the reference:

- ``batch_norm=True``: BN between every convolution and its ReLU (the study lists batch
  normalisation among what distinguishes U-Net++ from its U-Net).
- ``dropout``: dropout rate after every ReLU (reference 0.5; 0 disables it).
- ``deep_supervision=True``: 1x1 heads on ``X_{0,1}`` .. ``X_{0,4}``. ``forward`` then returns the
  mean of the four logit maps (the reference's "accurate mode") in both train and eval mode, so
  the output is still one ``(N, out_channels, H, W)`` tensor; :meth:`UNetPlusPlus.side_logits`
  returns the four maps for a loss averaged over heads.
- ``half_skip_convs=True`` (the study's ablation "excluded half of the U-Net++ convolutions in the
  skip connection layers"): the six nested skip nodes (``i + j < 4``, ``j >= 1``) keep one
  convolution instead of two; encoder and decoder nodes are unchanged.
- FREM (``frem={"channels": B, "factor": X}``) enhances ``X_{4,0}``, the deepest encoder node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from nucflow.errors import NucflowError
from nucflow.models.blocks import DoubleConv, crop_to, init_he_normal, pad_to_multiple, scaled_channels
from nucflow.models.deep_blocks import deep_block_from_options
from nucflow.models.frem import frem_from_options

REFERENCE_FILTERS: tuple[int, ...] = (32, 64, 128, 256, 512)


class UNetPlusPlus(nn.Module):
    """U-Net++; ``(N, in_channels, H, W)`` float32 -> logits ``(N, out_channels, H, W)``, any H, W.

    Args:
        in_channels, out_channels, width, frem, deep_block: see :func:`nucflow.models.build`.
        filters: published filter count per level (length = number of levels, >= 2).
        batch_norm: batch normalisation after every convolution (reference: off).
        dropout: dropout rate after every ReLU (reference: 0.5).
        deep_supervision: side heads on every top-row node; forward returns their mean.
        half_skip_convs: one instead of two convolutions in each nested skip node.

    Inputs are padded (reflect) to a multiple of ``2 ** (levels - 1)`` and the logits cropped back.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: float = 1.0,
                 frem: Mapping[str, Any] | None = None, filters: Sequence[int] = REFERENCE_FILTERS,
                 batch_norm: bool = False, dropout: float = 0.5, deep_supervision: bool = False,
                 half_skip_convs: bool = False, *, deep_block: Mapping[str, Any] | None = None):
        super().__init__()
        if (isinstance(filters, (str, bytes)) or len(filters) < 2
                or not all(isinstance(f, int) and not isinstance(f, bool) and f >= 1 for f in filters)):
            raise NucflowError(f"unetpp.filters: expected >= 2 positive integers, got {filters!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise NucflowError(f"unetpp.dropout: must be in [0, 1), got {dropout!r}")
        channels = [scaled_channels(f, width) for f in filters]
        self.depth = len(channels) - 1
        self.deep_supervision = bool(deep_supervision)
        unit = dict(batch_norm=batch_norm, dropout=float(dropout))

        self.nodes = nn.ModuleDict()
        self.ups = nn.ModuleDict()
        previous = in_channels
        for i in range(self.depth + 1):
            self.nodes[_key(i, 0)] = DoubleConv(previous, channels[i], **unit)
            previous = channels[i]
        for j in range(1, self.depth + 1):
            for i in range(self.depth + 1 - j):
                is_skip_node = i + j < self.depth
                n_convs = 1 if (half_skip_convs and is_skip_node) else 2
                self.ups[_key(i, j)] = nn.ConvTranspose2d(channels[i + 1], channels[i], 2, stride=2)
                self.nodes[_key(i, j)] = DoubleConv((j + 1) * channels[i], channels[i],
                                                    n_convs=n_convs, **unit)
        self.pool = nn.MaxPool2d(2)
        self.frem = frem_from_options(frem, channels[-1])
        self.deep_block = deep_block_from_options(deep_block, channels[-1])
        n_heads = self.depth if self.deep_supervision else 1
        self.heads = nn.ModuleList(nn.Conv2d(channels[0], out_channels, 1) for _ in range(n_heads))
        self.apply(init_he_normal)

    def _top_row(self, images: torch.Tensor) -> tuple[list[torch.Tensor], tuple[int, int]]:
        """Padded forward pass; returns ``X_{0,1} .. X_{0,depth}`` and the original size."""
        x, size = pad_to_multiple(images, 2 ** self.depth)
        grid: dict[tuple[int, int], torch.Tensor] = {}
        for i in range(self.depth + 1):
            x = self.nodes[_key(i, 0)](x if i == 0 else self.pool(x))
            grid[i, 0] = x
        grid[self.depth, 0] = self.deep_block(self.frem(grid[self.depth, 0]))
        for j in range(1, self.depth + 1):
            for i in range(self.depth + 1 - j):
                parts = [grid[i, k] for k in range(j)]
                parts.append(self.ups[_key(i, j)](grid[i + 1, j - 1]))
                grid[i, j] = self.nodes[_key(i, j)](torch.cat(parts, dim=1))
        return [grid[0, j] for j in range(1, self.depth + 1)], size

    def side_logits(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Logits of every head, shallowest first, each ``(N, out_channels, H, W)``.

        One map without deep supervision, ``depth`` maps (from ``X_{0,1}`` .. ``X_{0,depth}``) with.
        """
        top_row, size = self._top_row(images)
        features = top_row if self.deep_supervision else top_row[-1:]
        return [crop_to(head(f), size) for head, f in zip(self.heads, features)]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        sides = self.side_logits(images)
        if len(sides) == 1:
            return sides[0]
        return torch.stack(sides).mean(dim=0)


def _key(level: int, position: int) -> str:
    return f"x{level}_{position}"
