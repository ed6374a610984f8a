"""Calls on ONNX Runtime (leukemia_core.onnx_calls): when the ONNX file serves, what falls back
to Keras, and that an OnnxPredictor reads images as the Keras Predictor does."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import analyze_file
from onnx_fixtures import copy_weights, seeded_tiny, tiny_onnx  # noqa: F401  (fixture)

from leukemia_core.errors import WeightsError
from leukemia_core.onnx_export import PARITY_TOL
from leukemia_core.onnx_calls import (
    OnnxPredictor,
    fast_predictor,
    load_onnx_predictor,
    onnx_status,
    predictor_backend,
    with_loaded,
)
from leukemia_core.paths import artefact_path


def test_a_current_export_serves(tiny_onnx):
    assert onnx_status("tiny_cnn", tiny_onnx["weights_dir"], verify=True) == "ok"
    pred = fast_predictor("tiny_cnn", tiny_onnx["weights_dir"])
    assert isinstance(pred, OnnxPredictor) and predictor_backend(pred) == "onnxruntime"
    assert pred.loaded.model is None and pred.loaded.input_size == 32


def test_why_an_export_does_not_serve(tiny_onnx, tmp_path):
    wdir = copy_weights(tiny_onnx["weights_dir"], tmp_path / "w")
    man = json.loads((wdir / "tiny_cnn.manifest.json").read_text())
    record_path = artefact_path("tiny_cnn", "onnx_record", wdir)
    record = json.loads(record_path.read_text())
    assert "other weights" in onnx_status("tiny_cnn", wdir, {**man, "weights_sha256": "0"})
    record_path.write_text(json.dumps({**record, "outputs": ["probs"]}))  # exported before the features output
    assert "without the features output" in onnx_status("tiny_cnn", wdir)
    record_path.write_text(json.dumps({**record, "sha256": "0"}))
    assert "sha256 does not match" in onnx_status("tiny_cnn", wdir, verify=True)
    assert onnx_status("tiny_cnn", wdir) == "ok"  # without verify the file is not read
    record_path.write_text("{not json")
    assert "no ONNX export" in onnx_status("tiny_cnn", wdir)
    record_path.unlink()
    assert "no ONNX export" in onnx_status("tiny_cnn", wdir)
    record_path.write_text(json.dumps(record))
    artefact_path("tiny_cnn", "onnx", wdir).unlink()
    assert "missing" in onnx_status("tiny_cnn", wdir)
    with pytest.raises(WeightsError, match="missing"):
        load_onnx_predictor("tiny_cnn", wdir)


def test_an_altered_file_is_refused(tiny_onnx, tmp_path):
    wdir = copy_weights(tiny_onnx["weights_dir"], tmp_path / "w")
    with open(artefact_path("tiny_cnn", "onnx", wdir), "ab") as f:
        f.write(b"\0")
    with pytest.raises(WeightsError, match="altered"):
        load_onnx_predictor("tiny_cnn", wdir)


def test_keras_serves_without_a_current_export(tiny_onnx, tmp_path, monkeypatch):
    wdir = copy_weights(tiny_onnx["weights_dir"], tmp_path / "w")
    assert predictor_backend(fast_predictor("tiny_cnn", wdir)) == "onnxruntime"
    monkeypatch.setenv("LEUKEMIA_ONNX", "0")
    assert predictor_backend(fast_predictor("tiny_cnn", wdir)) == "keras"
    monkeypatch.delenv("LEUKEMIA_ONNX")
    seeded_tiny(wdir, seed=4)  # retrained: the manifest no longer names the exported weights
    assert predictor_backend(fast_predictor("tiny_cnn", wdir)) == "keras"


def test_onnx_reads_images_as_keras_does(tiny_onnx, samples):
    from leukemia_core.inference import Predictor, load_model

    wdir = tiny_onnx["weights_dir"]
    onnx_pred, keras_pred = load_onnx_predictor("tiny_cnn", wdir), Predictor(load_model("tiny_cnn", wdir))
    for s in samples:
        a, b = analyze_file(onnx_pred, s.path), analyze_file(keras_pred, s.path)
        assert a.n_cells == b.n_cells and a.found.notes == b.found.notes
        assert np.abs(a.p_all - b.p_all).max() <= PARITY_TOL
    x = np.random.default_rng(0).random((70, 32, 32, 3), dtype=np.float32)  # more than two chunks of 32
    assert onnx_pred.predict(x).shape == (70,) and onnx_pred.predict(x[0]).shape == (1,)
    assert onnx_pred.predict(np.zeros((0, 32, 32, 3), np.float32)).shape == (0,)
    # the features the head reads, as Keras computes them (the feature check reads these)
    f_onnx, f_keras = onnx_pred.features(x[:5]), keras_pred.features(x[:5])
    assert f_onnx.shape == f_keras.shape and np.abs(f_onnx - f_keras).max() <= 1e-3


def test_with_loaded_keeps_the_forward_pass(tiny_onnx):
    from dataclasses import replace

    pred = load_onnx_predictor("tiny_cnn", tiny_onnx["weights_dir"])
    assert with_loaded(pred, pred.loaded) is pred
    other = with_loaded(pred, replace(pred.loaded, cell_share=0.5))
    assert isinstance(other, OnnxPredictor) and other._onnx is pred._onnx and other.loaded.cell_share == 0.5
