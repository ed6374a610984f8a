"""What several pages share: cached models and explainers, the sidebar's choices, messages.

Cached objects (``st.cache_resource``) are shared by every session of the server: they are only
read, never changed. The cache keys include the weights file's sha256 from the manifest, so new
weights are picked up without a restart.
"""

from __future__ import annotations

import re

import streamlit as st

from leukemia_core.errors import LeukemiaCoreError
from leukemia_core.reports import app_models, default_model, how_to_make, missing_what, weights_dir

#: Session-state keys of the sidebar widgets (set in app.py).
MODEL_KEY = "app_model"
THRESHOLD_KEY = "app_threshold"
DEFAULT_THRESHOLD = 0.5

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


def plain(text: str) -> str:
    """Escape Markdown so that text from a file name or message shows as typed."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def selected_model() -> str | None:
    """The model chosen in the sidebar (default ``proposed``)."""
    return st.session_state.get(MODEL_KEY) or default_model(app_models())


#: Session-state key of the "each model's validated threshold" toggle (set in app.py).
OWN_THRESHOLD_KEY = "app_own_threshold"


def threshold() -> float | None:
    """The decision threshold on calibrated P(ALL) chosen in the sidebar, or None for each
    model's own threshold (chosen on validation cells)."""
    if st.session_state.get(OWN_THRESHOLD_KEY, True):
        return None
    return float(st.session_state.get(THRESHOLD_KEY, DEFAULT_THRESHOLD))


def weights_sha(name: str) -> str:
    """The sha256 the model's manifest records ("" when there is no readable manifest)."""
    from leukemia_core.reports import load_manifest

    try:
        man = load_manifest(name) or {}
    except LeukemiaCoreError:
        return ""
    return str(man.get("weights_sha256", ""))


@st.cache_resource(show_spinner="Loading the model ...", max_entries=8)
def _load(name: str, wdir: str, sha: str):
    from leukemia_core.inference import load_model

    return load_model(name, wdir)


@st.cache_resource(show_spinner=False, max_entries=8)
def _predictor(name: str, wdir: str, sha: str):
    from leukemia_core.inference import Predictor

    return Predictor(_load(name, wdir, sha))


@st.cache_resource(show_spinner="Preparing the class-activation maps ...", max_entries=24)
def _explainer(name: str, wdir: str, sha: str, method: str):
    from leukemia_core.reports import make_explainer

    return make_explainer(_load(name, wdir, sha), method)


def model_tools(name: str, method: str):
    """``(predictor, explainer)`` for ``name``, built once per server and reused.

    Raises:
        WeightsError: weights or manifest missing or altered.
    """
    wdir, sha = str(weights_dir()), weights_sha(name)
    return _predictor(name, wdir, sha), _explainer(name, wdir, sha, method)


def show_missing(kind: str, name: str = "", names: list[str] | None = None) -> None:
    """A warning that a file is missing, with the command(s) that produce it.

    With ``names``, one warning lists every model missing that kind of file.
    """
    names = names or [name]
    if len(names) > 1:
        thing = {"weights": "trained weights", "report": "evaluation report"}.get(kind, kind)
        what = f"No {thing} yet in {weights_dir()} for: {', '.join(names)}."
    else:
        what = missing_what(kind, names[0])
    st.warning(plain(what), icon=":material/info:")
    st.code("\n".join(how_to_make(kind, n or "NAME") for n in names), language="bash")


def show_error(exc: Exception, kind: str = "", name: str = "") -> None:
    """A readable error (never a stack trace), with the command that fixes it when known."""
    st.error(plain(str(exc)), icon=":material/error:")
    if kind:
        st.code(how_to_make(kind, name or "NAME"), language="bash")


def pct(x) -> str:
    """``0.8749`` -> ``"87.5%"``; ``"n/a"`` for a missing value."""
    try:
        if x is None or x != x:
            return "n/a"
        return f"{100 * float(x):.1f}%"
    except (TypeError, ValueError):
        return "n/a"


def safe_load(loader, *args):
    """``loader(*args)``; an unreadable file shows its message and gives None (the page goes on)."""
    try:
        return loader(*args)
    except LeukemiaCoreError as exc:
        show_error(exc)
        return None


def show_table(df, percent=(), decimals3=(), key: str | None = None, **kwargs) -> None:
    """``st.dataframe`` with ratio columns shown as percentages (one decimal), sortable by value."""
    shown = df.copy()
    config = {}
    for c in percent:
        if c in shown.columns:
            shown[c] = shown[c].astype(float) * 100
            config[c] = st.column_config.NumberColumn(c, format="%.1f%%")
    for c in decimals3:
        if c in shown.columns:
            config[c] = st.column_config.NumberColumn(c, format="%.3f")
    config.update(kwargs.pop("column_config", {}))
    st.dataframe(shown, hide_index=True, key=key, column_config=config, **kwargs)


@st.cache_resource(show_spinner=False)
def start_warmup(name: str, wdir: str, sha: str):
    """Load ``name`` and compile its Grad-CAM path in a background thread, once per server.

    The first visitor's page renders meanwhile; when they ask for a prediction, the cached
    loaders hand over the same objects (or wait for the thread to finish building them). Errors
    are left for the page to report when the user asks, so the thread swallows them.
    """
    import threading

    def work() -> None:
        try:
            _predictor(name, wdir, sha)
            _explainer(name, wdir, sha, "gradcam").warm()
        except Exception:  # noqa: BLE001 - reported by the page on use
            pass

    thread = threading.Thread(target=work, name="model-warmup", daemon=True)
    thread.start()
    return thread


def warm_up(name: str | None) -> None:
    """Start :func:`start_warmup` for ``name`` when its weights are present."""
    from leukemia_core.inference import weights_status

    if name and weights_status(name, weights_dir()) == "ok":
        start_warmup(name, str(weights_dir()), weights_sha(name))
