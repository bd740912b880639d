"""Model size and cost: the ``nucflow models`` table at width 1 and at the demo width 0.25.

Size 288 x 288 (the study's input tile), one input channel, CPU. Also prints each model's
parameter count relative to PPU-Net, since the study claims PPU-Net needs ~20x fewer parameters
than the comparably accurate models.
"""

from __future__ import annotations

from nucflow.models.registry import MODEL_NAMES, model_class
from nucflow.models.summary import summarize, summary_table

WIDTHS = (1.0, 0.25)
TILE_SIZE = 288


def main() -> None:
    names = [name for name in MODEL_NAMES if _importable(name)]
    for width in WIDTHS:
        table = summary_table([summarize(name, width=width, size=TILE_SIZE, device="cpu", repeats=3)
                               for name in names])
        print(f"-- width {width:g}, size {TILE_SIZE}, cpu")
        print(table.to_string(index=False))
        params = dict(zip(table["model"], table["params"]))
        if "ppunet" in params:
            for name, count in params.items():
                if name != "ppunet":
                    print(f"params {name} / ppunet (width {width:g}): {count / params['ppunet']:.2f} x")


def _importable(name: str) -> bool:
    try:
        model_class(name)
    except Exception as exc:  # report and go on; the other models are still worth measuring
        print(f"{name}: not available ({exc})")
        return False
    return True


if __name__ == "__main__":
    main()
