"""Segmentation networks of the study (U-Net, U-Net++, DeepLabv3+, Tiramisu, PPU-Net).

Build one with :func:`build` by its name in :data:`MODEL_NAMES`; shared layers are in
:mod:`nucflow.models.blocks`, the Feature Random Enhancement Module in :mod:`nucflow.models.frem`.
"""

from nucflow.models.registry import MODEL_NAMES, build

__all__ = ["MODEL_NAMES", "build"]
