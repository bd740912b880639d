"""Building blocks shared by every network in :mod:`nucflow.models`.

Other model files import from here; the names below are a stable interface:

- :func:`scaled_channels` -- a published filter count times the model ``width`` (at least 1).
- :class:`ConvBNReLU` -- one convolution, optional batch normalisation, ReLU.
- :class:`DoubleConv` -- two :class:`ConvBNReLU` in a row (the U-Net level / U-Net++ node unit).
- :class:`SeparableConv2d` -- depthwise convolution followed by a 1x1 pointwise convolution.
- :func:`pad_to_multiple` / :func:`crop_to` -- pad a batch so its height and width are multiples of
  the network's total down-sampling factor, and cut the logits back to the input size.
- :func:`init_he_normal` -- the He-normal initialisation the Keras reference models use.

All tensors are ``float32`` batches of shape ``(N, C, H, W)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nucflow.errors import NucflowError


def scaled_channels(channels: int, width: float) -> int:
    """The filter count of a layer whose published size is ``channels``, scaled by ``width``.

    ``width`` 1.0 gives the published network; any positive width gives at least one filter.
    """
    if not width > 0:
        raise NucflowError(f"width: must be > 0, got {width!r}")
    return max(1, round(channels * width))


class ConvBNReLU(nn.Sequential):
    """``Conv2d(k x k, 'same' padding) -> [BatchNorm2d] -> ReLU``.

    Args:
        in_channels, out_channels: channel counts of input and output.
        kernel_size: square kernel size (odd).
        batch_norm: insert ``BatchNorm2d`` between convolution and ReLU.
        bias: convolution bias. Default: ``True`` (as in the Keras models the study used, where the
            bias is kept even before batch normalisation; this matters for parameter counts).
        dilation, stride: as in ``nn.Conv2d``; padding is ``dilation * (kernel_size - 1) // 2``.

    Shape: ``(N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, *,
                 batch_norm: bool = True, bias: bool = True, dilation: int = 1, stride: int = 1):
        padding = dilation * (kernel_size - 1) // 2
        layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                                             padding=padding, dilation=dilation, bias=bias)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class DoubleConv(nn.Sequential):
    """Two 3x3 :class:`ConvBNReLU` (``in -> out -> out``), the unit of U-Net levels and U-Net++ nodes.

    ``n_convs`` (default 2) allows the U-Net++ ablation that keeps one convolution per skip node.
    ``dropout`` > 0 adds element-wise ``nn.Dropout`` after every ReLU (the Keras U-Net++ reference
    uses 0.5).
    """

    def __init__(self, in_channels: int, out_channels: int, *, batch_norm: bool = True,
                 bias: bool = True, n_convs: int = 2, dropout: float = 0.0):
        if n_convs < 1:
            raise NucflowError(f"n_convs: must be >= 1, got {n_convs}")
        if not 0.0 <= dropout < 1.0:
            raise NucflowError(f"dropout: must be in [0, 1), got {dropout!r}")
        layers: list[nn.Module] = []
        for i in range(n_convs):
            layers.append(ConvBNReLU(in_channels if i == 0 else out_channels, out_channels,
                                     batch_norm=batch_norm, bias=bias))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        super().__init__(*layers)


class SeparableConv2d(nn.Sequential):
    """Depthwise ``k x k`` convolution (one filter per input channel) then a 1x1 pointwise convolution.

    Padding keeps the spatial size for stride 1 ("same"). Neither convolution has a bias unless
    ``bias`` is true (then only the pointwise one has one), matching Xception-style blocks that
    follow each separable convolution with batch normalisation.

    Shape: ``(N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, *,
                 stride: int = 1, dilation: int = 1, bias: bool = False):
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_channels, in_channels, kernel_size, stride=stride, padding=padding,
                      dilation=dilation, groups=in_channels, bias=False),
            nn.Conv2d(in_channels, out_channels, 1, bias=bias),
        )


def pad_to_multiple(images: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad ``images`` (N, C, H, W) at the bottom and right so H and W are multiples of ``multiple``.

    Reflection padding is used where the image is large enough (pad < size), otherwise edge
    replication, so any H, W >= 1 works. Returns the padded batch and the original ``(H, W)`` for
    :func:`crop_to`. No copy is made when nothing needs padding.
    """
    height, width = images.shape[-2:]
    pad_h = (-height) % multiple
    pad_w = (-width) % multiple
    if pad_h == 0 and pad_w == 0:
        return images, (height, width)
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(images, (0, pad_w, 0, pad_h), mode=mode), (height, width)


def crop_to(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Cut ``logits`` (N, C, H', W') back to the top-left ``size = (H, W)`` (undoes :func:`pad_to_multiple`)."""
    height, width = size
    if logits.shape[-2:] == (height, width):
        return logits
    return logits[..., :height, :width]


def init_he_normal(module: nn.Module) -> None:
    """He-normal (fan-in, ReLU gain) weights and zero biases for every convolution; BN to (1, 0).

    Apply with ``model.apply(init_he_normal)``; deterministic under ``torch.manual_seed``.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
