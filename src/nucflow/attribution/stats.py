"""The study's statistics: one bootstrap and one result type, Pearson r, Mann–Whitney with correction.

* :class:`Estimate`: a statistic with its percentile bootstrap interval, the one result type of
  every interval in the tables, the figures, the claims and ``summary.md``.
* :func:`bootstrap_ci`: percentile bootstrap of any statistic, resampling the first axis (images)
  with replacement, with a seeded ``numpy.random.Generator`` (PCG64), so the same seed gives the
  same interval. :func:`mean_ci`, :func:`independent_ci` (k samples of different images, e.g.
  :func:`difference_ci`) and :func:`stratified_mean_ci` draw the same resamples vectorised for
  means (:func:`resample_means`), so every interval comes from the same resampling stream.
* Cross-validation folds (``splits.folds`` k > 1): every interval function takes the rows'
  ``folds`` and then bootstraps hierarchically (:func:`resample_rows`): each resample draws k folds
  with replacement, then within each drawn fold its rows (images) with replacement, and the
  statistic is computed on all rows drawn. The estimate itself pools the folds (each image is in
  one test fold). With one fold (or ``folds`` None) the draws are exactly the plain bootstrap's.
* :func:`mann_whitney_table`: two-sided Mann–Whitney U for every pair of groups and every feature
  (``scipy.stats.mannwhitneyu``), effect size = rank-biserial correlation ``r = 2 U1 / (n1 n2) - 1``
  (U1 the statistic of the first group; r > 0 means the first group tends to larger values), and
  p-values corrected across the whole table by Holm (family-wise error, default) or
  Benjamini–Hochberg (false discovery rate).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from nucflow.errors import NucflowError

CORRECTIONS = ("holm", "bh")


@dataclass(frozen=True)
class Estimate:
    """A statistic with its percentile bootstrap interval; NaN where undefined.

    Attributes:
        value: the statistic on the data as observed.
        low, high: the interval's bounds.
        n: rows (images) it was computed from; 0 when there were none.
        level: the interval's confidence level.
        n_boot: bootstrap resamples drawn.
    """

    value: float
    low: float
    high: float
    n: int
    level: float = 0.95
    n_boot: int = 1000

    def as_dict(self) -> dict:
        """The JSON form the attribution summaries write."""
        return {"estimate": self.value, "ci_low": self.low, "ci_high": self.high,
                "ci_level": self.level, "n_boot": self.n_boot}


def _undefined(level: float = 0.95, n_boot: int = 1000) -> Estimate:
    return Estimate(math.nan, math.nan, math.nan, 0, float(level), int(n_boot))


def _check(level: float, n_boot: int, who: str) -> None:
    if not 0 < level < 1:
        raise NucflowError(f"{who}: level must lie in (0, 1), got {level!r}")
    if int(n_boot) < 1:
        raise NucflowError(f"{who}: n_boot must be >= 1, got {n_boot!r}")


def percentile_interval(draws: np.ndarray, level: float) -> tuple[float, float]:
    """The percentile bootstrap interval of ``draws`` at ``level``."""
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(draws, [tail, 100.0 - tail])
    return float(low), float(high)


def fold_groups(folds, n: int) -> list[np.ndarray] | None:
    """Row indices of each fold (folds in sorted order) of ``n`` rows labelled ``folds``; None when
    ``folds`` is None or names one fold (the bootstrap is then the plain one over rows)."""
    if folds is None:
        return None
    folds = np.asarray(folds)
    if folds.shape != (n,):
        raise NucflowError(f"bootstrap: {folds.shape[0] if folds.ndim else 0} fold labels for {n} rows")
    labels = sorted(set(folds.tolist()), key=str)
    if len(labels) < 2:
        return None
    return [np.flatnonzero(folds == label) for label in labels]


def resample_rows(n: int, groups: list[np.ndarray] | None, rng: np.random.Generator) -> np.ndarray:
    """Row indices of one bootstrap resample of ``n`` rows: ``n`` rows with replacement, or with
    fold ``groups`` (:func:`fold_groups`) as many folds with replacement as there are, then each
    drawn fold's rows with replacement (a hierarchical bootstrap: folds, then images)."""
    if groups is None:
        return rng.integers(0, n, n)
    picked = rng.integers(0, len(groups), len(groups))
    return np.concatenate([groups[g][rng.integers(0, groups[g].size, groups[g].size)] for g in picked])


def resample_means(values: np.ndarray, n_boot: int, rng: np.random.Generator, folds=None) -> np.ndarray:
    """Means of ``n_boot`` resamples (with replacement) of the 1-D ``values``: the draws
    :func:`bootstrap_ci` makes for ``np.mean`` from the same generator state, in one array.
    ``folds``: the values' folds, resampled first (:func:`resample_rows`)."""
    groups = fold_groups(folds, values.size)
    if groups is None:
        return values[rng.integers(0, values.size, (int(n_boot), values.size))].mean(axis=1)
    return np.array([values[resample_rows(values.size, groups, rng)].mean() for _ in range(int(n_boot))])


def bootstrap_ci(values, statistic: Callable = np.mean, n_boot: int = 2000, level: float = 0.95,
                 seed: int = 0, folds=None) -> Estimate:
    """Percentile bootstrap interval of ``statistic(values)``.

    values: array (N, ...) resampled along axis 0 (one row per image); ``statistic`` maps such an
    array to a float. Resamples where the statistic is not finite (e.g. a correlation of constant
    values) are dropped; if fewer than half remain, the interval is NaN. ``folds`` (N,): the rows'
    cross-validation folds, resampled first (:func:`resample_rows`).
    """
    values = np.asarray(values)
    if values.ndim == 0 or values.shape[0] == 0:
        raise NucflowError("bootstrap_ci: values must hold at least one row")
    _check(level, n_boot, "bootstrap_ci")
    estimate = float(statistic(values))
    rng = np.random.default_rng(seed)
    n = values.shape[0]
    groups = fold_groups(folds, n)
    draws = np.empty(int(n_boot))
    for b in range(int(n_boot)):
        draws[b] = statistic(values[resample_rows(n, groups, rng)])
    finite = draws[np.isfinite(draws)]
    if finite.size < max(1, int(n_boot) // 2):
        return Estimate(estimate, math.nan, math.nan, int(n), float(level), int(n_boot))
    low, high = percentile_interval(finite, level)
    return Estimate(estimate, low, high, int(n), float(level), int(n_boot))


def statistic_ci(values, statistic: Callable, n_boot: int = 1000, level: float = 0.95, seed: int = 0,
                 folds=None) -> Estimate:
    """:func:`bootstrap_ci` that gives an undefined estimate (``n == 0``) for no rows instead of an error."""
    values = np.asarray(values, float)
    if values.shape[0] == 0:
        return _undefined(level, n_boot)
    return bootstrap_ci(values, statistic, n_boot=n_boot, level=level, seed=seed, folds=folds)


def _finite(values, folds=None) -> tuple[np.ndarray, np.ndarray | None]:
    """The finite ``values`` and their ``folds`` (None stays None)."""
    values = np.asarray(values, float)
    keep = np.isfinite(values)
    if folds is None:
        return values[keep], None
    folds = np.asarray(folds)
    if folds.shape != values.shape:
        raise NucflowError(f"bootstrap: {folds.size} fold labels for {values.size} values")
    return values[keep], folds[keep]


def mean_ci(values, n_boot: int = 1000, level: float = 0.95, seed: int = 0, folds=None) -> Estimate:
    """Mean of the finite ``values`` (1-D) with a percentile bootstrap CI over them (over their
    ``folds``, then the values within each fold, when given)."""
    values, folds = _finite(values, folds)
    if values.size == 0:
        return _undefined(level, n_boot)
    _check(level, n_boot, "bootstrap")
    draws = resample_means(values, n_boot, np.random.default_rng(seed), folds)
    low, high = percentile_interval(draws, level)
    return Estimate(float(values.mean()), low, high, int(values.size), float(level), int(n_boot))


def independent_ci(samples: Sequence, statistic: Callable, n_boot: int = 1000, level: float = 0.95,
                   seed: int = 0, folds: Sequence | None = None) -> Estimate:
    """``statistic(mean_1, ..., mean_k)`` of k independent samples (e.g. images of different
    domains), each resampled on its own with one seeded generator, in order. ``statistic`` must
    work on arrays of means; ``n`` is the smallest sample. ``folds``: per sample its values' folds
    (or None), each sample then resampled by folds first."""
    folds = list(folds) if folds is not None else [None] * len(samples)
    pairs = [_finite(s, f) for s, f in zip(samples, folds)]
    arrays = [a for a, _ in pairs]
    if not arrays or any(a.size == 0 for a in arrays):
        return _undefined(level, n_boot)
    _check(level, n_boot, "bootstrap")
    rng = np.random.default_rng(seed)
    draws = statistic(*[resample_means(a, n_boot, rng, f) for a, f in pairs])
    low, high = percentile_interval(np.asarray(draws, float), level)
    return Estimate(float(statistic(*[a.mean() for a in arrays])), low, high,
                    int(min(a.size for a in arrays)), float(level), int(n_boot))


def difference_ci(a, b, n_boot: int = 1000, level: float = 0.95, seed: int = 0,
                  statistic: Callable = lambda mean_a, mean_b: mean_a - mean_b,
                  folds: Sequence | None = None) -> Estimate:
    """``statistic(mean(a), mean(b))`` (default: the difference) of two independent samples:
    :func:`independent_ci` of ``[a, b]`` (``folds``: ``[folds of a, folds of b]``)."""
    return independent_ci([a, b], statistic, n_boot=n_boot, level=level, seed=seed, folds=folds)


def stratified_mean_ci(values, strata, n_boot: int = 1000, level: float = 0.95, seed: int = 0,
                       folds=None) -> Estimate:
    """Mean over strata of the per-stratum means (e.g. over held-out cell lines), with a bootstrap
    that resamples the values within each stratum (by their ``folds`` first, when given). ``n``
    is the number of values."""
    values, strata = np.asarray(values, float), np.asarray(strata)
    folds = np.asarray(folds) if folds is not None else None
    keep = np.isfinite(values)
    values, strata = values[keep], strata[keep]
    folds = folds[keep] if folds is not None else None
    if values.size == 0:
        return _undefined(level, n_boot)
    _check(level, n_boot, "bootstrap")
    rng = np.random.default_rng(seed)
    names = sorted(set(strata.tolist()), key=str)
    groups = [values[strata == s] for s in names]
    fold_of = [folds[strata == s] if folds is not None else None for s in names]
    draws = np.mean([resample_means(g, n_boot, rng, f) for g, f in zip(groups, fold_of)], axis=0)
    low, high = percentile_interval(draws, level)
    return Estimate(float(np.mean([g.mean() for g in groups])), low, high, int(values.size),
                    float(level), int(n_boot))


def pearson_r(x, y) -> float:
    """Pearson correlation of two 1-D samples; NaN when fewer than 3 values or one is constant."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def _sorted_finite(p_values: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p as float array, an all-NaN result to fill, indices of the finite p-values in ascending order)."""
    p = np.asarray(p_values, float)
    finite = np.flatnonzero(np.isfinite(p))
    return p, np.full(p.shape, math.nan), finite[np.argsort(p[finite], kind="stable")]


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm step-down adjusted p-values: sorted p_(i) times (m - i), running maximum, capped at 1.

    NaN p-values are kept as NaN and do not count towards m.
    """
    p, adjusted, order = _sorted_finite(p_values)
    m = order.size
    if m == 0:
        return adjusted
    scaled = p[order] * (m - np.arange(m))
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values): p_(i) m / i, running minimum from the top.

    NaN p-values are kept as NaN and do not count towards m.
    """
    p, adjusted, order = _sorted_finite(p_values)
    m = order.size
    if m == 0:
        return adjusted
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return adjusted


def correct_p_values(p_values: Sequence[float], method: str = "holm") -> np.ndarray:
    """Holm ("holm") or Benjamini–Hochberg ("bh") adjustment."""
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    raise NucflowError(f"correction {method!r} unknown; choose from: {', '.join(CORRECTIONS)}")


def mann_whitney_table(df: pd.DataFrame, group_col: str, feature_cols: Sequence[str],
                       groups: Sequence[str] | None = None, correction: str = "holm") -> pd.DataFrame:
    """Pairwise two-sided Mann–Whitney U tests of each feature between groups.

    df: one row per object (e.g. a per-object morphology table), ``group_col`` naming the method or
    cell line. groups: the groups to compare, in order (default: sorted unique values).
    Returns one row per (feature, group_a, group_b) with columns ``feature, group_a, group_b, n_a,
    n_b, median_a, median_b, u_statistic, p_value, rank_biserial, p_adjusted, correction``; the
    correction runs over all rows of the table.
    """
    missing = [c for c in [group_col, *feature_cols] if c not in df.columns]
    if missing:
        raise NucflowError(f"table: missing column {missing[0]!r}; has {', '.join(map(str, df.columns))}")
    if groups is None:
        groups = sorted(df[group_col].dropna().unique().tolist(), key=str)
    absent = [g for g in groups if not (df[group_col] == g).any()]
    if absent:
        raise NucflowError(f"{group_col}: group {absent[0]!r} has no rows")
    if len(groups) < 2:
        raise NucflowError(f"{group_col}: need at least two groups to compare, got {list(groups)}")
    rows = []
    for feature in feature_cols:
        for group_a, group_b in itertools.combinations(groups, 2):
            a = df.loc[df[group_col] == group_a, feature].dropna().to_numpy(float)
            b = df.loc[df[group_col] == group_b, feature].dropna().to_numpy(float)
            if a.size and b.size:
                result = scipy_stats.mannwhitneyu(a, b, alternative="two-sided")
                u, p = float(result.statistic), float(result.pvalue)
                effect = 2.0 * u / (a.size * b.size) - 1.0
            else:
                u = p = effect = math.nan
            rows.append({"feature": feature, "group_a": group_a, "group_b": group_b,
                         "n_a": int(a.size), "n_b": int(b.size),
                         "median_a": float(np.median(a)) if a.size else math.nan,
                         "median_b": float(np.median(b)) if b.size else math.nan,
                         "u_statistic": u, "p_value": p, "rank_biserial": effect})
    table = pd.DataFrame(rows)
    table["p_adjusted"] = correct_p_values(table["p_value"].to_numpy(), correction)
    table["correction"] = correction
    return table
