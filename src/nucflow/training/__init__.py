"""Training on PyTorch Lightning: run configuration, losses, the LightningModule and callbacks,
``nucflow train`` and ``nucflow lr-find``.

* :mod:`~nucflow.training.config` -- :class:`RunConfig` (``run.json``);
* :mod:`~nucflow.training.losses` -- losses on logits and their registry :data:`LOSSES`;
* :mod:`~nucflow.training.module` -- :class:`SegmentationModule`: network, loss, Adam and the plateau
  schedule, the epoch's metrics;
* :mod:`~nucflow.training.callbacks` -- ``log.csv`` and the kept epoch (``best.ckpt``);
* :mod:`~nucflow.training.train` -- :func:`train` with exact resume;
* :mod:`~nucflow.training.lr_find` -- Smith's learning-rate range test;
* :mod:`~nucflow.training.checkpoints` -- safe weight loading and ``model.pt`` export.

Targets and the data module live in :mod:`nucflow.data.targets` and :mod:`nucflow.data.datamodule`.
Import submodules directly; this package imports nothing heavy itself.
"""
