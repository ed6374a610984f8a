"""A report's decision thresholds, field rule, refer band and calibration (tables and reliability bins);
the values come from :func:`~leukemia_core.models.card.report_thresholds`, never from the dict."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..models.calibration import DEFAULT_THRESHOLD, threshold_in_use
from ..models.card import report_thresholds
from .files import BASELINE


def field_threshold(report: dict) -> float | None:
    """The report's threshold for images of several cells (None: the cell threshold for all)."""
    return report_thresholds(report).field_threshold


def threshold_text(report: dict, level: str = "cells", threshold: float | None = None) -> str:
    """The threshold(s) a level was called at, for people: ``"0.45"``, or for images with a field
    rule ``"0.45 one cell, 0.52 several"``. ``threshold``: a cell threshold other than the report's."""
    rt = report_thresholds(report)
    cell = threshold_in_use(threshold, rt.threshold)
    if level == "cells" or rt.field_threshold is None:
        return f"{cell:.2f}"
    several = rt.image_threshold(2, cell)
    return f"{cell:.2f}" if abs(several - cell) < 1e-9 else f"{cell:.2f} one cell, {several:.2f} several"


def image_thresholds(report: dict | None, report_set: dict, threshold: float) -> np.ndarray:
    """Each image's threshold at cell threshold ``threshold``: an image of several cells follows
    the report's field rule (:meth:`~leukemia_core.models.calibration.Calibration.image_threshold`), one
    of one cell (or a report without a field rule) takes ``threshold``.

    Returns ``float64 (N,)`` in [0, 1], one per image of the set.
    """
    imgs = report_set.get("images", [])
    rt = report_thresholds(report)
    if report is None or rt.field_threshold is None:
        return np.full(len(imgs), float(threshold))
    return np.array([rt.image_threshold(int(i.get("n_found", i.get("n_cells", 1))), threshold) for i in imgs])


def calibration_of(report: dict) -> dict | None:
    """The report's fitted calibration (None when the model was not calibrated, e.g. the baseline)."""
    cal = report.get("calibration")
    return cal if isinstance(cal, dict) and cal.get("fitted") else None


def refer_band(report: dict) -> tuple[float, float] | None:
    """``(low, high)`` of the refer band around the report's threshold, or None without one
    (:func:`~leukemia_core.models.card.report_thresholds`)."""
    return report_thresholds(report).refer_band if calibration_of(report) else None


def calibration_table(reports: dict[str, dict]) -> pd.DataFrame:
    """One row per report: threshold (cells, and images of one cell), field threshold (images of
    several cells; "same" without a field rule), refer band, ECE before/after calibration and what
    it was fitted on. A report without a fitted calibration says so (its ECE cells are missing)."""
    rows = []
    for name, rep in reports.items():
        cal = calibration_of(rep)
        info = (cal or {}).get("info") or {}
        band = refer_band(rep)
        ft = field_threshold(rep)
        rows.append({
            "model": name, "threshold": report_thresholds(rep).stated_threshold,
            "field threshold": "same" if ft is None else f"{ft:.2f}",
            "refer band": f"{band[0]:.2f}–{band[1]:.2f}" if band else "none",
            "ECE before": info.get("ece_before"), "ECE after": info.get("ece_after"),
            "validation cells": info.get("n_cells"),
            "balanced accuracy at threshold": info.get("balanced_accuracy_at_threshold"),
            "refer share": info.get("refer_share"),
            "calibrated on": ", ".join(info.get("fitted_on") or []) if cal else
                             (f"not calibrated: threshold {DEFAULT_THRESHOLD} on its own probabilities" if name == BASELINE
                              else "not calibrated"),
        })
    return pd.DataFrame(rows, columns=["model", "threshold", "field threshold", "refer band", "ECE before", "ECE after",
                                       "validation cells", "balanced accuracy at threshold", "refer share",
                                       "calibrated on"])


def reliability_frame(reports: dict[str, dict]) -> pd.DataFrame:
    """Reliability bins of every calibrated report, before and after calibration (validation cells).

    Columns: model, stage (``before`` / ``after``), mean P(ALL), observed ALL share, cells, weight.
    """
    rows = []
    for name, rep in reports.items():
        info = (calibration_of(rep) or {}).get("info") or {}
        for stage in ("before", "after"):
            for b in info.get(f"reliability_{stage}") or []:
                rows.append({"model": name, "stage": f"{stage} calibration", "mean P(ALL)": b.get("mean_p"),
                             "observed ALL share": b.get("observed"), "cells": b.get("n"),
                             "weight": b.get("weight")})
    return pd.DataFrame(rows, columns=["model", "stage", "mean P(ALL)", "observed ALL share", "cells", "weight"])
