"""The simulator of the study's embedded data: brightfield z-stacks and fluorescence images of
nuclei with their instance labels, per cell line and instrument.

``lines`` (per-line nucleus statistics), ``optics`` (focus and noise of the two instruments),
``artifacts`` (dust, bubbles, debris), ``groundtruth`` (label images), ``simulate`` (a whole data
set and its manifest, seeded per field), ``calibrate`` (the CNN calibration check of
``docs/simulator.md``) and the ``nucflow simulate`` command.
"""
