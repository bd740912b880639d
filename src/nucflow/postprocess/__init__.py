"""Probability maps -> instance label images, by one of five named methods.

========== ===================================================== =======================
name       what it does                                           input
========== ===================================================== =======================
published  threshold, connected components, size/hole clean-up    float (H, W)
watershed  distance-transform watershed, markers by peak spacing  float (H, W)
three_class watershed from interior seeds over boundary prob      float (3, H, W)
seeded     watershed from h-prominent centre peaks (NuSeT idea)   float (H, W)
multiscale LipoPose confidence-threshold merge over scales        list of float (H, W)
========== ===================================================== =======================

Every method returns uint32 (H, W) labels with 0 = background and ids 1..N consecutive.
"""

from nucflow.postprocess.multiscale import MultiscaleParams, confidence_map, multiscale
from nucflow.postprocess.registry import (
    DEFAULT_METHOD,
    POSTPROCESSORS,
    MethodEntry,
    default_params,
    make_params,
    method_entry,
    methods_reading,
    parse_param_strings,
    postprocess,
)
from nucflow.postprocess.seeded import SeededParams, seeded
from nucflow.postprocess.three_class import ThreeClassParams, three_class
from nucflow.postprocess.threshold import PublishedParams, published
from nucflow.postprocess.watershed import WatershedParams, watershed

__all__ = [
    "DEFAULT_METHOD", "POSTPROCESSORS", "MethodEntry", "method_entry", "methods_reading", "postprocess", "make_params", "default_params",
    "parse_param_strings", "published", "watershed", "three_class", "seeded", "multiscale",
    "confidence_map", "PublishedParams", "WatershedParams",
    "ThreeClassParams", "SeededParams", "MultiscaleParams",
]
