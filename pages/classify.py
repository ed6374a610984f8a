"""Classify page: upload images or pick samples; see the HEM/ALL call, P(ALL) and the CAM overlay."""

import numpy as np
import streamlit as st

from leukemia_core.errors import LeukemiaCoreError
from leukemia_core.explain import COLORMAPS, METHODS, overlay
from leukemia_core.images import IMAGE_SUFFIXES
from leukemia_core.inference import weights_status
from leukemia_core.reports import (CAM_METHOD_NAMES, ImageInput, app_models, call_of, decode, display_copy,
                                   explain_image, heatmap_on_image, results_csv, results_frame, weights_dir)
from leukemia_core.samples import list_samples
from pages._shared import model_tools, plain, selected_model, show_error, show_missing, threshold, weights_sha

PAGE_SIZE = 6
CACHE_KEY = "classify_results"
CACHE_LIMIT = 400
CALL_COLOURS = {"ALL": "red", "HEM": "blue"}


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
    return items


def _run(items: list[ImageInput], models: list[str], method: str) -> list[dict]:
    """Predict and explain every (image, model) not done yet in this session; one row per result.

    Results (P(ALL) and the map) are kept in this session's state, so moving a slider does not
    run the models again; the decoded images are not kept.
    """
    cache = st.session_state.setdefault(CACHE_KEY, {})
    shas = {m: weights_sha(m) for m in models}
    rows = []
    todo = sum(1 for it in items for m in models if (it.digest, m, shas[m], method) not in cache)
    bar = st.progress(0.0, text="Classifying ...") if todo else None
    done = 0
    for i, it in enumerate(items):
        keys = {m: (it.digest, m, shas[m], method) for m in models}
        rgb, err = (None, "") if all(k in cache for k in keys.values()) else decode(it)
        if err:
            rows.append({"image": it.name, "model": ", ".join(models), "p_all": None, "error": err, "item": i})
            continue
        for m, key in keys.items():
            if key not in cache:
                predictor, explainer = model_tools(m, method)
                p, cam = explain_image(rgb, predictor, explainer)
                if len(cache) >= CACHE_LIMIT:
                    cache.pop(next(iter(cache)))
                cache[key] = (p, cam.astype(np.float16))
                done += 1
                bar.progress(done / todo, text=f"Classifying: {done} of {todo} ({m})")
            rows.append({"image": it.name, "model": m, "p_all": cache[key][0], "error": "", "item": i, "key": key})
    if bar is not None:
        bar.empty()
    return rows


def _details(items: list[ImageInput], rows: list[dict], models: list[str], alpha: float, cmap: str,
             method: str, thr: float) -> None:
    """Original and overlay per model for one page of images (decoded again: only these few)."""
    cache = st.session_state[CACHE_KEY]
    start = 0
    if len(items) > PAGE_SIZE:
        pages = list(range(0, len(items), PAGE_SIZE))
        start = st.selectbox("Show images", pages, key="classify_page",
                             format_func=lambda s: f"{s + 1}-{min(s + PAGE_SIZE, len(items))} of {len(items)}")
    for i in range(start, min(start + PAGE_SIZE, len(items))):
        st.divider()
        st.text(items[i].name)
        bad = next((r["error"] for r in rows if r["item"] == i and r["error"]), "")
        rgb, err = (None, bad) if bad else decode(items[i])
        if err:
            st.error(plain(err), icon=":material/broken_image:")
            continue
        shown = display_copy(rgb)
        cols = st.columns(1 + len(models))
        cols[0].image(shown, caption="Original", width="stretch")
        for col, m in zip(cols[1:], models):
            p, cam = cache[next(r["key"] for r in rows if r["item"] == i and r["model"] == m)]
            pic = overlay(shown, heatmap_on_image(cam.astype(np.float32), shown.shape[:2]), alpha, cmap)
            col.image(pic, caption=f"{CAM_METHOD_NAMES[method]} overlay, {m}", width="stretch")
            call = call_of(p, thr)
            col.markdown(f":{CALL_COLOURS[call]}[**{call}**] (P(ALL) = {p:.3f}, model {m})")
            if float(cam.max()) == 0.0:
                col.caption("Empty map: no region raised the score of the class this image is called "
                            "(at P(ALL) 0.5), so the map shows nothing to check.")


def render() -> None:
    st.header("Classify cells")
    models = app_models()
    ready = [m for m in models if weights_status(m, weights_dir()) == "ok"]
    if not ready:
        st.warning(f"No trained model weights in {weights_dir()} yet, so nothing can be classified.")
        show_missing("weights", selected_model() or "proposed")
        return
    c1, c2, c3, c4 = st.columns(4)
    compare = c1.toggle("Compare all models side by side", key="classify_compare",
                        disabled=len(ready) < 2, help="Every model with trained weights, one column each.")
    method = c2.selectbox("Class-activation map", METHODS, format_func=CAM_METHOD_NAMES.get, key="classify_method",
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
                f"{CAM_METHOD_NAMES[method]} map.")
        return
    thr = threshold()
    try:
        rows = _run(items, chosen, method)
    except LeukemiaCoreError as exc:
        show_error(exc, "weights", chosen[0])
        return
    df = results_frame(rows, thr)
    st.subheader("Results")
    st.caption(f"Call: ALL when P(ALL) >= {thr:.2f} (threshold in the sidebar). Click a column to sort.")
    st.dataframe(df, hide_index=True, key="classify_table",
                 column_config={"P(ALL)": st.column_config.ProgressColumn("P(ALL)", min_value=0.0, max_value=1.0,
                                                                          format="%.3f")})
    st.download_button("Download results (CSV)", results_csv(df, thr), file_name="classification_results.csv",
                       mime="text/csv", key="classify_download", on_click="ignore")
    _details(items, rows, chosen, alpha, cmap, method, thr)


render()
