"""The Cases page through Streamlit's AppTest with the tiny model: a case from the bundled samples,
review and reclassify cells, sign off, reopen the app and find it signed with its audit trail; two
sessions on one case (the second, stale click is refused with a message); a store that cannot be
opened gives a clear error."""

from __future__ import annotations

import datetime as dt

import pytest

from cases_fixtures import single
from app_fixtures import APP, app_env, app_weights, navigation_v2  # noqa: F401  (fixtures)
from leukemia_core.cases.db import open_store
from leukemia_core.cases.repository import get_case
from leukemia_core.samples import list_samples

TIMEOUT = 180


@pytest.fixture
def cases_env(app_env, tmp_path, monkeypatch):
    """The app on the tiny model with an empty case store in the test's folder."""
    monkeypatch.setenv("LEUKEMIA_DATA_HOME", str(tmp_path / "store"))
    monkeypatch.delenv("LEUKEMIA_DB_URL", raising=False)
    return tmp_path / "store"


def _cases_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    return at.switch_page("pages/cases.py").run()


def _texts(at) -> str:
    parts = []
    for kind in ("markdown", "caption", "warning", "info", "error", "success", "subheader"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts).replace("\\", "")


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


def _named(at, name="Ann Tech"):
    at.text_input(key="cases_name_input").input(name).run()
    at.button(key="cases_name_set").click().run()
    _ok(at)
    assert f"Reviewing as **{name}**" in _texts(at)
    return at


def _decisions(at):
    return [w for w in at.segmented_control if str(w.key or "").startswith("cases_d_")]


def test_case_from_samples_review_sign_and_reopen(cases_env):
    at = _cases_page()
    _ok(at)
    assert "No case yet" in _texts(at) and (cases_env / "cases.sqlite3").is_file()  # created on first use
    assert at.button(key="cases_create").disabled  # no reviewer, no case ID, no image yet
    _named(at)
    field = next(s for s in list_samples() if s.dataset == "Aria ALL")
    cell = next(s for s in list_samples() if s.dataset == "C-NMC 2019")
    at.text_input(key="cases_new_id").input("LAB-7").run()
    at.multiselect(key="cases_samples").select(field.title).select(cell.title).run()
    assert at.button(key="cases_create").disabled  # the sample's fields are required
    assert "Still needed: sample date, specimen ID, patient reference." in _texts(at)
    at.date_input(key="cases_new_date").set_value(dt.date(2026, 5, 1)).run()
    at.text_input(key="cases_new_specimen").input("SP-7").run()
    at.text_input(key="cases_new_patient").input("PT-0007").run()
    assert at.date_input(key="cases_new_date").value == dt.date(2026, 5, 1)  # what was typed stays
    at.button(key="cases_create").click().run()
    _ok(at)
    store = open_store(None, cases_env)
    view = get_case(store, "LAB-7")
    assert at.text_input(key="cases_new_id_1").value == ""  # the form starts empty for the next case
    cells = view.cells("tiny_cnn")
    assert len(view.images) == 2 and len(cells) >= 2 and view.info.created_by == single("Ann Tech")
    assert (view.info.specimen_id, view.info.patient_ref, view.info.sample_date) == ("SP-7", "PT-0007",
                                                                                       dt.date(2026, 5, 1))
    assert all(r.weights_sha256 for _, r, _ in cells)
    widgets = _decisions(at)
    assert len(widgets) == min(len(cells), 24) and "Case LAB-7" in _texts(at)
    first = cells[0][2]
    flip = "HEM" if first.call == "ALL" else "ALL"
    widgets[0].set_value(flip).run()
    _ok(at)
    assert get_case(store, "LAB-7").cells("tiny_cnn")[0][2].decision == flip
    assert at.button(key="cases_sign").disabled  # cells still to review
    at.button(key="cases_accept_rest").click().run()
    at.button(key="cases_sign").click().run()  # the summary of what is signed, its meaning, a confirmation
    _ok(at)
    assert "calls changed by the review" in str(at.table[0].value.index.tolist())
    assert at.button(key="cases_sign_confirm").disabled  # not confirmed yet
    at.checkbox(key="cases_sign_ok").check().run()
    at.button(key="cases_sign_confirm").click().run()
    _ok(at)
    assert "Sign-off 1: Ann Tech" in _texts(at)
    assert all(w.disabled for w in _decisions(at))  # signed: frozen
    counted = next(d.value for d in at.dataframe if list(d.value.columns) == ["model", "reviewed"])
    # counts read as counts (the column also holds the blast %)
    # cells counted: those the review called ALL or HEM (an accepted NO CALL counts as "cannot classify")
    reviewed = [c.reviewed_call for _, _, c in get_case(store, "LAB-7").cells("tiny_cnn")]
    assert counted["reviewed"].iloc[0] == str(sum(r in ("ALL", "HEM") for r in reviewed))
    assert counted["reviewed"].iloc[-1] == "0"  # not reviewed yet
    # a new session (the app reopened) finds the case signed, with its audit trail
    again = _cases_page()
    _ok(again)
    assert "signed" in _texts(again) and "Sign-off 1: Ann Tech" in _texts(again)
    audit = again.dataframe[-1].value
    assert list(audit["action"])[:2] == ["create case", "add image"] and "sign" in set(audit["action"])
    assert (audit["user"] == single("Ann Tech")).all()
    assert "accept remaining" in set(audit["action"]) and not any(audit["what"].str.contains('{"'))
    # amendment: reason, reopen, the change is a second sign-off
    _named(again, "Bo Lead")
    again.text_input(key=next(w.key for w in again.text_input if str(w.key).startswith("cases_reason_"))) \
        .input("cell 1 rechecked").run()
    again.button(key="cases_amend").click().run()
    _ok(again)
    assert "Amendment open: cell 1 rechecked" in _texts(again)
    assert get_case(store, "LAB-7").info.status == "in review"
    store.dispose()


def test_two_sessions_on_one_case_never_overwrite_silently(cases_env):
    from dataclasses import replace

    import numpy as np

    from cases_fixtures import SAMPLE, make_run
    from leukemia_core.cases.importer import png
    from leukemia_core.cases.repository import add_reading, create_case

    store = open_store(None, cases_env)
    create_case(store, "SHARED", "setup", **SAMPLE)
    run = make_run("tiny_cnn", 3)
    picture = png(np.full((32, 32, 3), 200, np.uint8))
    run = replace(run, cells=[replace(c, crop_png=picture, map_png=png(np.zeros((32, 32)))) for c in run.cells])
    add_reading(store, "SHARED", "f.png", b"img", run, "setup")
    a, b = _named(_cases_page(), "Ann"), _named(_cases_page(), "Bob")
    _decisions(a)[0].set_value("HEM").run()
    _ok(a)
    _decisions(b)[0].set_value("ALL").run()  # drawn before Ann's change: refused, newer state drawn
    _ok(b)
    assert f"was changed by {single('Ann')} since you opened it" in _texts(b)
    assert get_case(store, "SHARED").cells("tiny_cnn")[0][2].decision == "HEM"
    assert _decisions(b)[0].value == "HEM"  # the newer state is shown
    _decisions(b)[1].set_value("ALL").run()  # now on the current version: saved
    assert get_case(store, "SHARED").cells("tiny_cnn")[1][2].decision == "ALL"
    # two quick clicks that reach the server in one rerun: both saved, neither refused as stale
    a.run()  # Ann's page redrawn after Bob's change
    _decisions(a)[1].set_value("HEM")
    _decisions(a)[2].set_value("ALL")
    a.run()
    _ok(a)
    assert "since you opened it" not in _texts(a)
    cells = get_case(store, "SHARED").cells("tiny_cnn")
    assert [cells[i][2].decision for i in (1, 2)] == ["HEM", "ALL"]
    assert [w.value for w in _decisions(a)][:3] == ["HEM", "HEM", "ALL"]  # the stored decisions are drawn
    store.dispose()


def test_a_store_that_cannot_be_opened_is_a_clear_error(cases_env, monkeypatch):
    monkeypatch.setenv("LEUKEMIA_DB_URL", "postgresql+psycopg://u:secret@127.0.0.1:9/none")
    at = _cases_page()
    _ok(at)
    errors = "\n".join(e.value for e in at.error).replace("\\", "")
    assert "cannot open the case database" in errors and "secret" not in errors and "Traceback" not in errors
