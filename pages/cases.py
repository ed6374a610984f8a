"""Cases page: cases kept in the case store (SQLite by default, PostgreSQL by ``LEUKEMIA_DB_URL``),
reviewed cell by cell, signed off, amended, exported; every change audited.

This page only draws: what is stored, who may change it and what a gallery page holds is decided in
``leukemia_core.cases``. The case shown is read from the store on every run; each change carries the
case version this session last showed, so a change made meanwhile in another session is refused
with a message and the newer state is drawn (nothing is overwritten silently).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from leukemia_core.cases.db import data_home, database_url, open_store, shown_url
from leukemia_core.cases.errors import CaseStoreError, StaleCaseError
from leukemia_core.cases.export import all_cases_csv, audit_csv, audit_rows, audit_text, case_csv
from leukemia_core.cases.models import DECISIONS, STATUSES
from leukemia_core.cases.report import report_html
from leukemia_core.cases.repository import add_reading, cell_pictures, create_case, get_case, list_cases
from leukemia_core.cases.models import SIGNATURE_MEANINGS
from leukemia_core.cases.review import (accept_remaining, amend_case, default_meaning, review_cell, sign_case,
                                        signing_summary, summarize, summary_sha256)
from leukemia_core.cases.access import SHARED, SIGN_WITHIN_S, Actor, roles_of, sign_in_age, store_mode
from leukemia_core.cases.session import DECISION_LABELS, FILTERS, PAGE_CELLS, gallery_page, map_overlay, reviewer, \
    upload_run
from leukemia_core.cells.analyze import read_cells
from leukemia_core.errors import LeukemiaCoreError
from leukemia_core.reports.inputs import ImageInput, decode
from leukemia_core.samples import list_samples
from leukemia_core.verification.profile import profile_label
from pages._auth import login_configured, signed_in_actor
from pages._loaders import model_tools, site_tools, weights_sha
from pages._messages import plain, show_error
from pages._session import PROFILE_KEY, selected_model, site_profile, threshold

NAME_KEY = "cases_reviewer_name"   # single-user mode: the name typed once this session
PICK_KEY = "cases_pick"            # the case ID shown (the "Open case" box)
SEEN_KEY = "cases_seen_version"    # the version of that case this session last drew
MSG_KEY = "cases_message"          # a message from the last change (kind, text)
FORM_KEY = "cases_new_form"        # how many cases this session made (the new-case form's key suffix)
METHOD = "gradcam"                 # the map stored with each cell


@st.cache_resource(show_spinner="Opening the case store ...")
def _store(url: str, home: str):
    return open_store(url, home)


def store():
    """The server's case store (opened and migrated once); a clear error and a stop when it cannot be."""
    home = data_home()
    try:
        return _store(database_url(home), str(home))
    except CaseStoreError as exc:
        show_error(exc)
        st.caption(f"Case database: {plain(shown_url(database_url(home)))}")
        st.stop()


def who():
    """Who reviews now: the signed-in user (an ``Actor`` with the provider's roles) when login is
    configured, else the name typed this session (single-user mode); None when nobody is."""
    if login_configured():
        actor = signed_in_actor()
        if actor is None:
            st.info("Sign in to review and sign cases: this server is shared and every action names its user.")
            st.button("Log in to review", on_click=st.login, key="cases_login", type="primary")
        return actor
    if store_mode(STORE) == SHARED:
        st.error("This case store is shared (its users sign in), but this server runs without a login: cases "
                 "can be read here, and reviews and sign-offs are refused. Configure `[auth]` in "
                 ".streamlit/secrets.toml (README: Sign-in).")
    name = reviewer(False, None, st.session_state.get(NAME_KEY))
    if not name:
        typed = st.text_input("Your name (recorded with every review and sign-off)", key="cases_name_input",
                              max_chars=150, help="Asked once per session: the app runs single-user without a login.")
        if st.button("Review as this name", key="cases_name_set", disabled=not (typed or "").strip()):
            st.session_state[NAME_KEY] = typed.strip()
            st.rerun()
    else:
        st.caption(f"Reviewing as **{plain(name)}**, unauthenticated (single-user mode): every record says so.")
    return name


def _name(user) -> str | None:
    return user.name if isinstance(user, Actor) else user


def _change(fn, *args) -> None:
    """Run a change; keep its refusal as the message drawn on this run (the newer state is shown)."""
    try:
        fn(*args)
    except StaleCaseError as exc:
        st.session_state[MSG_KEY] = ("warning", str(exc))
    except LeukemiaCoreError as exc:
        st.session_state[MSG_KEY] = ("error", str(exc))


def _decide(case_id: str, cell_id: int, key: str, user: str) -> None:
    decision = st.session_state.get(key)
    if not decision:
        return
    try:
        version = review_cell(STORE, case_id, cell_id, decision, user, st.session_state.get(SEEN_KEY, -1))
    except StaleCaseError as exc:
        st.session_state[MSG_KEY] = ("warning", str(exc))
    except LeukemiaCoreError as exc:
        st.session_state[MSG_KEY] = ("error", str(exc))
    else:
        # two quick clicks reach the server in one rerun, one callback after the other: the second is
        # checked against this session's own save, not refused as if another session had made it
        st.session_state[SEEN_KEY] = version


def _read_upload(model: str, rgb):
    """``model``'s reading of one image as a run to store (the sidebar's threshold and site profile)."""
    prof = site_profile(model)
    if prof is not None and prof.is_site_model:  # the lab's own head (adapt) reads the cells
        predictor, explainer = site_tools(st.session_state[PROFILE_KEY], prof, model, METHOD)
        res = read_cells(rgb, predictor, explainer, None, profile_label(prof))
    else:
        predictor, explainer = model_tools(model, METHOD)
        res = read_cells(rgb, predictor, explainer, prof.calibration if prof else None, profile_label(prof) or None)
    res.threshold = threshold()  # None: the calibration's
    if prof is not None and prof.reads_with_encoder:  # the run is the encoder's site model's, and says so
        return upload_run(prof.model, res, res.cell_threshold, prof.weights_sha256, rgb.shape, res.site_profile)
    return upload_run(model, res, res.cell_threshold, weights_sha(model), rgb.shape, res.site_profile)


def add_images(case_id: str, items: list[ImageInput], model: str, user: str) -> None:
    """Read each upload with ``model`` and store it in the case; unreadable files are named and skipped."""
    bar = st.progress(0.0, text=f"Reading {len(items)} image(s) with {model} ...")
    for i, it in enumerate(items):
        rgb, err = decode(it)
        if rgb is None:
            st.error(plain(f"{it.name}: {err}"))
            continue
        try:
            add_reading(STORE, case_id, it.name, it.data, _read_upload(model, rgb), user)
        except LeukemiaCoreError as exc:
            show_error(exc)
        bar.progress((i + 1) / len(items), text=f"{it.name} stored")
    bar.empty()


def _form_suffix() -> str:
    n = st.session_state.get(FORM_KEY, 0)
    return f"_{n}" if n else ""


def new_case(user, model: str | None) -> None:
    """The "new case" form: case ID, the sample's specimen ID, date and patient reference (all
    required), note, images (uploads or bundled samples), run the model. What is typed stays in the
    form until the case is made."""
    sfx = _form_suffix()  # a new set of keys after each case made: the form starts empty again
    c1, c2 = st.columns([2, 1])
    cid = c1.text_input("Case ID (the lab's; no patient name)", key="cases_new_id" + sfx, max_chars=64)
    date = c2.date_input("Sample date", value=None, key="cases_new_date" + sfx, max_value=dt.date.today(),
                         min_value=dt.date(1900, 1, 1), format="YYYY-MM-DD")
    c1, c2 = st.columns(2)
    specimen = c1.text_input("Specimen ID", key="cases_new_specimen" + sfx, max_chars=64)
    patient = c2.text_input("Patient reference (the lab's code, not a name)", key="cases_new_patient" + sfx,
                            max_chars=64)
    note = st.text_input("Note", key="cases_new_note" + sfx, max_chars=2000)
    uploads = st.file_uploader("Images of the sample", accept_multiple_files=True, key="cases_uploads",
                               type=["bmp", "png", "jpg", "jpeg", "tif", "tiff"])
    samples = {s.title: s for s in list_samples()}
    picked = st.multiselect("... or bundled sample images", list(samples), key="cases_samples")
    items = [ImageInput(f.name, f.getvalue()) for f in uploads or []]
    items += [ImageInput(samples[t].path.name, samples[t].path.read_bytes()) for t in picked]
    missing = [n for n, v in (("case ID", cid), ("sample date", date), ("specimen ID", specimen),
                              ("patient reference", patient)) if not (v.strip() if isinstance(v, str) else v)]
    if not items:
        missing.append("at least one image")
    if st.button(f"Create the case and read {len(items)} image(s) with {model}", key="cases_create",
                 disabled=bool(not user or not model or missing), type="primary"):
        try:
            info = create_case(STORE, cid, user, date, note, specimen_id=specimen, patient_ref=patient)
        except LeukemiaCoreError as exc:
            show_error(exc)
            return
        add_images(info.case_id, items, model, user)
        st.session_state[FORM_KEY] = st.session_state.get(FORM_KEY, 0) + 1
        st.session_state[PICK_KEY] = info.case_id
        st.rerun()
    if not user:
        st.caption("Enter your name (or log in) to create and review cases.")
    elif missing:
        st.caption("Still needed: " + ", ".join(missing) + ".")


def case_list() -> list[dict]:
    """The list of cases, filtered by status and text; the all-cases CSV."""
    c1, c2 = st.columns([2, 3])
    status = c1.segmented_control("Status", ["all", *STATUSES], default="all", key="cases_status")
    text = c2.text_input("Find (case ID or note)", key="cases_find")
    rows = list_cases(STORE, None if status in (None, "all") else status, text or "")
    if rows:
        df = pd.DataFrame(rows)[["case_id", "status", "sample_date", "images", "reviewed", "signoffs", "updated_at",
                                 "updated_by", "note"]]
        df["updated_at"] = df["updated_at"].map(lambda t: t.strftime("%Y-%m-%d %H:%M UTC"))
        st.dataframe(df, hide_index=True, width="stretch", placeholder="")
        st.download_button("All cases (CSV)", all_cases_csv(STORE), "cases.csv", "text/csv", key="cases_all_csv")
    else:
        st.info("No case yet" + (" matching the filter." if (text or status not in (None, "all")) else "."))
    return rows


def counts(view, model: str) -> None:
    """Model and reviewer counts side by side, and their agreement."""
    s = summarize(view, model)
    m, r, a = s["model"], s["reviewed"], s["agreement"]
    def text(v) -> str:  # one column holds counts and a percentage: format each, so 6 stays "6"
        return "n/a" if v is None else f"{v:.1f}" if isinstance(v, float) else str(v)

    table = pd.DataFrame({"model": [text(v) for v in (m["cells"], m["ALL"], m["HEM"], m["blast_pct"])] + [""] * 3,
                          "reviewed": [text(v) for v in (r["ALL"] + r["HEM"], r["ALL"], r["HEM"], r["blast_pct"],
                                                         r["excluded"], r["unclassified"], r["pending"])]},
                         index=["cells counted", "ALL", "HEM", "blast %", "not a white cell", "cannot classify",
                                "not reviewed yet"])
    c1, c2 = st.columns([2, 1])
    c1.dataframe(table, width="stretch")
    share = "n/a" if a["share"] is None else f"{100 * a['share']:.1f}%"
    c2.metric("Agreement model / reviewer", share, help="Over the cells the reviewer called ALL or HEM.")
    c2.caption(f"{a['agree']} of {a['compared']} cells; changed ALL to HEM {a['changed']['ALL->HEM']}, "
               f"HEM to ALL {a['changed']['HEM->ALL']}.")


def gallery(view, model: str, user: str | None) -> None:
    """A page of cell tiles: crop, map, model call and P(ALL), and one click per decision."""
    c1, c2 = st.columns([2, 1])
    show = c1.segmented_control("Show", list(FILTERS), default="all cells", key="cases_filter") or "all cells"
    _, pages, n = gallery_page(view, model, 0, show)
    page = c2.number_input(f"Page (of {pages})", 1, pages, 1, key=f"cases_page_{show}") - 1
    rows, _, _ = gallery_page(view, model, page, show)
    st.caption(f"{n} cell(s); {PAGE_CELLS} per page. Each decision is saved at once: accept the model's call, "
               "set ALL or HEM, or take the cell out (Tab moves between the choices).")
    pics = cell_pictures(STORE, [c.id for _, _, c in rows])
    frozen = view.info.status == "signed" or not user
    cols = st.columns(4)
    for i, (im, run, c) in enumerate(rows):
        crop, heat = pics.get(c.id, (None, None))
        with cols[i % 4].container(border=True):
            shown = [p for p in (crop, map_overlay(crop, heat)) if p]
            if shown:
                st.image(shown, width=96)
            refer = " · refer" if c.refer else ""
            st.caption(f"{plain(im.file_name)} #{c.number}: **{c.call}** P(ALL) {c.p_all:.2f}{refer}")
            if c.flags:  # NO CALL reasons and check-by-eye flags, as stored with the cell
                st.caption(f":orange[{plain(c.flags)}]")
            # one key per cell for the whole review: a click on a control that a rerun replaced would
            # be dropped; the stored decision (this or another session's) is what the control shows
            key = f"cases_d_{view.info.case_id}_{c.id}"
            st.session_state[key] = c.decision
            st.segmented_control("Decision", list(DECISIONS), key=key, disabled=frozen,
                                 format_func=DECISION_LABELS.get, label_visibility="collapsed",
                                 on_change=_decide, args=(view.info.case_id, c.id, key, user))


SIGNING_KEY = "cases_signing"     # the signing panel is open (for this case and version)


def sign_panel(view, model: str, user) -> None:
    """What is signed, its meaning and the signer's confirmation; the signature is linked to the
    summary's sha256 (a case changed since it was shown is refused)."""
    info, summary = view.info, signing_summary(view, model)
    st.subheader("Sign the case")
    digest = summary_sha256(summary)
    st.markdown(f"**Case {plain(info.case_id)}**: " + plain(
        f"specimen {info.specimen_id or '(not recorded)'}, sample date {info.sample_date or '(not recorded)'}, "
        f"patient reference {info.patient_ref or '(not recorded)'}"))
    bp = summary["blast_pct"]
    rows = {"model": f"{model} (weights {', '.join(w[:12] for w in summary['weights_sha256']) or 'n/a'})",
            "images / cells": f"{summary['images']} / {summary['cells']}",
            "cells reviewed": f"{summary['reviewed']} (not reviewed: {summary['pending']})",
            "calls changed by the review": f"{summary['changed_calls']} ("
            + ", ".join(f"{k.replace('->', ' to ')} {v}" for k, v in summary["changed"].items()) + ")",
            "not a white cell / cannot classify": f"{summary['excluded']} / {summary['unclassified']}",
            "NO CALL (model) / to refer": f"{summary['no_call']} / {summary['refer']}",
            "blast % model / reviewed": f"{bp['model']} / {bp['reviewed']}",
            "flags on cells": "; ".join(f"{k} ({v})" for k, v in summary["flags"].items()) or "none",
            "image notes": "; ".join(f"{k} ({v})" for k, v in summary["image_notes"].items()) or "none"}
    if summary["amendment_reason"]:
        rows["amendment, because"] = summary["amendment_reason"]
    st.table(pd.DataFrame({"": list(rows.values())}, index=list(rows)))
    meaning = st.radio("What this signature means", SIGNATURE_MEANINGS, key="cases_sign_meaning",
                       index=SIGNATURE_MEANINGS.index(default_meaning(view)))
    ok = st.checkbox(f"I, {_name(user)}, sign sign-off {summary['sign_off']} of case {info.case_id} with the meaning "
                     f"above. The signature records my name, the date and time (UTC) and this summary "
                     f"(sha256 {digest[:16]}...); it cannot be changed afterwards, only followed by an amendment.",
                     key="cases_sign_ok")
    age = sign_in_age(user) if isinstance(user, Actor) else None
    stale = age is not None and age > SIGN_WITHIN_S
    if stale:  # re-authentication: the provider checks the signer again before a signature
        st.warning(f"Your sign-in is {age / 60:.0f} min old; a signature needs one of the last "
                   f"{SIGN_WITHIN_S // 60} min. Log out, sign in again and sign.")
        st.button("Log out to sign in again", on_click=st.logout, key="cases_sign_relogin")
    c1, c2 = st.columns(2)
    if c1.button("Sign", type="primary", disabled=not ok or stale, key="cases_sign_confirm"):
        _change(sign_case, STORE, info.case_id, user, info.version, model, meaning, digest)
        st.session_state.pop(SIGNING_KEY, None)
        st.rerun()
    if c2.button("Cancel", key="cases_sign_cancel"):
        st.session_state.pop(SIGNING_KEY, None)
        st.rerun()


def sign_and_amend(view, model: str, user) -> None:
    """Sign-off (every cell decided), or for a signed case its sign-offs and an amendment."""
    info = view.info
    pending = sum(c.decision is None for _, _, c in view.cells(model))
    for s in view.signoffs:
        why = f"; amendment: {s.reason}" if s.reason else ""
        meaning = f" — {s.meaning}" if s.meaning else ""
        st.success(plain(f"Sign-off {s.number}: {s.signed_by}, {s.signed_at:%Y-%m-%d %H:%M:%S} UTC, on {s.model}"
                         f"{meaning}{why}"), icon=":material/verified:")
    if info.status != "signed":
        c1, c2 = st.columns(2)
        c1.button(f"Accept the model's call for the {pending} cell(s) not reviewed", key="cases_accept_rest",
                  disabled=not (user and pending), on_click=_change, args=(accept_remaining, STORE, view, model, user),
                  help="One action, audited as one line that lists its cells.")
        if c2.button("Sign off" + (" the amendment" if info.amend_reason else "") + " ...", key="cases_sign",
                     type="primary", disabled=bool(not user or pending)):
            st.session_state[SIGNING_KEY] = (info.case_id, info.version)
            st.session_state.pop("cases_sign_ok", None)  # each signature is confirmed anew
        if user and not pending and st.session_state.get(SIGNING_KEY) == (info.case_id, info.version):
            with st.container(border=True):
                sign_panel(view, model, user)
        if pending:
            st.caption(f"{pending} cell(s) still need a decision before sign-off.")
        if isinstance(user, Actor) and "signer" not in roles_of(STORE, user):
            st.caption(f"{plain(user.name)} has the reviewer role only: a signature by you will be refused; a user "
                       "with the signer role signs this case.")
    else:
        reason = st.text_input("Reason for an amendment", key=f"cases_reason_{info.version}")
        st.button("Open an amendment", key="cases_amend", disabled=not (user and (reason or "").strip()),
                  on_click=_change, args=(amend_case, STORE, info.case_id, user, reason, info.version))
        st.caption("A signed case is frozen: an amendment reopens it for review and is signed as a new sign-off; "
                   "the earlier sign-offs stay as they were.")


def open_case(case_id: str, user: str | None, model_choice: str | None) -> None:
    """One case: fields, counts, gallery, sign-off, exports and the audit trail."""
    try:
        view = get_case(STORE, case_id)
    except LeukemiaCoreError as exc:
        show_error(exc)
        return
    info = view.info
    st.session_state[SEEN_KEY] = info.version  # what this session now shows: changes are checked against it
    st.subheader(f"Case {info.case_id}")
    date = "".join(f", {k} {v}" for k, v in (("specimen", info.specimen_id), ("sample date", info.sample_date),
                                             ("patient", info.patient_ref)) if v)
    st.caption(plain(f"{info.status}{date}; {len(view.images)} image(s); version {info.version}; last change by "
                     f"{info.updated_by} at {info.updated_at:%Y-%m-%d %H:%M:%S} UTC. {info.note}"))
    msg = st.session_state.pop(MSG_KEY, None)
    if msg:
        (st.warning if msg[0] == "warning" else st.error)(plain(msg[1]))
    if info.amend_reason:
        st.info(plain(f"Amendment open: {info.amend_reason}"))
    models = view.models()
    if not models:
        st.info("No image read in this case yet.")
        return
    if st.session_state.get("cases_model") not in models:
        st.session_state["cases_model"] = model_choice if model_choice in models else models[0]
    model = st.selectbox("Model reviewed", models, key="cases_model")
    counts(view, model)
    gallery(view, model, user)
    sign_and_amend(view, model, user)
    c1, c2, c3 = st.columns(3)
    c1.download_button("Case CSV", case_csv(STORE, info.case_id), f"{info.case_id}.csv", "text/csv",
                       key="cases_csv")
    c2.download_button("Case report (HTML)", report_html(STORE, view, model), f"{info.case_id}.html", "text/html",
                       key="cases_html")
    c3.download_button("Audit log (CSV)", audit_csv(STORE, info.case_id), f"{info.case_id}.audit.csv", "text/csv",
                       key="cases_audit_csv")
    with st.expander("Audit trail"):
        trail = [{"at (UTC)": t["at"][:19].replace("T", " "), "user": t["user"], "action": t["action"],
                  "what": audit_text(t["detail"])} for t in audit_rows(STORE, info.case_id)]
        st.dataframe(pd.DataFrame(trail), hide_index=True, width="stretch", placeholder="")


st.header("Cases")
st.caption("A case is one sample: its images, the model's call on every cell, your decision on each, the "
           "sign-off and the audit trail, kept in the case store. Research use only.")
STORE = store()
USER = who()
with st.expander("New case", expanded=bool(st.session_state.get("cases_new_id" + _form_suffix()))):
    new_case(USER, selected_model())
cases = case_list()
if cases:
    ids = [c["case_id"] for c in cases]
    if st.session_state.get(PICK_KEY) not in ids:
        st.session_state[PICK_KEY] = ids[0]
    open_case(st.selectbox("Open case", ids, key=PICK_KEY), USER, selected_model())
