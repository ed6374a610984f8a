"""The out-of-distribution flag: colour profile of cell crops against the training cells'."""

import numpy as np
import pytest

from leukemia_core.cells import crop_cells, find_cells
from leukemia_core.data.images import read_image
from leukemia_core.models.ood import distances, fit_reference, is_outside, wrong_inputs


@pytest.fixture(scope="module")
def crops(samples):
    out = [crop_cells(rgb, find_cells(rgb), 40) for rgb in (read_image(s.path) for s in samples)]
    return np.concatenate([c for c in out if len(c)])


def test_reference_threshold_is_the_validation_percentile(crops):
    ref = fit_reference(crops, crops, percentile=90.0)
    d = distances(ref, crops)
    assert ref["threshold"] == pytest.approx(np.percentile(d, 90.0))
    assert np.mean(d > ref["threshold"]) == pytest.approx(0.1, abs=1.5 / len(d))


def test_nearest_component_decides(crops):
    half = len(crops) // 2
    a, b = crops[:half], crops[half:]
    both = fit_reference([a, b], crops)
    only_a = fit_reference(a, crops)
    # each crop is at least as close to the two-component reference as to one of its components
    assert np.all(distances(both, crops) <= distances(only_a, crops) + 1e-9)
    assert len(both["components"]) == 2 and both["components"][0]["n"] == half


def test_wrong_inputs_are_far_and_flagged(crops):
    ref = fit_reference(crops, crops, percentile=99.0)
    for name in ("inverted", "noise"):
        bad = wrong_inputs(crops)[name]
        assert np.median(distances(ref, bad)) > ref["threshold"], name
        assert is_outside(ref, bad)
    assert not is_outside(ref, crops)
    assert not is_outside({}, crops) and not is_outside(ref, crops[:0])


def test_the_feature_check_reads_the_class_called_and_the_nearest_lab():
    from leukemia_core.models.ood import feature_distances, fit_feature_reference, outside_features

    rng = np.random.default_rng(0)
    # two labs, both classes; ALL cells sit at +3 on feature 0, lab b at +3 on feature 1
    y = np.tile([0, 1], 100)
    labs = np.repeat(["a", "b"], 100)
    x = rng.normal(size=(200, 4))
    x[y == 1, 0] += 3
    x[labs == "b", 1] += 3
    val = rng.normal(size=(40, 4))
    ref = fit_feature_reference(x, y, labs, val, np.zeros(40, int))  # validation: lab a's normal cells
    assert [(c["lab"], c["class"]) for c in ref["components"]] == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert ref["percentile"] == 95.0 and 0 < ref["threshold"] < 5
    near_b = np.array([[0.0, 3.0, 0.0, 0.0]])
    assert feature_distances(ref, near_b, [0])[0] < 0.5  # lab b's normal cells: near, by the nearest lab
    assert feature_distances(ref, near_b, [1])[0] > 1.5  # called ALL, it is far from every ALL component
    far = np.array([[0.0, 0.0, 12.0, 0.0]])
    assert outside_features(ref, np.concatenate([near_b, far]), [0, 0]).tolist() == [False, True]
    assert outside_features({}, far, [0]) is None and feature_distances(ref, np.zeros((0, 4)), []).shape == (0,)
