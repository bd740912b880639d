"""The figures of the study: name -> how to draw it and which result files it reads.

A plain dict, no registration side effects. ``inputs`` are glob patterns relative to the results
root that must all match a file; ``any_of`` (when not empty) needs at least one match. Optional
inputs that only add panels are listed in ``optional``. Figures skip themselves (return None)
when their inputs are missing, so the registry is documentation and a quick check for the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nucflow.figures import (architectures, attribution, compute, data_size, density, error_examples, extensions,
                             focal_planes, learning_curves, lr_range, model_comparison, object_errors,
                             smoothing_ablation, transfer)
from nucflow.results.catalog import stem
from nucflow.results.inputs import (BENCHMARKS, CONVERGENCE, ERROR_CURVE, EXTENSIONS_OBJECTS, EXTENSIONS_PRED_OBJECTS,
                                    FOCAL_GREEDY, MODELS, PER_IMAGE, PER_OBJECT, PLAN, SMOOTHING_BEST, present)


@dataclass(frozen=True)
class FigureSpec:
    """One figure: the function drawing it, its output stem and its input files."""

    stem: str
    function: Callable[[Path, Path], list[Path] | None]
    inputs: tuple[str, ...]
    any_of: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()

    def missing(self, results: Path) -> list[str]:
        """Input patterns that match no file (an ``any_of`` group counts as one entry)."""
        lacking = [p for p in self.inputs if not present(results, (p,))]
        if self.any_of and not any(present(results, (p,)) for p in self.any_of):
            lacking.append(" or ".join(self.any_of))
        return lacking


FIGURES: dict[str, FigureSpec] = {
    "architectures": FigureSpec(stem("architectures"), architectures.fig_architectures, (MODELS,),
                                optional=(PLAN, f"{BENCHMARKS}/train/*.tsv", f"{BENCHMARKS}/predict/*/*.tsv", PER_IMAGE)),
    "lr_range": FigureSpec(stem("lr_range"), lr_range.fig_lr_range, lr_range.INPUTS,
                           optional=("lr_find/*/lr.json",)),
    "model_comparison": FigureSpec(stem("model_comparison"), model_comparison.fig_model_comparison, (PER_IMAGE,)),
    "density": FigureSpec(stem("density"), density.fig_density, (PER_IMAGE,), optional=(PER_OBJECT,)),
    "error_examples": FigureSpec(stem("error_examples"), error_examples.fig_error_examples, error_examples.INPUTS,
                                 optional=error_examples.OPTIONAL),
    "object_errors": FigureSpec(stem("object_errors"), object_errors.fig_object_errors, (PER_IMAGE,),
                                optional=(ERROR_CURVE,)),
    "attribution": FigureSpec(stem("attribution"), attribution.fig_attribution, (), any_of=attribution.ANY_INPUTS),
    "data_size": FigureSpec(stem("data_size"), data_size.fig_data_size, data_size.INPUTS),
    "smoothing_ablation": FigureSpec(stem("smoothing_ablation"), smoothing_ablation.fig_smoothing_ablation, (),
                                     any_of=smoothing_ablation.ANY_INPUTS, optional=(SMOOTHING_BEST,)),
    "transfer": FigureSpec(stem("transfer"), transfer.fig_transfer, transfer.INPUTS),
    "focal_planes": FigureSpec(stem("focal_planes"), focal_planes.fig_focal_planes, focal_planes.INPUTS,
                               optional=(FOCAL_GREEDY,)),
    "extensions": FigureSpec(stem("extensions"), extensions.fig_extensions, (), any_of=extensions.ANY_INPUTS,
                             optional=(EXTENSIONS_OBJECTS, EXTENSIONS_PRED_OBJECTS)),
    "compute": FigureSpec(stem("compute"), compute.fig_compute, compute.INPUTS, optional=(PLAN,)),
    "learning_curves": FigureSpec(stem("learning_curves"), learning_curves.fig_learning_curves,
                                  learning_curves.INPUTS, optional=(CONVERGENCE,)),
}
