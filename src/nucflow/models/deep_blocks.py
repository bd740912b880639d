"""Blocks that compare with FREM at its place, the deepest encoder feature map.

FREM (:mod:`nucflow.models.frem`) multiplies ``B`` of the ``C`` channels of that map by ``X`` during
training. Two familiar modules act on the same channels and serve as its controls in the
``frem_search`` arm:

- :class:`SqueezeExcitation` (Hu et al. 2018): a learned channel gate. Global average pooling gives
  one value per channel, two 1x1 layers (``C -> C // reduction -> C``, ReLU then sigmoid) turn them
  into a gate in (0, 1) that multiplies each channel; active in training and at test time.
- :class:`ChannelDropout`: ``torch.nn.Dropout2d`` at rate ``B / C``: in training mode it zeroes
  whole channels, each with probability ``B / C`` (so ``B`` channels on average, drawn per sample),
  and scales the others by ``C / (C - B)``; in eval mode it is the identity. It perturbs as many
  channels as FREM but by removing them rather than amplifying them.

Every model takes them through its ``deep_block`` argument (a model option, so it travels in
``run.json``'s ``model_options``) and applies the block right after FREM:

- ``None``: no block (``nn.Identity``);
- ``{"kind": "se", "reduction": r}``: :class:`SqueezeExcitation`;
- ``{"kind": "dropout", "channels": B}``: :class:`ChannelDropout` at rate ``B / C``.

Shapes: every block maps ``(N, C, H, W)`` to ``(N, C, H, W)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from nucflow.errors import NucflowError

#: the keys each kind of block takes
KINDS = {"se": ("reduction",), "dropout": ("channels",)}


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation gate of ``channels`` channels with ``max(1, channels // reduction)``
    hidden units.

    Shape: ``(N, C, H, W) -> (N, C, H, W)``; each channel of each sample is multiplied by its gate
    value in (0, 1).
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        if isinstance(reduction, bool) or not isinstance(reduction, int) or reduction < 1:
            raise NucflowError(f"deep_block.reduction: must be an integer >= 1, got {reduction!r}")
        hidden = max(1, channels // reduction)
        self.squeeze = nn.Conv2d(channels, hidden, kernel_size=1)
        self.excite = nn.Conv2d(hidden, channels, kernel_size=1)

    def gate(self, features: torch.Tensor) -> torch.Tensor:
        """The gate, ``(N, C, 1, 1)`` in (0, 1)."""
        pooled = features.mean(dim=(2, 3), keepdim=True)
        return torch.sigmoid(self.excite(torch.relu(self.squeeze(pooled))))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features * self.gate(features)


class ChannelDropout(nn.Dropout2d):
    """``nn.Dropout2d`` at rate ``channels / feature_channels`` (``B / C``).

    Shape: ``(N, C, H, W) -> (N, C, H, W)``. Eval mode: identity.
    """

    def __init__(self, channels: int, feature_channels: int):
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise NucflowError(f"deep_block.channels: must be an integer >= 1, got {channels!r}")
        if channels >= feature_channels:
            raise NucflowError(f"deep_block.channels: {channels} leaves none of the {feature_channels} channels "
                               "of the feature map it drops from (need B < C)")
        super().__init__(p=channels / feature_channels)
        self.channels = channels
        self.feature_channels = feature_channels

    def extra_repr(self) -> str:
        return f"channels={self.channels} of {self.feature_channels}, p={self.p:g}"


def deep_block_from_options(options: Mapping[str, Any] | None, feature_channels: int) -> nn.Module:
    """The block a model applies after FREM on its deepest encoder feature map of
    ``feature_channels`` channels (``nn.Identity`` for ``None``); bad options are a one-line
    :class:`NucflowError` naming the key."""
    if options is None:
        return nn.Identity()
    if not isinstance(options, Mapping) or options.get("kind") not in KINDS:
        raise NucflowError(f"deep_block: expected null or a mapping with 'kind' one of {', '.join(KINDS)}, "
                           f"got {options!r}")
    kind = options["kind"]
    keys = set(options) - {"kind"}
    if keys != set(KINDS[kind]):
        raise NucflowError(f"deep_block: kind {kind!r} takes exactly the key(s) {', '.join(KINDS[kind])}, "
                           f"got {', '.join(sorted(keys)) or 'none'}")
    if kind == "se":
        return SqueezeExcitation(feature_channels, options["reduction"])
    return ChannelDropout(options["channels"], feature_channels)
