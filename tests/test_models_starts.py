"""models.starts: the pretrained training starts read from a TensorFlow.js package, set by creation order.

The real package is fetched and converted by the install step (``starts --build``); these tests never
touch the network: they read a small hand-made TensorFlow.js module and a start written here."""

import base64

import numpy as np
import pytest

from leukemia_core.errors import UnknownModelError, WeightsError
from leukemia_core.models import starts


def _tfjs(values: dict[str, np.ndarray], frozen: set[str]) -> tuple[str, list[str]]:
    """A model module and one shard in the layout of nsfwjs' minified files, uint8-quantised."""
    entries, data = [], b""
    for name, v in values.items():
        lo, scale = float(v.min()), float(np.ptp(v) / 255 or 1.0)
        q = np.round((v - lo) / scale).astype(np.uint8)
        shape = ",".join(str(d) for d in v.shape)
        entries.append(f'{{name:"{name}",shape:[{shape}],dtype:"float32",quantization:{{min:{lo!r},scale:{scale!r},'
                       f'dtype:"uint8"}}}}')
        data += q.tobytes()
    layers = ",".join(f'{{name:"{n}",trainable:{"!1" if n in frozen else "!0"},filters:4}}'
                      for n in sorted({k.split("/")[0] for k in values}))
    model = (f'!function(a){{}}({{1:[function(a,n,i){{n.exports={{modelTopology:{{layers:[{layers}]}},'
             f'weightsManifest:[{{paths:["group1-shard1of1"],weights:[{",".join(entries)}]}}]}}}}]}})')
    shard = f'!function(d){{}}({{1:[function(a,n,i){{n.exports="{base64.b64encode(data).decode()}"}}]}})'
    return model, [shard]


def test_a_tfjs_module_is_read_dequantised_with_its_frozen_layers():
    rng = np.random.default_rng(0)
    values = {"conv2d_1/kernel": rng.normal(size=(3, 3, 3, 4)).astype(np.float32),
              "batch_normalization_1/beta": rng.normal(size=4).astype(np.float32),
              "conv2d_2/kernel": rng.normal(size=(1, 1, 4, 4)).astype(np.float32)}
    model, shards = _tfjs(values, frozen={"conv2d_1", "batch_normalization_1"})
    got, frozen = starts.read_tfjs_model(model, shards)
    assert frozen == {"conv2d_1", "batch_normalization_1"}
    for k, v in values.items():
        assert got[k].shape == v.shape
        np.testing.assert_allclose(got[k], v, atol=np.ptp(v) / 255)  # one quantisation step


def test_a_tfjs_module_whose_bytes_do_not_add_up_is_refused():
    values = {"conv2d_1/kernel": np.ones((2, 2, 3, 4), np.float32)}
    model, shards = _tfjs(values, set())
    with pytest.raises(WeightsError, match="bytes"):
        starts.read_tfjs_model(model, [shards[0].replace('"', '"AAAA', 1)])
    with pytest.raises(WeightsError, match="not understood"):
        starts.read_tfjs_model("n.exports={}", shards)


def test_a_start_sets_the_kth_layer_by_creation_order_and_checks_shapes():
    from leukemia_core.models import create_model

    model = create_model("inception_v3", 75)
    layers = starts.backbone_layers(model)
    assert len(layers["conv"]) == 94 and len(layers["bn"]) == 94
    first, fifty_fifth = layers["conv"][0], layers["conv"][54]
    rng = np.random.default_rng(1)
    names = ["conv2d_1/kernel", "conv2d_55/kernel", "batch_normalization_1/moving_variance"]
    arrays = [rng.normal(size=first.weights[0].shape).astype(np.float32),
              rng.normal(size=fifty_fifth.weights[0].shape).astype(np.float32),
              rng.uniform(0.5, 2, size=layers["bn"][0].weights[2].shape).astype(np.float32)]
    untouched = layers["conv"][1].weights[0].numpy().copy()
    starts.assign_start(model, names, arrays)
    np.testing.assert_array_equal(first.weights[0].numpy(), arrays[0])
    np.testing.assert_array_equal(fifty_fifth.weights[0].numpy(), arrays[1])
    np.testing.assert_array_equal(layers["bn"][0].weights[2].numpy(), arrays[2])
    np.testing.assert_array_equal(layers["conv"][1].weights[0].numpy(), untouched)
    with pytest.raises(WeightsError, match="does not fit"):
        starts.assign_start(model, ["conv2d_2/kernel"], [arrays[0]])
    with pytest.raises(WeightsError, match="94 such layers"):
        starts.assign_start(model, ["conv2d_95/kernel"], [arrays[0]])


def test_a_start_file_round_trips_with_one_sha256(tmp_path):
    names, arrays = ["conv2d_1/kernel"], [np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)]
    a = starts.write_start_npz(tmp_path / "a.npz", names, arrays)
    assert a == starts.write_start_npz(tmp_path / "b.npz", names, arrays)  # same bytes every time
    got_names, got = starts.read_start_npz(tmp_path / "a.npz")
    assert got_names == names
    np.testing.assert_array_equal(got[0], arrays[0])


def test_an_unbuilt_or_altered_start_is_refused_with_the_command(tmp_path):
    from leukemia_core.models import create_model

    wdir = tmp_path / "model_weights"
    wdir.mkdir()
    model = create_model("inception_v3", 75)
    with pytest.raises(WeightsError, match="starts --build nsfwjs-inception-v3"):
        starts.apply_start(model, "nsfwjs-inception-v3", wdir)
    spec = starts.get_start_spec("nsfwjs-inception-v3")
    (tmp_path / "model_weights-pretrained").mkdir()
    starts.write_start_npz(tmp_path / "model_weights-pretrained" / spec.weights_file, ["conv2d_1/kernel"],
                           [np.zeros((3, 3, 3, 32), np.float32)])
    with pytest.raises(WeightsError, match="not the pinned"):
        starts.apply_start(model, "nsfwjs-inception-v3", wdir)
    with pytest.raises(WeightsError, match="fits inception_v3"):
        starts.apply_start(create_model("tiny_cnn"), "nsfwjs-inception-v3", wdir)
    with pytest.raises(UnknownModelError, match="nsfwjs-inception-v3"):
        starts.get_start_spec("imagenet-resnet")


def test_the_build_refuses_a_package_that_is_not_the_pinned_one(tmp_path, monkeypatch):
    fake = tmp_path / "nsfwjs-4.4.0.tgz"
    fake.write_bytes(b"not the package")
    with pytest.raises(WeightsError, match="not the pinned"):
        starts.build_start("nsfwjs-inception-v3", tmp_path / "w", archive=fake)
    monkeypatch.setattr(starts.shutil, "which", lambda _: None)
    with pytest.raises(WeightsError, match="npm is not installed"):
        starts.fetch_npm(starts.get_start_spec("nsfwjs-inception-v3"), tmp_path)
