"""Labels made from the nuclear stain: the classical pipeline (``classical``), the labellers and
the ``label_source`` record (``stain_labels``), and the ``nucflow label`` command. The importers
and the simulator label stain-only data with them; ``nucflow.data.relabel`` rewrites a manifest's
labels with them.
"""
