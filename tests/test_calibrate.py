"""Tests of the simulator's label-noise measure and the tiny logistic regression."""

import numpy as np

from nucflow.simulator.calibrate import fit_logistic, label_noise


def test_label_noise_counts_a_merge_and_a_boundary_error_exactly():
    truth = np.zeros((20, 20), int)
    truth[2:6, 2:6], truth[2:6, 7:11], truth[12:16, 12:16] = 1, 2, 3
    labels = np.zeros((20, 20), int)
    labels[2:6, 2:11] = 5   # merges nuclei 1 and 2 (and the gap column between them)
    labels[12:16, 12:17] = 9  # nucleus 3, one column too wide
    noise = label_noise(labels, truth)
    assert noise.foreground_disagreement == 8 / 400
    assert noise.instance_disagreement == 40 / 400  # 36 merged pixels + 4 extra pixels
    assert noise.merged_true == 2
    assert (noise.n_true, noise.n_labels) == (3, 2)
    perfect = label_noise(truth * 7, truth)
    assert perfect.foreground_disagreement == 0 and perfect.instance_disagreement == 0
    assert perfect.merged_true == 0


def test_logistic_regression_separates_separable_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = x[:, 0] + 0.5 * x[:, 1] > 0
    model = fit_logistic(x, y, l2=1e-4)
    assert np.mean((model.probability(x) > 0.5) == y) > 0.97
