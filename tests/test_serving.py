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
