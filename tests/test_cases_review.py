"""Tests of leukemia_core.cases.review: decisions per cell, optimistic locking (a second save on an
older state is refused, nothing lost), sign-off freezing, amendments, counts and agreement. On
SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from cases_fixtures import SAMPLE, single, db_url, make_run, pg_server, pg_url, store  # noqa: F401  (fixtures)
from leukemia_core.cases import repository as repo
from leukemia_core.cases import review
from leukemia_core.cases.errors import CaseInputError, CaseSignedError, StaleCaseError
from leukemia_core.cases.models import Review, Signoff


def _case(store, cid="C1", n=5, model="m1"):
    repo.create_case(store, cid, "ann", **SAMPLE)
    repo.add_reading(store, cid, "f.png", cid.encode(), make_run(model, n), "ann")
    view = repo.get_case(store, cid)
    return view, [c.id for _, _, c in view.cells(model)]


def test_decisions_are_recorded_with_user_and_utc_time(store):
    view, ids = _case(store)
    v = review.review_cells(store, "C1", {ids[0]: "HEM", ids[1]: "accept"}, "bob", view.info.version)
    assert v == view.info.version + 1
    after = repo.get_case(store, "C1")
    c0, c1, c2 = (c for _, _, c in after.cells("m1")[:3])
    assert (c0.decision, c0.reviewed_call, c0.reviewer) == ("HEM", "HEM", single("bob"))
    assert c0.reviewed_at.utcoffset().total_seconds() == 0
    assert (c1.decision, c1.reviewed_call) == ("accept", c1.call) and c2.decision is None
    assert after.info.status == "in review" and after.info.updated_by == single("bob")
    review.review_cell(store, "C1", ids[0], "ALL", "bob", v)  # a change is a new row; the newest counts
    assert repo.get_case(store, "C1").cells("m1")[0][2].decision == "ALL"
    with store.read() as s:
        assert len(s.scalars(select(Review).where(Review.cell_id == ids[0])).all()) == 2


def test_refusals(store):
    view, ids = _case(store)
    v = view.info.version
    with pytest.raises(CaseInputError, match="unknown decision"):
        review.review_cell(store, "C1", ids[0], "maybe", "bob", v)
    with pytest.raises(CaseInputError, match="no reviewer"):
        review.review_cell(store, "C1", ids[0], "ALL", "", v)
    with pytest.raises(CaseInputError, match="no decision"):
        review.review_cells(store, "C1", {}, "bob", v)
    _, other = _case(store, "C2")
    with pytest.raises(CaseInputError, match="not cells of case C1"):
        review.review_cell(store, "C1", other[0], "ALL", "bob", v)
    assert repo.get_case(store, "C1").info.version == v  # nothing was written


def test_second_save_on_an_older_state_is_refused_and_shows_the_newer_one(store):
    view, ids = _case(store)
    seen = view.info.version  # both sessions opened the case at this version
    review.review_cell(store, "C1", ids[0], "HEM", "ann", seen)
    with pytest.raises(StaleCaseError) as info:
        review.review_cell(store, "C1", ids[0], "ALL", "bob", seen)
    assert info.value.current_version == seen + 1 and info.value.last_user == single("ann")
    assert "not saved" in str(info.value)
    assert repo.get_case(store, "C1").cells("m1")[0][2].decision == "HEM"  # ann's decision kept


def test_concurrent_saves_on_one_case_lose_nothing(store):
    view, ids = _case(store, n=8)
    results, start = {}, threading.Barrier(8)

    def click(i):
        start.wait()
        try:
            results[i] = review.review_cell(store, "C1", ids[i], "HEM", f"user{i}", view.info.version)
        except StaleCaseError:
            results[i] = "stale"

    threads = [threading.Thread(target=click, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [i for i, r in results.items() if r != "stale"]
    assert len(won) == 1 and len(results) == 8  # exactly one save on that version, no other error
    after = repo.get_case(store, "C1")
    assert [c.decision for _, _, c in after.cells("m1")].count("HEM") == 1
    assert after.info.version == view.info.version + 1


def test_sign_off_freezes_and_amendment_makes_a_new_signoff(store):
    view, ids = _case(store, n=3)
    with pytest.raises(CaseInputError, match="not reviewed yet"):
        review.sign_case(store, "C1", "bob", view.info.version)
    v = review.review_cell(store, "C1", ids[0], "HEM", "bob", view.info.version)
    v = review.accept_remaining(store, repo.get_case(store, "C1"), "m1", "bob")
    with pytest.raises(StaleCaseError):
        review.sign_case(store, "C1", "bob", v - 1)
    first = review.sign_case(store, "C1", "bob", v)
    assert first.number == 1 and first.signed_by == single("bob") and first.snapshot["cells"][0]["reviewed_call"] == "HEM"
    signed = repo.get_case(store, "C1")
    assert signed.info.status == "signed"
    with pytest.raises(CaseSignedError):
        review.review_cell(store, "C1", ids[1], "ALL", "bob", signed.info.version)
    with pytest.raises(CaseSignedError):
        review.sign_case(store, "C1", "bob", signed.info.version)
    with pytest.raises(CaseInputError, match="reason"):
        review.amend_case(store, "C1", "cat", " ", signed.info.version)
    v = review.amend_case(store, "C1", "cat", "cell 2 is a blast on second look", signed.info.version)
    assert repo.get_case(store, "C1").info.amend_reason == "cell 2 is a blast on second look"
    v = review.review_cell(store, "C1", ids[1], "ALL", "cat", v)
    second = review.sign_case(store, "C1", "cat", v)
    assert (second.number, second.reason) == (2, "cell 2 is a blast on second look")
    final = repo.get_case(store, "C1")
    assert [s.number for s in final.signoffs] == [1, 2] and final.info.amend_reason is None
    # the original sign-off is untouched: its snapshot still has the first calls
    assert final.signoffs[0].snapshot == first.snapshot and final.signoffs[0].snapshot["cells"][1]["decision"] == "accept"
    assert final.signoffs[1].snapshot["cells"][1]["decision"] == "ALL"
    with store.read() as s:
        assert [r.amendment for r in s.scalars(select(Review).where(Review.cell_id == ids[1]).order_by(Review.id))] == [0, 1]
        assert len(s.scalars(select(Signoff)).all()) == 2
    v = review.amend_case(store, "C1", "cat", "again", final.info.version)
    with pytest.raises(CaseInputError, match="not signed"):  # an amendment is open already
        review.amend_case(store, "C1", "cat", "twice", v)

def test_counts_blast_and_agreement(store):
    view, ids = _case(store, n=5)  # P(ALL) 0.9 0.2 0.6 0.1 0.8: model ALL, HEM, ALL, HEM, ALL
    s = review.summarize(view, "m1")
    assert s["model"] == {"cells": 5, "ALL": 3, "HEM": 2, "no_call": 0, "blast_pct": 60.0}
    assert s["reviewed"]["pending"] == 5 and s["reviewed"]["blast_pct"] is None and s["agreement"]["share"] is None
    review.review_cells(store, "C1", {ids[0]: "accept", ids[1]: "ALL", ids[2]: "HEM", ids[3]: "not a white cell",
                                      ids[4]: "cannot classify"}, "bob", view.info.version)
    s = review.summarize(repo.get_case(store, "C1"), "m1")
    assert s["reviewed"] == {"cells": 5, "pending": 0, "ALL": 2, "HEM": 1, "excluded": 1, "unclassified": 1,
                             "blast_pct": 66.7}
    assert s["agreement"] == {"compared": 3, "agree": 1, "share": 0.3333, "changed": {"ALL->HEM": 1, "HEM->ALL": 1, "NO CALL->ALL": 0, "NO CALL->HEM": 0}}


def test_accept_remaining_and_sign_with_unknown_model(store):
    view, ids = _case(store, n=2)
    v = review.accept_remaining(store, view, "m1", "bob")
    with pytest.raises(CaseInputError, match="every cell is reviewed"):
        review.accept_remaining(store, repo.get_case(store, "C1"), "m1", "bob")
    with pytest.raises(CaseInputError, match="no cells of model"):
        review.sign_case(store, "C1", "bob", v, model="other")
