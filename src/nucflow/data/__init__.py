"""The study's own data: the manifest and its checks, importers of users' images, splits, tiles,
augmentation, normalisation and the data overview. The simulator (:mod:`nucflow.simulator`) and
the stain labels (:mod:`nucflow.labels`) have packages of their own.
"""
