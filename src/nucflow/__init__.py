"""nucflow: a reproducible study pipeline for deep-learning nucleus segmentation."""

__version__ = "0.1.0"
