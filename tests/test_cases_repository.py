"""Tests of leukemia_core.cases.repository: cases, images (stored once), runs, listing and reading
a case, and that a failure mid-save leaves the database as it was. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from cases_fixtures import SAMPLE, single, db_url, make_run, pg_server, pg_url, store  # noqa: F401  (fixtures)
from leukemia_core.cases import repository as repo
from leukemia_core.cases.errors import CaseInputError, CaseNotFoundError, CaseSignedError, StaleCaseError
from leukemia_core.cases.models import AuditEntry, CaseImage, CellRow, Image, Run
from leukemia_core.cases.review import review_cell, sign_case
from leukemia_core.cases.views import CellInput


def _count(store, model) -> int:
    with store.read() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_create_case_and_refusals(store):
    info = repo.create_case(store, " LAB-2026/001 ", "ann", dt.date(2026, 5, 1), "smear, EDTA", specimen_id="SP-1", patient_ref="PT-0001")
    assert (info.case_id, info.status, info.version, info.created_by) == ("LAB-2026/001", "new", 1, single("ann"))
    assert info.sample_date == dt.date(2026, 5, 1) and info.created_at.tzinfo is not None
    with pytest.raises(CaseInputError, match="exists already"):
        repo.create_case(store, "LAB-2026/001", "bob", **SAMPLE)
    for bad in ("", " ", "-starts-with-dash", "x" * 65, "semi;colon"):
        with pytest.raises(CaseInputError, match="not usable"):
            repo.create_case(store, bad, "ann", **SAMPLE)
    with pytest.raises(CaseInputError, match="no reviewer"):
        repo.create_case(store, "C2", "  ", **SAMPLE)
    with pytest.raises(CaseNotFoundError):
        repo.get_case(store, "nope")
    assert [a.action for a in _audit(store)] == ["create case"]


def _audit(store):
    with store.read() as s:
        return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_images_are_stored_once_and_runs_add_up(store):
    repo.create_case(store, "C1", "ann", **SAMPLE)
    repo.create_case(store, "C2", "ann", **SAMPLE)
    a = repo.add_reading(store, "C1", "field 1.png", b"same bytes", make_run("m1", 3), "ann")
    b = repo.add_reading(store, "C1", "again.png", b"same bytes", make_run("m2", 2), "ann")  # same image, 2nd model
    repo.add_reading(store, "C2", "other-name.png", b"same bytes", make_run("m1", 1), "ann")
    repo.add_reading(store, "C1", "field 2.png", b"other bytes", make_run("m1", 4), "ann")
    assert a == b and _count(store, Image) == 2 and _count(store, CaseImage) == 3
    view = repo.get_case(store, "C1")
    assert [(im.file_name, im.position) for im in view.images] == [("field 1.png", 1), ("field 2.png", 2)]
    assert view.models() == ["m1", "m2"] and len(view.cells("m1")) == 7 and len(view.cells("m2")) == 2
    assert view.info.version == 4  # created (1) + three readings
    # a newer run of the same model on the same image replaces the older one in the view
    repo.add_reading(store, "C1", "field 1.png", b"same bytes", make_run("m1", 5), "ann")
    assert len(repo.get_case(store, "C1").cells("m1")) == 9
    assert repo.image_bytes(store, view, view.images[1].id) == b"other bytes"


def test_cell_pictures_come_in_one_call(store):
    repo.create_case(store, "C1", "ann", **SAMPLE)
    repo.add_reading(store, "C1", "f.png", b"img", make_run(n=3), "ann")
    ids = [c.id for _, _, c in repo.get_case(store, "C1").cells("m1")]
    pics = repo.cell_pictures(store, ids[:2])
    assert set(pics) == set(ids[:2]) and pics[ids[0]] == (b"crop0", b"map0")
    assert repo.cell_pictures(store, []) == {}


def test_list_and_filter_cases(store):
    for cid, note in (("A-1", "first"), ("B-2", "blast crisis?"), ("C-3", "")):
        repo.create_case(store, cid, "ann", note=note, **SAMPLE)
        repo.add_reading(store, cid, "f.png", cid.encode(), make_run(n=1), "ann")
    view = repo.get_case(store, "B-2")
    v = review_cell(store, "B-2", view.cells("m1")[0][2].id, "accept", "ann", view.info.version)
    sign_case(store, "B-2", "ann", v)
    rows = repo.list_cases(store)
    assert rows[0]["case_id"] == "B-2" and {r["case_id"] for r in rows} == {"A-1", "B-2", "C-3"}
    assert rows[0]["status"] == "signed" and rows[0]["reviewed"] == 1 and rows[0]["signoffs"] == 1
    assert [r["case_id"] for r in repo.list_cases(store, "signed")] == ["B-2"]
    assert {r["case_id"] for r in repo.list_cases(store, "new")} == {"A-1", "C-3"}
    assert [r["case_id"] for r in repo.list_cases(store, text="BLAST")] == ["B-2"]
    assert [r["case_id"] for r in repo.list_cases(store, text="c-3")] == ["C-3"]
    with pytest.raises(CaseInputError, match="unknown status"):
        repo.list_cases(store, "closed")


def test_a_failure_mid_save_leaves_the_database_as_it_was(store):
    repo.create_case(store, "C1", "ann", **SAMPLE)
    bad = make_run(n=3)
    bad = bad.__class__(**{**bad.__dict__, "cells": list(bad.cells) + [CellInput(9, (0, 0, 1, 1), 1.7, "ALL")]})
    before = {m: _count(store, m) for m in (Image, CaseImage, Run, CellRow, AuditEntry)}
    with pytest.raises(CaseInputError, match="not a model result"):
        repo.add_reading(store, "C1", "f.png", b"img", bad, "ann")  # fails after the run and 3 cells were added
    assert {m: _count(store, m) for m in before} == before
    assert repo.get_case(store, "C1").info.version == 1


def test_add_reading_refusals(store):
    repo.create_case(store, "C1", "ann", **SAMPLE)
    with pytest.raises(CaseInputError, match="empty"):
        repo.add_reading(store, "C1", "f.png", b"", make_run(), "ann")
    with pytest.raises(CaseInputError, match="file name"):
        repo.add_reading(store, "C1", " ", b"x", make_run(), "ann")
    with pytest.raises(StaleCaseError):
        repo.add_reading(store, "C1", "f.png", b"x", make_run(), "ann", expected_version=7)
    repo.add_reading(store, "C1", "f.png", b"x", make_run(n=1), "ann", expected_version=1)
    view = repo.get_case(store, "C1")
    v = review_cell(store, "C1", view.cells("m1")[0][2].id, "accept", "ann", view.info.version)
    sign_case(store, "C1", "ann", v)
    with pytest.raises(CaseSignedError, match="amendment"):
        repo.add_reading(store, "C1", "g.png", b"y", make_run(), "ann")
