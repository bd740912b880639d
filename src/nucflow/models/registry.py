"""Model names -> classes, resolved lazily, and :func:`build`.

:data:`REGISTRY` is a plain dict ``name -> "module:ClassName"``; a module is imported only when its
model is built, so a missing or broken architecture file only affects that model.

Every class takes ``(in_channels=1, out_channels=1, width=1.0, frem=None, **arch_options)`` and maps
``(N, in_channels, H, W)`` float32 images to raw logits ``(N, out_channels, H, W)`` for any H, W.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from torch import nn

from nucflow.errors import NucflowError

REGISTRY: dict[str, str] = {
    "unet": "nucflow.models.unet:UNet",
    "unetpp": "nucflow.models.unetpp:UNetPlusPlus",
    "deeplabv3plus": "nucflow.models.deeplabv3plus:DeepLabV3Plus",
    "tiramisu": "nucflow.models.tiramisu:Tiramisu",
    "ppunet": "nucflow.models.ppunet:PPUNet",
}

MODEL_NAMES: tuple[str, ...] = tuple(REGISTRY)

_COMMON_ARGUMENTS = ("in_channels", "out_channels", "width", "frem")


def model_class(name: str) -> type[nn.Module]:
    """The class registered as ``name`` (imports its module)."""
    if name not in REGISTRY:
        raise NucflowError(f"model {name!r}: unknown; valid names: {', '.join(MODEL_NAMES)}")
    module_name, class_name = REGISTRY[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise NucflowError(f"model {name!r}: its module {module_name} is not available") from exc
        raise
    return getattr(module, class_name)


def model_options(name: str) -> dict[str, Any]:
    """The architecture options of model ``name`` with their defaults (beyond the common four)."""
    signature = inspect.signature(model_class(name).__init__)
    return {p.name: p.default for p in signature.parameters.values()
            if p.name != "self" and p.name not in _COMMON_ARGUMENTS
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def build(name: str, in_channels: int = 1, out_channels: int = 1, width: float = 1.0,
          **options: Any) -> nn.Module:
    """Construct model ``name`` (one of :data:`MODEL_NAMES`).

    Args:
        name: registry name, e.g. ``"unet"``.
        in_channels: image channels (focal planes), >= 1.
        out_channels: logit channels (1 for binary, 3 for background/interior/boundary), >= 1.
        width: multiplies every filter count; 1.0 is the published size.
        **options: ``frem={"channels": B, "factor": X}`` and the architecture's own options
            (see :func:`model_options`); an unknown option raises :class:`NucflowError`.

    Returns: the freshly initialised module (train mode).
    """
    cls = model_class(name)
    for arg, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise NucflowError(f"model {name!r}: {arg} must be an integer >= 1, got {value!r}")
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
        raise NucflowError(f"model {name!r}: width must be a number > 0, got {width!r}")
    valid = {"frem", *model_options(name)}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise NucflowError(f"model {name!r}: unknown option(s) {', '.join(unknown)}; "
                           f"valid options: {', '.join(sorted(valid))}")
    return cls(in_channels=in_channels, out_channels=out_channels, width=float(width), **options)
