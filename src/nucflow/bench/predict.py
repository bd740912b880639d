"""Prediction throughput: megapixels per second of ``nucflow predict``'s inference per model.

What is timed: :func:`nucflow.inference.predict.predict_field` on a 1-plane brightfield field of
the LNCaP size, 2556 x 2156 px (percentile normalisation, sliding window at 50% overlap with
Gaussian blending, batches of 8 tiles), with random weights (speed does not depend on them), at
the demo width 0.125 (tile 128) and at width 1 (tile 288, the published size), without and with
D4 test-time augmentation (8 passes per tile). Post-processing is timed once on its own.

On a CPU a full field at width 1 takes minutes per model, so the default plan times what fits in
about ten minutes, and every line says what it timed:

* demo width: the full field without TTA; TTA on a 1024 x 1024 crop;
* width 1: a 1024 x 1024 crop without TTA; TTA is *estimated* from that rate and the TTA / no-TTA
  time ratio measured on one 288 x 288 tile.

With ``--device cuda`` (or ``--full``) every line is the full field, timed, and on CUDA the width-1
lines are repeated under bf16 autocast. The NuSeT paper reports 1.98 s per megapixel on a Quadro
P4000 GPU for its whole pipeline; the last column compares (> 1: faster than that).

On the CPU the default is one thread, as in the training benchmark: on a shared machine more
threads contend with other work and the numbers swing several-fold (``--threads N`` to change).

    nucflow bench predict [--device cuda] [--full] [--threads N] [--models unet,ppunet]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

import numpy as np
import torch

from nucflow.inference.model_spec import ModelSpec
from nucflow.inference.predict import InferenceSettings, predict_field
from nucflow.inference.sliding import window_starts
from nucflow.models.registry import MODEL_NAMES, build

FIELD = (2556, 2156)
NUSET_S_PER_MP = 1.98
DEMO_WIDTH, DEMO_TILE = 0.125, 128
FULL_WIDTH, FULL_TILE = 1.0, 288
CROP = 1024
OVERLAP, BATCH = 0.5, 8


@dataclass(frozen=True)
class Case:
    """One timed line: model, width, tile, TTA, bf16, and the area timed (or estimated)."""

    model: str
    width: float
    tile: int
    tta: bool
    bf16: bool
    shape: tuple[int, int]
    estimated: bool = False

    @property
    def area(self) -> str:
        name = "full field" if self.shape == FIELD else f"{self.shape[0]}x{self.shape[1]} crop"
        tiles = len(window_starts(self.shape, self.tile, OVERLAP))
        return f"{name}, {tiles} tiles" + (", estimated" if self.estimated else "")


def brightfield_field(shape=FIELD, seed: int = 0) -> np.ndarray:
    """(1, H, W) uint16: smooth illumination plus noise (content does not change the speed)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    background = 2000 + 300 * np.sin(yy / 400) * np.cos(xx / 300)
    return (background + rng.normal(0, 60, shape)).clip(0, 65535).astype(np.uint16)[None]


def spec_for(case: Case) -> ModelSpec:
    return ModelSpec(run_id=f"bench-{case.model}", model=case.model, width=case.width, modality="brightfield",
                     in_channels=1, out_channels=1, planes=(0,), tile=case.tile, normalisation="percentile",
                     percentiles=(1.0, 99.8))


def seconds(network, case: Case, field: np.ndarray, device: str) -> float:
    """Wall time of predict_field on the top-left ``case.shape`` of ``field``."""
    raw = np.ascontiguousarray(field[:, :case.shape[0], :case.shape[1]])
    settings = InferenceSettings(overlap=OVERLAP, batch_size=BATCH, tta=case.tta, device=device,
                                 autocast_dtype=torch.bfloat16 if case.bf16 else None)
    start = time.perf_counter()
    predict_field(network, spec_for(case), raw, settings, tile=case.tile)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def cases(model: str, device: str, full: bool) -> list[Case]:
    """The lines to time for one model (see the module docstring for the plan)."""
    if full or device.startswith("cuda"):
        out = [Case(model, w, t, tta, False, FIELD) for w, t in ((DEMO_WIDTH, DEMO_TILE), (FULL_WIDTH, FULL_TILE))
               for tta in (False, True)]
        if device.startswith("cuda"):
            out += [Case(model, FULL_WIDTH, FULL_TILE, tta, True, FIELD) for tta in (False, True)]
        return out
    return [Case(model, DEMO_WIDTH, DEMO_TILE, False, False, FIELD),
            Case(model, DEMO_WIDTH, DEMO_TILE, True, False, (CROP, CROP)),
            Case(model, FULL_WIDTH, FULL_TILE, False, False, (CROP, CROP)),
            Case(model, FULL_WIDTH, FULL_TILE, True, False, (CROP, CROP), estimated=True)]


def line(case: Case, secs: float) -> str:
    mp = case.shape[0] * case.shape[1] / 1e6
    s_per_mp = secs / mp
    return (f"{case.model:<14} {case.width:>5g} {case.tile:>4} {'yes' if case.tta else 'no':>3} "
            f"{'bf16' if case.bf16 else 'fp32':>4}  {case.area:<40} {mp:5.2f} {secs:8.1f} {mp / secs:8.3f} "
            f"{s_per_mp:8.2f} {NUSET_S_PER_MP / s_per_mp:8.3g}x")


def bench_model(model: str, device: str, full: bool, field: np.ndarray) -> None:
    for width in sorted({c.width for c in cases(model, device, full)}):
        torch.manual_seed(0)
        network = build(model, 1, 1, width=width).to(device).eval()
        model_cases = [c for c in cases(model, device, full) if c.width == width]
        # allocations and kernel choice, for the rotated tiles of TTA too where that is cheap
        warm = Case(model, width, model_cases[0].tile, width < 1, False, (model_cases[0].tile,) * 2)
        seconds(network, warm, field, device)
        timed: dict[tuple, float] = {}
        for case in model_cases:
            if case.estimated:  # rate without TTA x (one tile without TTA / one tile with TTA)
                tile = (case.tile, case.tile)
                one = seconds(network, Case(model, width, case.tile, False, case.bf16, tile), field, device)
                eight = seconds(network, Case(model, width, case.tile, True, case.bf16, tile), field, device)
                secs = timed[(case.shape, False, case.bf16)] * eight / one
            else:
                secs = seconds(network, case, field, device)
            timed[(case.shape, case.tta, case.bf16)] = secs
            print(line(case, secs), flush=True)


def postprocess_seconds() -> tuple[float, int]:
    """Seconds of published post-processing + object table on a full-field map of ~700 nuclei."""
    from scipy.ndimage import gaussian_filter

    from nucflow.bench.matching import make_scene
    from nucflow.inference.files import object_table
    from nucflow.postprocess import postprocess

    labels_true, _ = make_scene()
    prob = gaussian_filter((labels_true > 0).astype(np.float64), 2)
    start = time.perf_counter()
    labels = postprocess("published", prob)
    object_table(labels, labels_true[None], ["plane0"])
    return time.perf_counter() - start, int(labels.max())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="nucflow bench predict")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--full", action="store_true", help="time the full field everywhere (slow on CPU)")
    parser.add_argument("--models", default=",".join(MODEL_NAMES), help="comma-separated model names")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (default 1: on a shared machine more threads make the numbers swing)")
    args = parser.parse_args(argv or [])
    torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"--device {args.device}: CUDA not available, skipped")
        return
    where = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else \
        f"cpu, {torch.get_num_threads()} torch threads"
    print(f"load average before: {os.getloadavg()[0]:.1f} (other work on the machine slows every line)")
    print(f"field {FIELD[0]}x{FIELD[1]} px ({FIELD[0] * FIELD[1] / 1e6:.2f} MP), 1 brightfield plane, random "
          f"weights, overlap {OVERLAP}, batch {BATCH}, device {where}")
    print(f"NuSeT paper: {NUSET_S_PER_MP} s/MP on a Quadro P4000 GPU (whole pipeline); 'vs NuSeT' = "
          f"{NUSET_S_PER_MP} / our s/MP (network inference incl. normalisation; > 1 is faster)")
    print(f"{'model':<14} {'width':>5} {'tile':>4} {'TTA':>3} {'prec':>4}  {'area':<40} {'MP':>5} {'s':>8} "
          f"{'MP/s':>8} {'s/MP':>8} {'vs NuSeT':>9}")
    field = brightfield_field()
    for model in args.models.split(","):
        bench_model(model, args.device, args.full, field)
    secs, count = postprocess_seconds()
    mp = FIELD[0] * FIELD[1] / 1e6
    print(f"published post-processing + object table, full field, {count} objects: {secs:.2f} s "
          f"({secs / mp:.3f} s/MP, cpu)")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
