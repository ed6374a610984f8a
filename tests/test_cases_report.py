"""Tests of leukemia_core.cases.report: the reviewed case report shows both calls, the sign-off and the audit trail."""

from __future__ import annotations

import dataclasses
from html import escape

import cv2
import numpy as np

from cases_fixtures import SAMPLE, make_run, single
from leukemia_core.cases import repository as repo
from leukemia_core.cases import review
from leukemia_core.cases.db import open_store
from leukemia_core.cases.models import SIGNATURE_MEANINGS
from leukemia_core.cases.report import report_html


def test_report_shows_model_and_reviewer_side_by_side(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'c.sqlite3'}", tmp_path)
    repo.create_case(store, "R-1", "ann", note="a & b", **SAMPLE)
    run = make_run(n=2)
    crop, heat = (cv2.imencode(".png", a)[1].tobytes() for a in (np.full((8, 8, 3), 90, np.uint8),
                                                                np.tile(np.arange(8, dtype=np.uint8) * 30, (8, 1))))
    run = dataclasses.replace(run, cells=[dataclasses.replace(c, crop_png=crop, map_png=heat) for c in run.cells])
    repo.add_reading(store, "R-1", "f<1>.png", b"img", run, "ann")
    view = repo.get_case(store, "R-1")
    assert "Not signed." in report_html(store, view)
    ids = [c.id for _, _, c in view.cells("m1")]
    v = review.review_cells(store, "R-1", {ids[0]: "HEM", ids[1]: "accept"}, "bob", view.info.version)
    review.sign_case(store, "R-1", "bob", v)
    html = report_html(store, repo.get_case(store, "R-1"))
    assert "Case R-1" in html and "a &amp; b" in html and "f&lt;1&gt;.png" in html  # escaped
    assert "Agreement: 1 of 2 cells (50.0%)" in html and 'class="diff"' in html  # the changed call is marked
    assert f"<td>{escape(single('bob'))}</td>" in html and "Audit trail" in html and "sign" in html and "http" not in html
    # the sample, each cell's picture and map inline, the signature's meaning and hash, the audit as text
    assert "SP-1" in html and "PT-0001" in html and "2026-05-01" in html
    assert html.count("data:image/png;base64,") == 4
    assert escape(SIGNATURE_MEANINGS[0]) in html and "sha256" in html and "&quot;" not in html.split("Audit trail")[1]
    store.dispose()
