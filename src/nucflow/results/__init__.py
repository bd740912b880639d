"""nucflow.results: the study's result tables as the figures and the report read them.

Readers of the tables the workflow writes (:mod:`.inputs`), the figures' names and categories
(:mod:`.catalog`), and the display names and orders of models, data sets and conditions
(:mod:`.names`). No matplotlib: :mod:`nucflow.figures` draws from these and
:mod:`nucflow.report` computes from them.
"""
