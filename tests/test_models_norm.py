"""models.norm: the backbone's batch norms swapped for group norms of the same names, the other
layers' weights kept, the head kept as built, each image normalised on its own, and the ONNX export of the result."""

import keras
import numpy as np
import pytest
from keras import layers

from leukemia_core.models import create_model
from conftest import norm_of

from leukemia_core.models.norm import group_count, swap_batch_norm


def test_group_count_is_the_largest_divisor_up_to_the_cap():
    assert [group_count(c) for c in (32, 24, 40, 12, 7, 1)] == [8, 8, 8, 6, 7, 1]
    assert group_count(30, groups=4) == 3
    with pytest.raises(ValueError):
        group_count(0)


def test_the_swap_keeps_names_and_weights_and_leaves_the_head_alone():
    inputs = keras.Input((16, 16, 3), name="image")
    x = layers.Conv2D(12, 3, padding="same", name="conv")(inputs)
    x = layers.BatchNormalization(name="bn", epsilon=1e-3)(x)
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = layers.Dense(4, name="head_dense")(x)
    x = layers.BatchNormalization(name="head_bn")(x)
    model = keras.Model(inputs, layers.Dense(2, name="logits")(x))
    model.get_layer("bn").gamma.assign(np.full(12, 2.0, np.float32))

    swapped = swap_batch_norm(model, groups=8)
    assert norm_of(model) == "batch" and norm_of(swapped) == "group"
    assert [la.name for la in swapped.layers] == [la.name for la in model.layers]
    gn = swapped.get_layer("bn")
    assert isinstance(gn, layers.GroupNormalization) and gn.groups == 6 and gn.epsilon == 1e-3
    np.testing.assert_array_equal(gn.gamma.numpy(), np.full(12, 2.0))
    assert isinstance(swapped.get_layer("head_bn"), layers.BatchNormalization)
    for name in ("conv", "head_dense", "head_bn", "logits"):
        for a, b in zip(model.get_layer(name).get_weights(), swapped.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_group_norm_makes_each_image_independent_of_its_batch():
    rng = np.random.default_rng(0)
    one = rng.random((1, 32, 32, 3), dtype=np.float32)
    others = [rng.random((3, 32, 32, 3), dtype=np.float32) * s for s in (0.2, 1.0)]
    for norm, independent in (("group", True), ("batch", False)):
        model = create_model("tiny_bn_cnn", norm=norm)
        outs = [model(np.concatenate([one, o]), training=True).numpy()[0] for o in others]
        assert np.allclose(outs[0], outs[1], atol=1e-5) == independent, norm


def test_create_model_checks_the_norm_and_a_model_without_batch_norm_is_unchanged():
    with pytest.raises(ValueError, match="norm must be one of batch, group"):
        create_model("tiny_cnn", norm="instance")
    model = create_model("tiny_cnn")
    assert norm_of(model) == "none" and swap_batch_norm(model) is model


def test_a_group_norm_model_exports_to_onnx_and_agrees_with_keras():
    from leukemia_core.onnx_export import convert, onnx_p_all

    model = create_model("tiny_bn_cnn", norm="group")
    x = np.random.default_rng(1).random((4, 32, 32, 3), dtype=np.float32)
    p_onnx = onnx_p_all(convert(model, 32).SerializeToString(), x)
    np.testing.assert_allclose(p_onnx, model.predict(x, verbose=0)[:, 1], atol=1e-5)
