"""nucflow.results: the study's result tables as the figures and the report read them.

Readers of the tables the workflow writes (:mod:`.inputs`), the figures' names and categories
(:mod:`.catalog`), the display names and orders of models, data sets and conditions
(:mod:`.names`), and one module per arm whose tables need shaping before anything is drawn or
computed from them (the same names as the figure modules: :mod:`.data_size`, :mod:`.transfer` ...).
No matplotlib: :mod:`nucflow.figures` draws from these and :mod:`nucflow.report` computes from
them, and neither imports the other.
"""
