"""Size and cost of a model: parameter counts, multiply-accumulates per tile, forward time.

What is counted:

- ``params``: elements of all ``nn.Parameter`` tensors; ``params_trainable``: those with
  ``requires_grad``. ``bn_buffers``: elements of the BatchNorm running mean and variance buffers.
  Keras reports BN moving statistics as "non-trainable params", so a Keras "Total params" equals
  ``params + bn_buffers``.
- ``macs``: multiply-accumulates of one forward pass on one ``size x size`` tile (batch 1), counted
  with forward hooks on ``Conv2d`` (output elements x input channels per group x kernel area),
  ``ConvTranspose2d`` (input elements x output channels per group x kernel area) and ``Linear``
  (output elements x input features). Bias additions, normalisation, activations, pooling,
  interpolation and element-wise operations are not counted. The count is taken on the ``meta``
  device, so it costs no arithmetic.
- ``forward_ms``: median wall time of ``repeats`` forward passes of one tile in eval mode under
  ``torch.inference_mode()``, after ``warmup`` untimed passes.
"""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import asdict, dataclass

import pandas as pd
import torch
from torch import nn

from nucflow.errors import NucflowError
from nucflow.models.registry import build

SUMMARY_COLUMNS = ("model", "width", "in_channels", "size", "params", "params_trainable",
                   "bn_buffers", "macs", "forward_ms", "device")


@dataclass(frozen=True)
class ParameterCount:
    """Element counts of a model's parameters and BatchNorm statistics (see module docstring)."""

    params: int
    params_trainable: int
    bn_buffers: int

    @property
    def keras_total(self) -> int:
        """What Keras' ``model.summary()`` calls "Total params"."""
        return self.params + self.bn_buffers


@dataclass(frozen=True)
class ModelSummary:
    """One row of the ``nucflow models`` table; ``macs`` per ``size x size`` tile, ``forward_ms`` in ms."""

    model: str
    width: float
    in_channels: int
    size: int
    params: int
    params_trainable: int
    bn_buffers: int
    macs: int
    forward_ms: float
    device: str


def count_parameters(model: nn.Module) -> ParameterCount:
    """Parameter and BN-statistic element counts of ``model`` (works on the meta device)."""
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    bn = sum(m.running_mean.numel() + m.running_var.numel() for m in model.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None)
    return ParameterCount(params, trainable, bn)


def _layer_macs(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        kernel_area = module.kernel_size[0] * module.kernel_size[1]
        return output.numel() * (module.in_channels // module.groups) * kernel_area
    if isinstance(module, nn.ConvTranspose2d):
        kernel_area = module.kernel_size[0] * module.kernel_size[1]
        return inputs[0].numel() * (module.out_channels // module.groups) * kernel_area
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def count_macs(model: nn.Module, in_channels: int, size: int) -> int:
    """Multiply-accumulates of ``model`` on one ``(1, in_channels, size, size)`` input, eval mode.

    The model is run on a ``meta``-device copy of its structure, so nothing is computed; the
    model passed in is left unchanged.
    """
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        total += _layer_macs(module, inputs, output)

    meta_model = _meta_copy(model)
    handles = [m.register_forward_hook(hook) for m in meta_model.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    try:
        with torch.no_grad():
            meta_model(torch.empty(1, in_channels, size, size, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return int(total)


def _meta_copy(model: nn.Module) -> nn.Module:
    clone = copy.deepcopy(model).to("meta")
    return clone.eval()


def time_forward(model: nn.Module, in_channels: int, size: int, device: torch.device | str,
                 repeats: int = 3, warmup: int = 1) -> float:
    """Median wall time in milliseconds of one forward pass on a ``(1, in_channels, size, size)`` tile."""
    device = torch.device(device)
    model = model.to(device).eval()
    images = torch.randn(1, in_channels, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    times = []
    with torch.inference_mode():
        for run in range(warmup + repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            model(images)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if run >= warmup:
                times.append((time.perf_counter() - start) * 1000.0)
    return float(statistics.median(times))


def check_device(device: str) -> torch.device:
    """``device`` as a torch device; a :class:`NucflowError` if it is not usable here."""
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise NucflowError(f"--device: unknown device {device!r}; use cpu or cuda") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise NucflowError("--device: cuda requested but no CUDA device is available")
    if parsed.type not in ("cpu", "cuda"):
        raise NucflowError(f"--device: unsupported device {device!r}; use cpu or cuda")
    return parsed


def summarize(name: str, width: float = 1.0, in_channels: int = 1, size: int = 288,
              device: str = "cpu", repeats: int = 3, warmup: int = 1, seed: int = 0) -> ModelSummary:
    """Build model ``name`` (one output channel, seeded weights) and measure it."""
    if size < 1:
        raise NucflowError(f"--size: must be >= 1, got {size}")
    if repeats < 1:
        raise NucflowError(f"--repeats: must be >= 1, got {repeats}")
    torch_device = check_device(device)
    torch.manual_seed(seed)
    model = build(name, in_channels=in_channels, out_channels=1, width=width)
    counts = count_parameters(model)
    macs = count_macs(model, in_channels, size)
    forward_ms = time_forward(model, in_channels, size, torch_device, repeats=repeats, warmup=warmup)
    return ModelSummary(model=name, width=float(width), in_channels=in_channels, size=size,
                        params=counts.params, params_trainable=counts.params_trainable,
                        bn_buffers=counts.bn_buffers, macs=macs, forward_ms=round(forward_ms, 3),
                        device=str(torch_device))


def summary_table(summaries: list[ModelSummary]) -> pd.DataFrame:
    """Rows of :class:`ModelSummary` as a DataFrame with :data:`SUMMARY_COLUMNS`."""
    return pd.DataFrame([asdict(s) for s in summaries], columns=list(SUMMARY_COLUMNS))



#: The study's claim about PPU-Net's size: about 20-fold fewer parameters than the deep models.
PAPER_PPUNET_FOLD = 20


def with_ppunet_ratio(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``params_vs_ppunet`` (each model's parameters / PPU-Net's) when PPU-Net is in it."""
    params = dict(zip(table["model"], table["params"].astype(float)))
    if not params.get("ppunet", 0) > 0:
        return table
    return table.assign(params_vs_ppunet=table["params"].astype(float) / params["ppunet"])


def ppunet_size_line(table: pd.DataFrame) -> str:
    """One sentence comparing PPU-Net's size with the paper's claim, from a table with
    ``params_vs_ppunet`` ("" without it). Torch-free callers may copy it; figures read the column."""
    if "params_vs_ppunet" not in table:
        return ""
    ratios = dict(zip(table["model"], table["params_vs_ppunet"]))
    parts = ", ".join(f"{ratios[m]:.1f}x fewer than {m}" for m in ("deeplabv3plus", "tiramisu") if m in ratios)
    return f"PPU-Net parameters: {parts} (paper: about {PAPER_PPUNET_FOLD}-fold fewer)" if parts else ""
