"""The server's cached models, predictors and explainers, and the warm-up that builds them early.

Cached objects (``st.cache_resource``) are shared by every session of the server: they are only
read, never changed. The cache keys include the weights file's sha256 from the manifest, so new
weights are picked up without a restart.
"""

from __future__ import annotations

import threading

import streamlit as st

from leukemia_core.errors import LeukemiaCoreError
from leukemia_core.inference import MAX_EXPLAINERS, MAX_MODELS, release_memory  # the server's memory bounds (see there)
from leukemia_core.paths import default_weights_dir
from leukemia_core.reports.files import app_models, default_model


def safe_manifest(name: str) -> dict:
    """The model's manifest ({} when there is no readable manifest)."""
    from leukemia_core.models.weights import read_manifest

    try:
        return read_manifest(name, missing_ok=True) or {}
    except LeukemiaCoreError:
        return {}


def weights_sha(name: str) -> str:
    """The sha256 the model's manifest records ("" when there is no readable manifest)."""
    return str(safe_manifest(name).get("weights_sha256", ""))


@st.cache_resource(show_spinner="Loading the model ...", max_entries=MAX_MODELS, on_release=lambda _: release_memory())
def _load(name: str, wdir: str, sha: str):
    from leukemia_core.inference import load_model

    return load_model(name, wdir)


@st.cache_resource(show_spinner=False, max_entries=MAX_MODELS)
def _predictor(name: str, wdir: str, sha: str):
    from leukemia_core.inference import Predictor

    return Predictor(_load(name, wdir, sha))


#: Methods whose explainer compiles a ``tf.function`` (Grad-CAM's one-pass path): the cached
#: explainer is traced once when it is built (:meth:`~leukemia_core.explain.Explainer.warm`).
COMPILED_METHODS = ("gradcam",)


@st.cache_resource(show_spinner="Preparing the class-activation maps ...", max_entries=MAX_EXPLAINERS,
                   on_release=lambda _: release_memory())
def _explainer(name: str, wdir: str, sha: str, method: str):
    from leukemia_core.explain import create_explainer

    loaded = _load(name, wdir, sha)
    explainer = create_explainer(loaded.model, loaded.cam_layer, method)
    if method in COMPILED_METHODS:
        # compiled here, inside the cached call, so that a page asking for this explainer while the
        # server's warm-up builds it waits for that one trace instead of tracing a second time
        explainer.warm()
    _MAPS_BUILT.add((name, wdir, sha, method))
    return explainer


def loaded_model(name: str):
    """``name``'s loaded model from the server's cache (shared by sessions: only read, never changed).

    Raises:
        WeightsError: weights or manifest missing or altered.
    """
    return _load(name, str(default_weights_dir()), weights_sha(name))


@st.cache_resource(show_spinner=False, max_entries=MAX_MODELS)
def _onnx(name: str, wdir: str, sha: str, onnx_sha: str):
    from leukemia_core.onnx_calls import load_onnx_predictor

    pred = load_onnx_predictor(name, wdir)
    pred.warm()  # the session's first run allocates its buffers
    return pred


def onnx_predictor(name: str):
    """The ONNX Runtime predictor of ``name`` (calls without TensorFlow), built once per server;
    None when the model has no current ONNX export (then calls and maps come from Keras)."""
    from leukemia_core.models.card import read_onnx_record
    from leukemia_core.onnx_calls import onnx_enabled, onnx_status

    wdir = default_weights_dir()
    man = safe_manifest(name)
    if not onnx_enabled() or onnx_status(name, wdir, man) != "ok":
        return None
    onnx_sha = read_onnx_record(name, wdir).get("sha256", "")
    return _onnx(name, str(wdir), str(man.get("weights_sha256", "")), str(onnx_sha))


#: (name, weights folder, sha, method) of the explainers built: until then the ONNX calls show alone.
_MAPS_BUILT: set = set()


def maps_ready(name: str, method: str) -> bool:
    """Whether ``name``'s explainer for ``method`` has been built (TensorFlow loaded, graph traced)."""
    return (name, str(default_weights_dir()), weights_sha(name), method) in _MAPS_BUILT


def model_tools(name: str, method: str):
    """``(predictor, explainer)`` for ``name``, built once per server and reused.

    Raises:
        WeightsError: weights or manifest missing or altered.
    """
    wdir, sha = str(default_weights_dir()), weights_sha(name)
    return _predictor(name, wdir, sha), _explainer(name, wdir, sha, method)


#: Set by the Classify page once it has shown calls: the warm-up then starts TensorFlow (maps).
FIRST_CALLS = threading.Event()
#: Longest the warm-up waits for a first call before loading TensorFlow anyway (seconds).
TF_WAIT_S = 4.0


@st.cache_resource(show_spinner=False)
def start_warmup(name: str, wdir: str, sha: str):
    """Load ``name`` and compile its Grad-CAM path in a background thread, once per server.

    The first visitor's page renders meanwhile; when they ask for a prediction, the cached
    loaders hand over the same objects (or wait for the thread to finish building them). Errors
    are left for the page to report when the user asks, so the thread swallows them. Only the
    Grad-CAM pass is compiled: the Classify page reads cells through the explainer
    (P(ALL) and the map in one pass), so the predictor's own forward pass is not traced here.
    """
    def work() -> None:
        try:
            from leukemia_core.tfstartup import import_tensorflow

            if onnx_predictor(name) is not None:
                # calls come from ONNX Runtime (ready in well under a second); TensorFlow's import
                # would take the two cores from the first page and its first call, so it waits for
                # that call (or TF_WAIT_S) and then loads the maps
                FIRST_CALLS.wait(TF_WAIT_S)
            else:
                import_tensorflow()
                _predictor(name, wdir, sha)
            import_tensorflow()
            _explainer(name, wdir, sha, "gradcam")  # built and compiled once (COMPILED_METHODS)
        except Exception:  # noqa: BLE001 - reported by the page on use
            pass

    thread = threading.Thread(target=work, name="model-warmup", daemon=True)
    thread.start()
    return thread


def warm_up(name: str | None) -> None:
    """Start :func:`start_warmup` for ``name`` when its weights are present."""
    from leukemia_core.inference import weights_status

    wdir = default_weights_dir()
    if name and weights_status(name, wdir) == "ok":
        start_warmup(name, str(wdir), weights_sha(name))


def server_start() -> None:
    """What the server does when it starts (``serve.py``), before any visitor: start
    :func:`warm_up` for the default model, so that TensorFlow's import, the model and its
    Grad-CAM trace are under way (or done) when the first visitor asks for a call."""
    warm_up(default_model(app_models()))


@st.cache_resource(show_spinner="Loading the site model ...", max_entries=MAX_EXPLAINERS,
                   on_release=lambda _: release_memory())
def _site_tools(path: str, created: str, name: str, wdir: str, sha: str, method: str):
    from leukemia_core.adaptation.serve import encoder_loaded
    from leukemia_core.explain import create_explainer
    from leukemia_core.inference import Predictor
    from leukemia_core.verification.profile import apply_profile, load_profile

    prof = load_profile(path)
    loaded = encoder_loaded(prof) if prof.reads_with_encoder else apply_profile(_load(name, wdir, sha), prof)
    return Predictor(loaded), create_explainer(loaded.model, loaded.cam_layer, method)


def site_tools(profile_path: str, profile, name: str, method: str):
    """``(predictor, explainer)`` reading with the site model ``profile`` (its head in place of
    ``name``'s, or its encoder), built once per server and per site model.

    Raises:
        WeightsError: weights or encoder missing or altered.
    """
    return _site_tools(str(profile_path), profile.created, name, str(default_weights_dir()), weights_sha(name), method)
