"""Tests of leukemia_core.cases.views: the reviewed call of each decision, and a case's models and cells."""

from __future__ import annotations

import datetime as dt

from leukemia_core.cases.models import DECISIONS
from leukemia_core.cases.views import CaseInfo, CaseView, CellView, ImageView, RunView

NOW = dt.datetime(2026, 5, 1, tzinfo=dt.timezone.utc)


def _cell(i, call, decision=None):
    return CellView(i, i, (0, 0, 1, 1), 0.5, call, False, False, "", decision)


def _run(i, model, cells):
    return RunView(i, model, "", None, 0.5, 0.5, 0.0, False, [], 0.5, "ALL", "app", NOW, "a", cells)


def test_reviewed_call_of_every_decision():
    assert [_cell(1, "ALL", d).reviewed_call for d in DECISIONS] == ["ALL", "ALL", "HEM", "excluded", "unclassified"]
    assert _cell(1, "HEM", "accept").reviewed_call == "HEM" and _cell(1, "HEM").reviewed_call is None


def test_models_in_order_of_first_run_and_cells_image_by_image():
    a = ImageView(1, "s1", "a.png", 1, {"m2": _run(5, "m2", [_cell(1, "ALL")]), "m1": _run(3, "m1", [_cell(2, "HEM")])})
    b = ImageView(2, "s2", "b.png", 2, {"m1": _run(4, "m1", [_cell(3, "ALL"), _cell(4, "HEM")])})
    info = CaseInfo(1, "C", None, "", "new", 1, NOW, "a", NOW, "a", None)
    view = CaseView(info, [a, b], [])
    assert view.models() == ["m1", "m2"]
    assert [(im.file_name, c.id) for im, _, c in view.cells("m1")] == [("a.png", 2), ("b.png", 3), ("b.png", 4)]
    assert [c.id for _, _, c in view.cells("m2")] == [1] and view.cells("none") == []
