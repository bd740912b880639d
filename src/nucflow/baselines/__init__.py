"""Baselines from outside the study: other tools trained on the study's own images and scored by
its evaluation. Each is an optional extra with its own dependencies (StarDist: TensorFlow)."""
