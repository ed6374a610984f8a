"""How the dashboard is served: the entry point ``./run app`` starts (warm-up at server start) and
the server's memory bounds (cache sizes, eviction, Score-CAM in cell batches)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from app_fixtures import app_env, app_weights, navigation_v2  # noqa: F401  (fixtures)

from leukemia_core.inference import MAX_EXPLAINERS, SCORECAM_CELLS_PER_CALL, CellBatches

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


class _Recorder:
    """An explainer that records its calls and marks each map with the batch size it was given."""

    def __init__(self):
        self.calls = []
        self.method = "fake"

    def predict_and_explain(self, x, *, class_index):
        self.calls.append((len(x), class_index))
        return x[:, 0, 0, 0].copy(), np.full((len(x), 2, 2), float(len(x)), np.float32)


def test_cell_batches_splits_calls_and_keeps_order():
    inner = _Recorder()
    ex = CellBatches(inner, 4)
    x = np.random.default_rng(0).random((10, 2, 2, 3)).astype(np.float32)
    before = x.copy()
    p, maps = ex.predict_and_explain(x, class_index=1)
    assert inner.calls == [(4, 1), (4, 1), (2, 1)]
    np.testing.assert_array_equal(p, x[:, 0, 0, 0])
    assert maps.shape == (10, 2, 2) and maps[-1].max() == 2.0
    np.testing.assert_array_equal(x, before)  # input untouched
    assert ex.method == "fake"  # everything else is the wrapped explainer's
    inner.calls.clear()
    ex.predict_and_explain(x[:3], class_index=0)
    assert inner.calls == [(3, 0)]


def test_bounds_are_sane():
    assert 1 <= MAX_EXPLAINERS and 1 <= SCORECAM_CELLS_PER_CALL


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


def test_scorecam_explainer_is_served_in_cell_batches(trained_tiny, shared):
    shared, _ = shared
    wdir = str(trained_tiny["weights_dir"])
    ex = shared._explainer("tiny_cnn", wdir, shared.weights_sha("tiny_cnn"), "scorecam")
    assert isinstance(ex, CellBatches) and ex.cells == SCORECAM_CELLS_PER_CALL
    x = np.random.default_rng(2).random((SCORECAM_CELLS_PER_CALL + 1, 32, 32, 3)).astype(np.float32)
    p, maps = ex.predict_and_explain(x, class_index=1)
    assert p.shape == (len(x),) and maps.shape == (len(x), 32, 32)
    assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1


def test_server_start_warms_the_default_model_once(app_env, shared, monkeypatch):
    shared, _ = shared
    started = []
    monkeypatch.setattr(shared, "start_warmup", lambda *a: started.append(a))
    shared.server_start()
    assert started and started[0][0] == "tiny_cnn"
