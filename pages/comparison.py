"""Model comparison page: every figure is drawn from the files in the weights folder."""

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from leukemia_core.reports import (BASELINE, accuracy_by_split, app_models, datasets_of, load_bench,
                                   load_cam_check, load_history, load_reference, load_reports, metrics_table,
                                   model_facts, per_model_table, reference_label, reference_table, report_names,
                                   roc_curves, set_caption, sets_table, weights_dir)
from pages._shared import safe_load, show_error, show_missing, show_table

PLOT_CONFIG = {"displaylogo": False}
SPLIT_COLOURS = {"train": "#1f5f8b", "val": "#e07b39", "test": "#4f9d69"}


def _set_captions(reports: dict, prefix: str = "", key: str = "") -> None:
    """One caption per set shown: what it was measured on (first report holding the set)."""
    seen = set()
    for rep in reports.values():
        for s in rep["sets"]:
            if s["key"] not in seen and s["key"].startswith(prefix) and (not key or s["key"] == key):
                seen.add(s["key"])
                st.caption(set_caption(s))


def _accuracy(reports: dict, reference: dict | None) -> None:
    st.subheader("Accuracy on training and validation images")
    datasets = datasets_of(reports)
    ds = st.selectbox("Dataset", datasets, key="comparison_dataset")
    has_ref = bool(reference) and reference.get("dataset") == ds
    show_ref = st.toggle("Show the reference system's published figures beside ours", key="comparison_reference",
                         value=True, disabled=not has_ref, help="Published on C-NMC 2019 with an unknown split; "
                                                    "not measured on the same images as ours.")
    df = accuracy_by_split(reports, ds, reference if (has_ref and show_ref) else None)
    fig = go.Figure()
    for (source, split), part in df.groupby(["source", "split"], sort=False):
        ours = source == "this project"
        fig.add_trace(go.Bar(
            x=part["model"], y=part["accuracy"], name=f"{split}" + ("" if ours else " (published)"),
            text=[f"{a:.1%}" for a in part["accuracy"]], textposition="outside",
            marker_color=SPLIT_COLOURS.get(split), marker_pattern_shape="" if ours else "/",
            opacity=1.0 if ours else 0.6,
            customdata=part[["set", "images", "groups"]].astype(object).fillna("n/a").to_numpy(),
            hovertemplate="%{x}: %{y:.1%}<br>set %{customdata[0]}, %{customdata[1]} images, "
                          "%{customdata[2]} groups<extra>" + source + "</extra>" if ours else
                          "%{x}: %{y:.1%}<extra>" + source + "</extra>"))
    fig.update_layout(barmode="group", yaxis_tickformat=".0%", yaxis_range=[0, 1.1], yaxis_title="accuracy",
                      legend_title_text="split")
    st.plotly_chart(fig, key="comparison_accuracy_chart", config=PLOT_CONFIG)
    _set_captions(reports, prefix=ds + "/")
    if has_ref and show_ref:
        st.caption(f"Hatched bars: {reference_label(reference)}. {reference.get('note', '')}")


def _prf(reports: dict, set_key: str) -> None:
    st.subheader("Precision, recall and F1")
    avg = st.radio("Average", ["ALL class", "weighted"], horizontal=True, key="comparison_average",
                   help="ALL class: ALL is the positive class. Weighted: both classes, weighted by support.")
    tag = "ALL" if avg == "ALL class" else "weighted"
    table = metrics_table(reports, set_key)
    cols = {f"precision ({tag})": "precision", f"recall ({tag})": "recall", f"F1 ({tag})": "F1"}
    long = table[["model", *cols]].rename(columns=cols).melt("model", var_name="metric", value_name="value")
    fig = px.bar(long, x="model", y="value", color="metric", barmode="group", text_auto=".2f")
    fig.update_layout(yaxis_range=[0, 1.05], legend_title_text="")
    st.plotly_chart(fig, key="comparison_prf_chart", config=PLOT_CONFIG)
    st.caption(f"Measured on {set_key}, at each report's own threshold. The colour-only baseline "
               f"({BASELINE}) is a row like any model.")
    show_table(table.drop(columns=["set"]), key="comparison_metrics_table", decimals3=["ROC AUC"],
               percent=[c for c in table.columns
                        if c not in ("model", "set", "held out", "images", "groups", "threshold", "ROC AUC")])


def _roc(reports: dict, set_key: str) -> None:
    st.subheader("ROC curves")
    curves = roc_curves(reports, set_key)
    if not curves:
        st.info(f"No ROC curve on {set_key}: it needs images of both classes.")
        return
    fig = go.Figure()
    for name, c in curves.items():
        auc = f" (AUC {c['auc']:.3f})" if c.get("auc") is not None else ""
        fig.add_trace(go.Scatter(x=c["fpr"], y=c["tpr"], mode="lines", name=f"{name}{auc}",
                                 line={"dash": "dot" if name == BASELINE else "solid"}))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"color": "grey", "dash": "dash"}))
    fig.update_layout(xaxis_title="false-positive rate (1 - specificity)", yaxis_title="sensitivity (ALL recall)",
                      xaxis_range=[0, 1], yaxis_range=[0, 1.02])
    st.plotly_chart(fig, key="comparison_roc_chart", config=PLOT_CONFIG)
    st.caption("From every image's stored P(ALL) in the reports.")


def _curves(names: list[str]) -> None:
    st.subheader("Training curves")
    frames = []
    for n in names:
        h = safe_load(load_history, n)
        if h is not None and not h.empty:
            frames.append(h)
    if not frames:
        st.info("No training history yet (<model>.history.json is written by training).")
        return
    hist = pd.concat(frames, ignore_index=True)
    options = [m for m in ("balanced_accuracy", "accuracy", "loss", "auc", "learning_rate") if m in hist.columns]
    metric = st.selectbox("Curve", options, key="comparison_curve", format_func=lambda m: m.replace("_", " "))
    parts = [hist.assign(subset="training", value=hist[metric])]
    if f"val_{metric}" in hist.columns:
        parts.append(hist.assign(subset="validation", value=hist[f"val_{metric}"]))
    long = pd.concat(parts, ignore_index=True).dropna(subset=["value"])
    fig = px.line(long, x="step", y="value", color="model", line_dash="subset", markers=True,
                  hover_data=["phase", "epoch", "seconds"], labels={"step": "epoch", "value": metric})
    st.plotly_chart(fig, key="comparison_curves_chart", config=PLOT_CONFIG)


def _size_speed(names: list[str]) -> None:
    st.subheader("Model size and speed")
    facts = model_facts(names)
    if facts.empty:
        st.info("No model manifests yet, so no sizes to show.")
    else:
        fig = px.bar(facts, x="model", y="parameters", hover_data=["file MB", "input size"], text_auto=".3s")
        st.plotly_chart(fig, key="comparison_size_chart", config=PLOT_CONFIG)
        st.dataframe(facts.drop(columns=["description"]), hide_index=True, key="comparison_facts")
    bench = per_model_table(safe_load(load_bench))
    if bench.empty:
        show_missing("bench")
    else:
        st.dataframe(bench, hide_index=True, key="comparison_bench")
        st.caption("Speed figures from bench.json.")


def render() -> None:
    st.header("Model comparison")
    models = app_models()
    reports, problems = load_reports(report_names(weights_dir(), models))
    for p in problems:
        show_error(p)
    if not reports:
        st.warning(f"No evaluation reports in {weights_dir()} yet, so there are no results to compare.")
        show_missing("report", names=models)
        show_missing("baseline")
    else:
        lacking = [m for m in models if m not in reports]
        if lacking:
            show_missing("report", names=lacking)
        if BASELINE not in reports:
            show_missing("baseline")
        st.subheader("What each set is")
        st.dataframe(sets_table(reports), hide_index=True, key="comparison_sets")
        reference = safe_load(load_reference)
        _accuracy(reports, reference)
        keys = list(dict.fromkeys(s["key"] for r in reports.values() for s in r["sets"] if s.get("held_out")))
        keys = keys or list(dict.fromkeys(s["key"] for r in reports.values() for s in r["sets"]))
        keys.sort(key=lambda k: not k.startswith("cnmc/"))
        set_key = st.selectbox("Set for the metrics and ROC curves below", keys, key="comparison_set")
        _set_captions(reports, key=set_key)
        _prf(reports, set_key)
        _roc(reports, set_key)
        if reference:
            st.subheader("Published figures of the reference system")
            st.caption(f"{reference_label(reference)}. {reference.get('note', '')}")
            show_table(reference_table(reference), percent=["train accuracy", "validation accuracy"],
                       key="comparison_reference_table")
    _curves(models)
    _size_speed(models)
    st.subheader("Where the Grad-CAM maps fall")
    cam = per_model_table(safe_load(load_cam_check), models)
    if cam.empty:
        show_missing("cam_check")
    else:
        st.dataframe(cam, hide_index=True, key="comparison_cam_check")
        st.caption("Share of Grad-CAM energy on the cells (Aria held-out fields, the dataset's segmented "
                   "masks), from cam_check.json. A low share means the model looks at the background.")


render()
