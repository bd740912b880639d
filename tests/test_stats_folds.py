"""The hierarchical bootstrap over cross-validation folds (nucflow.attribution.stats)."""

from __future__ import annotations

import numpy as np
import pytest

from nucflow.attribution.stats import (bootstrap_ci, difference_ci, fold_groups, mean_ci, resample_means,
                                       resample_rows, stratified_mean_ci)
from nucflow.errors import NucflowError


def test_one_fold_draws_exactly_the_plain_bootstrap():
    values = np.array([0.2, 0.9, 0.4, 0.7, 0.1])
    assert mean_ci(values, n_boot=200, seed=3, folds=[0] * 5) == mean_ci(values, n_boot=200, seed=3)
    assert bootstrap_ci(values, np.median, n_boot=50, seed=1, folds=[2] * 5) == \
        bootstrap_ci(values, np.median, n_boot=50, seed=1)
    assert difference_ci(values, values[:3], n_boot=100, folds=[[0] * 5, None]) == \
        difference_ci(values, values[:3], n_boot=100)
    assert fold_groups(None, 5) is None and fold_groups([1] * 5, 5) is None


def test_one_draw_takes_folds_then_images_within_them():
    """values 1, 2 in fold 0 and 30, 40, 50 in fold 1: a draw picks 2 folds with replacement, then
    each picked fold's images with replacement, from one seeded generator in that order."""
    groups = fold_groups(np.array([0, 0, 1, 1, 1]), 5)
    assert [g.tolist() for g in groups] == [[0, 1], [2, 3, 4]]
    rng, check = np.random.default_rng(4), np.random.default_rng(4)
    rows = resample_rows(5, groups, rng)
    picked = check.integers(0, 2, 2)
    expected = np.concatenate([groups[g][check.integers(0, groups[g].size, groups[g].size)] for g in picked])
    assert rows.tolist() == expected.tolist()
    assert len(rows) == sum(groups[g].size for g in picked)


def test_fold_resampling_widens_the_interval_between_fold_means():
    """Two folds whose images agree within each fold (1.0 and 3.0): resampling images alone finds
    means 1.0 .. 3.0 in steps of 0.25 near 2; resampling folds first gives only 1, 2 or 3, each in
    the expected share of draws (1/4, 1/2, 1/4)."""
    values = np.array([1.0] * 4 + [3.0] * 4)
    folds = np.array([0] * 4 + [1] * 4)
    draws = resample_means(values, 4000, np.random.default_rng(0), folds)
    assert set(np.round(draws, 12)) == {1.0, 2.0, 3.0}
    shares = [np.mean(draws == v) for v in (1.0, 2.0, 3.0)]
    assert shares == pytest.approx([0.25, 0.5, 0.25], abs=0.02)
    plain = resample_means(values, 4000, np.random.default_rng(0))
    assert set(np.round(plain, 12)) - {1.0, 2.0, 3.0}  # between-fold values a plain bootstrap mixes
    hierarchical = mean_ci(values, n_boot=4000, seed=0, folds=folds)
    assert (hierarchical.value, hierarchical.low, hierarchical.high, hierarchical.n) == (2.0, 1.0, 3.0, 8)
    flat = mean_ci(values, n_boot=4000, seed=0)
    assert flat.low > 1.0 and flat.high < 3.0


def test_non_finite_values_drop_with_their_folds():
    values = [1.0, np.nan, 3.0, 3.0]
    folds = [0, 0, 1, 1]
    estimate = mean_ci(values, n_boot=500, seed=0, folds=folds)
    assert estimate.n == 3 and estimate.value == pytest.approx(7 / 3)
    with pytest.raises(NucflowError, match="3 fold labels for 4 values"):
        mean_ci(values, folds=[0, 0, 1])


def test_stratified_mean_resamples_folds_within_each_stratum():
    values = np.array([1.0, 1.0, 3.0, 3.0, 5.0, 5.0])
    strata = np.array(["A", "A", "A", "A", "B", "B"])
    folds = np.array([0, 0, 1, 1, 0, 1])
    estimate = stratified_mean_ci(values, strata, n_boot=2000, seed=0, folds=folds)
    # A's mean is 1, 2 or 3 by its folds, B's is always 5: the mean over strata is 3, 3.5 or 4
    assert (estimate.value, estimate.low, estimate.high) == (3.5, 3.0, 4.0)
    assert stratified_mean_ci(values, strata, n_boot=300, seed=2, folds=np.zeros(6)) == \
        stratified_mean_ci(values, strata, n_boot=300, seed=2)
