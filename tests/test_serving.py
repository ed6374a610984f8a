"""How the dashboard is served: the entry point ``./run app`` starts (warm-up at server start) and
the server's memory bounds (cache sizes, eviction)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

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
def shared(monkeypatch):
    sys.path.insert(0, str(ROOT))
    import streamlit as st

    import pages._shared as shared

    st.cache_resource.clear()
    released = []
    monkeypatch.setattr(shared, "release_memory", lambda *a: released.append(1))
    yield shared, released
    st.cache_resource.clear()
    sys.path.remove(str(ROOT))


def test_explainer_cache_evicts_and_releases(trained_tiny, shared):
    shared, released = shared
    wdir = str(trained_tiny["weights_dir"])
    sha = shared.weights_sha("tiny_cnn")
    first = shared._explainer("tiny_cnn", wdir, sha, "gradcam")
    assert shared._explainer("tiny_cnn", wdir, sha, "gradcam") is first  # cached, built once
    x = np.random.default_rng(1).random((2, 32, 32, 3)).astype(np.float32)
    p0, m0 = first.predict_and_explain(x, class_index=1)
    # more explainers than the bound (other weights hashes stand for other models)
    for k in range(MAX_EXPLAINERS):
        shared._explainer("tiny_cnn", wdir, f"{sha}-{k}", "gradcam")
    assert released, "an explainer over the bound is evicted and memory released"
    assert shared._explainer("tiny_cnn", wdir, sha, "gradcam") is not first  # the oldest was evicted
    p1, m1 = first.predict_and_explain(x, class_index=1)  # an evicted object still works, unchanged
    np.testing.assert_allclose(p0, p1, rtol=1e-5)
    np.testing.assert_allclose(m0, m1, atol=1e-5)


def test_server_start_warms_the_default_model_once(app_env, shared, monkeypatch):
    shared, _ = shared
    started = []
    monkeypatch.setattr(shared, "start_warmup", lambda *a: started.append(a))
    shared.server_start()
    assert started and started[0][0] == "tiny_cnn"


def test_a_sessions_store_drops_its_oldest_results_beyond_its_bounds():
    sys.path.insert(0, str(ROOT))
    try:
        from pages._cells import CellResult, store_result
    finally:
        sys.path.remove(str(ROOT))

    def result(n_cells: int) -> CellResult:
        return CellResult([], np.zeros((n_cells, 8, 8, 3), np.uint8), np.zeros(n_cells),
                          np.zeros((n_cells, 8, 8), np.float16), np.zeros((n_cells, 8, 8), np.float16), False)

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
