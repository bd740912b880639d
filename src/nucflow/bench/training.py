"""CPU training throughput per model: tiles per second of forward + backward + Adam step.

Batch 4, 128 x 128 tiles, one input channel, BCE loss, demo width 0.25, one CPU thread (on a
shared 2-core machine, two threads contend with other work and make numbers swing several-fold).
One warm-up step, then as many timed steps as fit in about ``SECONDS_PER_MODEL`` (at least
``MIN_STEPS``). Numbers still depend on how busy the machine is; compare models within one run.
"""

from __future__ import annotations

import time

import pandas as pd
import torch

from nucflow.models.registry import MODEL_NAMES, build
from nucflow.training.losses import bce

BATCH, SIZE, WIDTH = 4, 128, 0.25
MIN_STEPS, SECONDS_PER_MODEL = 3, 10.0


def training_throughput(name: str, width: float = WIDTH, batch: int = BATCH, size: int = SIZE) -> dict:
    """One row: model, width, batch, size, parameters, timed steps, seconds per step, tiles/s."""
    torch.manual_seed(0)
    net = build(name, width=width)
    net.train()
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-4)
    images = torch.randn(batch, 1, size, size)
    target = (torch.rand(batch, 1, size, size) > 0.5).float()

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        bce(net(images), target).backward()
        optimiser.step()

    step()  # warm-up (allocations, kernel selection)
    steps, start = 0, time.perf_counter()
    while steps < MIN_STEPS or time.perf_counter() - start < SECONDS_PER_MODEL:
        step()
        steps += 1
    seconds = (time.perf_counter() - start) / steps
    return {"model": name, "width": width, "batch": batch, "size": size,
            "params": sum(p.numel() for p in net.parameters()), "steps": steps,
            "s_per_step": round(seconds, 4), "tiles_per_s": round(batch / seconds, 2)}


def main(threads: int = 1) -> None:
    rows = []
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for name in MODEL_NAMES:
            try:
                rows.append(training_throughput(name))
            except Exception as exc:  # a model that cannot be built yet must not hide the others
                print(f"{name}: not measured ({type(exc).__name__}: {exc})")
    finally:
        torch.set_num_threads(before)
    print(f"-- cpu training throughput, batch {BATCH}, {SIZE}x{SIZE}, width {WIDTH:g}, {threads} thread(s)")
    if rows:
        print(pd.DataFrame(rows).to_string(index=False))
        for row in rows:
            print(f"train_tiles_per_s {row['model']}: {row['tiles_per_s']} tiles/s")


if __name__ == "__main__":
    main()
