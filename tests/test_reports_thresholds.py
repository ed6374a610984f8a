"""reports.thresholds: cell and field thresholds, the refer band and the calibration tables of reports."""

import numpy as np
import pytest

from leukemia_core.models.calibration import DEFAULT_THRESHOLD
from leukemia_core.reports.files import BASELINE
from leukemia_core.reports.thresholds import (
    calibration_of,
    calibration_table,
    field_threshold,
    image_thresholds,
    refer_band,
    reliability_frame,
    threshold_text,
)

CAL = {"fitted": True, "threshold": 0.45, "refer_half_width": 0.1, "field_threshold": 0.55,
       "info": {"ece_before": 0.2, "ece_after": 0.05, "n_cells": 100, "fitted_on": ["cnmc", "aria"],
                "reliability_before": [{"mean_p": 0.3, "observed": 0.2, "n": 10, "weight": 0.5}],
                "reliability_after": [{"mean_p": 0.25, "observed": 0.2, "n": 10, "weight": 0.5}]}}
REPORT = {"threshold": 0.45, "calibration": CAL}


def test_field_threshold_from_the_report_or_its_calibration():
    assert field_threshold(REPORT) == 0.55
    assert field_threshold({"field_threshold": 0.6, "calibration": CAL}) == 0.6
    assert field_threshold({"threshold": 0.5}) is None


def test_threshold_text():
    assert threshold_text(REPORT) == "0.45"
    assert threshold_text(REPORT, "images") == "0.45 one cell, 0.55 several"
    assert threshold_text(REPORT, "images", threshold=0.3) == "0.30 one cell, 0.40 several"  # the offset moves
    assert threshold_text({"threshold": 0.5}, "images") == "0.50"
    assert threshold_text({}, "cells") == f"{DEFAULT_THRESHOLD:.2f}"
    assert threshold_text({"threshold": 0.5, "field_threshold": 0.5}, "images") == "0.50"


def test_image_thresholds_follow_the_field_rule():
    s = {"images": [{"n_found": 1}, {"n_found": 3}, {"n_cells": 2}, {}]}
    np.testing.assert_allclose(image_thresholds(REPORT, s, 0.45), [0.45, 0.55, 0.55, 0.45])
    np.testing.assert_allclose(image_thresholds(REPORT, s, 0.2), [0.2, 0.3, 0.3, 0.2])
    np.testing.assert_allclose(image_thresholds(None, s, 0.4), [0.4] * 4)
    np.testing.assert_allclose(image_thresholds({"threshold": 0.5}, s, 0.4), [0.4] * 4)
    assert image_thresholds(REPORT, {}, 0.5).shape == (0,)


def test_calibration_of_and_refer_band():
    assert calibration_of(REPORT) is CAL
    assert calibration_of({"calibration": {"fitted": False}}) is None and calibration_of({}) is None
    assert refer_band(REPORT) == pytest.approx((0.35, 0.55))
    edge = {"calibration": {"fitted": True, "threshold": 0.05, "refer_half_width": 0.1}}
    assert refer_band(edge) == pytest.approx((0.0, 0.15))  # clipped to [0, 1]
    assert refer_band({"calibration": {"fitted": True, "refer_half_width": 0.0}}) is None
    assert refer_band({}) is None


def test_calibration_table_and_reliability_frame():
    t = calibration_table({"m": REPORT, BASELINE: {"threshold": 0.5}, "raw": {"threshold": 0.5}})
    assert t["model"].tolist() == ["m", BASELINE, "raw"]
    m = t.iloc[0]
    assert m["field threshold"] == "0.55" and m["refer band"] == "0.35–0.55"
    assert m["ECE before"] == 0.2 and m["calibrated on"] == "cnmc, aria"
    assert t.iloc[1]["calibrated on"].startswith("not calibrated: threshold") and t.iloc[1]["refer band"] == "none"
    assert t.iloc[2]["calibrated on"] == "not calibrated" and t.iloc[2]["field threshold"] == "same"
    r = reliability_frame({"m": REPORT, "raw": {}})
    assert r["stage"].tolist() == ["before calibration", "after calibration"]
    assert r["mean P(ALL)"].tolist() == [0.3, 0.25] and set(r["model"]) == {"m"}
