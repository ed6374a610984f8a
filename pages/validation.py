"""Validation page: confusion matrix at any threshold, from stored probabilities; the mistakes, with CAMs."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from leukemia_core.errors import ImageReadError, LeukemiaCoreError
from leukemia_core.explain import METHODS, overlay
from leukemia_core.images import read_image
from leukemia_core.inference import weights_status
from leukemia_core.metrics import CLASS_NAMES
from leukemia_core.reports import (BASELINE, CAM_METHOD_NAMES, app_models, confusion_at, data_hint, display_copy,
                                   explain_image, get_set, heatmap_on_image, load_manifest, load_report,
                                   misclassified, report_is_current, report_names, resolve_image, set_caption,
                                   set_keys, short_sha, weights_dir)
from pages._shared import model_tools, pct, safe_load, selected_model, show_error, show_missing, threshold

GALLERY_MAX = 24


def _matrix(m: dict, key: str) -> None:
    counts, rates = m["counts"], m["rates"]
    text = [[f"{counts[i, j]}<br>{pct(rates[i, j])}" for j in range(2)] for i in range(2)]
    fig = go.Figure(go.Heatmap(z=np.nan_to_num(rates), x=[f"called {c}" for c in CLASS_NAMES],
                               y=[f"true {c}" for c in CLASS_NAMES], text=text, texttemplate="%{text}",
                               textfont={"size": 18}, colorscale="Blues", zmin=0, zmax=1,
                               colorbar={"title": {"text": "rate in row"}, "tickformat": ".0%"},
                               hovertemplate="%{y}, %{x}: %{text}<extra></extra>"))
    fig.update_layout(yaxis_autorange="reversed", height=420, margin={"t": 30})
    st.plotly_chart(fig, key=key, config={"displaylogo": False})


def _gallery(name: str, report: dict, report_set: dict, thr: float) -> None:
    st.subheader("Misclassified images")
    wrong = misclassified(report_set, thr)
    st.caption(f"{len(wrong)} of {report_set['n_images']} images called wrongly at threshold {thr:.2f}, "
               f"most confident mistakes first.")
    if wrong.empty:
        st.success("No misclassified image in this set at this threshold.")
        return
    st.dataframe(wrong.drop(columns=["confidence"]), hide_index=True, key="validation_wrong_table",
                 column_config={"p_all": st.column_config.NumberColumn("P(ALL)", format="%.3f")})
    n = st.slider("Images in the gallery", 1, min(GALLERY_MAX, len(wrong)), min(6, len(wrong)),
                  key="validation_gallery_n") if len(wrong) > 1 else 1
    shown = wrong.head(n)
    paths = [resolve_image(p, report.get("data", [])) for p in shown["path"]]
    if not any(paths):
        st.info(data_hint(report), icon=":material/folder_off:")
        return
    with_cam = name != BASELINE and weights_status(name, weights_dir()) == "ok"
    method = st.selectbox("Class-activation map", METHODS, format_func=CAM_METHOD_NAMES.get,
                          key="validation_method") if with_cam else None
    if not with_cam:
        st.caption("No class-activation map: " + ("the colour-only baseline has none." if name == BASELINE
                                                  else f"no trained weights for {name} here."))
    tools = None
    if with_cam:
        try:
            tools = model_tools(name, method)
        except LeukemiaCoreError as exc:
            show_error(exc, "weights", name)
    for start in range(0, len(shown), 2):
        cols = st.columns(4)
        for k, (row, path) in enumerate(zip(shown.iloc[start:start + 2].itertuples(), paths[start:start + 2])):
            c_img, c_cam = cols[2 * k], cols[2 * k + 1]
            label = f"true {row.true}, called {row.predicted}, P(ALL) {row.p_all:.3f}"
            if path is None:
                c_img.caption(f"Not found here: {row.path}")
                continue
            try:
                full = read_image(path)
            except ImageReadError as exc:
                c_img.caption(str(exc))
                continue
            rgb = display_copy(full)
            c_img.image(rgb, caption=label, width="stretch")
            if tools is not None:
                _, cam = explain_image(full, *tools)
                pic = overlay(rgb, heatmap_on_image(cam, rgb.shape[:2]), 0.4)
                c_cam.image(pic, caption=f"{CAM_METHOD_NAMES[method]}, {row.group}", width="stretch")
    st.caption("Maps are computed now, from the weights in " + str(weights_dir()) + ".")


def render() -> None:
    st.header("Validation")
    models = app_models()
    names = report_names(weights_dir(), models)
    if not names:
        st.warning(f"No evaluation reports in {weights_dir()} yet, so there is nothing to validate.")
        show_missing("report", selected_model() or "proposed")
        return
    first = selected_model() if selected_model() in names else names[0]
    c1, c2 = st.columns(2)
    name = c1.selectbox("Model", names, index=names.index(first), key="validation_model")
    report = safe_load(load_report, name)
    if report is None:
        return
    keys = set_keys(report)
    if not keys:
        st.warning(f"The report of {name} holds no image sets.")
        return
    held = {s["key"]: s.get("held_out") for s in report["sets"]}
    key = c2.selectbox("Image set", keys, key="validation_set",
                       format_func=lambda k: k if held.get(k) else f"{k} (training images)")
    report_set = get_set(report, key)
    st.caption(set_caption(report_set))
    manifest = safe_load(load_manifest, name)
    if not report_is_current(report, manifest):
        st.warning(f"This report was made with weights {short_sha(report.get('weights_sha256'))}..., "
                   f"but the current weights are {short_sha(manifest.get('weights_sha256'))}...: re-run "
                   f"the evaluation to refresh it.")
    thr = threshold()
    if thr is None:  # each model's own threshold, chosen on validation cells
        thr = float(report.get("threshold", 0.5))
    m = confusion_at(report_set, thr)
    cols = st.columns(5)
    for col, (label, value) in zip(cols, [("accuracy", m["accuracy"]), ("balanced accuracy", m["balanced_accuracy"]),
                                          ("sensitivity (ALL)", m["sensitivity"]),
                                          ("specificity (HEM)", m["specificity"]), ("ROC AUC", m["roc_auc"])]):
        col.metric(label, pct(value) if label != "ROC AUC" else ("n/a" if value is None else f"{value:.3f}"))
    _matrix(m, "validation_confusion_chart")
    st.caption(f"Rows: true class; columns: the call at threshold {thr:.2f} (the sidebar's slider). Recomputed "
               f"from the {m['n']} per-image probabilities stored in {name}.report.json; the report's own "
               f"threshold was {report.get('threshold', 'n/a')}.")
    _gallery(name, report, report_set, thr)


render()
