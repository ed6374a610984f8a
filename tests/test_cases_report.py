"""Tests of leukemia_core.cases.report: the reviewed case report shows both calls, the sign-off and the audit trail."""

from __future__ import annotations

from cases_fixtures import make_run
from leukemia_core.cases import repository as repo
from leukemia_core.cases import review
from leukemia_core.cases.db import open_store
from leukemia_core.cases.report import report_html


def test_report_shows_model_and_reviewer_side_by_side(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'c.sqlite3'}", tmp_path)
    repo.create_case(store, "R-1", "ann", note="a & b")
    repo.add_reading(store, "R-1", "f<1>.png", b"img", make_run(n=2), "ann")
    view = repo.get_case(store, "R-1")
    assert "Not signed." in report_html(store, view)
    ids = [c.id for _, _, c in view.cells("m1")]
    v = review.review_cells(store, "R-1", {ids[0]: "HEM", ids[1]: "accept"}, "bob", view.info.version)
    review.sign_case(store, "R-1", "bob", v)
    html = report_html(store, repo.get_case(store, "R-1"))
    assert "Case R-1" in html and "a &amp; b" in html and "f&lt;1&gt;.png" in html  # escaped
    assert "Agreement: 1 of 2 cells (50.0%)" in html and 'class="diff"' in html  # the changed call is marked
    assert "<td>bob</td>" in html and "Audit trail" in html and "sign" in html and "http" not in html
    store.dispose()
