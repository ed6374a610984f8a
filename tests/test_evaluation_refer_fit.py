"""Tests of leukemia_core.evaluation.refer_fit: the band refitted from a report's stored validation
P(ALL) at the stated rate, its figures on the other sets, the table, and that the docs block and the
served bands are the shipped measurement."""

from __future__ import annotations

import pytest

from leukemia_core.evaluation.refer_fit import band_of_report, table


def _set(key, dataset, cells):
    return {"key": key, "dataset": dataset, "images": [{"label": lab, "cells": [p]} for lab, p in cells]}


def test_band_from_validation_cells_and_what_it_catches_elsewhere():
    val = [("hem", 0.1), ("hem", 0.2), ("all", 0.3), ("hem", 0.45), ("hem", 0.55), ("all", 0.6), ("all", 0.7),
           ("all", 0.8), ("all", 0.9), ("all", 0.95)]
    test = [("hem", 0.48), ("all", 0.47), ("all", 0.9), ("hem", 0.1)]
    report = {"model": "m", "threshold": 0.5, "sets": [_set("x/val", "x", val), _set("x/test", "x", test),
                                                        _set("x/train", "x", test)]}
    r = band_of_report(report, rate=0.2)
    # weights: HEM 0.5 / 4, ALL 0.5 / 6 each; +- 0.05 = [0.45, 0.55] holds two HEM cells: 0.25 >= 0.2
    assert r["refer_half_width"] == 0.05 and r["validation"]["refer_share"] == pytest.approx(0.25)
    assert list(r["sets"]) == ["x/test"]  # train chose nothing but is no test either: not measured
    t = r["sets"]["x/test"]
    # test: 0.48 and 0.47 inside (half the cells); the one wrong call (ALL at 0.47) is among them
    assert (t["cells"], t["referred"], t["wrong_calls"], t["wrong_calls_referred"]) == (4, 0.5, 1, 1.0)
    assert t["accuracy_outside"] == 1.0 and t["accuracy_all"] == 0.75
    text = table({"refer_rate": 0.2, "models": {"m": r}})
    assert "| m | 0.05 | validation (chose it) | 10 |" in text and "| m | | x/test | 4 | 50.0 % | 1 | 100.0 % |" in text


def test_the_docs_block_and_the_served_bands_are_the_shipped_measurement():
    from leukemia_core.docblocks import block_text
    from leukemia_core.jsonio import read_json
    from leukemia_core.paths import PROJECT_ROOT

    doc = read_json(PROJECT_ROOT / "model_weights" / "refer_band.json")
    if not doc:
        pytest.skip("no shipped refer_band.json")
    assert block_text((PROJECT_ROOT / "docs" / "results.md").read_text(), "refer-band") == table(doc)
    for m, r in doc["models"].items():
        cal = read_json(PROJECT_ROOT / "model_weights" / f"{m}.calibration.json")
        if cal:  # the shipped models (the leave-one-lab-out runs have no calibration file here)
            assert cal["refer_half_width"] == r["refer_half_width"]
