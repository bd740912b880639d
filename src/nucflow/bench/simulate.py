"""Simulator benchmark: speed per field, realised vs target statistics per line, label noise,
and the pixel-classifier difficulty check (``nucflow.simulator.calibrate``).

Run with ``nucflow bench simulate``; about 1.5 to 2 minutes on one core.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from nucflow.config import validate_config
from nucflow.simulator.calibrate import label_noise, pixel_classifier_check
from nucflow.simulator.simulate import DatasetSpec, FieldKey, SimulationConfig, simulate_field, write_field

# published field sizes (px): seven lines 1080 x 1080 at 0.59 µm/px, LNCaP 2556 x 2156 at 0.325 µm/px
PAPER_FIELD_MM2 = {"A": 1080 * 1080 * 0.59**2 / 1e6, "B": 2556 * 2156 * 0.325**2 / 1e6}
PAPER_COUNT = {"A": 353, "B": 681}


def seconds_per_field(config: SimulationConfig, size: int, repeats: int) -> float:
    """Mean wall time (s) to simulate and write one HeLa field of size x size with all outputs."""
    spec = DatasetSpec("seven_lines", "A", ("HeLa",), repeats, 1, (size, size))
    with tempfile.TemporaryDirectory() as folder:
        write_field(simulate_field(config, spec, FieldKey("seven_lines", "HeLa", 99, 1)), Path(folder))
        start = time.perf_counter()
        for well in range(1, repeats + 1):
            write_field(simulate_field(config, spec, FieldKey("seven_lines", "HeLa", well, 1)), Path(folder))
        return (time.perf_counter() - start) / repeats


def line_statistics(config: SimulationConfig, size: int = 1080, fields: int = 2) -> None:
    """Print target vs realised counts, area and label noise per line (``fields`` fields each)."""
    print(f"per line, {fields} fields of {size}x{size} px each (counts per simulated field; "
          "'paper-field' = density scaled to the published field size):")
    header = (f"  {'line':<7} {'inst':>4} {'target/img':>10} {'realised/img':>12} {'per mm2':>8} "
              f"{'paper-field':>11} {'area um2':>9} {'fg noise':>8} {'inst noise':>10} {'merged/img':>10}")
    print(header)
    per_instrument: dict[str, list[float]] = {}
    for dataset in config.datasets:
        inst = config.instruments[dataset.instrument]
        spec = DatasetSpec(dataset.name, dataset.instrument, dataset.lines, fields, 1, (size, size))
        area_mm2 = size * size * inst.pixel_size_um**2 / 1e6
        for line in dataset.lines:
            target, realised, areas, fg, ins, merged = [], [], [], [], [], []
            for well in range(1, fields + 1):
                field = simulate_field(config, spec, FieldKey(dataset.name, line, well, 1))
                ids, counts = np.unique(field.labels_true[field.labels_true > 0], return_counts=True)
                target.append(field.target_count)
                realised.append(len(ids))
                areas.extend(counts * inst.pixel_size_um**2)
                noise = label_noise(field.labels, field.labels_true)
                fg.append(noise.foreground_disagreement)
                ins.append(noise.instance_disagreement)
                merged.append(noise.merged_true)
            density = np.mean(realised) / area_mm2
            per_instrument.setdefault(dataset.instrument, []).append(density)
            print(f"  {line:<7} {dataset.instrument:>4} {np.mean(target):10.1f} {np.mean(realised):12.1f} "
                  f"{density:8.0f} {density * PAPER_FIELD_MM2[dataset.instrument]:11.0f} "
                  f"{np.mean(areas):9.1f} {np.mean(fg):8.3f} {np.mean(ins):10.3f} {np.mean(merged):10.1f}")
    for name, densities in per_instrument.items():
        mean = float(np.mean(densities))
        print(f"instrument {name}: mean realised density {mean:.0f} nuclei/mm2 "
              f"= {mean * PAPER_FIELD_MM2[name]:.0f} per published field (paper: {PAPER_COUNT[name]})")


def main() -> None:
    config = SimulationConfig.from_dict(validate_config({})["simulation"])
    print("simulated data (nucflow simulator), default config, seed 0, 9 planes")
    print(f"seconds per field 256x256 (all outputs, written): {seconds_per_field(config, 256, 5):.3f} s")
    print(f"seconds per field 1080x1080 (all outputs, written): {seconds_per_field(config, 1080, 3):.3f} s")
    line_statistics(config)
    print("pixel-classifier difficulty check (logistic regression on multiscale features, "
          "fitted to labels_true > 0, no artifacts; F1 on held-out fields):")
    start = time.perf_counter()
    for dataset in ("seven_lines", "lncap"):
        table = pixel_classifier_check(config, dataset)
        for row in table.itertuples():
            print(f"  {dataset:<11} {row.modality:<12} {row.cell_line:<7} F1 {row.f1:.3f} "
                  f"(P {row.precision:.3f}, R {row.recall:.3f}; vs labels {row.f1_vs_labels:.3f})")
        for modality, f1 in table.groupby("modality", sort=False)["f1"].mean().items():
            print(f"  {dataset:<11} {modality:<12} mean F1 {f1:.3f}")
    print(f"  (check took {time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
