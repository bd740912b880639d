"""Which networks may predict on sliding windows larger than their training tiles (torch-free, so
the workflow can read it while it builds the DAG)."""

from __future__ import annotations

from nucflow.errors import NucflowError

#: Models whose output at a pixel depends on the size of the input they are given, not only on a
#: neighbourhood: DeepLabv3+ pools the whole feature map in its ASPP image-pooling branch, and PPU-Net
#: clamps its pyramid pools to the map at the deepest levels. They predict on windows of their
#: training tile size (measured: DeepLabv3+ trained on 64-px tiles and run on 256-px windows fell from
#: pixel F1 0.93 to 0.07 on the demo's fluorescence test images). U-Net, U-Net++ and Tiramisu are
#: fully convolutional with local context, so a larger window only changes window borders.
FIXED_WINDOW: frozenset[str] = frozenset({"deeplabv3plus", "ppunet"})


def check_window(model: str, window: int, tile: int) -> None:
    """Refuse a window other than the training tile for a model in :data:`FIXED_WINDOW`."""
    if model in FIXED_WINDOW and window != tile:
        raise NucflowError(f"--window {window}: {model} pools over whole feature maps, so its predictions "
                           f"depend on the window; it runs at its {tile} px training tile (leave --window out)")
