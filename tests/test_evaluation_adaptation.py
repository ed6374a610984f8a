"""adapt-check's two remedies: Reinhard colour matching per crop and batch-norm re-estimation on a copy."""

import numpy as np
import pytest

from leukemia_core.cells import crop_cells, find_cells
from leukemia_core.data.images import read_image
from leukemia_core.evaluation.adaptation import bn_adapted, lab_stats, reinhard


@pytest.fixture(scope="module")
def crops(samples):
    out = [crop_cells(rgb, find_cells(rgb), 32) for rgb in (read_image(s.path) for s in samples)]
    return np.concatenate([c for c in out if len(c)])


def test_reinhard_moves_each_cell_to_the_target_and_keeps_black(crops):
    target = {"mean": [150.0, 140.0, 110.0], "std": [20.0, 6.0, 8.0]}
    out = reinhard(crops, target)
    black = crops.max(axis=-1) <= 8
    assert np.all(out[black] == 0)
    got = lab_stats(out[:5])
    assert np.allclose(got["mean"], target["mean"], atol=4.0)
    assert not np.array_equal(out, crops)


def test_bn_reestimation_changes_a_copy_only(crops):
    import keras

    from leukemia_core.models import create_model

    keras.utils.set_random_seed(0)
    model = create_model("efficientnet_b0", 32)
    before = [w.copy() for w in model.get_weights()]
    x = crops.astype(np.float32) / 255.0
    p_before = np.asarray(model(x, training=False))
    copy = bn_adapted(model, crops)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # shipped model untouched
    bn = next(layer for layer in copy.layers if isinstance(layer, keras.layers.BatchNormalization))
    orig = model.get_layer(bn.name)
    assert not np.allclose(np.asarray(bn.moving_mean), np.asarray(orig.moving_mean))
    assert not np.allclose(np.asarray(copy(x, training=False)), p_before)
