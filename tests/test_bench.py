"""The speed benchmark's report (fields and arithmetic, never timing thresholds), and that the
speed-ups it led to give the same outputs as the plain versions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from leukemia_core import bench

MODEL_FIGURES = ("predict_ms", "floor_ms", "gradcam_ms", "gradcam_naive_ms", "batch_img_s", "batch_floor_img_s",
                 "train_img_s", "train_memory_img_s")


def test_bench_report_on_the_tiny_model(trained_tiny, tmp_path, capsys):
    out = tmp_path / "BENCH.json"
    returned = bench.run_bench(out, ["tiny_cnn"], trained_tiny["weights_dir"], repeats=2, app=False,
                               train_steps=1)
    report = json.loads(out.read_text())
    assert report["models"].keys() == returned["models"].keys() == {"tiny_cnn"}

    m = report["machine"]
    assert m["cpu_model"] and m["logical_cores"] >= 1 and m["tensorflow"].startswith("2.")

    r = report["models"]["tiny_cnn"]
    assert r["weights"] == "shipped" and r["input_size"] == trained_tiny["manifest"]["input_size"]
    for k in MODEL_FIGURES:
        assert isinstance(r[k], float) and r[k] > 0, k
    assert r["predict_ratio"] == pytest.approx(r["predict_ms"] / r["floor_ms"], rel=1e-3)
    assert r["gradcam_ratio"] == pytest.approx(r["gradcam_ms"] / r["floor_ms"], rel=1e-3)
    assert r["batch_ratio"] == pytest.approx(r["batch_img_s"] / r["batch_floor_img_s"], rel=1e-3)
    assert r["pipeline_ratio"] == pytest.approx(r["train_img_s"] / r["train_memory_img_s"], rel=1e-3)
    assert set(r["targets_met"]) == {"predict_ratio", "gradcam_ratio", "batch_ratio", "pipeline_ratio"}
    p = r["profile"]
    assert p["prepare_ms"] > 0 and p["forward_ms"] > 0 and p["cam_pass_ms"] > 0
    assert p["preprocess_cnmc"]["image"] == "450x450" and p["preprocess_cnmc"]["denoise_ms"] > 0
    assert p["train"]["step_ms_pipeline"]["n"] >= 1 and p["train"]["pipeline_alone_ms_per_batch"] > 0

    mem = report["memory"]
    assert mem["rss_mb"] > 0 and mem["models_loaded"] == ["tiny_cnn"] and "tiny_cnn" in mem["per_model"]
    assert report["app"]["cold_start_s"] is None and "skipped" in report["app"]["reason"]
    assert report["targets_met"]["cold_start_s"] is None
    assert set(report["targets_met"]) == set(bench.TARGETS)
    missed = {k for k, v in report["targets_met"].items() if v is False}
    assert set(report["missed_because"]) == missed  # every miss comes with its profile figures

    printed = capsys.readouterr().out
    assert "tiny_cnn" in printed and "targets:" in printed and str(out) in printed


def test_models_without_weights_are_benchmarked_random_and_say_so(tmp_path):
    loaded, weights, note, seconds = bench._get_model("tiny_cnn", tmp_path / "none", tmp_path)
    assert weights == "random" and "random weights" in note and seconds > 0
    assert loaded.input_size == 32  # the spec's default without a manifest
    # exported so that a fresh process (memory figure, app) can load the same architecture
    from leukemia_core.inference import load_model

    again = load_model("tiny_cnn", tmp_path)
    for a, b in zip(loaded.model.get_weights(), again.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)  # float16 storage of large arrays


def test_cold_start_without_app_is_null_with_a_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "PROJECT_ROOT", tmp_path)
    res = bench.measure_cold_start(tmp_path)
    assert res["cold_start_s"] is None and "app.py" in res["reason"]


# ----------------------------------------------------------------- the speed-ups change no output

def _plain_bilateral(rgb):
    import cv2

    from leukemia_core.preprocess import BILATERAL_D, BILATERAL_SIGMA_COLOR, BILATERAL_SIGMA_SPACE

    return cv2.bilateralFilter(rgb, BILATERAL_D, BILATERAL_SIGMA_COLOR, BILATERAL_SIGMA_SPACE)


def test_cropped_denoise_equals_the_full_filter_bit_for_bit(samples):
    from leukemia_core.images import read_image
    from leukemia_core.preprocess import denoise

    for s in samples:
        rgb = read_image(s.path)
        assert np.array_equal(denoise(rgb), _plain_bilateral(rgb)), s.path.name
    rng = np.random.default_rng(0)
    for _ in range(200):  # content boxes anywhere, touching edges, single stray pixels, all black
        h, w = rng.integers(1, 120, 2)
        img = np.zeros((h, w, 3), np.uint8)
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        y1, x1 = rng.integers(y0, h + 1), rng.integers(x0, w + 1)
        img[y0:y1, x0:x1] = rng.integers(0, 256, (y1 - y0, x1 - x0, 3))
        if rng.random() < 0.5:
            img[rng.integers(0, h), rng.integers(0, w), rng.integers(0, 3)] = rng.integers(1, 256)
        assert np.array_equal(denoise(img), _plain_bilateral(img))


def test_compiled_gradcam_equals_recording_the_whole_pass(samples):
    import keras
    import tensorflow as tf

    from leukemia_core.explain import Explainer
    from leukemia_core.images import read_image
    from leukemia_core.models import create_model
    from leukemia_core.preprocess import prepare, to_unit

    keras.utils.set_random_seed(1)
    model = create_model("tiny_cnn", 32)
    x = np.stack([to_unit(prepare(read_image(s.path), 32)) for s in samples[:4]])
    ex = Explainer(model, "cam_conv", "gradcam")
    assert ex.split_head
    assert ex.warm() > 0
    p, cams = ex.predict_and_explain(x)

    grad_model = keras.Model(model.inputs[0], [model.get_layer("cam_conv").output, model.get_layer("logits").output])
    with tf.GradientTape() as tape:
        feats, logits = grad_model(x, training=False)
        score = tf.reduce_sum(logits[:, 1])
    grads = tape.gradient(score, feats)
    cam = tf.nn.relu(tf.reduce_sum(feats * tf.reduce_mean(grads, axis=[1, 2], keepdims=True), axis=-1))
    cam = tf.image.resize(cam[..., None], (32, 32), method="bilinear")[..., 0].numpy()
    lo, hi = cam.min(axis=(1, 2), keepdims=True), cam.max(axis=(1, 2), keepdims=True)
    ref = np.where(hi - lo > 1e-8, (cam - lo) / np.maximum(hi - lo, 1e-8), 0)
    np.testing.assert_allclose(p, model(x, training=False).numpy()[:, 1], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(cams, ref, atol=1e-5)


def test_predictor_warm_compiles_without_changing_results(trained_tiny, samples):
    from leukemia_core.images import read_image
    from leukemia_core.inference import Predictor, load_model

    loaded = load_model("tiny_cnn", trained_tiny["weights_dir"])
    cold, warm = Predictor(loaded), Predictor(loaded)
    assert warm.warm() > 0
    x = np.stack([cold.prepare(read_image(s.path)) for s in samples])
    np.testing.assert_array_equal(cold.predict(x), warm.predict(x))
