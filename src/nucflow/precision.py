"""Numeric precision chosen by the hardware: bf16 autocast + channels-last where it is fast.

``training.precision`` and ``inference.precision`` default to ``"auto"``: bf16 mixed precision with
channels-last weights and inputs on a device that computes bf16 natively — a CPU with AMX-BF16 or
AVX512-BF16 (Linux ``/proc/cpuinfo`` flags ``amx_bf16`` / ``avx512_bf16``), or a CUDA GPU for which
``torch.cuda.is_bf16_supported()`` holds — and fp32 elsewhere. An explicit value wins; an explicit
``bf16-mixed`` on a device without bf16 is a one-line error raised in the job, before any step (the
login node of a cluster cannot know the compute node's device).

Measured on a 2-core AVX512-BF16 CPU (one forward + backward + Adam step, same process): U-Net at
width 0.125 on 64-px tiles trains 1.8x faster in bf16 + channels-last than in fp32, at width >= 0.5
on 128-px tiles 3-4x faster (``nucflow bench training``). Losses, metrics and probability maps stay
fp32: only the network runs in bf16. bf16 and fp32 runs of the same seed start to differ in the last
digits and drift apart with training (a run on the edge of stability can end at another solution,
see docs/compute.md); two runs of the same precision on the same machine are bit-identical on CPU.

This module imports torch only inside the functions that need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nucflow.errors import NucflowError

AUTO = "auto"
#: Precisions a run or a prediction may ask for: fp32, bf16 autocast, fp16 autocast with a gradient
#: scaler (the names Lightning uses, which earlier versions trained with).
PRECISIONS = (AUTO, "32-true", "bf16-mixed", "16-mixed")
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@dataclass(frozen=True)
class Precision:
    """The precision a job actually runs with.

    Attributes:
        name: ``"32-true"``, ``"bf16-mixed"`` or ``"16-mixed"``.
        channels_last: channels-last memory format for weights and inputs.
        device: ``"cpu"`` or ``"cuda"``.
        reason: why (shown in logs and recorded beside the outputs).
    """

    name: str
    channels_last: bool
    device: str
    reason: str

    @property
    def autocast_bf16(self) -> bool:
        return self.name == "bf16-mixed"

    def to_dict(self) -> dict:
        return {"precision": self.name, "channels_last": self.channels_last, "device": self.device,
                "precision_reason": self.reason}


def cpu_bf16_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> tuple[str, ...]:
    """The native-bf16 flags of this CPU (empty where the file does not exist, e.g. macOS)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return ()
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
            break
    return tuple(f for f in CPU_BF16_FLAGS if f in flags)


def device_bf16(device: str) -> tuple[bool, str]:
    """(whether ``device`` computes bf16 natively, a short description of the device)."""
    if device.startswith("cuda"):
        import torch

        name = torch.cuda.get_device_name(device) if torch.cuda.is_available() else "cuda (not available)"
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()), name
    flags = cpu_bf16_flags()
    return bool(flags), f"cpu ({'+'.join(flags) if flags else 'no amx_bf16/avx512_bf16'})"


def resolve(requested: str, channels_last: bool | None, device: str, *, key: str = "precision") -> Precision:
    """The precision to run with on ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``).

    Args:
        requested: one of :data:`PRECISIONS`.
        channels_last: ``None`` follows the precision (on with bf16); a bool wins.
        device: where the network runs.
        key: config key named in errors (``training.precision``, ``--precision``).
    """
    if requested not in PRECISIONS:
        raise NucflowError(f"{key}: unknown precision {requested!r}; choose from {', '.join(PRECISIONS)}")
    kind = "cuda" if device.startswith("cuda") else "cpu"
    if requested == AUTO:
        native, description = device_bf16(device)
        name = "bf16-mixed" if native else "32-true"
        reason = f"auto: {description} {'computes' if native else 'lacks'} native bf16"
    else:
        name, reason = requested, "as configured"
        if requested == "bf16-mixed":
            native, description = device_bf16(device)
            if not native:
                raise NucflowError(f"{key}: bf16-mixed is not supported well on this device, {description}; "
                                   "use auto or 32-true")
    if channels_last is None:
        channels_last = name == "bf16-mixed"
    return Precision(name=name, channels_last=bool(channels_last), device=kind, reason=reason)


def training_device(accelerator: str) -> str:
    """The device an ``accelerator`` setting (``auto``, ``cpu``, ``gpu``) trains on: ``"cuda"`` for gpu (and for auto
    where CUDA is available), else ``"cpu"``."""
    if accelerator == "cpu":
        return "cpu"
    import torch

    if accelerator == "gpu" or torch.cuda.is_available():
        return "cuda"
    return "cpu"
