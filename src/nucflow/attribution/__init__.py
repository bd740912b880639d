"""Error attribution: why the remaining pixels and objects are wrong (Ali et al. 2021, section
"Common Errors in Segmentation", and the morphology comparison of Vasinkova et al. 2024).

Pure functions over arrays and tables: :mod:`.density` (crowding, nucleus size), :mod:`.label_noise`
(models agreeing against the annotation), :mod:`.artifacts` (errors inside annotated artifacts),
:mod:`.composition` (false negatives vs false positives), :mod:`.stats` (bootstrap CIs,
Mann–Whitney with Holm / Benjamini–Hochberg). ``nucflow attribute`` (:mod:`.attribute_cli`) writes the tables.
"""

from nucflow.attribution.artifacts import ArtifactEffect, artifact_effect, artifact_table
from nucflow.attribution.composition import ErrorComposition, composition_table, error_composition
from nucflow.attribution.density import density_correlation, size_bins
from nucflow.attribution.label_noise import LabelNoiseCounts, flag_label_noise, label_noise_counts
from nucflow.attribution.stats import (
    Estimate,
    benjamini_hochberg,
    bootstrap_ci,
    correct_p_values,
    holm,
    mann_whitney_table,
    pearson_r,
)

__all__ = [
    "ArtifactEffect", "artifact_effect", "artifact_table", "ErrorComposition", "composition_table",
    "error_composition", "density_correlation", "size_bins", "LabelNoiseCounts", "flag_label_noise",
    "label_noise_counts", "Estimate", "benjamini_hochberg", "bootstrap_ci",
    "correct_p_values", "holm", "mann_whitney_table", "pearson_r",
]
