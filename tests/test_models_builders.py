"""models.builders: the real architectures are flat and explainable; the proposed model's attention and dense
head."""


import keras
import numpy as np
import pytest
from conftest import REAL

from leukemia_core.models import create_model, get_spec
from leukemia_core.models.builders import set_backbone_trainable


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL)
def test_real_architectures_are_flat_and_explainable(name):
    size = 75 if name == "inception_v3" else 64
    m = create_model(name, size)
    spec = get_spec(name)
    assert m.input_shape == (None, size, size, 3) and m.output_shape == (None, 2)
    # flat: the Grad-CAM layer is a layer of the model itself, reachable from its input
    cam = m.get_layer(spec.cam_layer)
    derived = keras.Model(m.inputs, [cam.output, m.get_layer("logits").output])
    feats, logits = derived(np.zeros((1, size, size, 3), np.float32))
    assert feats.ndim == 4 and logits.shape == (1, 2)
    assert not any(isinstance(layer, keras.Model) for layer in m.layers)
    p = m(np.random.default_rng(0).random((2, size, size, 3), dtype=np.float32)).numpy()
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_proposed_has_attention_and_dense_head():
    m = create_model("proposed", 64)
    kinds = {type(layer).__name__ for layer in m.layers}
    assert {"MultiHeadAttention", "LayerNormalization", "LeakyReLU", "BatchNormalization", "Dropout"} <= kinds
    set_backbone_trainable(m, False)
    assert m.get_layer("head_mhsa").trainable and not m.get_layer("stem_conv").trainable
    set_backbone_trainable(m, True)
    assert m.get_layer("stem_conv").trainable
