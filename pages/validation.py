"""Validation page: one model on one set (a test set first): cell- and image-level figures at any
threshold from the stored probabilities, the colour-only baseline on the same set, the model's
calibration, and its mistakes with the cells it read."""

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from leukemia_core.data.images import read_image
from leukemia_core.errors import ImageReadError, LeukemiaCoreError
from leukemia_core.evaluation.metrics import CLASS_NAMES
from leukemia_core.explain import METHODS, method_title
from leukemia_core.explain.overlay import overlay
from leukemia_core.inference import weights_status
from leukemia_core.models.card import report_thresholds
from leukemia_core.models.weights import read_manifest
from leukemia_core.paths import artefact_file, default_weights_dir, weights_dir_label
from leukemia_core.reports.dataset_images import data_hint, resolve_image
from leukemia_core.reports.display import pct
from leukemia_core.reports.files import (
    BASELINE,
    app_models,
    load_report,
    report_is_current,
    report_names,
    report_path,
    short_sha,
)
from leukemia_core.reports.scores import confusion_at, intervals_of, metrics_table, misclassified
from leukemia_core.reports.sets import LEVEL_NAMES, get_set, role_of, set_facts, set_keys, set_label
from leukemia_core.reports.thresholds import calibration_of, refer_band, threshold_text
from pages._charts import PLOT_CONFIG, reliability_chart
from pages._loaders import model_tools, weights_sha
from pages._messages import plain, role_caption, safe_load, show_error, show_missing
from pages._session import effective_threshold, selected_model, threshold
from pages._tables import show_summary, show_table

GALLERY_MAX = 24


def _matrix(m: dict, key: str, level: str) -> None:
    counts, rates = m["counts"], m["rates"]
    text = [[f"{counts[i, j]}<br>{pct(rates[i, j])}" for j in range(2)] for i in range(2)]
    fig = go.Figure(go.Heatmap(z=np.nan_to_num(rates), x=[f"called {c}" for c in CLASS_NAMES],
                               y=[f"true {c}" for c in CLASS_NAMES], text=text, texttemplate="%{text}",
                               textfont={"size": 18}, colorscale="Blues", zmin=0, zmax=1,
                               colorbar={"title": {"text": "share of row (%)"}, "tickformat": ".0%"},
                               hovertemplate="%{y}, %{x}: %{text}<extra>" + level + "</extra>"))
    fig.update_layout(yaxis_autorange="reversed", height=420, margin={"t": 30})
    st.plotly_chart(fig, key=key, config=PLOT_CONFIG)


def _figures(report: dict, report_set: dict, thr: float) -> None:
    """Balanced accuracy, sensitivity, specificity and ROC AUC of cells and images at ``thr``."""
    import pandas as pd

    rows = []
    for level in ("cells", "images"):
        m = confusion_at(report_set, thr, level, report)
        ci = intervals_of(m)
        rows.append({"level": LEVEL_NAMES[level], "scored": m["n"],
                     "threshold": threshold_text(report, level, thr), "balanced accuracy": m["balanced_accuracy"],
                     "sensitivity, ALL recall": m["sensitivity"], "specificity, HEM recall": m["specificity"],
                     "ROC AUC": m["roc_auc"],
                     "95 % intervals (bal. acc.; sens.; spec.)": "; ".join(
                         "–" if ci[k] is None else f"{100 * ci[k][0]:.0f}-{100 * ci[k][1]:.0f} %"
                         for k in ("balanced accuracy", "sensitivity, ALL recall", "specificity, HEM recall"))})
    show_table(pd.DataFrame(rows), key="validation_figures", static=True,
               percent=("balanced accuracy", "sensitivity, ALL recall", "specificity, HEM recall"),
               decimals={"ROC AUC": 3}, units={"scored": "count", "threshold": "P(ALL)", "ROC AUC": "0-1"})
    st.caption("Recomputed from the stored P(ALL) of every cell (with its image's label) and every image; 95 % "
               "intervals: Wilson (balanced accuracy at its effective sample size). An image "
               "of one cell takes its cell's call; an image of several cells is called on the mean P(ALL) of its "
               "whole cells, against the field threshold when the model has one (chosen on validation fields).")


def _beside_baseline(name: str, report: dict, key: str, report_set: dict) -> None:
    st.subheader("Beside the colour-only baseline")
    base = safe_load(load_report, BASELINE) if name != BASELINE else None
    reps = {name: report}
    if base is not None and get_set(base, key) is not None:
        reps[BASELINE] = base
    show_summary(metrics_table(reps, key, levels=("cells", "images", "images, grayscale")),
                 key="validation_baseline_table")
    role_caption(report_set, "Stored figures at each report's own threshold,")
    if name == BASELINE:
        st.caption("This is the colour-only baseline itself.")
    elif base is None:
        if not report_path(BASELINE).is_file():
            show_missing("baseline")
    elif BASELINE not in reps:
        st.caption(f"The colour-only baseline has no {key} set.")
    else:
        st.caption("The baseline reads only the colour of the same cells: a model that does not clearly beat "
                   "it may be reading the stain rather than the cell.")


def _calibration(name: str, report: dict, report_set: dict, thr: float) -> None:
    st.subheader("Calibration and the refer band")
    cal, rt = calibration_of(report), report_thresholds(report)
    if cal is None:
        st.info(f"{name} has no calibration: its probabilities are its own, its threshold "
                f"{rt.threshold}, and it has no refer band.")
        return
    info = cal.get("info") or {}
    band = refer_band(report)
    c = st.columns(4)
    c[0].metric("ECE before calibration", "n/a" if info.get("ece_before") is None else f"{info['ece_before']:.3f}")
    c[1].metric("ECE after calibration", "n/a" if info.get("ece_after") is None else f"{info['ece_after']:.3f}")
    c[2].metric("validated threshold", f"{rt.threshold:.2f}")
    c[3].metric("refer band (P(ALL))", f"{band[0]:.2f}–{band[1]:.2f}" if band else "none")
    reliability_chart(report, name, "validation_reliability_chart")
    st.caption(f"Fitted on the validation cells ({', '.join(info.get('fitted_on') or ['validation role'])}): they "
               "chose the epoch, calibrator, threshold and refer band, so this plot is not a test. ECE: "
               "expected calibration error, 10 bins, each dataset and class weighted equally (0 = perfect).")
    moved = rt.band_at(thr)  # the band around the threshold in use
    if moved:
        from leukemia_core.reports.sets import labels_probs

        _, p = labels_probs(report_set, "cells")
        inside = int(rt.refers(p, thr).sum())
        role_caption(report_set, f"{inside} of {len(p)} cells fall in the refer band around threshold "
                                 f"{thr:.2f} (a person must look at them)")


def _cell_view(full: np.ndarray, tools, thr: float, true: str):
    """The field with its cells outlined in the colour of their call, and the map of the cell that
    argues most for the wrong call."""
    from leukemia_core.cells.draw import draw_cells
    from leukemia_core.cells.analyze import read_cells

    res = read_cells(full, *tools)
    outlined = full if res.whole_image else draw_cells(full, res.cells, res.cell_labels(thr), list(res.refer(thr)))
    i = int(np.argmax(res.p_all) if true == "HEM" else np.argmin(res.p_all))
    crop = overlay(res.crops[i], res.map_of(i, thr), 0.4)
    name = "whole image" if res.whole_image else f"cell {res.cells[i].id}"
    return outlined, crop, f"{name}: P(ALL) {res.p_all[i]:.2f}"


def _gallery(name: str, report: dict, report_set: dict, thr: float) -> None:
    st.subheader("Misclassified images")
    wrong = misclassified(report_set, thr, report)
    st.caption(f"{len(wrong)} of {report_set['n_images']} images called wrongly at threshold "
               f"{threshold_text(report, 'images', thr)}, "
               f"most confident mistakes first.")
    if wrong.empty:
        st.success("No misclassified image in this set at this threshold.")
        return
    table = wrong.drop(columns=["confidence", "part"]).rename(columns={"path": "image", "true": "true class",
                                                              "predicted": "called", "p_all": "P(ALL)",
                                                              "ALL cells": "cells called ALL"})
    table["image"] = [Path(p).name for p in table["image"]]
    show_table(table, key="validation_wrong_table", decimals={"P(ALL)": 3, "threshold": 2},
               units={"P(ALL)": "image mean", "threshold": "P(ALL)", "cells": "count", "cells called ALL": "count"})
    candidates = wrong.head(GALLERY_MAX)
    found = [(row, path) for row, path in zip(candidates.itertuples(),
                                              (resolve_image(p, report.get("data", [])) for p in candidates["path"]))
             if path is not None]
    if not found:  # nothing to draw: no gallery controls either
        st.info(data_hint(report), icon=":material/folder_off:")
        return
    n = st.slider("Images in the gallery", 1, len(found), min(6, len(found)),
                  key="validation_gallery_n") if len(found) > 1 else 1
    with_cam = name != BASELINE and weights_status(name, default_weights_dir()) == "ok"
    method = st.selectbox("Class-activation map", METHODS, format_func=method_title,
                          key="validation_method") if with_cam else None
    if not with_cam:
        st.caption("No cells or class-activation maps: " + ("the colour-only baseline has none." if name == BASELINE
                                                           else f"no trained weights for {name} here."))
    tools = None
    if with_cam:
        try:
            tools = model_tools(name, method)
        except LeukemiaCoreError as exc:
            show_error(exc, "weights", name)
    shown = found[:n]
    for start in range(0, len(shown), 2):
        cols = st.columns(4)
        for k, (row, path) in enumerate(shown[start:start + 2]):
            c_img, c_cam = cols[2 * k], cols[2 * k + 1]
            label = f"{Path(row.path).name}: true {row.true}, called {row.predicted}, P(ALL) {row.p_all:.3f}"
            try:
                full = read_image(path)
            except ImageReadError as exc:
                c_img.caption(plain(str(exc)))
                continue
            if tools is None:
                from leukemia_core.reports.inputs import display_copy

                c_img.image(display_copy(full), caption=label, width="stretch")
                continue
            outlined, crop, crop_label = _cell_view(full, tools, thr, row.true)
            c_img.image(outlined, caption=label + " (red = cell called ALL, blue = HEM)", width="stretch")
            c_cam.image(crop, caption=f"{method_title(method)}, {crop_label}: the cell that argues most "
                                      f"for the wrong call", width="stretch")
    if tools is not None:
        st.caption(f"Cells and maps are computed now, from the shipped weights of {name} "
                   f"(sha256 {short_sha(weights_sha(name)) or 'unknown'}).")


def render() -> None:
    st.header("Validation")
    models = app_models()
    names = report_names(default_weights_dir(), models)
    if not names:
        st.warning(f"No evaluation reports in {weights_dir_label()} yet, so there is nothing to validate.")
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
    labels = {k: set_label(get_set(report, k)) for k in keys}
    key = c2.selectbox("Image set (test sets first)", keys, key="validation_set", format_func=labels.get)
    report_set = get_set(report, key)
    role_caption(report_set, "Every figure on this page is")
    st.caption(plain(set_facts(report_set)))
    if role_of(report_set) != "test":
        st.warning(f"{labels[key]}: not a test set, so its figures are optimistic.", icon=":material/warning:")
    manifest = safe_load(read_manifest, name, missing_ok=True)
    if not report_is_current(report, manifest):
        st.warning(f"This report was made with weights {short_sha(report.get('weights_sha256'))}..., "
                   f"but the current weights are {short_sha(manifest.get('weights_sha256'))}...: re-run "
                   f"the evaluation to refresh it.")
    thr = effective_threshold(report)
    source = ("the sidebar's threshold" if threshold() is not None else
              f"{name}'s validated threshold" if calibration_of(report) else f"{name}'s own threshold")
    _figures(report, report_set, thr)
    level = st.radio("Confusion matrix of", ["cells", "images"], horizontal=True, key="validation_level",
                     format_func=LEVEL_NAMES.get)
    m = confusion_at(report_set, thr, level, report)
    _matrix(m, "validation_confusion_chart", LEVEL_NAMES[level])
    own = report_thresholds(report).stated_threshold
    st.caption(f"Rows: true class; columns: the call at threshold {threshold_text(report, level, thr)} "
               f"({source}). Recomputed from the "
               f"{m['n']} stored P(ALL) of the {LEVEL_NAMES[level]} in {artefact_file(name, 'report')} (a cell carries "
               f"its image's label); the report's own threshold is {'n/a' if own is None else own}.")
    _beside_baseline(name, report, key, report_set)
    _calibration(name, report, report_set, thr)
    _gallery(name, report, report_set, thr)


render()
