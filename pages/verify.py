"""Verify at your lab: the lab's own labelled cells through the models (sensitivity, specificity,
PPV, NPV, balanced accuracy with 95 % intervals, ROC AUC, ROC curve, reliability, confusion
matrix, beside the model's own validation figures), the lab's acceptance criteria, how many cells
are enough, and a site calibration fitted on one part of the cells and reported on the other,
saved as a site profile for the sidebar. The computations are leukemia_core.verification's."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from leukemia_core.data.images import IMAGE_SUFFIXES
from leukemia_core.errors import LeukemiaCoreError
from leukemia_core.inference import weights_status
from leukemia_core.models.card import report_thresholds
from leukemia_core.paths import default_weights_dir
from leukemia_core.reports.files import app_models
from leukemia_core.verification.html import build_html
from leukemia_core.verification.profile import save_profile
from leukemia_core.verification.report import TARGET_WIDTH, figure_table, to_csv
from leukemia_core.verification.run import run_verify
from leukemia_core.stats import MIN_PER_CLASS
from leukemia_core.verification.study import read_labelled
from pages._adapt import render_adapt
from pages._charts import PLOT_CONFIG
from pages._loaders import loaded_model
from pages._messages import plain, show_error
from pages._session import PROFILE_KEY, selected_model, site_profile
from pages._tables import show_table

RESULT_KEY = "verify_result"
TYPES = [s.lstrip(".") for s in IMAGE_SUFFIXES]


def _records():
    """The lab's labelled images from the uploads (read from memory) and/or a folder on this server."""
    uploads = {label: [(f.name, f.getvalue()) for f in st.session_state.get(f"verify_{label}") or []]
               for label in ("all", "hem")}
    folder = (st.session_state.get("verify_folder") or "").strip()
    paths = [Path(folder).expanduser()] if folder else []
    csv_path = (st.session_state.get("verify_csv") or "").strip() or None
    return read_labelled(paths, csv_path, uploads=uploads), [folder] if folder else ["uploaded images"]


def _inputs() -> None:
    st.markdown("**1. The lab's labelled cells** (cells it has already classified by hand)")
    c1, c2 = st.columns(2)
    c1.file_uploader("ALL (leukemic blast) images", type=TYPES, accept_multiple_files=True, key="verify_all")
    c2.file_uploader("HEM (normal) images", type=TYPES, accept_multiple_files=True, key="verify_hem")
    with st.expander("... or a folder or label CSV on this server"):
        st.text_input("Folder of labelled images (all/, hem/; C-NMC or Aria layout)", key="verify_folder")
        st.text_input("CSV of file names and labels (file,label[,group]; all/hem or 1/0)", key="verify_csv",
                      help="Files are relative to the CSV's folder. A group column (patient, slide) keeps a "
                           "patient's cells on one side of the site calibration's split.")


def _settings(ready: list[str]) -> dict:
    st.markdown("**2. Models and acceptance criteria**")
    c1, c2, c3, c4 = st.columns(4)
    first = selected_model()
    models = c1.multiselect("Models", ready, default=[first] if first in ready else ready[:1], key="verify_models")
    se = c2.number_input("Minimum sensitivity", 0.0, 1.0, 0.90, 0.01, key="verify_min_se",
                         help="The lab's acceptance criterion (e.g. the vendor's claim); 0 = none.")
    sp = c3.number_input("Minimum specificity", 0.0, 1.0, 0.90, 0.01, key="verify_min_sp")
    level = c4.selectbox("Criteria on", ["cell", "image"], key="verify_level")
    c1, c2, c3 = st.columns(3)
    name = c1.text_input("Site profile name", value="my lab", key="verify_profile_name",
                         help="The site calibration is saved under this name for the sidebar.")
    share = c2.slider("Share of cells to fit the site calibration on", 0.3, 0.7, 0.5, 0.05, key="verify_share",
                      help="Whole patients (or files) go to one part; the figures after calibration are on the other.")
    width = c3.number_input("Target interval width", 0.02, 0.5, TARGET_WIDTH, 0.01, key="verify_width",
                            help="Full width of the 95 % interval of sensitivity and specificity you aim at "
                                 "(0.10 = ±5 points).")
    return {"models": models, "min_sensitivity": se or None, "min_specificity": sp or None, "level": level,
            "profile_name": name.strip() or "site", "fit_share": share, "width": width}


def _run(cfg: dict) -> None:
    # the sidebar's site profile, when it is one of these models' (refused for other weights)
    # (a site model on an encoder is no model's: the Adapt tab studies it, this study does not)
    used = [st.session_state[PROFILE_KEY]] if any((p := site_profile(m)) is not None and not p.reads_with_encoder
                                                  for m in cfg["models"]) else []
    records, data = _records()
    bar = st.progress(0.0, text=f"Reading {len(records)} images ...")
    n = len(cfg["models"])

    def progress(model, done, total):
        k = cfg["models"].index(model)
        bar.progress((k + done / total) / n, text=f"{model}: {done} of {total} images")

    loaded = {m: loaded_model(m) for m in cfg["models"]}
    res = run_verify(cfg["models"], records, default_weights_dir(), data, used, cfg["min_sensitivity"],
                     cfg["min_specificity"], cfg["level"], cfg["fit_share"], 0, cfg["profile_name"],
                     progress=progress, loaded_models=loaded)
    bar.empty()
    res.report["sample_size"] = _resized(res.report, records, cfg["width"])
    st.session_state[RESULT_KEY] = res


def _resized(report: dict, records, width: float) -> dict:
    from leukemia_core.verification.report import sample_size

    first = next(iter(report["models"].values()))["all"]
    return sample_size(records, first, width, report["criteria"].get("level", "cell"))


def _charts(figs: dict, before: dict | None, after: dict | None, key: str) -> None:
    """ROC of the lab's cells and images; reliability under the stored calibration, or (with a site
    calibration) stored and site on the same held-out part."""
    import plotly.graph_objects as go

    c1, c2 = st.columns(2)
    roc = go.Figure()
    roc.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dash", "color": "grey"}, name="chance"))
    roc.add_trace(go.Scatter(x=figs["cell"]["roc"]["fpr"], y=figs["cell"]["roc"]["tpr"], mode="lines",
                             name=f"cells (AUC {figs['cell']['roc_auc']['value'] or 0:.3f})"))
    roc.add_trace(go.Scatter(x=figs["image"]["roc"]["fpr"], y=figs["image"]["roc"]["tpr"], mode="lines",
                             name=f"images (AUC {figs['image']['roc_auc']['value'] or 0:.3f})"))
    roc.update_layout(xaxis_title="1 - specificity", yaxis_title="sensitivity", height=380, margin={"t": 30},
                      title="ROC on the lab's cells")
    c1.plotly_chart(roc, key=f"{key}_roc", config=PLOT_CONFIG)
    rel = go.Figure()
    rel.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dash", "color": "grey"},
                             name="perfectly calibrated"))
    curves = (("stored calibration", figs),) if after is None else (("stored calibration (held-out part)", before),
                                                                      ("site calibration (held-out part)", after))
    for name, f in curves:
        if f:
            bins = f["cell"]["reliability"]
            rel.add_trace(go.Scatter(x=[b["mean_p"] for b in bins], y=[b["observed"] for b in bins],
                                     mode="lines+markers", name=name))
    rel.update_layout(xaxis_title="predicted P(ALL)", yaxis_title="observed share of ALL cells", height=380,
                      margin={"t": 30}, xaxis_range=[0, 1], yaxis_range=[0, 1.02], title="Reliability (cells)")
    c2.plotly_chart(rel, key=f"{key}_rel", config=PLOT_CONFIG)
    c2.caption("Calibrated P(ALL) answers at even odds (both classes weighted equally when it was fitted): where "
               "the lab's cells are mostly ALL, the observed share lies above the diagonal.")


def _figures(figs: dict, key: str) -> None:
    cols = st.columns(2)
    for col, level in zip(cols, ("cell", "image")):
        with col:
            st.markdown(f"**{level.capitalize()} level** ({figs[level]['n']} {level}s)")
            show_table(_frame(figure_table(figs, level)), key=f"{key}_{level}", static=True,
                       decimals={"value": 3, "low": 3, "high": 3})
            (tn, fp), (fn, tp) = figs[level]["confusion_matrix"]
            st.caption(f"Confusion matrix (true → called): HEM → HEM {tn}, HEM → ALL {fp}, ALL → HEM {fn}, "
                       f"ALL → ALL {tp}.")


def _frame(rows):
    import pandas as pd

    return pd.DataFrame(rows)


def _model(model: str, res: dict, prof) -> None:
    st.subheader(model + (f" · site profile {res['profile']}" if res.get("profile") else ""))
    acc = res["acceptance"]
    if acc["met"] is not None:
        text = "; ".join(f"{c['figure']} {c['value'] or 0:.3f} (95 % lower bound {c['low'] or 0:.3f}) vs minimum "
                         f"{c['minimum']:.3f}: {'met' if c['met'] else 'not met'}" for c in acc["criteria"])
        (st.success if acc["met"] else st.error)(f"Acceptance criteria {'met' if acc['met'] else 'not met'}: {text}")
    _figures(res["all"], f"verify_{model}")
    sc = res.get("site_calibration") or {}
    _charts(res["all"], sc.get("before"), sc.get("after"), f"verify_{model}")
    st.markdown("**The model's own validation figures** (its evaluation report), for comparison")
    if res["validation"]:
        names = {"key": "set", "role_text": "role of the data", "cell_balanced_accuracy": "cell bal. acc.",
                 "cell_roc_auc": "cell ROC AUC", "image_balanced_accuracy": "image bal. acc.",
                 "image_roc_auc": "image ROC AUC", "n_images": "images"}
        show_table(_frame(res["validation"])[list(names)].rename(columns=names), key=f"verify_{model}_val",
                   static=True, decimals3=("cell bal. acc.", "cell ROC AUC", "image bal. acc.", "image ROC AUC"))
    else:
        st.caption("No evaluation report for this model.")
    st.markdown("**Site calibration**")
    if "error" in sc:
        st.warning(plain(f"Not fitted: {sc['error']}"), icon=":material/info:")
        return
    s, rt = sc["split"], report_thresholds(sc)
    st.caption(f"Fitted on {s['fit_images']} images ({s['fit_groups']} groups), reported on the other "
               f"{s['report_images']} ({s['report_groups']} groups, grouped by {', '.join(s['grouped_by'])}): what "
               f"the lab will get. Site threshold {rt.threshold:.2f}, refer band ±{rt.refer_half_width:.2f}.")
    rows = [{"level": lvl, "figure": k.replace("_", " "), "stored": sc["before"][lvl][k]["value"],
             "stored 95 % interval": _iv(sc["before"][lvl][k]), "site": sc["after"][lvl][k]["value"],
             "site 95 % interval": _iv(sc["after"][lvl][k])}
            for lvl in ("cell", "image") for k in ("sensitivity", "specificity", "balanced_accuracy")]
    show_table(_frame(rows), key=f"verify_{model}_site", static=True, decimals={"stored": 3, "site": 3})
    flags = (sc["before"].get("ood_flagged"), sc["after"].get("ood_flagged"))
    if flags[0] is not None:
        st.caption(f"Fields flagged 'outside the training stain': {flags[0]:.0%} stored, {flags[1] or 0:.0%} with "
                   "the lab's colour reference.")
    if prof is not None:
        c1, c2 = st.columns(2)
        if c1.button(f"Save site profile '{prof.name}' for {model}", key=f"verify_save_{model}"):
            path = save_profile(prof)
            st.success(plain(f"Saved as {path.name}; choose it in the sidebar (Site profile) to use it."))
        c2.download_button("Download the site profile (JSON)", json.dumps(prof.to_json(), indent=1),
                           file_name=prof.file_name, mime="application/json", key=f"verify_dl_{model}",
                           on_click="ignore")


def _iv(v: dict) -> str:
    return "n/a" if v["low"] is None else f"{v['low']:.3f} – {v['high']:.3f}"


def _sample_size(ss: dict) -> None:
    st.subheader("How many cells are enough")
    for lab, v in ss["classes"].items():
        width = "n/a" if v["width"] is None else f"{v['width']:.3f}"
        st.markdown(f"- **{lab.upper()}**: {v['n']} cells ({v['images']} images): the 95 % interval of "
                    f"{v['figure']} is {width} wide; a width of {ss['target_width']:.2f} needs about "
                    f"**{v['needed']}** cells of this class (at the observed {v['expected']:.2f}).")
    if ss["warning"]:
        st.warning(plain(ss["warning"]), icon=":material/warning:")
    st.caption(f"Below {MIN_PER_CLASS} cells per class the page warns. Cells of one image or patient are not "
               "independent: count patients too.")


def render() -> None:
    st.header("Verify at your lab")
    st.caption("A lab bringing in a digital morphology analyser verifies it on its own slides first (ICSH 2014; "
               "CLSI EP12): run cells it has already classified by hand and check sensitivity and specificity "
               "against the claims. A threshold does not carry between labs: a few dozen cells of the lab's own can "
               "carry it (site calibration). Uploads are read from memory; nothing is written to the server's disk.")
    ready = [m for m in app_models() if weights_status(m, default_weights_dir()) == "ok"]
    if not ready:
        st.warning("No trained model weights yet: nothing to verify.")
        return
    _inputs()
    cfg = _settings(ready)
    verify_tab, adapt_tab = st.tabs(["Verify the models", "Adapt: a site model of the lab's own"])
    with adapt_tab:
        render_adapt(ready, {"min_sensitivity": cfg["min_sensitivity"], "min_specificity": cfg["min_specificity"],
                             "level": cfg["level"]})
    with verify_tab:
        _verify(cfg)


def _verify(cfg: dict) -> None:
    if st.button("Run verification", type="primary", key="verify_run", disabled=not cfg["models"]):
        try:
            _run(cfg)
        except LeukemiaCoreError as exc:
            show_error(exc)
            st.session_state.pop(RESULT_KEY, None)
    res = st.session_state.get(RESULT_KEY)
    if res is None:
        st.info("Add labelled images of both classes (at least 20 cells of each), then run the verification.")
        return
    rep = res.report
    st.caption(f"{rep['images']['all']} ALL and {rep['images']['hem']} HEM images; {len(rep['skipped'])} could not "
               "be read" + (": " + "; ".join(plain(s['path'].split('/')[-1]) for s in rep['skipped'][:5])
                            if rep["skipped"] else "."))
    _sample_size(rep["sample_size"])
    for model, r in rep["models"].items():
        st.divider()
        _model(model, r, res.profiles.get(model))
    st.divider()
    c1, c2, c3 = st.columns(3)
    c1.download_button("Download report (HTML, prints to PDF)", build_html(rep), file_name="verification.html",
                       mime="text/html", key="verify_html", on_click="ignore")
    c2.download_button("Download figures (CSV)", to_csv(rep), file_name="verification.csv", mime="text/csv",
                       key="verify_csv_dl", on_click="ignore")
    c3.download_button("Download report (JSON)", json.dumps(rep, indent=1, default=str), file_name="verification.json",
                       mime="application/json", key="verify_json", on_click="ignore")
    st.caption("Saved site profiles go to the server's site-profile folder (LEUKEMIA_SITE_PROFILES).")


render()
