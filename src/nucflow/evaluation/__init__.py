"""Evaluation: pure metric functions on label arrays, and the tables figures read.

Layers (STYLE rule 9): per image (:mod:`.pixel`, :mod:`.matching`, :mod:`.errors`,
:mod:`.morphology`) -> per run tables and summary (:mod:`.tables`) -> ``nucflow evaluate``
(:mod:`.cli`).
"""

from nucflow.evaluation.pixel import PixelCounts, pixel_counts, pixel_metrics, rmse_prob

__all__ = ["PixelCounts", "pixel_counts", "pixel_metrics", "rmse_prob"]
