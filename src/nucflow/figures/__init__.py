"""nucflow.figures: one function per figure, each reading only result tables.

``fig_<name>(results, out_dir) -> list[Path] | None`` writes ``<out_dir>/<NN>_<name>.png`` and
``.pdf`` and returns their paths, or None when its inputs are missing. The registry
(:data:`nucflow.figures.registry.FIGURES`) lists them with their input files; ``nucflow figures``
draws them all and writes ``summary.md`` (:func:`nucflow.report.summary.write_summary`).
"""
