"""models.layers: CaffeInput turns RGB in [0, 1] into ResNet-50's BGR in [0, 255] minus the ImageNet means."""

import keras
import numpy as np

from leukemia_core.models.layers import CaffeInput


def test_caffe_input_flips_scales_and_centres():
    x = np.random.default_rng(0).uniform(0, 1, (2, 4, 5, 3)).astype(np.float32)
    y = np.asarray(CaffeInput()(x))
    assert y.shape == x.shape and y.dtype == np.float32
    want = x[..., ::-1] * 255.0 - np.array([103.939, 116.779, 123.68], np.float32)
    np.testing.assert_allclose(y, want, rtol=0, atol=1e-4)
    black = np.asarray(CaffeInput()(np.zeros((1, 1, 1, 3), np.float32)))[0, 0, 0]
    np.testing.assert_allclose(black, [-103.939, -116.779, -123.68], atol=1e-4)


def test_caffe_input_survives_saving(tmp_path):
    inp = keras.Input((4, 4, 3))
    model = keras.Model(inp, CaffeInput()(inp))
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")  # registered: no custom_objects needed
    x = np.full((1, 4, 4, 3), 0.5, np.float32)
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), atol=1e-5)
