"""The study's report: the paper's claims checked against the result tables (``claims.csv``,
:mod:`.claims`) and ``summary.md`` (:mod:`.summary`).

It sits above the figures and the attribution: it reuses the figures' estimators and style and the
attribution statistics, and nothing below imports it.
"""
