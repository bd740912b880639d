"""Which figures the study has, without drawing anything (no matplotlib, cheap to import).

One entry per figure: its output stem, the arms that feed it and its category in
``snakemake --report``. The workflow (``workflow/rules/figures.smk``) takes its figure outputs
from here, :data:`nucflow.figures.registry.FIGURES` (how each figure is drawn) takes its stems
from here, and so does ``nucflow figure-tables`` (:mod:`nucflow.report.figure_tables`, which
writes each figure's interval tables under its stem), so a figure is named in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FigureEntry:
    """``stem``: output file name without suffix; ``arms``: the arms whose results it shows (any of
    them on means the figure is expected; empty = always drawn); ``category``: report section."""

    stem: str
    arms: tuple[str, ...]
    category: str


MODELS = "2. Models and training"
COMPARISON = "3. Model comparison"
LITTLE_DATA = "4. Little training data"
INPUTS = "5. Inputs and extensions"
COMPUTE = "6. Compute"

CATALOG: dict[str, FigureEntry] = {
    "architectures": FigureEntry("02_architectures", (), MODELS),
    "lr_range": FigureEntry("03_lr_range", ("lr_range",), MODELS),
    "model_comparison": FigureEntry("04_model_comparison", ("model_comparison",), COMPARISON),
    "density": FigureEntry("05_density", ("model_comparison",), COMPARISON),
    "error_examples": FigureEntry("06_error_examples", ("model_comparison",), COMPARISON),
    "object_errors": FigureEntry("07_object_errors", ("model_comparison",), COMPARISON),
    "attribution": FigureEntry("08_attribution", ("model_comparison",), COMPARISON),
    "data_size": FigureEntry("09_data_size", ("data_size",), LITTLE_DATA),
    "smoothing_ablation": FigureEntry("10_smoothing_ablation", ("smoothing", "ablation"), LITTLE_DATA),
    "transfer": FigureEntry("11_transfer", ("transfer",), LITTLE_DATA),
    "focal_planes": FigureEntry("12_focal_planes", ("focal_planes",), INPUTS),
    "extensions": FigureEntry("13_extensions", ("extensions", "frem_search"), INPUTS),
    "compute": FigureEntry("14_compute", (), COMPUTE),
    "learning_curves": FigureEntry("15_learning_curves", ("model_comparison",), MODELS),
}


def stem(name: str) -> str:
    """The output stem of figure ``name`` (KeyError for an unknown figure)."""
    return CATALOG[name].stem
