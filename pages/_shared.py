"""What several pages share: cached models and explainers, the sidebar's choices, messages.

Cached objects (``st.cache_resource``) are shared by every session of the server: they are only
read, never changed. The cache keys include the weights file's sha256 from the manifest, so new
weights are picked up without a restart.
"""

from __future__ import annotations

import re
import threading

import streamlit as st

from leukemia_core.errors import LeukemiaCoreError
from leukemia_core.inference import MAX_EXPLAINERS, MAX_MODELS, release_memory  # the server's memory bounds (see there)
from leukemia_core.models.calibration import DEFAULT_THRESHOLD
from leukemia_core.paths import default_weights_dir
from leukemia_core.reports.files import app_models, default_model, how_to_make, missing_what

#: Session-state keys of the sidebar widgets (set in app.py).
MODEL_KEY = "app_model"
THRESHOLD_KEY = "app_threshold"

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


#: Session-state key of the sidebar's site profile (a profile file's path; "" = the stored calibration).
PROFILE_KEY = "app_site_profile"


def profile_choices(model: str) -> tuple[dict[str, str], list[str]]:
    """``({label: path}, [refusal messages])``: the site profiles usable with ``model``'s current
    weights, and why the others of that model (or unreadable files) are left out."""
    from leukemia_core.verification.profile import ProfileError, list_profiles

    sha, ok, refused = weights_sha(model), {}, []
    for path, prof in list_profiles(model=model):
        if isinstance(prof, str):
            refused.append(prof)
            continue
        try:
            prof.check(model, sha)
        except ProfileError as exc:
            refused.append(str(exc))
            continue
        ok[f"{prof.name} ({path.name})"] = str(path)
    return ok, refused


def site_profile(model: str):
    """The site profile chosen in the sidebar when it is ``model``'s, else None (stored calibration).

    Raises:
        ProfileError: the chosen file is unreadable or was fitted on other weights of ``model``.
    """
    from leukemia_core.verification.profile import load_profile

    path = st.session_state.get(PROFILE_KEY) or ""
    if not path:
        return None
    prof = load_profile(path)
    if prof.model != model:
        return None
    prof.check(model, weights_sha(model))
    return prof


def result_tag(model: str) -> str:
    """What a stored result of ``model`` depends on besides the image: the weights' sha256 and the
    site profile in use (its name and creation time), so a new choice is never served an old result."""
    try:
        prof = site_profile(model)
    except LeukemiaCoreError:
        prof = None
    return weights_sha(model) + (f"|profile:{prof.name}|{prof.created}" if prof else "")


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
    from leukemia_core.onnx_calls import onnx_enabled, onnx_status

    wdir = default_weights_dir()
    man = safe_manifest(name)
    if not onnx_enabled() or onnx_status(name, wdir, man) != "ok":
        return None
    return _onnx(name, str(wdir), str(man.get("weights_sha256", "")), str(man["onnx"].get("sha256", "")))


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


def show_missing(kind: str, name: str = "", names: list[str] | None = None) -> None:
    """A warning that a file is missing, with the command(s) that produce it.

    With ``names``, one warning lists every model missing that kind of file.
    """
    names = names or [name]
    if len(names) > 1:
        thing = {"weights": "trained weights", "report": "evaluation report"}.get(kind, kind)
        what = f"No {thing} yet in {default_weights_dir()} for: {', '.join(names)}."
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


def safe_load(loader, *args, **kwargs):
    """``loader(*args, **kwargs)``; an unreadable file shows its message and gives None (the page goes on)."""
    try:
        return loader(*args, **kwargs)
    except LeukemiaCoreError as exc:
        show_error(exc)
        return None


def show_table(df, percent=(), decimals=None, units=None, key: str | None = None, static: bool = False,
               decimals3=(), help: dict | None = None, **kwargs) -> None:  # noqa: A002 (Streamlit's word)
    """A table for people (see :func:`leukemia_core.reports.display_table`): ratio columns as
    percentages with "(%)" in the name, units in the names, "n/a" for missing values, never "None".

    ``static``: ``st.table`` (every column and line shown in full, for short tables with long
    text); else ``st.dataframe``, sortable by value, with each column sized to its content.
    ``help``: a tooltip per column (original name).
    """
    from leukemia_core.reports.display import display_table, shown_name

    dec = dict(decimals or {})
    dec.update({c: 3 for c in decimals3})
    shown, formats = display_table(df, percent, dec, units)
    if static:  # st.table has no column formats: print the numbers
        for c, f in formats.items():
            shown[c] = [f % v for v in shown[c]]
        st.table(shown)
        return
    config = {c: st.column_config.NumberColumn(c, format=f) for c, f in formats.items()}
    for col, text in (help or {}).items():
        name = shown_name(col, percent, units)
        if name in formats:
            config[name] = st.column_config.NumberColumn(name, format=formats[name], help=text)
        elif name in shown.columns:
            config[name] = st.column_config.Column(name, help=text)
    config.update(kwargs.pop("column_config", {}))
    st.dataframe(shown, hide_index=True, key=key, column_config=config, **kwargs)


def effective_threshold(report: dict) -> float:
    """The sidebar's threshold, or (with "each model's validated threshold") the report's own."""
    thr = threshold()
    return float(report.get("threshold", DEFAULT_THRESHOLD)) if thr is None else thr


def role_caption(report_set: dict, what: str = "") -> None:
    """A caption naming a figure's set and its role (validation: not a test set)."""
    from leukemia_core.reports.sets import role_text

    lead = f"{what} on " if what else ""
    st.caption(f"{lead}{plain(report_set['key'])}, {plain(role_text(report_set))}.")


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


PLOT_CONFIG = {"displaylogo": False}


def reliability_chart(report: dict, name: str, key: str) -> bool:
    """Plotly reliability diagram of ``report``'s calibration (validation cells, before and after),
    with the threshold and the refer band; False (nothing drawn) when the model is not calibrated."""
    import plotly.graph_objects as go

    from leukemia_core.reports.thresholds import calibration_of, refer_band, reliability_frame

    cal = calibration_of(report)
    bins = reliability_frame({name: report})
    if cal is None or bins.empty:
        return False
    info = cal.get("info") or {}
    fig = go.Figure()
    band = refer_band(report)
    if band:
        fig.add_vrect(x0=band[0], x1=band[1], fillcolor="#f2c14e", opacity=0.25, line_width=0,
                      annotation_text="refer band", annotation_position="top left")
    thr = float(report.get("threshold", cal.get("threshold", DEFAULT_THRESHOLD)))
    fig.add_vline(x=thr, line_dash="dot", line_color="#555", annotation_text=f"threshold {thr:.2f}",
                  annotation_position="bottom right")
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                             line={"color": "grey", "dash": "dash"}))
    styles = {"before calibration": ("#e07b39", "ece_before"), "after calibration": ("#1f5f8b", "ece_after")}
    for stage, part in bins.groupby("stage", sort=False):
        colour, field = styles.get(stage, ("#333", ""))
        ece = info.get(field)
        fig.add_trace(go.Scatter(
            x=part["mean P(ALL)"], y=part["observed ALL share"], mode="lines+markers",
            name=f"{stage} (ECE {ece:.3f})" if ece is not None else stage, line={"color": colour},
            marker={"size": 6 + 20 * part["weight"].fillna(0).to_numpy()}, customdata=part[["cells"]].to_numpy(),
            hovertemplate="mean P(ALL) %{x:.2f}, observed ALL share %{y:.2f}, %{customdata[0]} cells"
                          "<extra>" + stage + "</extra>"))
    fig.update_layout(xaxis_title="predicted P(ALL) (bin mean)", yaxis_title="observed share of ALL cells",
                      xaxis_range=[0, 1], yaxis_range=[0, 1.02], height=420, margin={"t": 30})
    st.plotly_chart(fig, key=key, config=PLOT_CONFIG)
    return True


#: How summary tables (:func:`leukemia_core.reports.summary_table`) are shown.
SUMMARY_PERCENT = ("accuracy", "balanced accuracy", "sensitivity", "specificity", "F1 ALL")
SUMMARY_UNITS = {"scored": "count", "ROC AUC": "0-1", "threshold": "P(ALL)"}


def show_summary(table, key: str, static: bool = True) -> None:
    """A :func:`~leukemia_core.reports.metrics_table`'s summary columns, short names with tooltips."""
    from leukemia_core.reports.scores import SUMMARY_HELP, summary_table

    show_table(summary_table(table), key=key, static=static, percent=SUMMARY_PERCENT,
               decimals={"ROC AUC": 3}, units=SUMMARY_UNITS, help=SUMMARY_HELP)


def show_calibration_table(reports: dict, key: str) -> None:
    """The calibration table (threshold, field threshold, refer band, ECE) of the given reports."""
    from leukemia_core.reports.thresholds import calibration_table

    show_table(calibration_table(reports), key=key, static=True,
               percent=["balanced accuracy at threshold", "refer share"],
               decimals={"threshold": 2, "ECE before": 3, "ECE after": 3},
               units={"threshold": "P(ALL)", "field threshold": "P(ALL)", "refer band": "P(ALL)",
                      "ECE before": "0-1", "ECE after": "0-1", "validation cells": "count"})
