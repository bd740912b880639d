"""CPU training throughput per model: tiles per second of forward + backward + Adam step, in fp32
and in the precision ``auto`` picks on this machine (bf16 autocast + channels-last on a CPU with
AMX-BF16 / AVX512-BF16), with the ratio of the two measured in the same process.

Three sizes per model:

* demo: width 0.125 on 64-px tiles at the demo batch sizes (U-Net 8, U-Net++ 4, DeepLabv3+ 4,
  Tiramisu 2, PPU-Net 4);
* half: width 0.5 on 128-px tiles, batch 8;
* published: width 1.0 on 128-px tiles (the published 288-px tiles take minutes per step on a
  CPU), batch 4.

At width 0.125 the convolutions have 8-64 channels and bf16's casts cost about what its faster
kernels save (DeepLabv3+ and PPU-Net run no faster, measured); from width 0.5 on bf16 pays.

One thread (on a shared 2-core machine two threads contend with other work and make numbers swing
several-fold). One warm-up step, then as many timed steps as fit in about ``SECONDS_PER_CASE`` (at
least ``MIN_STEPS``); fp32 and auto alternate per model so that a change in machine load hits both.
The loss runs in fp32 in both, as in training.

    nucflow bench training [--models unet,tiramisu] [--sizes demo,published] [--seconds 4]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from dataclasses import dataclass

import pandas as pd
import torch

from nucflow.models.registry import MODEL_NAMES, build, entry
from nucflow.precision import Precision, resolve
from nucflow.training.losses import bce

MIN_STEPS, SECONDS_PER_CASE = 2, 4.0


@dataclass(frozen=True)
class Size:
    name: str
    width: float
    tile: int
    batch: int | None  # None: the demo batch of the model


SIZES = {"demo": Size("demo", 0.125, 64, None), "half": Size("half", 0.5, 128, 8),
         "published": Size("published", 1.0, 128, 4)}


def steps_per_second(name: str, width: float, batch: int, tile: int, precision: Precision,
                     seconds: float = SECONDS_PER_CASE) -> tuple[float, int]:
    """(optimisation steps per second, steps timed) of one model at one precision."""
    torch.manual_seed(0)
    net = build(name, width=width)
    if precision.channels_last:
        net = net.to(memory_format=torch.channels_last)
    net.train()
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-4)
    images = torch.randn(batch, 1, tile, tile)
    if precision.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    target = (torch.rand(batch, 1, tile, tile) > 0.5).float()
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision.autocast_bf16 else contextlib.nullcontext()

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        with autocast:
            logits = net(images)
        bce(logits.float(), target).backward()
        optimiser.step()

    step()  # warm-up (allocations, kernel selection)
    steps, start = 0, time.perf_counter()
    while steps < MIN_STEPS or time.perf_counter() - start < seconds:
        step()
        steps += 1
    return steps / (time.perf_counter() - start), steps


def compare(name: str, size: Size, auto: Precision, seconds: float) -> dict:
    """One row: fp32 and auto tiles/s of one model at one size, and their ratio."""
    fp32 = resolve("32-true", None, "cpu")
    batch = size.batch or entry(name).demo_batch_size
    rate32, n32 = steps_per_second(name, size.width, batch, size.tile, fp32, seconds)
    rate, n = steps_per_second(name, size.width, batch, size.tile, auto, seconds)
    return {"model": name, "size": size.name, "width": size.width, "tile": size.tile, "batch": batch,
            "fp32_tiles_per_s": round(rate32 * batch, 2), "auto_tiles_per_s": round(rate * batch, 2),
            "auto_vs_fp32": round(rate / rate32, 2), "steps": f"{n32}/{n}"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="nucflow bench training")
    parser.add_argument("--models", default=",".join(MODEL_NAMES))
    parser.add_argument("--sizes", default="demo,half,published")
    parser.add_argument("--seconds", type=float, default=SECONDS_PER_CASE, help="timed seconds per case")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv or [])
    auto = resolve("auto", None, "cpu")
    before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    rows = []
    try:
        for size in (SIZES[s] for s in args.sizes.split(",")):
            for name in args.models.split(","):
                rows.append(compare(name, size, auto, args.seconds))
    finally:
        torch.set_num_threads(before)
    print(f"-- cpu training throughput, {args.threads} thread(s); auto = {auto.name}"
          f"{' + channels-last' if auto.channels_last else ''} ({auto.reason})")
    print(pd.DataFrame(rows).to_string(index=False))
    for row in rows:
        print(f"train_tiles_per_s {row['model']} {row['size']}: fp32 {row['fp32_tiles_per_s']}, "
              f"auto {row['auto_tiles_per_s']} tiles/s ({row['auto_vs_fp32']}x)")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
