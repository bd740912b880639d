"""Importers: turn other people's layouts into a nucflow data set (manifest.csv + TIFFs + import.json).

* :func:`~nucflow.data.importers.folder.import_folder` -- Cellpose/StarDist image + mask folders;
* :func:`~nucflow.data.importers.phenix.import_phenix` -- Opera Phenix / Operetta Harmony exports;
* :func:`~nucflow.data.importers.ndev.import_ndev` -- the ``ndev-sampledata`` scratch-assay series.

Each writes through :func:`~nucflow.data.importers.common.write_import`, which validates the
manifest it wrote. The ``nucflow import`` command (:mod:`nucflow.data.import_cli`) calls them.
"""
