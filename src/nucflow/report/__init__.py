"""The study's report: the paper's claims checked against the result tables (``claims.csv``,
:mod:`.claims`), ``summary.md`` (:mod:`.summary`) and the figures' interval tables
(:mod:`.figure_tables`).

It reads the result tables through :mod:`nucflow.results` (the readers, names and per-arm views
the figures use too) and computes with the attribution statistics; it imports nothing of
:mod:`nucflow.figures`, and nothing below imports it.
"""
