"""Post-processing methods by name: ``POSTPROCESSORS`` maps a name to its :class:`MethodEntry`
(function, params class, and what probability output it reads). Everything that must know what a
method needs reads its entry: predict (which methods a model's output can feed), the workflow
(which probability files a postprocess job globs, which runs predict at several scales), the plan
(which methods a three-class model is scored with) and the method choice (which methods compete).
A method is added by one entry; ``docs/extending.md`` walks through it.

``postprocess(name, prob, **params)`` looks the method up, builds its frozen params dataclass from
the defaults overridden by ``params`` (an unknown name or key is a :class:`NucflowError` naming it),
and returns the label image. ``parse_param_strings`` turns CLI ``key=value`` strings into typed
overrides using the dataclass field types.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from nucflow.errors import NucflowError
from nucflow.postprocess.multiscale import MultiscaleParams, multiscale
from nucflow.postprocess.seeded import SeededParams, seeded
from nucflow.postprocess.three_class import ThreeClassParams, three_class
from nucflow.postprocess.threshold import PublishedParams, published
from nucflow.postprocess.watershed import WatershedParams, watershed

DEFAULT_METHOD = "published"

#: What a method reads: ``foreground`` one foreground probability map (H, W) of a one-channel
#: network (``*_prob.tif``); ``three_class`` the (3, H, W) background / interior / boundary maps of
#: a three-class network (``*_prob.tif``); ``scales`` the (S, H, W) foreground maps of one field
#: predicted at several input scales (``*_prob_scales.tif``).
Reads = Literal["foreground", "three_class", "scales"]
#: The probability file each kind of input is read from.
PROB_PATTERN = {"foreground": "*_prob.tif", "three_class": "*_prob.tif", "scales": "*_prob_scales.tif"}


@dataclass(frozen=True)
class MethodEntry:
    """One post-processing method: ``function(prob, params) -> uint32 labels (H, W)``, its frozen
    params dataclass (defaults = the method's published settings) and what it reads."""

    function: Callable
    params: type
    reads: Reads = "foreground"


POSTPROCESSORS: dict[str, MethodEntry] = {
    "published": MethodEntry(published, PublishedParams),
    "watershed": MethodEntry(watershed, WatershedParams),
    "three_class": MethodEntry(three_class, ThreeClassParams, "three_class"),
    "seeded": MethodEntry(seeded, SeededParams),
    "multiscale": MethodEntry(multiscale, MultiscaleParams, "scales"),
}


def _lookup(name: str) -> MethodEntry:
    if name not in POSTPROCESSORS:
        raise NucflowError(f"post-processing method {name!r} unknown; choose from: {', '.join(POSTPROCESSORS)}")
    return POSTPROCESSORS[name]


def method_entry(name: str) -> MethodEntry:
    """The registry entry of method ``name`` (an unknown name is a :class:`NucflowError`)."""
    return _lookup(name)


def methods_reading(kind: Reads) -> tuple[str, ...]:
    """The methods that read ``kind`` of probability output, in registry order."""
    return tuple(name for name, method in POSTPROCESSORS.items() if method.reads == kind)


def make_params(name: str, **overrides):
    """The params dataclass of method ``name`` with defaults replaced by ``overrides``."""
    params_class = _lookup(name).params
    fields = {f.name for f in dataclasses.fields(params_class)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise NucflowError(f"post-processing method {name!r}: unknown parameter {unknown[0]!r}; "
                           f"valid: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(params_class)
    checked = {key: _check_type(name, key, value, hints[key]) for key, value in overrides.items()}
    return params_class(**checked)


def _check_type(method: str, key: str, value, kind):
    """Return ``value`` as the field type ``kind`` (list -> tuple, int -> float), or raise."""
    where = f"post-processing method {method!r}, parameter {key!r}"
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, (list, tuple)):
            raise NucflowError(f"{where}: expected a list of numbers, got {value!r}")
        item_kind = typing.get_args(kind)[0]
        return tuple(_check_type(method, key, item, item_kind) for item in value)
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if kind in (bool, str) and isinstance(value, kind):
        return value
    raise NucflowError(f"{where}: expected {kind.__name__}, got {value!r}")


def default_params(name: str) -> dict:
    """Defaults of method ``name`` as a JSON-ready dict (tuples become lists)."""
    return dataclasses.asdict(make_params(name))


def postprocess(name: str, prob, **params) -> np.ndarray:
    """Run method ``name`` on ``prob`` with parameter overrides; returns uint32 (H, W) labels.

    ``prob`` is float (H, W) for published / watershed / seeded, (3, H, W) for three_class and a
    list of (H, W) maps or an (S, H, W) array for multiscale.
    """
    return _lookup(name).function(prob, make_params(name, **params))


def _convert(text: str, kind, key: str):
    try:
        if kind is bool:
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes"):
                return True
            if lowered in ("0", "false", "no"):
                return False
            raise ValueError(text)
        if typing.get_origin(kind) is tuple:
            item_kind = typing.get_args(kind)[0]
            return tuple(item_kind(part) for part in text.split(",") if part.strip())
        return kind(text)
    except ValueError:
        raise NucflowError(f"--param {key}={text}: not a valid {getattr(kind, '__name__', kind)}") from None


def parse_param_strings(name: str, items: Sequence[str]) -> dict:
    """``["threshold=0.4", "thresholds=0.6,0.3"]`` -> typed overrides for method ``name``."""
    params_class = _lookup(name).params
    hints = typing.get_type_hints(params_class)
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise NucflowError(f"--param {item!r}: expected key=value")
        if key not in hints:
            raise NucflowError(f"post-processing method {name!r}: unknown parameter {key!r}; "
                               f"valid: {', '.join(sorted(hints))}")
        overrides[key] = _convert(value, hints[key], key)
    return overrides
