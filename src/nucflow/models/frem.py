"""Feature Random Enhancement Module (FREM; Ando & Hotta).

What the paper says and how it is read here:

- The module sits at the layer farthest from the loss: the end of the encoder (the deepest feature
  map, just before the decoder starts up-sampling). Every model in :mod:`nucflow.models` places it
  on its deepest encoder feature map (U-Net: bottleneck output; U-Net++: node X_{4,0}).
- During training, ``B`` feature maps (channels) of that layer are multiplied by a constant ``X``.
  Multiplying a channel scales both its forward value and the gradient reaching the convolutions
  that produce it, which is the point: those far-from-loss filters get trained harder.
- The ``B`` channels are "selected randomly at each epoch": one selection per epoch, shared by every
  image of every batch in that epoch (the paper selects *feature maps of the layer*, not per-sample
  elements, which distinguishes it from dropout). The LightningModule re-draws the selection at
  each epoch start with :func:`resample_all`.
- At test time the module does nothing, so inference cost and outputs are those of the plain model.

The selection is not part of the ``state_dict``: a model with FREM loads the weights of a model
without it and vice versa.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from nucflow.errors import NucflowError


class FREM(nn.Module):
    """Multiply ``channels`` randomly selected channels of the input by ``factor`` in training mode.

    Args:
        channels: ``B``, the number of channels to enhance (>= 1).
        factor: ``X``, the multiplication factor (> 0; the paper found values of a few hundred).
        feature_channels: ``C``, the channel count of the input, when known at construction
            (:func:`frem_from_options` passes it, so a bad ``B`` fails early). If ``None`` it is
            taken from the first input seen.

    Shape: ``(N, C, H, W) -> (N, C, H, W)``. Eval mode: identity.

    Selection: :meth:`resample` draws ``B`` distinct channels with ``generator`` (or torch's global
    RNG). If no selection exists at the first training forward, one is drawn then from the global
    RNG, so ``torch.manual_seed`` makes it reproducible. :attr:`selected` holds the current indices.
    """

    def __init__(self, channels: int, factor: float, feature_channels: int | None = None):
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise NucflowError(f"frem.channels: must be an integer >= 1, got {channels!r}")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
            raise NucflowError(f"frem.factor: must be a number > 0, got {factor!r}")
        if feature_channels is not None and channels > feature_channels:
            raise NucflowError(f"frem.channels: {channels} exceeds the {feature_channels} channels "
                               "of the feature map it enhances")
        self.channels = channels
        self.factor = float(factor)
        self.feature_channels = feature_channels
        self.selected: torch.Tensor | None = None  # (B,) int64 channel indices, sorted, on CPU
        self._pending_seed: int | None = None  # a draw requested before C was known

    def extra_repr(self) -> str:
        return f"channels={self.channels}, factor={self.factor:g}"

    def resample(self, generator: torch.Generator | None = None) -> None:
        """Draw a new set of ``B`` channels (call once per training epoch)."""
        if self.feature_channels is None:
            # C unknown until the first forward: fix the draw now, realise it later.
            self._pending_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
            self.selected = None
            return
        self.selected = self._draw(self.feature_channels, generator)

    def _draw(self, n_channels: int, generator: torch.Generator | None) -> torch.Tensor:
        if self.channels > n_channels:
            raise NucflowError(f"frem.channels: {self.channels} exceeds the {n_channels} channels "
                               "of the feature map it enhances")
        order = torch.randperm(n_channels, generator=generator)
        return order[: self.channels].sort().values

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return features
        n_channels = features.shape[1]
        if self.feature_channels is None:
            self.feature_channels = n_channels
        elif n_channels != self.feature_channels:
            raise NucflowError(f"FREM: expected {self.feature_channels} channels, got {n_channels}")
        if self.selected is None:
            generator = None
            if self._pending_seed is not None:
                generator = torch.Generator().manual_seed(self._pending_seed)
                self._pending_seed = None
            self.selected = self._draw(n_channels, generator)
        scale = torch.ones(n_channels, dtype=features.dtype, device=features.device)
        scale[self.selected.to(features.device)] = self.factor
        return features * scale.view(1, n_channels, 1, 1)


def resample_all(model: nn.Module, generator: torch.Generator | None = None) -> int:
    """Re-draw the selection of every :class:`FREM` inside ``model`` (in module order).

    Call at the start of each training epoch. Returns the number of FREM modules found.
    """
    found = 0
    for module in model.modules():
        if isinstance(module, FREM):
            module.resample(generator)
            found += 1
    return found


def frem_from_options(options: Mapping[str, Any] | None, feature_channels: int) -> nn.Module:
    """The module a model puts on its deepest encoder feature map.

    ``options`` is the ``frem`` argument of every model constructor: ``None`` (no FREM; returns
    ``nn.Identity``) or ``{"channels": B, "factor": X}``. ``feature_channels`` is that feature map's
    channel count, so ``B > C`` fails at construction with a :class:`NucflowError`.
    """
    if options is None:
        return nn.Identity()
    if not isinstance(options, Mapping):
        raise NucflowError(f"frem: expected a mapping with keys 'channels' and 'factor', got {options!r}")
    unknown = sorted(set(options) - {"channels", "factor"})
    missing = sorted({"channels", "factor"} - set(options))
    if unknown:
        raise NucflowError(f"frem: unknown key(s) {', '.join(unknown)}; valid keys: channels, factor")
    if missing:
        raise NucflowError(f"frem: missing key(s) {', '.join(missing)}")
    return FREM(options["channels"], options["factor"], feature_channels=feature_channels)
