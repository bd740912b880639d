"""The nucflow simulator: the embedded default data set (simulated, not the published images).

:class:`SimulationConfig` is built from the validated ``simulation`` section of the study config;
:func:`simulate_field` makes one field of view (fluorescence, brightfield stack, classical-pipeline
labels, exact labels, artifact mask); :func:`simulate` writes whole data sets with their
``manifest.csv`` and ``simulation.json``.

Each field draws its random numbers from ``numpy.random.SeedSequence`` keyed by
(seed, data set, cell line, well, field), so a field's content does not depend on which or how
many other fields are generated, and the same seed gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from nucflow.simulator.artifacts import draw_artifacts, empty_layer
from nucflow.labels.classical import classical_labels
from nucflow.simulator.groundtruth import place_nuclei, rasterise
from nucflow.simulator.lines import (InstrumentParams, LineParams, plane_defocus_um, resolve_instrument,
                                resolve_line)
from nucflow.simulator.optics import band_noise_pair, brightfield_stack, fluorescence_image, illumination
from nucflow.errors import NucflowError
from nucflow.io import ensure_dir, write_csv, write_json, write_tiff

MANIFEST_COLUMNS = ["image_id", "dataset", "cell_line", "well", "field", "instrument",
                    "pixel_size_um", "fluorescence", "brightfield", "n_planes", "labels",
                    "labels_true", "artifacts"]
IMAGE_KINDS = ("fluorescence", "brightfield", "labels", "labels_true", "artifacts")


@dataclass(frozen=True)
class DatasetSpec:
    """One simulated data set: which instrument, which lines, how many wells and fields, image size (H, W) px."""

    name: str
    instrument: str
    lines: tuple[str, ...]
    wells_per_line: int
    fields_per_well: int
    image_size: tuple[int, int]


@dataclass(frozen=True)
class SimulationConfig:
    """Everything the simulator needs; ``lines`` and ``instruments`` hold the resolved parameters
    (defaults with the config's overrides applied)."""

    seed: int
    n_planes: int
    artifact_fraction: float
    datasets: tuple[DatasetSpec, ...]
    lines: Mapping[str, LineParams]
    instruments: Mapping[str, InstrumentParams]

    @classmethod
    def from_dict(cls, simulation: Mapping[str, Any], seed: int | None = None) -> "SimulationConfig":
        """Build from the (schema-validated, defaults filled) ``simulation`` section.

        ``seed`` overrides ``simulation.seed``. Unknown line or instrument override parameters, and
        overrides for lines or instruments that do not exist, raise NucflowError naming them.
        """
        datasets = []
        for name, spec in simulation["datasets"].items():
            size = tuple(int(v) for v in spec.get("image_size", (256, 256)))
            datasets.append(DatasetSpec(name=str(name), instrument=spec["instrument"],
                                        lines=tuple(spec["lines"]),
                                        wells_per_line=int(spec.get("wells_per_line", 4)),
                                        fields_per_well=int(spec.get("fields_per_well", 3)),
                                        image_size=(size[0], size[1])))
        if not datasets:
            raise NucflowError("simulation.datasets: at least one data set is needed")
        line_over = dict(simulation.get("line_overrides") or {})
        inst_over = dict(simulation.get("instrument_overrides") or {})
        used_lines = sorted({line for d in datasets for line in d.lines} | set(line_over))
        used_instruments = sorted({d.instrument for d in datasets} | set(inst_over))
        lines = {name: resolve_line(name, line_over.get(name)) for name in used_lines}
        instruments = {name: resolve_instrument(name, inst_over.get(name)) for name in used_instruments}
        return cls(seed=int(simulation["seed"] if seed is None else seed),
                   n_planes=int(simulation["n_planes"]),
                   artifact_fraction=float(simulation["artifact_fraction"]),
                   datasets=tuple(datasets), lines=lines, instruments=instruments)

    def select(self, names: Sequence[str] | None) -> "SimulationConfig":
        """The same config restricted to the data sets ``names`` (all when None)."""
        if not names:
            return self
        known = [d.name for d in self.datasets]
        missing = [n for n in names if n not in known]
        if missing:
            raise NucflowError(f"--datasets: unknown data set(s) {', '.join(missing)} (known: {', '.join(known)})")
        return dataclasses.replace(self, datasets=tuple(d for d in self.datasets if d.name in names))

    def to_dict(self) -> dict:
        """JSON-ready description, including the resolved parameters and plane defocus values."""
        return {
            "seed": self.seed, "n_planes": self.n_planes, "artifact_fraction": self.artifact_fraction,
            "datasets": {d.name: {"instrument": d.instrument, "lines": list(d.lines),
                                  "wells_per_line": d.wells_per_line,
                                  "fields_per_well": d.fields_per_well,
                                  "image_size": list(d.image_size)} for d in self.datasets},
            "lines": {n: dataclasses.asdict(p) for n, p in sorted(self.lines.items())},
            "instruments": {n: {**dataclasses.asdict(p),
                                "plane_defocus_um": plane_defocus_um(p, self.n_planes)}
                            for n, p in sorted(self.instruments.items())},
            "note": "simulated data (nucflow simulator), not the published images",
        }


@dataclass(frozen=True)
class FieldKey:
    """Identity of one field of view; ``well`` and ``field`` count from 1."""

    dataset: str
    cell_line: str
    well: int
    field: int

    @property
    def image_id(self) -> str:
        return f"{self.dataset}_{self.cell_line}_w{self.well:02d}_f{self.field}"


@dataclass(frozen=True)
class FieldImages:
    """One simulated field. Shapes: (H, W) unless stated.

    Attributes:
        fluorescence: uint16 nuclear stain.
        brightfield: uint16 (n_planes, H, W), planes in order of increasing defocus.
        labels: uint16/uint32 instance labels from the classical pipeline (published-style truth).
        labels_true: uint16/uint32 exact instance labels.
        artifacts: uint8 binary artifact mask.
        defocus_um: actual defocus of each plane (nominal plus this field's focus error), µm.
        target_count: expected nuclei before placement rejections.
    """

    key: FieldKey
    fluorescence: np.ndarray
    brightfield: np.ndarray
    labels: np.ndarray
    labels_true: np.ndarray
    artifacts: np.ndarray
    defocus_um: tuple[float, ...]
    target_count: float


def _name_key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def field_seed(seed: int, key: FieldKey) -> np.random.SeedSequence:
    """The SeedSequence of one field: keyed by (seed, data set, line, well, field)."""
    return np.random.SeedSequence([seed, _name_key(key.dataset), _name_key(key.cell_line),
                                   key.well, key.field])


def well_seed(seed: int, key: FieldKey) -> np.random.SeedSequence:
    """The SeedSequence shared by all fields of one well (its density factor)."""
    return np.random.SeedSequence([seed, _name_key(key.dataset), _name_key(key.cell_line),
                                   key.well, 0, 1])


def has_artifacts(config: SimulationConfig, key: FieldKey) -> bool:
    """Whether a field gets artifacts: an independent draw with probability ``artifact_fraction``."""
    u = np.random.default_rng(np.random.SeedSequence([*field_seed(config.seed, key).entropy, 7])).random()
    return bool(u < config.artifact_fraction)


def _smallest_label_dtype(labels: np.ndarray) -> np.ndarray:
    return labels.astype(np.uint16 if labels.max(initial=0) <= np.iinfo(np.uint16).max else np.uint32)


def simulate_field(config: SimulationConfig, dataset: DatasetSpec, key: FieldKey) -> FieldImages:
    """Simulate one field of ``dataset`` (see :class:`FieldImages`)."""
    line = config.lines[key.cell_line]
    inst = config.instruments[dataset.instrument]
    shape = dataset.image_size
    um = inst.pixel_size_um
    rng_place, rng_draw, rng_tex, rng_art, rng_fl, rng_bf, rng_misc = (
        np.random.default_rng(s) for s in field_seed(config.seed, key).spawn(7))
    density_scale = float(np.exp(np.random.default_rng(well_seed(config.seed, key))
                                 .normal(-0.5 * line.density_cv**2, line.density_cv)))
    layout = place_nuclei(rng_place, line, shape, um, density_scale)
    maps = rasterise(layout, line, shape, um, rng_draw)
    chromatin, granules = band_noise_pair(rng_tex, shape, um, scale_um=1.5)
    layer = (draw_artifacts(rng_art, shape, um) if has_artifacts(config, key) else empty_layer(shape))

    nuclear = maps.labels_true > 0
    stain = maps.stain * (1.0 + line.texture_strength * chromatin * nuclear) + layer.stain
    fl_illum = illumination(rng_misc, shape, inst.illumination_falloff * 0.5)
    bf_illum = illumination(rng_misc, shape, inst.illumination_falloff)
    fluorescence = fluorescence_image(rng_fl, stain, inst, fl_illum)

    cell = maps.cell_height_um
    phase = (inst.phase_per_um * cell * (1.0 + 0.3 * granules * (cell > 0))
             + inst.nucleus_phase_per_um * maps.nucleus_height_um * (1.0 + 0.15 * chromatin)
             + 0.25 * maps.nucleoli + layer.phase).astype(np.float32)
    absorption = (0.002 * maps.nucleus_height_um + 0.005 * maps.nucleoli
                  + 0.002 * cell * np.abs(granules) + layer.absorption).astype(np.float32)
    focus_error = float(rng_misc.normal(0.0, inst.focus_jitter_um))
    defocus = [z + focus_error for z in plane_defocus_um(inst, config.n_planes)]
    shift = tuple(rng_misc.normal(0.0, inst.registration_sd_um, 2))
    brightfield = brightfield_stack(rng_bf, phase, absorption, defocus, inst, bf_illum, shift)

    labels = classical_labels(fluorescence, um, line.diameter_um)
    return FieldImages(key=key, fluorescence=fluorescence, brightfield=brightfield,
                       labels=_smallest_label_dtype(labels),
                       labels_true=_smallest_label_dtype(maps.labels_true),
                       artifacts=layer.mask.astype(np.uint8), defocus_um=tuple(defocus),
                       target_count=layout.target_count)


def field_keys(dataset: DatasetSpec) -> list[FieldKey]:
    """All fields of a data set, in manifest order (line, well, field)."""
    return [FieldKey(dataset.name, line, w, f) for line in dataset.lines
            for w in range(1, dataset.wells_per_line + 1)
            for f in range(1, dataset.fields_per_well + 1)]


def relative_paths(key: FieldKey) -> dict[str, str]:
    """Manifest-relative paths of a field's five files."""
    return {kind: f"{key.dataset}/{kind}/{key.image_id}.tif" for kind in IMAGE_KINDS}


def write_field(images: FieldImages, out_dir: Path) -> None:
    """Write the five TIFFs of one field under ``out_dir`` (zlib, no timestamps)."""
    paths = relative_paths(images.key)
    for kind in IMAGE_KINDS:
        # noisy images barely compress (~20 %) at a high time cost; label masks compress well
        noisy = kind in ("fluorescence", "brightfield")
        write_tiff(out_dir / paths[kind], getattr(images, kind), compress=not noisy)


def _simulate_and_write(job: tuple[SimulationConfig, DatasetSpec, FieldKey, str]) -> None:
    config, dataset, key, out_dir = job
    write_field(simulate_field(config, dataset, key), Path(out_dir))


def manifest_frame(config: SimulationConfig) -> pd.DataFrame:
    """The manifest rows (columns :data:`MANIFEST_COLUMNS`) of every field of every data set."""
    rows = []
    for dataset in config.datasets:
        inst = config.instruments[dataset.instrument]
        for key in field_keys(dataset):
            paths = relative_paths(key)
            rows.append({"image_id": key.image_id, "dataset": key.dataset, "cell_line": key.cell_line,
                         "well": f"w{key.well:02d}", "field": key.field,
                         "instrument": dataset.instrument, "pixel_size_um": inst.pixel_size_um,
                         "n_planes": config.n_planes, **paths})
    frame = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    duplicated = frame["image_id"][frame["image_id"].duplicated()]
    if len(duplicated):
        raise NucflowError(f"simulation.datasets: image ids are not unique ({duplicated.iloc[0]})")
    return frame


def simulate(config: SimulationConfig, out_dir: str | Path, workers: int = 1) -> pd.DataFrame:
    """Write every field, ``manifest.csv`` and ``simulation.json`` under ``out_dir``; return the manifest.

    ``workers`` > 1 simulates fields in that many processes; the bytes written do not change.
    """
    if workers < 1:
        raise NucflowError(f"--workers: must be at least 1, got {workers}")
    out_dir = ensure_dir(out_dir)
    manifest = manifest_frame(config)
    jobs = [(config, d, k, str(out_dir)) for d in config.datasets for k in field_keys(d)]
    if workers == 1 or len(jobs) == 1:
        for job in jobs:
            _simulate_and_write(job)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(_simulate_and_write, jobs, chunksize=1))
    write_json(out_dir / "simulation.json", config.to_dict())
    write_csv(out_dir / "manifest.csv", manifest)
    return manifest
