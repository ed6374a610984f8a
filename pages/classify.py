"""Classify page: upload images or pick samples; every white cell is found, outlined, called and
explained; the image is summed up (cells, blast %, cells to refer)."""

import datetime as dt

import cv2
import numpy as np
import streamlit as st

from leukemia_core.cells.analyze import BLAST_LIMIT_PCT, ImageCells, add_maps, read_calls, read_cells
from leukemia_core.cells.draw import draw_cells
from leukemia_core.data.images import IMAGE_SUFFIXES
from leukemia_core.errors import LeukemiaCoreError
from leukemia_core.explain import METHODS, method_title
from leukemia_core.explain.overlay import COLORMAPS, overlay
from leukemia_core.inference import weights_status
from leukemia_core.models.calibration import DEFAULT_THRESHOLD
from leukemia_core.models.lymphoid import differential_text
from leukemia_core.models.weights import read_manifest
from leukemia_core.paths import default_weights_dir, weights_dir_label
from leukemia_core.reports.casereport import ReportImage, batch_summary, build_case_report, model_info
from leukemia_core.reports.display import size_across
from leukemia_core.reports.files import app_models, load_report
from leukemia_core.reports.inputs import ImageInput, decode, display_copy, unique_inputs
from leukemia_core.samples import list_samples
from pages._cells import consensus, results_table, store_result, summary_row
from leukemia_core.verification.profile import profile_label, profile_summary
from pages._loaders import FIRST_CALLS, maps_ready, model_tools, onnx_predictor, site_tools
from pages._messages import plain, show_error, show_missing
from pages._session import PROFILE_KEY, result_tag, selected_model, site_profile, site_profile_or_none, threshold
from pages._tables import MISSING

PAGE_SIZE = 6
CACHE_KEY = "classify_results"
REPORT_KEY = "classify_case_report"
CALL_COLOURS = {"ALL": "red", "HEM": "blue", "NO CALL": "gray"}
GALLERY_COLUMNS = 8
GALLERY_SIDE = 128
#: Rough Score-CAM cost per (image, model) on two cores, for the warning shown before it runs.
SCORECAM_SECONDS_PER_IMAGE = 20




def _inputs() -> list[ImageInput]:
    uploads = st.file_uploader("Upload microscope images (BMP, PNG, JPEG, TIFF)",
                               type=[s.lstrip(".") for s in IMAGE_SUFFIXES], accept_multiple_files=True,
                               key="classify_uploads",
                               help="Kept in memory for this session only; nothing is written to disk.")
    samples = {s.title: s for s in list_samples()}
    picked = st.multiselect("... or add bundled sample images (real held-out images, true label in the name)",
                            list(samples), key="classify_samples")
    items = [ImageInput(f.name, f.getvalue()) for f in uploads or []]
    items += [ImageInput(samples[t].path.name, samples[t].path.read_bytes()) for t in picked]
    items, repeats = unique_inputs(items)
    for name, first in repeats:
        st.info(plain(f"{name} is the same image as {first} (same sha256): read and counted once."),
                icon=":material/content_copy:")
    return items


def _run(items: list[ImageInput], models: list[str], method: str) -> dict[tuple[int, str], object]:
    """Read every (image, model) not done yet in this session, cell by cell; results by (item, model).

    Results (cells, P(ALL), both maps per cell) stay in this session's state, so moving the
    threshold or a slider re-labels them without running a model; the decoded images are not kept.
    """
    cache = st.session_state.setdefault(CACHE_KEY, {})
    shas = {m: result_tag(m) for m in models}  # weights and site profile
    profiles = {m: site_profile(m) for m in models}
    out: dict[tuple[int, str], object] = {}
    todo = sum(1 for it in items for m in models if (it.digest, m, shas[m], method) not in cache)
    bar = st.progress(0.0, text="Finding and classifying cells ...") if todo else None
    done = 0
    for i, it in enumerate(items):
        keys = {m: (it.digest, m, shas[m], method) for m in models}
        rgb, err = (None, "") if all(k in cache for k in keys.values()) else decode(it)
        if err:
            for m in models:
                out[(i, m)] = err
            continue
        cells = ImageCells(rgb) if rgb is not None else None  # found once for every model
        for m, key in keys.items():
            if key not in cache:
                cal, prof = (profiles[m].calibration, profile_label(profiles[m])) if profiles[m] else (None, None)
                fast = onnx_predictor(m)  # calls on ONNX Runtime when exported; maps need TensorFlow
                if profiles[m] is not None and profiles[m].is_site_model:  # the lab's own head (adapt)
                    predictor, explainer = site_tools(st.session_state[PROFILE_KEY], profiles[m], m, method)
                    store_result(cache, key, read_cells(rgb, predictor, explainer, None, prof, cells))
                elif fast is not None:
                    res = read_calls(rgb, fast, cal, prof, cells)
                    store_result(cache, key, add_maps(res, model_tools(m, method)[1]) if maps_ready(m, method) else res)
                else:
                    predictor, explainer = model_tools(m, method)
                    store_result(cache, key, read_cells(rgb, predictor, explainer, cal, prof, cells))
                done += 1
                bar.progress(done / todo, text=f"Classifying: {done} of {todo} ({m})")
            out[(i, m)] = cache[key]
    if bar is not None:
        bar.empty()
    return out


def _gallery(res, thr: float, alpha: float, cmap: str, model: str, method: str) -> None:
    """Cell crops sorted by P(ALL), each with the map of its call, P(ALL) and a refer mark."""
    order = np.argsort(-res.p_all, kind="stable")  # ties keep the cells' reading order
    refer = res.refer(thr)
    labels, reasons = res.outcomes(thr)
    cols = st.columns(GALLERY_COLUMNS)
    for k, i in enumerate(order):
        crop = cv2.resize(res.crops[i], (GALLERY_SIDE, GALLERY_SIDE), interpolation=cv2.INTER_CUBIC)
        pic = overlay(crop, cv2.resize(res.map_of(i, thr), (GALLERY_SIDE, GALLERY_SIDE)), alpha, cmap)
        call, why = labels[i], reasons[i]
        name = "whole image" if res.whole_image else f"cell {res.cells[i].id}"
        mark = (f" · {why}" if why else "") + (" · **refer**" if refer[i] and not why else "")
        with cols[k % GALLERY_COLUMNS]:
            st.image(pic, width="stretch")
            size = size_across(res.size_of(i))
            st.caption(f"{name}: :{CALL_COLOURS[call]}[**{call}**] {res.p_all[i]:.2f}{mark}{size}")
            if float(res.map_of(i, thr).max()) == 0.0:
                st.caption("Empty map: nothing in this crop raised the score of its call.")
    bar = overlay(np.zeros((12, 256, 3), np.uint8), np.tile(np.linspace(0, 1, 256, dtype=np.float32), (12, 1)),
                  1.0, cmap)
    b1, b2 = st.columns([1, 3])
    b1.image(bar, width="stretch")
    b1.caption("no evidence ← → strongest evidence for the cell's call")
    b2.caption(f"{method_title(method)} of {model}. Each map shows the evidence for the class the cell is "
               f"called at the current threshold: ALL evidence under an ALL label, HEM evidence under a HEM "
               f"label. **refer**: P(ALL) within {res.calibration.refer_half_width:.2f} of the threshold; "
               f"a person must look at this cell. *Red cells across*: the cell's width over the typical red "
               f"cell of this image, where red cells can be measured and the cell is whole (a small "
               f"lymphocyte is about 1, a neutrophil about 2); a figure to check by eye, not used by the model.")


def reader_name(model: str) -> str:
    """Who read the cells of ``model``'s results: the model, or the encoder's site model standing in for it."""
    prof = site_profile_or_none(model)
    if prof is not None and prof.reads_with_encoder:
        return f"{prof.model} site model '{prof.name}' (in place of {model})"
    return model


def _details(items: list[ImageInput], results: dict, models: list[str], alpha: float, cmap: str,
             method: str, thr_of) -> None:
    """Per image: the field with numbered outlines and the cell gallery, per model."""
    start = 0
    if len(items) > PAGE_SIZE:
        pages = list(range(0, len(items), PAGE_SIZE))
        start = st.selectbox("Show images", pages, key="classify_page",
                             format_func=lambda s: f"{s + 1}-{min(s + PAGE_SIZE, len(items))} of {len(items)}")
    for i in range(start, min(start + PAGE_SIZE, len(items))):
        st.divider()
        st.markdown(f"**{plain(items[i].name)}**")
        first = results[(i, models[0])]
        if isinstance(first, str):
            st.error(plain(first), icon=":material/broken_image:")
            continue
        rgb, _ = decode(items[i])
        for m in models:
            res, thr = results[(i, m)], thr_of(m)
            row = summary_row(items[i].name, m, res, thr)
            call = row["call"]
            why = f" ({row['reason']})" if row["reason"] else ""
            summary = (f"**{reader_name(m)}**: image :{CALL_COLOURS[call]}[**{call}**]{why} (mean cell P(ALL) "
                       f"{row['P(ALL)']:.2f}, "
                       f"image threshold {row['threshold']:.2f}, cell threshold {thr:.2f})")
            if not res.whole_image:
                blast = "no blast %: no cell has a call" if row["blast %"] is None else f"blast {row['blast %']:.0f} %"
                summary += (f"; {row['cells']} white cell(s) found, {row['ALL cells']} called ALL, "
                            f"{row['NO CALL cells']} NO CALL ({blast}), {row['refer']} in the refer band")
                if kinds := res.differential():
                    summary += f"; differential (lymphoid gate): {differential_text(kinds)}"
            st.markdown(summary)
            st.caption(f"Image rule: {plain(res.rule(thr))}.")
            for note in res.notes:
                st.warning(plain(note), icon=":material/visibility:")
            c1, c2 = st.columns([1, 1])
            with c1:
                if res.whole_image:
                    st.image(display_copy(rgb), caption="No white cell found: the whole image was classified",
                             width="stretch")
                else:
                    st.image(draw_cells(rgb, res.cells, res.cell_labels(thr), list(res.refer(thr))), width="stretch",
                             caption="Found white cells, numbered; red = called ALL, blue = HEM, gray = NO CALL, "
                                     "amber ring = refer band")
            with c2:
                st.image(display_copy(rgb), caption="Original", width="stretch")
            if res.has_maps:
                _gallery(res, thr, alpha, cmap, reader_name(m), method)
            else:
                st.caption(f"The cell gallery with its {method_title(method)} maps appears when the maps are ready.")


def _batch_summary(items: list[ImageInput], results: dict, models: list[str], thr_of) -> None:
    """The batch (one patient's slide) at a glance, per model."""
    for m in models:
        b = batch_summary([(it.name, results[(i, m)]) for i, it in enumerate(items)], thr_of(m))
        cols = st.columns(7)
        cols[0].metric(f"{m}: images read", f"{b['read']} of {b['images']}")
        cols[1].metric("cells found", b["cells"])
        cols[2].metric("cells called ALL", b["all_cells"])
        cols[3].metric("cells NO CALL", b["no_call"],
                       help=f"of them {b['not_lymphoid']} not lymphoid (the lymphoid gate: neutrophils, eosinophils, "
                            "monocytes, basophils); the others borderline or outside what the model reads")
        cols[4].metric("blast %", "n/a" if b["blast_pct"] is None else f"{b['blast_pct']:.1f} %",
                       help="cells called ALL over the cells with a call (NO CALL cells are left out)")
        cols[5].metric("cells in the refer band", b["refer"])
        cols[6].metric("images to check by eye", len(b["check_by_eye"]))
        if b["differential"]:
            st.caption(f"{m}: differential (lymphoid gate) of the cells found: {differential_text(b['differential'])}.")


def _case_report(items: list[ImageInput], results: dict, models: list[str], thr_of, alpha: float,
                 cmap: str, profiles: dict[str, str] | None = None, notes: dict[str, str] | None = None) -> None:
    """A button that builds the printable HTML case report in memory, then offers it for download."""
    c1, c2 = st.columns(2)  # the sample's fields, printed at the top of the report
    c3, c4 = st.columns(2)
    sample = {"specimen_id": c1.text_input("Specimen ID", key="classify_report_specimen", max_chars=64),
              "patient_ref": c2.text_input("Patient reference (a code)", key="classify_report_patient", max_chars=64),
              "sample_date": c3.date_input("Sample date", value=None, key="classify_report_date", format="YYYY-MM-DD",
                                           max_value=dt.date.today()),
              "operator": c4.text_input("Operator", key="classify_report_operator", max_chars=100)}
    key = (tuple(it.digest for it in items), tuple(models), tuple(round(thr_of(m), 4) for m in models), alpha, cmap,
           tuple(sorted((profiles or {}).items())), tuple(str(v) for v in sample.values()))
    if st.button("Prepare case report (HTML, prints to PDF)", key="classify_report_build"):
        with st.spinner("Building the case report ..."):
            images = []
            for i, it in enumerate(items):
                rgb, err = decode(it)
                images.append(ReportImage(it.name, rgb if rgb is not None else np.zeros((1, 1, 3), np.uint8),
                                          {m: (err or results[(i, m)]) for m in models}))
            infos = [model_info(m, read_manifest(m, missing_ok=True), load_report(m)) for m in models]
            st.session_state[REPORT_KEY] = (key, build_case_report(images, infos, {m: thr_of(m) for m in models},
                                                                   alpha=alpha, colormap=cmap,
                                                                   site_profiles=profiles, site_notes=notes,
                                                                   sample=sample))
    built = st.session_state.get(REPORT_KEY)
    if built and built[0] == key:
        st.download_button("Download case report", built[1], file_name="case_report.html", mime="text/html",
                           key="classify_report_download", on_click="ignore")


def render() -> None:
    st.header("Classify cells")
    models = app_models()
    ready = [m for m in models if weights_status(m, default_weights_dir()) == "ok"]
    if not ready:
        st.warning(f"No trained model weights in {weights_dir_label()} yet, so nothing can be classified.")
        show_missing("weights", selected_model() or "proposed")
        return
    c1, c2, c3, c4 = st.columns(4)
    compare = c1.toggle("Compare all models side by side", key="classify_compare",
                        disabled=len(ready) < 2, help="Every model with trained weights, one column each.")
    method = c2.selectbox("Class-activation map", METHODS, format_func=method_title, key="classify_method",
                          help="Grad-CAM is fastest; Score-CAM runs the model once per channel (slow).")
    alpha = c3.slider("Overlay opacity", 0.0, 1.0, 0.4, 0.05, key="classify_alpha")
    cmap = c4.selectbox("Colormap", list(COLORMAPS), key="classify_colormap")
    chosen = ready if compare else [selected_model()]
    if not compare and chosen[0] not in ready:
        show_missing("weights", chosen[0])
        st.caption("Pick another model in the sidebar, or train this one.")
        return
    items = _inputs()
    if not items:
        st.info("Upload one or more images, or pick sample images, to see the call and its "
                f"{method_title(method)} map.")
        return
    if method == "scorecam":
        todo = sum(1 for it in items for m in chosen
                   if (it.digest, m, result_tag(m), method) not in st.session_state.get(CACHE_KEY, {}))
        if todo:
            st.info(f"Score-CAM runs each model once per feature channel for every cell, twice (ALL and HEM "
                    f"evidence): about {SCORECAM_SECONDS_PER_IMAGE * todo:.0f} s or more for {todo} image-model "
                    f"pair(s) on a 2-core machine, longer for fields with many cells. Press Stop (top right) to "
                    f"cancel; Grad-CAM takes about a second.", icon=":material/hourglass:")
    try:  # the sidebar's site profile: refused (with its reason) when fitted on other weights
        profile_names = {m: profile_label(p) for m in chosen if (p := site_profile(m)) is not None}
    except LeukemiaCoreError as exc:
        show_error(exc)
        st.caption("Choose another site profile (or none) in the sidebar, or refit it on Verify at your lab.")
        return
    try:
        results = _run(items, chosen, method)
    except LeukemiaCoreError as exc:
        show_error(exc, "weights", chosen[0])
        return

    def thr_of(m: str) -> float:
        chosen_thr = threshold()
        if chosen_thr is not None:
            return chosen_thr
        res = next((r for (_, mm), r in results.items() if mm == m and not isinstance(r, str)), None)
        return res.calibration.threshold if res is not None else DEFAULT_THRESHOLD

    rows = [summary_row(it.name, m, None if isinstance(results[(i, m)], str) else results[(i, m)], thr_of(m),
                        results[(i, m)] if isinstance(results[(i, m)], str) else "")
            for i, it in enumerate(items) for m in chosen]
    df = results_table(rows)
    # the site profile each row's call used (Verify at your lab); empty = the stored calibration
    df.insert(len(df.columns) - 1, "profile", df["model"].map(lambda m: profile_names.get(m, "")))
    st.subheader("Results")
    waiting = _maps_pending(results)
    if waiting:
        st.info(f"These calls are final. The {method_title(method)} maps are still loading (TensorFlow starts in "
                f"the background) and appear here by themselves.", icon=":material/hourglass:")
    _batch_summary(items, results, chosen, thr_of)
    st.caption("One row per image and model. Image call: from its whole cells that have a call (NO CALL cells "
               "left out), ALL when their mean calibrated P(ALL) reaches the image threshold (one cell: the cell "
               f"threshold; several: the field threshold chosen on validation fields) or when {BLAST_LIMIT_PCT:.0f} % "
               "or more of its cells with a call are called ALL; HEM otherwise. Blast % = share of its cells with a "
               "call called ALL at the cell threshold. Click a column to sort.")
    if compare and len(chosen) > 1:
        cons = consensus(df)
        st.markdown("**Do the models agree?** Images where they disagree come first.")
        st.dataframe(cons, hide_index=True, key="classify_consensus", placeholder=MISSING)
    st.dataframe(df, hide_index=True, key="classify_table", placeholder=MISSING,
                 column_config={"P(ALL)": st.column_config.ProgressColumn("P(ALL)", min_value=0.0, max_value=1.0,
                                                                          format="%.3f")})
    c1, c2 = st.columns(2)
    c1.download_button("Download results (CSV)", df.to_csv(index=False).encode("utf-8"),
                       file_name="classification_results.csv", mime="text/csv", key="classify_download",
                       on_click="ignore")
    with c2:
        _case_report(items, results, chosen, thr_of, alpha, cmap, profile_names,
                     {m: profile_summary(p) for m in chosen if (p := site_profile_or_none(m)) is not None})
    _details(items, results, chosen, alpha, cmap, method, thr_of)
    FIRST_CALLS.set()  # the warm-up may load TensorFlow now (pages/_loaders.py)
    if waiting:
        _add_maps(waiting, method)


def _maps_pending(results: dict) -> dict:
    """The stored results still without maps (ONNX calls shown before TensorFlow was ready), by key."""
    cache = st.session_state.get(CACHE_KEY, {})
    shown = {id(r) for r in results.values() if not isinstance(r, str)}
    return {k: r for k, r in cache.items() if id(r) in shown and not r.has_maps}


def _add_maps(waiting: dict, method: str) -> None:
    """Wait for the explainers (built once per server), add the maps to the waiting results, rerun."""
    cache = st.session_state.setdefault(CACHE_KEY, {})
    for key, res in waiting.items():
        explainer = model_tools(key[1], method)[1]  # key: (digest, model, tag, method)
        if cache.get(key) is res:
            store_result(cache, key, add_maps(res, explainer))
    st.rerun()


render()
