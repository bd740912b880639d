"""Input checks of the evaluation library: 3-class probability maps."""

import numpy as np
import pytest

from nucflow.errors import NucflowError


def test_foreground_probability_of_three_class_map_is_one_minus_background():
    from nucflow.evaluation.validate import foreground_probability

    prob = np.zeros((3, 2, 2), np.float32)
    prob[0] = [[1.0, 0.25], [0.0, 0.5]]
    prob[1] = [[0.0, 0.5], [0.4, 0.5]]
    prob[2] = 1.0 - prob[0] - prob[1]
    np.testing.assert_array_equal(foreground_probability(prob), [[0.0, 0.75], [1.0, 0.5]])
    two_class = np.full((2, 2), 0.3, np.float32)
    assert foreground_probability(two_class) is two_class
    with pytest.raises(NucflowError, match="3-class"):
        foreground_probability(np.zeros((2, 2, 2), np.float32), "p.tif")
