"""The "Adapt" part of Verify at your lab: a site model fitted on part of the lab's labelled cells
(a head of the lab's own on a served model's or a pretrained encoder's frozen features), its study
on the other part, the learning curve, and saving it for the sidebar. Uploads stay in memory.
The computations are leukemia_core.adaptation's."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from leukemia_core.data.datasets import Record
from leukemia_core.errors import LeukemiaCoreError
from leukemia_core.verification.profile import save_profile
from leukemia_core.verification.study import check_classes, read_labelled
from pages._charts import PLOT_CONFIG
from pages._messages import plain, show_error
from pages._tables import show_table

RESULT_KEY = "adapt_result"


@st.cache_resource(show_spinner="Loading the pretrained encoder ...", max_entries=1)
def _encoder(name: str, wdir: str):
    from leukemia_core.adaptation.features import encoder_source

    return encoder_source(name, wdir)


def _source(name: str):
    from leukemia_core.adaptation.encoders import list_encoders
    from leukemia_core.adaptation.features import served_source
    from leukemia_core.paths import default_weights_dir
    from pages._loaders import loaded_model

    if name in list_encoders():
        return _encoder(name, str(default_weights_dir()))
    return served_source(loaded_model(name))


def _group(name: str, label: str) -> str:
    """The patient of a C-NMC-style file name (its cells stay on one side of the split), else the file."""
    from leukemia_core.data.datasets import cnmc_patient
    from leukemia_core.errors import DatasetLayoutError

    try:
        return cnmc_patient(Path(name).name)
    except DatasetLayoutError:
        return f"file-{label}-{Path(name).name}"


def _records():
    """The lab's labelled images: uploads (bytes kept in memory, by a path-like name) and/or a
    folder or label CSV on the server. Returns ``(records, blobs, data names)``."""
    records, blobs = [], {}
    for label in ("all", "hem"):
        for f in st.session_state.get(f"verify_{label}") or []:
            key = f"upload/{label}/{Path(f.name).name}"
            n = 1
            while key in blobs:  # two uploads of one name: both kept (identical bytes are counted once later)
                n += 1
                key = f"upload/{label}/{Path(f.name).stem} ({n}){Path(f.name).suffix}"
            blobs[key] = f.getvalue()
            records.append(Record(Path(key), label, _group(f.name, label), "upload", "unsplit", "upload"))
    folder = (st.session_state.get("verify_folder") or "").strip()
    csv_path = (st.session_state.get("verify_csv") or "").strip() or None
    if folder or csv_path:
        records += read_labelled([Path(folder).expanduser()] if folder else [], csv_path)
    check_classes(records)
    return records, blobs, ([Path(folder).name] if folder else []) + (["uploaded images"] if blobs else [])


def _settings(ready: list[str]) -> dict:
    from leukemia_core.adaptation.encoders import encoder_status, list_encoders

    encoders = [e for e in list_encoders() if encoder_status(e) == "ok"]
    c1, c2, c3 = st.columns(3)
    base = c1.selectbox("Features from", encoders + ready, key="adapt_base",
                        format_func=lambda n: (f"{n} (ImageNet encoder, frozen)" if n in encoders
                                               else f"{n} (served model)"),
                        help="The head reads these frozen features. A pretrained encoder read another lab's blasts "
                             "better than our models' own features (see docs/adaptation.md).")
    rule = c2.selectbox("Labelled cell of each image", ["centre", "all"], key="adapt_rule",
                        format_func=lambda r: {"centre": "the cell nearest the centre (single-cell images)",
                                               "all": "every whole cell (fields labelled as a whole)"}[r])
    name = c3.text_input("Site model name", value="my lab", key="adapt_name")
    save_failed = st.checkbox("Keep a site model that fails the criteria (it is marked as failed wherever it is shown)",
                              key="adapt_save_failed")
    return {"base": base, "rule": rule, "name": name.strip() or "site", "save_failed": save_failed}


def _run(cfg: dict, criteria: dict) -> None:
    from leukemia_core.adaptation.study import run_adapt

    records, blobs, data = _records()
    source = _source(cfg["base"])
    stored = source.loaded.calibration if source.loaded is not None else None
    bar = st.progress(0.0, text=f"Reading {len(records)} images ...")
    res = run_adapt(source, records, cfg["name"], rule=cfg["rule"], blobs=blobs, stored=stored, data=data,
                    progress=lambda d, t: bar.progress(d / t, text=f"{cfg['base']}: {d} of {t} images"),
                    **criteria)
    bar.empty()
    st.session_state[RESULT_KEY] = res


def _curve(curve: list[dict]) -> None:
    import plotly.graph_objects as go

    fig = go.Figure()
    for key, name in (("roc_auc", "ROC AUC"), ("balanced_accuracy", "balanced accuracy")):
        fig.add_trace(go.Scatter(
            x=[c["k"] for c in curve], y=[c[key] for c in curve], mode="lines+markers", name=name,
            error_y={"type": "data", "symmetric": False, "array": [c[f"{key}_high"] - c[key] for c in curve],
                     "arrayminus": [c[key] - c[f"{key}_low"] for c in curve]}))
    fig.update_layout(xaxis_title="labelled images per class the head was fitted on",
                      yaxis_title="on the held-out cells",
                      yaxis_range=[0.3, 1.02], height=360, margin={"t": 30}, title="Learning curve")
    st.plotly_chart(fig, key="adapt_curve", config=PLOT_CONFIG)


def _show(res, save_failed: bool) -> None:
    import pandas as pd

    from leukemia_core.adaptation.html import build_html

    rep, prof = res.report, res.profile
    s = rep["split"]
    met = rep["acceptance"]["met"]
    text = {True: "met", False: "NOT met", None: "none given"}[met]
    (st.error if met is False else st.success if met else st.info)(
        f"Site model '{prof.name}' on {rep['base']['name']}: acceptance criteria {text}.")
    st.caption(f"Fitted on {s['fit_images']} images ({s['fit_groups']} groups); studied on the other "
               f"{s['report_images']} images ({s['report_groups']} groups, {s['report_cells']} cells) that the fit "
               f"never saw. {len(rep['skipped'])} image(s) not used" +
               (": " + "; ".join(plain(f"{Path(x['path']).name} ({x['reason']})") for x in rep["skipped"][:5])
                if rep["skipped"] else "."))
    rows = []
    for key, label in (("sensitivity", "sensitivity (ALL)"), ("specificity", "specificity (HEM)"),
                       ("balanced_accuracy", "balanced accuracy"), ("roc_auc", "ROC AUC")):
        a = rep["after"]["cell"][key]
        b = (rep.get("before") or {}).get("cell", {}).get(key)
        row = {"figure (held-out cells)": label, "site model": a["value"],
               "95 % interval": "n/a" if a["low"] is None else f"{a['low']:.3f} – {a['high']:.3f}"}
        if b is not None:  # a served model: its own head and stored calibration on the same cells
            row["the model's own head"] = b["value"]
        rows.append(row)
    show_table(pd.DataFrame(rows), key="adapt_figs", static=True,
               decimals={"site model": 3, "the model's own head": 3})
    _curve(rep["learning_curve"])
    st.markdown(f"**{plain(rep['advice'])}**")
    c1, c2, c3 = st.columns(3)
    allowed = met is not False or save_failed
    if c1.button(f"Save site model '{prof.name}'", key="adapt_save", disabled=not allowed,
                 help=None if allowed else "It failed the lab's criteria: tick 'Keep a site model that fails' first."):
        path = save_profile(prof)
        st.success(plain(f"Saved as {path.name}; choose it in the sidebar (Site profile or site model)."))
    c2.download_button("Download the study (HTML, prints to PDF)", build_html(rep), file_name="adaptation.html",
                       mime="text/html", key="adapt_html", on_click="ignore")
    c3.download_button("Download the site model (JSON)", json.dumps(prof.to_json(), indent=1),
                       file_name=prof.file_name, mime="application/json", key="adapt_dl", on_click="ignore")


def render_adapt(ready: list[str], criteria: dict) -> None:
    """The Adapt part: settings, run, result."""
    st.caption("A head of the lab's own, fitted on part of its labelled cells and studied on the rest. Where our "
               "models rank another lab's blasts wrongly, a calibration cannot help (it keeps the order); a new "
               "head on frozen features can. The learning curve says whether more labelled cells would help.")
    cfg = _settings(ready)
    if st.button("Fit and study the site model", type="primary", key="adapt_run"):
        try:
            _run(cfg, criteria)
        except LeukemiaCoreError as exc:
            show_error(exc)
            st.session_state.pop(RESULT_KEY, None)
    got = st.session_state.get(RESULT_KEY)
    if got is None:
        st.info("Add labelled images of both classes (at least 5 of each; 20 or more give a useful study).")
        return
    _show(got, cfg["save_failed"])
