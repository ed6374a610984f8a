"""Tests of leukemia_core.cases.session: who may review (login or a typed name), gallery pages and
filters, the map overlay and an app reading as a run."""

from __future__ import annotations

import datetime as dt

import cv2
import numpy as np

from leukemia_core.cases import session
from leukemia_core.cases.importer import png
from leukemia_core.cases.models import DECISIONS
from leukemia_core.cases.views import CaseInfo, CaseView, CellView, ImageView, RunView
from leukemia_core.cells.analyze import FoundCells, ImageAnalysis
from leukemia_core.cells.outcome import NOTE_NO_CELL
from leukemia_core.models.calibration import Calibration

NOW = dt.datetime(2026, 5, 1, tzinfo=dt.timezone.utc)


def test_auth_configured_only_with_a_client_id():
    assert not session.auth_configured(None) and not session.auth_configured({})
    assert not session.auth_configured({"auth": {"redirect_uri": "x"}})
    assert session.auth_configured({"auth": {"client_id": "a", "client_secret": "b"}})
    assert session.auth_configured({"auth": {"redirect_uri": "x", "microsoft": {"client_id": "a"}}})

    class Broken:
        def get(self, key):
            raise FileNotFoundError("no secrets.toml")

    assert not session.auth_configured(Broken())


def test_reviewer_is_the_signed_in_user_or_the_typed_name():
    user = {"is_logged_in": True, "email": "ann@lab.example", "name": "Ann"}
    assert session.reviewer(True, user, "typed") == "ann@lab.example"
    assert session.reviewer(True, {"is_logged_in": True, "name": "Ann"}, None) == "Ann"
    assert session.reviewer(True, {"is_logged_in": False, "email": "x"}, "typed") is None  # login on: no typed name
    assert session.reviewer(False, None, "  Bo  ") == "Bo" and session.reviewer(False, None, " ") is None
    assert set(session.DECISION_LABELS) == set(DECISIONS)


def _view(n=30):
    cells = [CellView(i, i, (0, 0, 1, 1), i / n, "ALL" if i / n >= 0.5 else "HEM", i % 7 == 0, False, "",
                      "HEM" if i % 5 == 0 else None) for i in range(n)]
    run = RunView(1, "m", "", None, 0.5, 0.5, 0.0, False, [], 0.5, "ALL", "app", NOW, "a", cells)
    info = CaseInfo(1, "C", None, "", "new", 1, NOW, "a", NOW, "a", None)
    return CaseView(info, [ImageView(1, "s", "a.png", 1, {"m": run})], [])


def test_gallery_pages_and_filters():
    view = _view(30)
    rows, pages, n = session.gallery_page(view, "m", 0, per_page=24)
    assert (len(rows), pages, n) == (24, 2, 30) and rows[0][2].id == 0
    rows, _, _ = session.gallery_page(view, "m", 5, per_page=24)  # clipped to the last page
    assert [c.id for _, _, c in rows] == list(range(24, 30))
    assert session.gallery_page(view, "m", 0, "not reviewed")[2] == 24
    changed = [c.id for _, _, c in session.gallery_page(view, "m", 0, "changed by the reviewer")[0]]
    assert changed == [15, 20, 25]  # reviewed HEM where the model called ALL
    assert session.gallery_page(view, "m", 0, "to refer")[2] == 5
    assert session.gallery_page(_view(0), "m")[1:] == (1, 0)


def test_map_overlay_and_upload_run():
    crop, heat = png(np.full((40, 40, 3), 128, np.uint8)), png(np.ones((40, 40), np.float32))
    over = cv2.imdecode(np.frombuffer(session.map_overlay(crop, heat), np.uint8), cv2.IMREAD_COLOR)
    assert over.shape[:2] == (96, 96) and over[0, 0, 2] > over[0, 0, 0]  # strongest evidence: bright yellow
    assert session.map_overlay(crop, None) is None and session.map_overlay(b"junk", heat) is None

    # what the Classify page's read_cells gives: a whole-image reading with both maps
    found = FoundCells([], np.zeros((1, 40, 40, 3), np.uint8), True, ["check the stain"])
    maps = np.zeros((1, 40, 40), np.float16)
    result = ImageAnalysis(found, np.array([0.8]), np.array([0.8]), Calibration(threshold=0.5), maps, maps)
    run = session.upload_run("m", result, 0.5, "sha", (100, 200, 3), "lab A")
    assert run.whole_image and run.cells[0].box == (0, 0, 200, 100) and run.site_profile == "lab A"
    assert run.image_call == "ALL" and run.cells[0].map_png and run.source == "app"
    found.notes.append(NOTE_NO_CELL)  # the finder's own note: no white cell, no call
    run = session.upload_run("m", result, 0.5, "sha", (100, 200, 3))
    assert run.image_call == "NO CALL" and run.cells[0].call == "NO CALL"
    assert "no white cell found" in run.cells[0].flags
