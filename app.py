"""Clinician dashboard: telling leukemic lymphoblasts (ALL) from normal cells (HEM).

Start with ``streamlit run app.py``. This file is the frame: page set-up, the page router, the
shared sidebar (model and decision threshold) and the notice on intended use. The pages live in
``pages/``; the computations in ``leukemia_core``.
"""

from pathlib import Path

import streamlit as st

# The tab icon is a file served by this app: a ":material/...:" or emoji icon would make the browser
# fetch it from a font server, and the dashboard makes no request outside this machine.
ICON = Path(__file__).resolve().parent / "assets" / "icon.png"

st.set_page_config(page_title="ALL / HEM cell classifier", page_icon=str(ICON), layout="wide",
                   menu_items={"About": "Research and education use only; not a diagnostic device."})

from leukemia_core.inference import weights_status  # noqa: E402
from leukemia_core.paths import default_weights_dir
from leukemia_core.reports.files import DEFAULT_MODEL_RULE, app_models, default_model  # noqa: E402
from pages._auth import auth_sidebar  # noqa: E402
from pages._loaders import warm_up  # noqa: E402
from pages._session import PROFILE_KEY, profile_choices, site_profile_or_none, thresholds_in_use  # noqa: E402
from pages._streamlit_fixes import apply as apply_streamlit_fixes  # noqa: E402

# Workarounds for Streamlit and CPython faults that break a server shared by sessions
# (see pages/_streamlit_fixes.py).
apply_streamlit_fixes()

# Load the model in the background while the first page renders (TensorFlow takes seconds to import).
warm_up(st.session_state.get("app_model") or default_model(app_models()))

NOTICE = ("Research and education use only. Not a diagnostic device: do not use it to diagnose, "
          "treat or manage any patient.")

pages = [
    st.Page("pages/classify.py", title="Classify", icon=":material/biotech:", url_path="classify", default=True),
    st.Page("pages/comparison.py", title="Model comparison", icon=":material/bar_chart:", url_path="comparison"),
    st.Page("pages/validation.py", title="Validation", icon=":material/fact_check:", url_path="validation"),
    st.Page("pages/cases.py", title="Cases", icon=":material/folder_shared:", url_path="cases"),
    st.Page("pages/verify.py", title="Verify at your lab", icon=":material/rule:", url_path="verify"),
    st.Page("pages/about.py", title="About / model card", icon=":material/info:", url_path="about"),
]
current = st.navigation(pages)

with st.sidebar:
    models = app_models()
    first = default_model(models)
    st.selectbox("Model", models, index=models.index(first) if first in models else 0, key="app_model",
                 help=f"Used on every page; Classify can also compare all models side by side. Offered first: "
                      f"{first}, the model with {DEFAULT_MODEL_RULE}.")
    chosen = st.session_state.get("app_model")
    if chosen and weights_status(chosen, default_weights_dir()) != "ok":
        st.caption(f"No trained weights for {chosen} yet (see Classify).")
    own = st.toggle("Each model's validated threshold", value=True, key="app_own_threshold",
                    help="The threshold each model's calibration chose on validation cells. Turn off to set "
                         "one threshold for all models.")
    in_use, rule = thresholds_in_use(chosen)
    if own and in_use is not None:  # the disabled slider shows the threshold the model calls at
        st.session_state["app_threshold"] = round(in_use, 2)
    st.session_state.setdefault("app_threshold", 0.5)
    st.slider("Decision threshold on calibrated P(ALL)", min_value=0.0, max_value=1.0, step=0.01,
              key="app_threshold", disabled=own,
              help="A cell is called ALL when its calibrated P(ALL) is at least this. Classify and Validation "
                   "use it; stored results are re-labelled without running a model.")
    if rule:
        st.caption(rule)
    if chosen:  # the lab's own calibration of this model (Verify at your lab), when it has one
        usable, refused = profile_choices(chosen)
        options = [""] + list(usable.values())
        if st.session_state.get(PROFILE_KEY) not in options:
            st.session_state[PROFILE_KEY] = ""
        names = {v: k for k, v in usable.items()}
        st.selectbox("Site profile or site model", options, key=PROFILE_KEY, disabled=not usable,
                     format_func=lambda p: names.get(p, "none (the model's stored calibration)"),
                     help="Fitted on your lab's own labelled cells (Verify at your lab): a calibration with its "
                          "thresholds, or a site model (a head of the lab's own on the model's features, or on a "
                          "pretrained encoder's). It replaces how this model reads; it is named in every result.")
        picked = site_profile_or_none(chosen)
        if picked is not None and picked.accepted is False:
            st.warning(f"{picked.name}: {picked.status}. Its calls are marked in every result.",
                       icon=":material/warning:")
        elif picked is not None:
            st.caption(f"{picked.name}: {picked.status}.")
        if refused:
            st.caption(f"{len(refused)} site profile(s) not offered: " + "; ".join(refused[:2]))
    st.divider()
    st.caption(NOTICE)
auth_sidebar()  # on every page: who is signed in, or that the app runs single-user

st.title("ALL / HEM cell classifier")
st.caption(NOTICE)
current.run()
