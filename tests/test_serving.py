"""How the dashboard is served: the entry point ``./run app`` starts (warm-up at server start) and
the server's memory bounds (cache sizes, eviction)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import analyze_file

from app_fixtures import app_env, app_weights, navigation_v2  # noqa: F401  (fixtures)

from leukemia_core.inference import MAX_EXPLAINERS

ROOT = Path(__file__).resolve().parent.parent


def _bench_app():
    spec = importlib.util.spec_from_file_location("bench_app", ROOT / "tools" / "bench_app.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_run_app_serves_serve_py_and_the_benchmark_starts_the_same():
    assert _bench_app().served_script(ROOT) == "serve.py"
    from streamlit.web.server.app_discovery import discover_asgi_app

    found = discover_asgi_app(ROOT / "serve.py")
    assert found.is_asgi_app  # `streamlit run serve.py` runs it as st.App (with the start-up hook)
    assert 'st.App("app.py"' in (ROOT / "serve.py").read_text()


def test_served_script_without_run_file_is_app_py(tmp_path):
    assert _bench_app().served_script(tmp_path) == "app.py"


def test_bounds_are_sane():
    assert 1 <= MAX_EXPLAINERS


@pytest.fixture
def loaders(monkeypatch):
    sys.path.insert(0, str(ROOT))
    import streamlit as st

    import pages._loaders as loaders

    st.cache_resource.clear()
    released = []
    monkeypatch.setattr(loaders, "release_memory", lambda *a: released.append(1))
    yield loaders, released
    st.cache_resource.clear()
    sys.path.remove(str(ROOT))


def test_explainer_cache_evicts_and_releases(trained_tiny, loaders):
    loaders, released = loaders
    wdir = str(trained_tiny["weights_dir"])
    sha = loaders.weights_sha("tiny_cnn")
    first = loaders._explainer("tiny_cnn", wdir, sha, "gradcam")
    assert loaders._explainer("tiny_cnn", wdir, sha, "gradcam") is first  # cached, built once
    x = np.random.default_rng(1).random((2, 32, 32, 3)).astype(np.float32)
    p0, m0 = first.predict_and_explain(x, class_index=1)
    # more explainers than the bound (other weights hashes stand for other models)
    for k in range(MAX_EXPLAINERS):
        loaders._explainer("tiny_cnn", wdir, f"{sha}-{k}", "gradcam")
    assert released, "an explainer over the bound is evicted and memory released"
    assert loaders._explainer("tiny_cnn", wdir, sha, "gradcam") is not first  # the oldest was evicted
    p1, m1 = first.predict_and_explain(x, class_index=1)  # an evicted object still works, unchanged
    np.testing.assert_allclose(p0, p1, rtol=1e-5)
    np.testing.assert_allclose(m0, m1, atol=1e-5)


def test_server_start_warms_the_default_model_once(app_env, loaders, monkeypatch):
    loaders, _ = loaders
    started = []
    monkeypatch.setattr(loaders, "start_warmup", lambda *a: started.append(a))
    loaders.server_start()
    assert started and started[0][0] == "tiny_cnn"


def test_a_sessions_store_drops_its_oldest_results_beyond_its_bounds():
    sys.path.insert(0, str(ROOT))
    try:
        from pages._cells import store_result
    finally:
        sys.path.remove(str(ROOT))
    from leukemia_core.cells.analyze import FoundCells, ImageAnalysis
    from leukemia_core.models.calibration import Calibration

    def result(n_cells: int) -> ImageAnalysis:
        p = np.zeros(n_cells)
        return ImageAnalysis(FoundCells([], np.zeros((n_cells, 8, 8, 3), np.uint8), False), p, p, Calibration(),
                             np.zeros((n_cells, 8, 8), np.float16), np.zeros((n_cells, 8, 8), np.float16))

    one = result(1).nbytes
    assert one == 8 * 8 * 3 + 8 + 2 * 8 * 8 * 2  # crops, P(ALL), both maps
    cache = {}
    for k in range(5):
        store_result(cache, k, result(1), max_entries=3, max_bytes=10 * one)
    assert list(cache) == [2, 3, 4]  # the count bound: oldest out first
    for k in range(5, 8):
        store_result(cache, k, result(2), max_entries=100, max_bytes=5 * one)
    assert list(cache) == [6, 7] and sum(r.nbytes for r in cache.values()) <= 5 * one  # the byte bound
    store_result(cache, 8, result(50), max_entries=100, max_bytes=5 * one)
    assert list(cache) == [8]  # the newest always stays, even alone over the bound
    store_result(cache, 9, result(1), max_entries=100, max_bytes=100 * one)
    store_result(cache, 8, result(1), max_entries=100, max_bytes=100 * one)
    assert list(cache) == [9, 8]  # storing a key again makes it the newest


# --- calls on ONNX Runtime, maps from Keras when ready (cells.analyze, pages/_loaders.py, Classify) ---

@pytest.fixture
def onnx_app_env(app_weights, tmp_path, monkeypatch, navigation_v2):  # noqa: F811 (fixture)
    """The tiny app's weights folder plus the model's ONNX export."""
    import shutil

    from leukemia_core.onnx_export import export_onnx

    wdir = tmp_path / "weights"
    shutil.copytree(app_weights["weights_dir"], wdir)
    export_onnx("tiny_cnn", wdir)
    monkeypatch.setenv("LEUKEMIA_WEIGHTS_DIR", str(wdir))
    monkeypatch.setenv("LEUKEMIA_APP_MODELS", "tiny_cnn")
    return wdir


def test_calls_first_then_maps_give_what_keras_gives(onnx_app_env, samples):
    from leukemia_core.explain import create_explainer
    from leukemia_core.inference import Predictor, load_model
    from leukemia_core.onnx_calls import load_onnx_predictor
    from leukemia_core.reports.inputs import ImageInput, decode
    from leukemia_core.cells.analyze import add_maps, read_calls, read_cells

    onnx_pred = load_onnx_predictor("tiny_cnn", onnx_app_env)
    loaded = load_model("tiny_cnn", onnx_app_env)
    explainer = create_explainer(loaded.model, loaded.cam_layer, "gradcam")
    for s in samples[3:6]:  # Aria fields: several cells
        rgb, _ = decode(ImageInput(s.path.name, s.path.read_bytes()))
        calls, full = read_calls(rgb, onnx_pred), read_cells(rgb, Predictor(loaded), explainer)
        assert not calls.has_maps and full.has_maps and calls.map_of(0, 0.5).max() == 0
        assert calls.nbytes < full.nbytes and calls.notes == full.notes
        assert np.abs(calls.p_all - full.p_all).max() <= 1e-4
        done = add_maps(calls, explainer)
        assert done.has_maps and np.array_equal(done.p_all, calls.p_all)  # the call shown first is kept
        assert np.abs(done.maps_all.astype(float) - full.maps_all).max() <= 1e-2


def test_classify_on_onnx_shows_the_calls_and_then_the_maps(onnx_app_env):
    from streamlit.testing.v1 import AppTest

    from leukemia_core.onnx_calls import load_onnx_predictor
    from leukemia_core.samples import list_samples

    sample = next(s for s in list_samples() if s.dataset == "Aria ALL")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    at.multiselect(key="classify_samples").set_value([sample.title]).run()  # calls, then maps, then a rerun
    assert not at.exception, [e.value for e in at.exception]
    table = next(df.value for df in at.dataframe if "blast %" in df.value.columns)
    a = analyze_file(load_onnx_predictor("tiny_cnn", onnx_app_env), sample.path)
    assert table.loc[0, "P(ALL)"] == round(a.image_p_all, 4) and table.loc[0, "cells"] == a.n_cells
    captions = [c.value for c in at.caption]
    assert sum(c.startswith("cell ") for c in captions) == a.n_cells  # the gallery, with its maps
    assert not any("appears when the maps are ready" in c for c in captions)
