"""Object matching speed: ``match_objects`` vs ``stardist.matching`` at 10 IoU thresholds.

Scene: one LNCaP-sized field (2556 x 2156 px) with ~700 disk-like nuclei of radius 14-24 px,
some touching, and a prediction made by shifting, rescaling and dropping/adding nuclei. Both
implementations score the same arrays in this process; the counts are checked to agree.
"""

from __future__ import annotations

import time

import numpy as np
from skimage.draw import disk

from nucflow.evaluation.matching import DEFAULT_THRESHOLDS, match_objects

SHAPE = (2556, 2156)
N_NUCLEI = 700


def make_scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(labels_true, labels_pred): two (2556, 2156) uint16 label images, ~700 objects each."""
    rng = np.random.default_rng(seed)
    labels_true = np.zeros(SHAPE, np.uint16)
    labels_pred = np.zeros(SHAPE, np.uint16)
    next_pred = 1
    for index in range(N_NUCLEI):
        centre = rng.uniform(0, SHAPE[0]), rng.uniform(0, SHAPE[1])
        radius = rng.uniform(14, 24)
        rr, cc = disk(centre, radius, shape=SHAPE)
        labels_true[rr, cc] = index + 1
        if rng.random() < 0.05:  # missed nucleus
            continue
        shifted = centre[0] + rng.normal(0, 3), centre[1] + rng.normal(0, 3)
        rr, cc = disk(shifted, radius * rng.uniform(0.8, 1.2), shape=SHAPE)
        labels_pred[rr, cc] = next_pred
        next_pred += 1
    for _ in range(30):  # spurious detections
        rr, cc = disk((rng.uniform(0, SHAPE[0]), rng.uniform(0, SHAPE[1])), rng.uniform(5, 12), shape=SHAPE)
        labels_pred[rr, cc] = next_pred
        next_pred += 1
    return labels_true, labels_pred


def _best_of(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    labels_true, labels_pred = make_scene()
    n_true = len(np.unique(labels_true)) - 1
    n_pred = len(np.unique(labels_pred)) - 1
    print(f"scene: {SHAPE[0]}x{SHAPE[1]} px, {n_true} true and {n_pred} predicted objects, "
          f"{len(DEFAULT_THRESHOLDS)} IoU thresholds")
    ours = match_objects(labels_true, labels_pred)  # warm-up
    ours_s = _best_of(lambda: match_objects(labels_true, labels_pred), repeats=5)
    print(f"nucflow match_objects: {ours_s * 1000:.1f} ms")
    try:
        from stardist.matching import matching
    except ImportError:
        print("stardist.matching: not installed, reference skipped")
        return
    reference = matching(labels_true, labels_pred, thresh=list(DEFAULT_THRESHOLDS))  # warm-up (numba jit)
    ref_s = _best_of(lambda: matching(labels_true, labels_pred, thresh=list(DEFAULT_THRESHOLDS)), repeats=3)
    print(f"stardist matching (same 10 thresholds, one call): {ref_s * 1000:.1f} ms")
    print(f"speed-up vs one stardist call: {ref_s / ours_s:.1f} x")
    per_threshold_s = _best_of(lambda: [matching(labels_true, labels_pred, thresh=t) for t in DEFAULT_THRESHOLDS],
                               repeats=2)
    print(f"stardist matching (one call per threshold): {per_threshold_s * 1000:.1f} ms "
          f"(speed-up {per_threshold_s / ours_s:.1f} x)")
    same = all((row.tp, row.fp, row.fn) == (ref.tp, ref.fp, ref.fn)
               for row, ref in zip(ours.itertuples(), reference))
    print(f"tp/fp/fn identical at every threshold: {same}")
    if not same:
        raise RuntimeError("match_objects and stardist.matching disagree on the benchmark scene")
