"""The models nucflow knows, each in one registry entry, and :func:`build`.

:data:`REGISTRY` maps a name to a :class:`ModelEntry`: where the class lives (``"module:Class"``,
imported only when the model is built, so a missing or broken architecture file only affects that
model), the published and the demo batch size, the name and colour figures show, and whether the
model may predict on windows larger than its training tile. Everything else reads these entries:
the config check (a model name anywhere in a config must be registered), the Snakefile's
``{model}`` wildcard, the plan's default batch size, the figures' order, names and colours, the
predictors' window rule and the benchmarks. A model is added by one more entry (the tests add a
toy model by setting an item of the dict); ``docs/extending.md`` walks through it.

Every class takes ``(in_channels=1, out_channels=1, width=1.0, frem=None, **arch_options)`` and maps
``(N, in_channels, H, W)`` float32 images to raw logits ``(N, out_channels, H, W)`` for any H, W.
The five published models also take ``deep_block=None`` (a squeeze-and-excitation or channel-dropout
block right after FREM, :mod:`nucflow.models.deep_blocks`); a model without it refuses the option.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nucflow.errors import NucflowError

if TYPE_CHECKING:  # the registry itself is torch-free: the workflow reads it while it builds the DAG
    from torch import nn

#: What a registry name may look like (it becomes part of run ids and file names).
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*")


@dataclass(frozen=True)
class ModelEntry:
    """One model.

    Attributes:
        name: registry name (:data:`NAME_PATTERN`): in configs, run ids and file names.
        target: ``"package.module:ClassName"`` of the ``nn.Module``.
        label: the name figures and tables show.
        colour: its colour in every figure (hex).
        published_batch_size: the batch its paper trained with (the plan's default).
        demo_batch_size: the batch the demo config and the benchmarks use (CPU, width 0.5).
        fixed_window: the output at a pixel depends on the size of the whole input (global
            pooling), so it predicts only on windows of its training tile size
            (:func:`nucflow.inference.window.check_window`).
    """

    name: str
    target: str
    label: str
    colour: str
    published_batch_size: int
    demo_batch_size: int
    fixed_window: bool = False


#: The built-in models, in the order figures show them. Colours: Okabe-Ito, distinguishable with
#: the common colour-vision deficiencies. DeepLabv3+ pools the whole feature map in its ASPP
#: image-pooling branch and PPU-Net clamps its pyramid pools to the map at the deepest levels, so
#: both are fixed-window (measured: DeepLabv3+ trained on 64-px tiles and run on 256-px windows fell
#: from pixel F1 0.93 to 0.07 on the demo's fluorescence test images); U-Net, U-Net++ and Tiramisu
#: are fully convolutional with local context.
REGISTRY: dict[str, ModelEntry] = {entry.name: entry for entry in (
    ModelEntry("unet", "nucflow.models.unet:UNet", "U-Net", "#0072B2", 16, 8),
    ModelEntry("unetpp", "nucflow.models.unetpp:UNetPlusPlus", "U-Net++", "#E69F00", 8, 4),
    ModelEntry("deeplabv3plus", "nucflow.models.deeplabv3plus:DeepLabV3Plus", "DeepLabv3+", "#009E73", 8, 4,
               fixed_window=True),
    ModelEntry("tiramisu", "nucflow.models.tiramisu:Tiramisu", "Tiramisu", "#CC79A7", 4, 2),
    ModelEntry("ppunet", "nucflow.models.ppunet:PPUNet", "PPU-Net", "#D55E00", 8, 4, fixed_window=True),
)}

#: The built-in models' names (for defaults of benchmarks and tests; :func:`model_names` also
#: holds registered ones).
MODEL_NAMES: tuple[str, ...] = tuple(REGISTRY)


def model_names() -> tuple[str, ...]:
    """Every registered model's name, built-in first, in figure order."""
    return tuple(REGISTRY)


def entry(name: str) -> ModelEntry:
    """The registry entry of model ``name``; an unknown name is a :class:`NucflowError` listing the
    valid ones."""
    if name not in REGISTRY:
        raise NucflowError(f"model {name!r}: unknown; valid names: {', '.join(model_names())}")
    return REGISTRY[name]

_COMMON_ARGUMENTS = ("in_channels", "out_channels", "width", "frem", "deep_block")


def model_class(name: str) -> type[nn.Module]:
    """The class registered as ``name`` (imports its module)."""
    module_name, class_name = entry(name).target.split(":")
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
    """Construct model ``name`` (one of :func:`model_names`).

    Args:
        name: registry name, e.g. ``"unet"``.
        in_channels: image channels (focal planes), >= 1.
        out_channels: logit channels (1 for binary, 3 for background/interior/boundary), >= 1.
        width: multiplies every filter count; 1.0 is the published size.
        **options: ``frem={"channels": B, "factor": X}``, ``deep_block`` (a squeeze-and-excitation or
            channel-dropout block at FREM's place, :mod:`nucflow.models.deep_blocks`) and the
            architecture's own options
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
    if "deep_block" in inspect.signature(cls.__init__).parameters:
        valid.add("deep_block")
    unknown = sorted(set(options) - valid)
    if unknown:
        raise NucflowError(f"model {name!r}: unknown option(s) {', '.join(unknown)}; "
                           f"valid options: {', '.join(sorted(valid))}")
    return cls(in_channels=in_channels, out_channels=out_channels, width=float(width), **options)
