"""Registry, architectures (flat graphs), and the weights format."""

import json

import keras
import numpy as np
import pytest

from leukemia_core.errors import UnknownModelError, WeightsError
from leukemia_core.models import create_model, get_spec, list_models
from leukemia_core.models.builders import set_backbone_trainable
from leukemia_core.models.weights import load_weights_into, save_weights_npz, sha256_of

REAL = ["efficientnet_b0", "resnet50", "inception_v3", "proposed"]


def test_registry_lists_the_four_models():
    assert set(list_models()) == set(REAL)
    assert "tiny_cnn" in list_models(include_test=True)


def test_unknown_model_names_the_valid_ones():
    with pytest.raises(UnknownModelError) as err:
        get_spec("vgg16")
    for n in REAL:
        assert n in str(err.value)


def test_init_must_be_known():
    with pytest.raises(ValueError, match="init"):
        create_model("tiny_cnn", init="pretrained")


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


def test_weights_round_trip_and_checksum(tmp_path):
    m = create_model("tiny_cnn", 32)
    path = tmp_path / "tiny.weights.npz"
    sha = save_weights_npz(m, path)
    assert sha == sha256_of(path)
    m2 = create_model("tiny_cnn", 32)
    load_weights_into(m2, path, sha)
    x = np.random.default_rng(1).random((3, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(m(x).numpy(), m2(x).numpy(), rtol=1e-6, atol=1e-7)
    # a second save of the loaded model is identical: loading restores exactly what shipped
    assert save_weights_npz(m2, tmp_path / "again.weights.npz") == sha


@pytest.mark.slow
def test_float16_storage_restores_exactly_what_shipped(tmp_path):
    m = create_model("proposed", 64)
    path = tmp_path / "p.weights.npz"
    sha = save_weights_npz(m, path)
    m2 = create_model("proposed", 64)
    load_weights_into(m2, path, sha)
    save_weights_npz(m2, tmp_path / "p2.weights.npz")
    with np.load(path) as a, np.load(tmp_path / "p2.weights.npz") as b:
        keys = [k for k in a.files if k != "names"]
        assert keys and all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in keys)
        assert any(a[k].dtype == np.float16 for k in keys)
    assert path.stat().st_size < 0.6 * sum(np.asarray(v).nbytes for v in m.weights)


def test_weights_errors_are_clear(tmp_path):
    m = create_model("tiny_cnn", 32)
    with pytest.raises(WeightsError, match="not found"):
        load_weights_into(m, tmp_path / "missing.weights.npz")
    path = tmp_path / "t.weights.npz"
    sha = save_weights_npz(m, path)
    with pytest.raises(WeightsError, match="sha256"):
        load_weights_into(m, path, "0" * 64)
    other = create_model("tiny_cnn", 48)  # same layers; shapes match; another size is fine here
    load_weights_into(other, path, sha)
    bad = tmp_path / "bad.weights.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(WeightsError, match="not a readable"):
        load_weights_into(m, bad)


@pytest.mark.slow
def test_weights_of_another_model_are_refused(tmp_path):
    path = tmp_path / "t.weights.npz"
    save_weights_npz(create_model("tiny_cnn", 32), path)
    with pytest.raises(WeightsError, match="another model"):
        load_weights_into(create_model("efficientnet_b0", 32), path)


def test_missing_manifest_is_a_weights_error(tmp_path):
    from leukemia_core.inference import load_model, weights_status
    with pytest.raises(WeightsError, match="train it with"):
        load_model("proposed", tmp_path)
    assert "no manifest" in weights_status("proposed", tmp_path)


def test_altered_shipped_file_is_refused(trained_tiny, tmp_path):
    import shutil

    from leukemia_core.inference import load_model
    wdir = tmp_path / "w"
    shutil.copytree(trained_tiny["weights_dir"], wdir)
    assert load_model("tiny_cnn", wdir).input_size == 32
    f = wdir / "tiny_cnn.weights.npz"
    data = bytearray(f.read_bytes())
    data[-100] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_model("tiny_cnn", wdir)
    f.unlink()
    with pytest.raises(WeightsError, match="not found"):
        load_model("tiny_cnn", wdir)
    manifest = json.loads((wdir / "tiny_cnn.manifest.json").read_text())
    assert manifest["weights_sha256"] and manifest["training"]["seed"] == 42
