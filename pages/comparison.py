"""Model comparison page: every figure is drawn from the files in the weights folder, on one set
chosen at the top (a test set first), with the role of that set beside each figure."""

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from leukemia_core.paths import default_weights_dir
from leukemia_core.reports.display import bar_values, human_columns
from leukemia_core.reports.facts import model_facts, per_model_table
from leukemia_core.reports.files import (
    BASELINE,
    CURVE_METRICS,
    app_models,
    history_curves,
    load_bench,
    load_cam_check,
    load_history,
    load_reference,
    load_reports,
    report_names,
    report_path,
)
from leukemia_core.reports.scores import accuracy_by_role, metrics_table, reference_label, reference_table, roc_curves
from leukemia_core.reports.sets import (
    LEVEL_NAMES,
    ROLE_NAMES,
    all_set_keys,
    datasets_of,
    first_set,
    role_of,
    role_text,
    set_caption,
    set_label,
    sets_table,
)
from leukemia_core.reports.thresholds import calibration_of
from pages._charts import PLOT_CONFIG, reliability_chart
from pages._messages import plain, role_caption, safe_load, show_error, show_missing
from pages._tables import show_calibration_table, show_summary, show_table

ROLE_COLOURS = {"test": "#4f9d69", "validation": "#e07b39", "training": "#1f5f8b", "unsplit": "#888888",
                "published train": "#1f5f8b", "published validation": "#e07b39"}
LEVEL_COLOURS = {"cells": "#1f5f8b", "images (fields)": "#e07b39", "images, grayscale crops": "#999999"}
BASELINE_NOTE = ("The colour-only baseline (a logistic regression on each cell's colour statistics, fitted on "
                 "the training cells) is scored on the same cells and images as the models.")


def _level() -> str:
    return st.radio("Level of the charts below", ["cells", "images"], horizontal=True, key="comparison_level",
                    format_func=LEVEL_NAMES.get,
                    help="Cells: every white cell found, with its image's label. Images: the image call, from the "
                         "mean P(ALL) of its whole cells (a C-NMC image holds one cell).")


def _metrics(reports: dict, set_key: str, report_set: dict) -> None:
    st.subheader("Cell-level and image-level metrics")
    role_caption(report_set, "Measured")
    table = metrics_table(reports, set_key, levels=("cells", "images", "images, grayscale"))
    long = table[table["level"] != LEVEL_NAMES["images, grayscale"]]
    fig = go.Figure()
    for level, part in long.groupby("level", sort=False):
        ys, texts = bar_values(part["balanced accuracy"])
        fig.add_trace(go.Bar(x=part["model"], y=ys, name=level, text=texts, textposition="outside",
                             marker_color=LEVEL_COLOURS.get(level), customdata=part[["scored"]].to_numpy(),
                             hovertemplate="%{x}: %{text}, %{customdata[0]} scored<extra>" + level + "</extra>"))
    fig.add_hline(y=0.5, line_dash="dash", line_color="grey")
    fig.update_layout(barmode="group", yaxis_tickformat=".0%", yaxis_range=[0, 1.15],
                      yaxis_title="balanced accuracy (%)", legend_title_text="level")
    st.plotly_chart(fig, key="comparison_balanced_chart", config=PLOT_CONFIG)
    st.caption("Balanced accuracy (mean of ALL and HEM recall) per model, cells and images, at each report's own "
               "threshold; dashed line: chance (50%). A bar labelled 0 (zero) has zero height; n/a (undefined) "
               "means a class is missing. "
               + BASELINE_NOTE)
    show_summary(table, key="comparison_metrics_table")
    if LEVEL_NAMES["images, grayscale"] in set(table["level"]):
        st.caption("Images, grayscale crops: the same images with colour removed. A model whose figures drop "
                   "there leans on colour.")


def _prf(reports: dict, set_key: str, report_set: dict, level: str) -> None:
    st.subheader("Precision, recall and F1")
    avg = st.radio("Average", ["ALL class", "weighted"], horizontal=True, key="comparison_average",
                   help="ALL class: ALL is the positive class. Weighted: both classes, weighted by support.")
    tag = "ALL" if avg == "ALL class" else "weighted"
    table = metrics_table(reports, set_key, levels=(level,))
    fig = go.Figure()
    for metric in ("precision", "recall", "F1"):
        ys, texts = bar_values(table[f"{metric} ({tag})"])
        fig.add_trace(go.Bar(x=table["model"], y=ys, name=metric, text=texts, textposition="outside"))
    fig.update_layout(barmode="group", yaxis_tickformat=".0%", yaxis_range=[0, 1.15], yaxis_title="value (%)",
                      legend_title_text="")
    st.plotly_chart(fig, key="comparison_prf_chart", config=PLOT_CONFIG)
    role_caption(report_set, f"{LEVEL_NAMES[level].capitalize()}, at each report's own threshold,")


def _roc(reports: dict, set_key: str, report_set: dict, level: str) -> None:
    st.subheader("ROC curves")
    curves = roc_curves(reports, set_key, level)
    if not curves:
        st.info(f"No ROC curve on {set_key} at the level of {LEVEL_NAMES[level]}: it needs both classes.")
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
    role_caption(report_set, f"From every stored P(ALL) of the {LEVEL_NAMES[level]}")


def _calibration(reports: dict) -> None:
    st.subheader("Calibration, threshold and refer band")
    calibrated = [n for n, r in reports.items() if calibration_of(r)]
    st.caption("Fitted on the validation cells: " + plain(role_text({"key": "x/val", "role": "val"})) + ". "
               "ECE: expected calibration error (10 bins, each dataset and class weighted equally; 0 = "
               "perfect). Cells whose calibrated P(ALL) falls inside the refer band are marked for a person "
               "to look at.")
    show_calibration_table(reports, key="comparison_calibration_table")
    if not calibrated:
        st.info("No model has a calibration yet: evaluate writes one from the validation cells.")
        return
    name = st.selectbox("Reliability plot of", calibrated, key="comparison_calibration_model")
    reliability_chart(reports[name], name, "comparison_reliability_chart")
    st.caption("Reliability on the validation cells (not a test set): each point is a bin of cells; a "
               "calibrated model lies on the diagonal. Marker size: the bin's weight.")


def _by_role(reports: dict, reference: dict | None, level: str) -> None:
    st.subheader("Accuracy on test, validation and training images")
    datasets = datasets_of(reports)
    ds = st.selectbox("Dataset", datasets, key="comparison_dataset")
    has_ref = bool(reference) and reference.get("dataset") == ds
    show_ref = st.toggle("Show the reference system's published figures", key="comparison_reference", value=False,
                         disabled=not has_ref,
                         help=(reference_label(reference) + ". " if reference else "")
                         + "Only for C-NMC (one cell per image); not measured on the same images as ours.")
    df = accuracy_by_role(reports, ds, reference if (has_ref and show_ref) else None, level)
    fig = go.Figure()
    for (source, role), part in df.groupby(["source", "role"], sort=False):
        ours = source == "this project"
        ys, texts = bar_values(part["value"])
        lo, hi = part["low"].astype(float), part["high"].astype(float)  # 95 % Wilson interval (NaN: none)
        err = dict(type="data", array=(hi - part["value"].astype(float)).fillna(0).tolist(),
                   arrayminus=(part["value"].astype(float) - lo).fillna(0).tolist(), visible=ours, thickness=1)
        fig.add_trace(go.Bar(
            x=part["model"], y=ys, name=role, text=texts, textposition="outside", error_y=err,
            marker_color=ROLE_COLOURS.get(role), marker_pattern_shape="" if ours else "/",
            opacity=1.0 if ours else 0.6,
            customdata=part[["set", "scored", "groups"]].astype(object).fillna("n/a").to_numpy(),
            hovertemplate=("%{x}: %{text}<br>set %{customdata[0]}, %{customdata[1]} scored, "
                           "%{customdata[2]} groups<extra>" + role + "</extra>") if ours else
                          "%{x}: %{text}<extra>" + source + "</extra>"))
    fig.update_layout(barmode="group", yaxis_tickformat=".0%", yaxis_range=[0, 1.15], yaxis_title="accuracy (%)",
                      legend_title_text="role")
    st.plotly_chart(fig, key="comparison_accuracy_chart", config=PLOT_CONFIG)
    st.caption(f"Accuracy of the {LEVEL_NAMES[level]} at each report's own threshold, with its 95 % Wilson "
               "interval (the whisker; C-NMC's test set of 48 cells spans about +-14 points). Test: reported only, never "
               "used to choose anything. Validation: chose the epoch, calibrator, threshold and refer band (not a "
               "test set). Training: the weights were fitted on these images.")
    if has_ref and show_ref:
        st.caption(f"Hatched bars: {reference_label(reference)}. {reference.get('note', '')}")
        show_table(reference_table(reference), key="comparison_reference_table", static=True,
                   percent=["published train accuracy", "published validation accuracy"])
    elif reference:
        st.caption(f"The published figures are hidden ({reference_label(reference)}); "
                   + ("turn on the switch above to show them." if has_ref else
                      "they exist for C-NMC only."))


def _curves(names: list[str]) -> None:
    st.subheader("Training curves")
    histories = [safe_load(load_history, n) for n in names]
    if all(h is None or h.empty for h in histories):
        st.info("No training history yet (<model>.history.json is written by training).")
        return
    long = history_curves(histories)
    if long.empty:
        st.info("The training histories hold no curves.")
        return
    options = [m for m in CURVE_METRICS if m in set(long["metric"])]
    options.sort(key=lambda m: ("balanced_accuracy", "score", "accuracy", "auc", "loss", "learning_rate").index(m))
    metric = st.selectbox("Curve", options, key="comparison_curve", format_func=lambda m: m.replace("_", " "))
    long = long[long["metric"] == metric]
    hover = [c for c in ("phase", "epoch", "seconds") if c in long.columns]
    fig = px.line(long, x="step", y="value", color="model", line_dash="subset", markers=True,
                  hover_data=hover, labels={"step": "epoch", "value": metric.replace("_", " "), "subset": "data"})
    st.plotly_chart(fig, key="comparison_curves_chart", config=PLOT_CONFIG)
    st.caption("Training: the training images (augmented). Validation: the validation role, which chose the epoch "
               "kept; score = the figure the epoch was chosen by. Not a test set.")


def _size_speed(names: list[str]) -> None:
    st.subheader("Model size and speed")
    facts = model_facts(names)
    if facts.empty:
        st.info("No model manifests yet, so no sizes to show.")
    else:
        fig = px.bar(facts, x="model", y="parameters", hover_data=["file size (MB)", "input size (px)"],
                     text_auto=".3s", labels={"parameters": "parameters (count)"})
        st.plotly_chart(fig, key="comparison_size_chart", config=PLOT_CONFIG)
        show_table(facts.drop(columns=["description"]), key="comparison_facts", static=True,
                   units={"parameters": "count"})
    bench = per_model_table(safe_load(load_bench))
    if bench.empty:
        show_missing("bench")
    else:
        show_table(human_columns(bench), key="comparison_bench", static=True)
        st.caption("Speed figures from bench.json.")


def render() -> None:
    st.header("Model comparison")
    models = app_models()
    reports, problems = load_reports(report_names(default_weights_dir(), models))
    for p in problems:
        show_error(p)
    absent = [m for m in models if not report_path(m).is_file()]  # present but unreadable: said above
    if not reports:
        st.warning(f"No evaluation reports in {default_weights_dir()} yet, so there are no results to compare.")
        if absent:
            show_missing("report", names=absent)
        if not report_path(BASELINE).is_file():
            show_missing("baseline")
    else:
        if absent:
            show_missing("report", names=absent)
        if not report_path(BASELINE).is_file():
            show_missing("baseline")
        keys = all_set_keys(reports)
        sets = {k: first_set(reports, k) for k in keys}
        set_key = st.selectbox("Set for the figures below (test sets first)", keys, key="comparison_set",
                               format_func=lambda k: set_label(sets[k]))
        st.caption(plain(set_caption(sets[set_key])))
        role = role_of(sets[set_key])
        if role != "test":
            st.warning(f"{set_key} is a {ROLE_NAMES.get(role, role)} set, not a test set: its figures are "
                       f"optimistic.", icon=":material/warning:")
        _metrics(reports, set_key, sets[set_key])
        level = _level()
        _prf(reports, set_key, sets[set_key], level)
        _roc(reports, set_key, sets[set_key], level)
        _calibration(reports)
        reference = safe_load(load_reference)
        _by_role(reports, reference, level)
        st.subheader("What each set is")
        show_table(sets_table(reports), static=True, key="comparison_sets")
    _curves(models)
    _size_speed(models)
    st.subheader("Where the Grad-CAM maps fall")
    cam = per_model_table(safe_load(load_cam_check), models)
    if cam.empty:
        show_missing("cam_check")
    else:
        show_table(human_columns(cam), key="comparison_cam_check", static=True)
        st.caption("Share of each map's energy on the cell's own pixels, on cell crops of the test role, from "
                   "cam_check.json. A share near the cell's area share means the map is spread evenly; a low "
                   "share means the model looks at the background.")


render()
