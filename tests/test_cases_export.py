"""Tests of leukemia_core.cases.export: a case's cells with both calls, one row per case and model,
the audit log and each sign-off's snapshot; as rows and CSV."""

from __future__ import annotations

import csv
import io
import json

from cases_fixtures import SAMPLE, single, db_url, make_run, pg_server, pg_url, store  # noqa: F401  (fixtures)
from leukemia_core.cases import export, review
from leukemia_core.cases import repository as repo


def _signed_case(store):
    repo.create_case(store, "E-1", "ann", note="for export", **SAMPLE)
    repo.add_reading(store, "E-1", "f.png", b"img", make_run(n=3), "ann")
    view = repo.get_case(store, "E-1")
    ids = [c.id for _, _, c in view.cells("m1")]
    v = review.review_cells(store, "E-1", {ids[0]: "HEM", ids[1]: "accept", ids[2]: "not a white cell"}, "bob",
                            view.info.version)
    review.sign_case(store, "E-1", "bob", v)
    repo.create_case(store, "E-2", "ann", **SAMPLE)


def _csv(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_case_csv_has_model_and_reviewer_calls(store):
    _signed_case(store)
    rows = _csv(export.case_csv(store, "E-1"))
    assert list(rows[0]) == export.CELL_FIELDS and len(rows) == 3
    assert [(r["model_call"], r["decision"], r["reviewed_call"]) for r in rows] == [
        ("ALL", "HEM", "HEM"), ("HEM", "accept", "HEM"), ("ALL", "not a white cell", "excluded")]
    assert rows[0]["reviewer"] == single("bob") and rows[0]["reviewed_at"].endswith("+00:00") and rows[0]["status"] == "signed"


def test_all_cases_csv_one_row_per_case_and_model(store):
    _signed_case(store)
    rows = {r["case_id"]: r for r in _csv(export.all_cases_csv(store))}
    assert set(rows) == {"E-1", "E-2"}
    e1 = rows["E-1"]
    assert (e1["model_ALL"], e1["model_blast_pct"], e1["reviewed_ALL"], e1["reviewed_HEM"], e1["excluded"]) == (
        "2", "66.7", "0", "2", "1")
    assert e1["agreement"] == "0.5" and e1["signed_by"] == single("bob") and e1["signoffs"] == "1"
    assert rows["E-2"]["model"] == "" and rows["E-2"]["images"] == "0"
    assert [r["case_id"] for r in _csv(export.all_cases_csv(store, "signed"))] == ["E-1"]


def test_audit_log_export(store):
    _signed_case(store)
    rows = export.audit_rows(store)
    assert [r["action"] for r in rows] == ["create case", "add image", "add run", "review", "review", "review", "sign",
                                           "create case"]
    first_review = json.loads(rows[3]["detail"])
    assert first_review["decision"] == "HEM" and first_review["model_call"] == "ALL" and rows[3]["user"] == single("bob")
    assert [r["case_id"] for r in export.audit_rows(store, "E-2")] == ["E-2"]
    assert _csv(export.audit_csv(store, "E-1"))[-1]["action"] == "sign"


def test_signoff_rows(store):
    _signed_case(store)
    (row,) = export.signoff_rows(repo.get_case(store, "E-1"))
    assert row["number"] == 1 and row["signed_by"] == single("bob") and json.loads(row["summary"])["reviewed"]["HEM"] == 2
    assert export.to_csv([{"a": None, "b": 1}], ["a", "b"]) == "a,b\n,1\n"
