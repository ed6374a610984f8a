"""A site model served: its head in place of the model's on Keras and ONNX Runtime, an encoder's
site model as a model of its own, and profiles of other weights refused."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from adaptation_fixtures import tiny_encoder
from onnx_fixtures import tiny_onnx  # noqa: F401  (fixture)

from leukemia_core.adaptation.features import served_source
from leukemia_core.models.site_head import fit_head
from leukemia_core.adaptation.serve import encoder_loaded, site_predictor
from leukemia_core.inference import Predictor, load_model
from leukemia_core.models.calibration import Calibration
from leukemia_core.onnx_calls import load_onnx_predictor
from leukemia_core.verification.profile import ProfileError, SiteProfile, apply_profile


def _profile(model, sha, head, kind="model"):
    base = {"kind": kind, "name": model, "weights_sha256": sha, "input_size": 32, "cell_share": 0.75,
            "mask_outside": kind == "model"}
    return SiteProfile("lab A", model, sha, Calibration(threshold=0.4), head=head.to_json(), base=base)


@pytest.fixture(scope="module")
def crops():
    return np.random.default_rng(1).integers(0, 255, (6, 32, 32, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def headed(tiny_onnx, crops):
    loaded = load_model("tiny_cnn", tiny_onnx["weights_dir"])
    feats = served_source(loaded).features(crops)
    head = fit_head(feats, np.array([0, 1] * 3), C=1.0)
    return loaded, head, feats


def test_keras_with_the_head_reads_as_the_head_on_the_features(headed, crops):
    loaded, head, feats = headed
    prof = _profile("tiny_cnn", loaded.manifest["weights_sha256"], head)
    adapted = apply_profile(loaded, prof)
    p = Predictor(adapted).predict(crops.astype(np.float32) / 255.0)
    np.testing.assert_allclose(p, head.predict(feats), atol=1e-5)
    assert adapted.calibration.threshold == 0.4 and adapted.cam_layer == loaded.cam_layer
    # the shipped model is untouched
    assert not np.allclose(Predictor(loaded).predict(crops.astype(np.float32) / 255.0), p)


def test_onnx_runtime_carries_the_same_head(tiny_onnx, headed, crops):
    loaded, head, feats = headed
    prof = _profile("tiny_cnn", loaded.manifest["weights_sha256"], head)
    onnx = site_predictor(load_onnx_predictor("tiny_cnn", tiny_onnx["weights_dir"]), prof, tiny_onnx["weights_dir"])
    assert type(onnx).__name__ == "OnnxPredictor"
    np.testing.assert_allclose(onnx.predict(crops.astype(np.float32) / 255.0), head.predict(feats), atol=1e-4)


def test_a_profile_of_other_weights_is_refused(tiny_onnx, headed):
    loaded, head, _ = headed
    prof = _profile("tiny_cnn", "0" * 64, head)
    with pytest.raises(ProfileError, match="other weights"):
        site_predictor(Predictor(loaded), prof)
    calibration_only = replace(_profile("tiny_cnn", loaded.manifest["weights_sha256"], head), head={})
    out = site_predictor(Predictor(loaded), calibration_only)
    assert out.loaded.model is loaded.model and out.loaded.calibration.threshold == 0.4


def test_an_encoder_site_model_is_a_model_of_its_own(crops):
    enc = tiny_encoder()
    feats = enc(crops.astype(np.float32) / 255.0).numpy()
    head = fit_head(feats, np.array([0, 1] * 3), C=1.0)
    prof = _profile("densenet121", "cd" * 32, head, kind="encoder")
    loaded = encoder_loaded(prof, encoder=enc)
    assert loaded.name == "densenet121" and loaded.cam_layer == "relu" and not loaded.mask_outside
    np.testing.assert_allclose(Predictor(loaded).predict(crops.astype(np.float32) / 255.0), head.predict(feats),
                               atol=1e-5)
