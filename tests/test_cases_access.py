"""Tests of leukemia_core.cases.access and the rules it puts on reviews and signatures: single-user
records say they were not authenticated; a shared store takes reviews and sign-offs only from
signed-in users with the role (through the library and through the command line); roles from the
provider's groups and the users table; the four-eyes rule; the signature's meaning and summary hash;
a bulk accept is one audit line. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time

import pytest

from cases_fixtures import SAMPLE, db_url, make_run, pg_server, pg_url, single, store  # noqa: F401  (fixtures)
from leukemia_core.cases import access, review
from leukemia_core.cases import repository as repo
from leukemia_core.cases.db import open_store
from leukemia_core.cases.errors import CaseAccessError, CaseInputError
from leukemia_core.cases.export import audit_rows
from leukemia_core.cases.models import SIGNATURE_MEANINGS
from leukemia_core.cli import main

ALICE = access.Actor("alice@example.com", True, frozenset({"reviewer", "signer"}))
BOB = access.Actor("bob@example.com", True, frozenset({"reviewer"}))


def _case(store, user="ann", cid="C1", n=3):
    repo.create_case(store, cid, user, **SAMPLE)
    repo.add_reading(store, cid, "f.png", cid.encode(), make_run("m1", n), user)
    view = repo.get_case(store, cid)
    return view, [c.id for _, _, c in view.cells("m1")]


def test_roles_from_the_group_claim():
    assert access.roles_from_claims({"groups": ["leukemia-signer", "x"]}) == {"signer"}
    assert access.roles_from_claims({"roles": "lab-rev"}, {"role_claim": "roles", "reviewer_groups": ["lab-rev"]}) \
        == {"reviewer"}
    assert access.roles_from_claims({}) == frozenset() and access.roles_from_claims(None) == frozenset()


def test_single_user_records_say_unauthenticated(store):
    view, ids = _case(store)
    v = review.review_cells(store, "C1", {i: "accept" for i in ids}, "ann", view.info.version)
    s = review.sign_case(store, "C1", "ann", v)
    assert s.signed_by == single("ann") and access.store_mode(store) == access.SINGLE_USER
    assert {r["user"] for r in audit_rows(store, "C1")} == {single("ann")}


def test_a_signed_in_user_makes_the_store_shared_and_then_names_are_refused(store):
    view, ids = _case(store, ALICE)
    assert access.store_mode(store) == access.SHARED and view.info.created_by == "alice@example.com"
    for fn in (lambda: review.review_cell(store, "C1", ids[0], "HEM", "mallory", view.info.version),
               lambda: review.sign_case(store, "C1", "mallory", view.info.version)):
        with pytest.raises(CaseAccessError, match="shared: .* sign in"):
            fn()
    assert repo.get_case(store, "C1").info.version == view.info.version  # nothing written
    # an import from the command line is kept, and says it was not authenticated
    repo.add_reading(store, "C1", "g.png", b"g", make_run("m1", 1), "ops")
    assert audit_rows(store, "C1")[-2]["user"] == "ops · unauthenticated (command line)"


def test_roles_are_checked_and_the_users_table_adds_or_takes_them(store):
    view, ids = _case(store, ALICE)
    v = review.review_cells(store, "C1", {i: "accept" for i in ids}, BOB, view.info.version)
    with pytest.raises(CaseAccessError, match="bob@example.com does not have the signer role"):
        review.sign_case(store, "C1", BOB, v)
    access.grant(store, "bob@example.com", ["signer"], "admin")
    assert review.sign_case(store, "C1", BOB, v).signed_by == "bob@example.com"
    access.grant(store, "alice@example.com", [], "admin", active=False)  # inactive: the provider's groups no longer count
    with pytest.raises(CaseAccessError, match="signer role needed to amend"):
        review.amend_case(store, "C1", ALICE, "why", v + 1)
    assert [u["name"] for u in access.list_users(store)] == ["alice@example.com", "bob@example.com"]
    assert access.roles_of(store, BOB) == {"reviewer", "signer"} and access.roles_of(store, ALICE) == frozenset()
    with pytest.raises(CaseInputError, match="unknown role"):
        access.grant(store, "x", ["admin"], "admin")


def test_four_eyes_refuses_the_only_reviewer_as_signer(store):
    access.set_mode(store, "admin", access.SHARED, four_eyes_on=True)
    view, ids = _case(store, ALICE)
    v = review.review_cells(store, "C1", {i: "accept" for i in ids}, ALICE, view.info.version)
    with pytest.raises(CaseAccessError, match="four eyes"):
        review.sign_case(store, "C1", ALICE, v)
    v = review.review_cell(store, "C1", ids[0], "HEM", BOB, v)  # a second reviewer
    assert review.sign_case(store, "C1", ALICE, v).number == 1


def test_signature_stores_meaning_and_the_hash_of_the_summary_shown(store):
    view, ids = _case(store, ALICE, n=4)
    v = review.review_cells(store, "C1", {ids[0]: "HEM", ids[1]: "not a white cell"}, ALICE, view.info.version)
    v = review.accept_remaining(store, repo.get_case(store, "C1"), "m1", ALICE)
    shown = review.signing_summary(repo.get_case(store, "C1"), "m1")
    assert (shown["reviewed"], shown["pending"], shown["excluded"], shown["specimen_id"]) == (4, 0, 1, "SP-1")
    with pytest.raises(CaseInputError, match="unknown signature meaning"):
        review.sign_case(store, "C1", ALICE, v, meaning="looks fine")
    with pytest.raises(CaseInputError, match="not the one you confirmed"):
        review.sign_case(store, "C1", ALICE, v, confirmed_sha256="0" * 64)
    s = review.sign_case(store, "C1", ALICE, v, confirmed_sha256=review.summary_sha256(shown))
    stored = repo.get_case(store, "C1").signoffs[0]
    assert (stored.meaning, stored.summary_sha256) == (SIGNATURE_MEANINGS[0], review.summary_sha256(shown)) == \
        (s.meaning, s.summary_sha256)
    assert stored.snapshot["signed_summary"] == shown


def test_bulk_accept_is_one_audit_line_listing_its_cells(store):
    view, ids = _case(store, n=5)
    v = review.review_cell(store, "C1", ids[0], "HEM", "ann", view.info.version)
    review.accept_remaining(store, repo.get_case(store, "C1"), "m1", "ann")
    lines = [r for r in audit_rows(store, "C1") if r["action"] in ("review", "accept remaining")]
    assert [r["action"] for r in lines] == ["review", "accept remaining"] and v
    detail = json.loads(lines[1]["detail"])
    assert detail["n_cells"] == 4 and [c["cell"] for c in detail["cells"]] == ids[1:]


def test_sample_fields_are_required_and_checked(store):
    with pytest.raises(CaseInputError, match="specimen ID.*sample date.*patient reference"):
        repo.create_case(store, "C9", "ann")
    with pytest.raises(CaseInputError, match="not a name"):
        repo.create_case(store, "C9", "ann", **{**SAMPLE, "patient_ref": "John Smith"})
    with pytest.raises(CaseInputError, match="between 1900-01-01 and today"):
        repo.create_case(store, "C9", "ann", **{**SAMPLE, "sample_date": SAMPLE["sample_date"].replace(year=2999)})
    info = repo.create_case(store, "C9", "ann", **SAMPLE)
    assert (info.specimen_id, info.patient_ref, info.sample_date) == ("SP-1", "PT-0001", SAMPLE["sample_date"])


def test_command_line_roles_mode_and_a_refused_signature(tmp_path, capsys):
    opts = ["--db", f"sqlite:///{tmp_path / 'c.sqlite3'}", "--data-home", str(tmp_path)]
    store = open_store(opts[1], tmp_path)
    view, ids = _case(store)
    review.review_cells(store, "C1", {i: "accept" for i in ids}, "ann", view.info.version)
    assert main(["cases", "users", "grant", "alice@example.com", "--role", "signer", "--user", "admin", *opts]) == 0
    assert main(["cases", "users", "grant", "bob@example.com", *opts]) == 2  # no role named
    assert "--role reviewer" in capsys.readouterr().err
    assert main(["cases", "users", "list", *opts]) == 0
    assert "alice@example.com" in capsys.readouterr().out
    assert main(["cases", "mode", "shared", "--four-eyes", "on", "--user", "admin", *opts]) == 0
    assert "store mode shared; four eyes on" in capsys.readouterr().out
    assert main(["cases", "sign", "--case", "C1", "--user", "alice@example.com", *opts]) == 2
    assert "sign in to the app" in capsys.readouterr().err
    assert repo.get_case(store, "C1").signoffs == []
    assert main(["cases", "mode", "single-user", "--user", "admin", *opts]) == 0
    assert main(["cases", "sign", "--case", "C1", "--user", "ann", *opts]) == 2  # four eyes: ann reviewed every cell
    assert "four eyes" in capsys.readouterr().err
    assert main(["cases", "mode", "--four-eyes", "off", "--user", "admin", *opts]) == 0
    assert main(["cases", "sign", "--case", "C1", "--user", "ann", *opts]) == 0
    assert "sign-off 1 by ann · unauthenticated (single-user mode)" in capsys.readouterr().out
    store.dispose()


def test_a_signature_needs_a_recent_sign_in(store):
    view, ids = _case(store, ALICE)
    v = review.review_cells(store, "C1", {i: "accept" for i in ids}, BOB, view.info.version)
    old = access.Actor(ALICE.name, True, ALICE.roles, time.time() - access.SIGN_WITHIN_S - 60)
    with pytest.raises(CaseAccessError, match="sign-in is 16 min old.*sign in again"):
        review.sign_case(store, "C1", old, v)
    review.review_cell(store, "C1", ids[0], "HEM", old, v)  # reviewing needs no fresh sign-in
    fresh = access.Actor(ALICE.name, True, ALICE.roles, time.time() - 5)
    assert review.sign_case(store, "C1", fresh, v + 1).signed_by == ALICE.name
    assert access.sign_in_age(access.Actor("x")) is None
