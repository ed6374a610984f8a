"""data.colour: the nine colour statistics of a crop (its non-black pixels)."""

import numpy as np

from leukemia_core.data.colour import colour_features


def test_colour_features_are_nine_statistics():
    x = np.zeros((2, 4, 4, 3), np.uint8)
    x[1, ..., 0] = 255
    f = colour_features(x)
    assert f.shape == (2, 9)
    assert f[1, 0] == 1.0 and f[0].sum() == 0


def test_colour_features_read_the_cell_not_the_black_around_it():
    x = np.zeros((1, 4, 4, 3), np.uint8)
    x[0, :2, :2] = (200, 100, 50)  # a cell on black: the black pixels do not dilute it
    f = colour_features(x)
    assert np.allclose(f[0, :3], np.array([200, 100, 50]) / 255) and np.allclose(f[0, 3:6], 0)
