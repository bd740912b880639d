"""Training: run configuration, losses, the training loop, ``nucflow train`` and ``nucflow lr-find``.

* :mod:`~nucflow.training.config` -- :class:`RunConfig` (``run.json``);
* :mod:`~nucflow.training.losses` -- losses on logits and their registry :data:`LOSSES`;
* :mod:`~nucflow.training.module` -- :class:`SegmentationTask`: network, loss, validation pass;
* :mod:`~nucflow.training.loop` -- epochs, early stopping, checkpoints (plain torch);
* :mod:`~nucflow.training.train` -- :func:`train` with exact resume;
* :mod:`~nucflow.training.lr_find` -- Smith's learning-rate range test;
* :mod:`~nucflow.training.checkpoints` -- safe weight loading and ``model.pt`` export.

Targets and the data module live in :mod:`nucflow.data.targets` and :mod:`nucflow.data.datamodule`.
Import submodules directly; this package imports nothing heavy itself.
"""
