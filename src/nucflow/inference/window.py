"""Which networks may predict on sliding windows larger than their training tiles (torch-free, so
the workflow can read it while it builds the DAG)."""

from __future__ import annotations

from nucflow.errors import NucflowError
from nucflow.models.registry import REGISTRY


def fixed_window(model: str) -> bool:
    """Whether ``model``'s output at a pixel depends on the size of the whole input it is given, not
    only on a neighbourhood (its registry entry's ``fixed_window``; names outside the registry are
    treated as fully convolutional). Such a model predicts on windows of its training tile size."""
    return model in REGISTRY and REGISTRY[model].fixed_window


def check_window(model: str, window: int, tile: int) -> None:
    """Refuse a window other than the training tile for a :func:`fixed_window` model."""
    if fixed_window(model) and window != tile:
        raise NucflowError(f"--window {window}: {model} pools over whole feature maps, so its predictions "
                           f"depend on the window; it runs at its {tile} px training tile (leave --window out)")
