"""Shared fixtures: a tiny hand-made data set with a manifest (no simulator needed), and the one
end-to-end smoke study of the session."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from skimage.draw import disk

LINES = ("HeLa", "A549")


def draw_labels(shape, centres, radius):
    """Instance labels (H, W) uint16 with one disk per centre, ids 1..n."""
    labels = np.zeros(shape, np.uint16)
    for i, (y, x) in enumerate(centres, start=1):
        rr, cc = disk((y, x), radius, shape=shape)
        labels[rr, cc] = i
    return labels


def write_dataset(root: Path, n_per_line: int = 6, shape=(48, 48), n_planes: int = 3, seed: int = 0) -> Path:
    """A two-line data set of disks: fluorescence, brightfield stack, labels, artifacts; returns the manifest."""
    rng = np.random.default_rng(seed)
    rows = []
    (root / "img").mkdir(parents=True, exist_ok=True)
    for line in LINES:
        for k in range(n_per_line):
            image_id = f"toy_{line}_{k:02d}"
            centres = [(12, 12), (12, 34), (34, 22)]
            labels = draw_labels(shape, centres, 6)
            fluo = (labels > 0) * 1000 + rng.integers(0, 100, shape)
            bright = np.stack([fluo // (p + 1) for p in range(n_planes)])
            artifacts = np.zeros(shape, np.uint8)
            artifacts[40:46, 40:46] = 1
            files = {}
            for name, array in (("fluorescence", fluo.astype(np.uint16)), ("brightfield", bright.astype(np.uint16)),
                                ("labels", labels), ("artifacts", artifacts)):
                files[name] = f"img/{image_id}_{name}.tif"
                tifffile.imwrite(root / files[name], array, photometric="minisblack")
            rows.append(dict(image_id=image_id, dataset="toy", cell_line=line, well=f"W{k:02d}", field=1,
                             instrument="A", pixel_size_um=0.59, fluorescence=files["fluorescence"],
                             brightfield=files["brightfield"], n_planes=n_planes, labels=files["labels"],
                             labels_true=files["labels"], artifacts=files["artifacts"]))
    manifest = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


@pytest.fixture
def toy_manifest(tmp_path) -> Path:
    return write_dataset(tmp_path / "toy")


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory) -> Path:
    """The smoke study (config/smoke.yaml, every rule, default profile), run once per test session.

    The workflow tests use it in place; the SLURM tests copy :func:`pristine_smoke_study` and rerun
    a few of its jobs through the cluster profile, so one end-to-end study serves every test that
    reads its outputs. Under pytest-xdist the workers share it: the first to need it runs it while
    the others wait on a lock.
    """
    from tests.studies import snakemake

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # one folder for all workers of this session
    workdir, done = root / "smoke", root / "smoke.done"
    with open(root / "smoke.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(workdir, ignore_errors=True)
            workdir.mkdir()
            snakemake(workdir)
            shutil.copytree(workdir, root / "smoke-pristine", symlinks=True)
            done.touch()
    return workdir


@pytest.fixture(scope="session")
def pristine_smoke_study(smoke_study) -> Path:
    """A copy of the smoke study as it finished, which no test changes (copy it before rerunning jobs)."""
    return smoke_study.parent / "smoke-pristine"


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tiny test networks run faster and steadier on one intra-op thread (CI has two cores)."""
    try:
        import torch
    except ImportError:  # torch-free test runs
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
