"""leukemia_core.verification.html: the printable verification report."""

from __future__ import annotations

import re

from verification_fixtures import shifted_lab, stored_calibration

from leukemia_core.verification.html import build_html
from leukemia_core.verification.report import build_report, verify_model


def _report(**kw):
    lab, stored = shifted_lab(), stored_calibration()
    res, _ = verify_model(lab, stored, [{"key": "x/val", "role_text": "validation", "cell_balanced_accuracy": 0.81}],
                          profile_name="Lab <B>", n_boot=50, **kw)
    return build_report({"tiny_cnn": res}, lab.records, [{"path": "/lab/bad.png", "error": "not an image"}],
                        ["/lab"], {"min_sensitivity": kw.get("min_sensitivity"),
                                   "min_specificity": kw.get("min_specificity"), "level": "cell"})


def test_html_report_holds_every_part_and_makes_no_request():
    html = build_html(_report(min_sensitivity=0.9, min_specificity=0.9)).decode("utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.count("Not a diagnostic device") == 2
    for text in ("sensitivity (ALL)", "specificity (HEM)", "PPV", "NPV", "balanced accuracy", "ROC AUC",
                 "Acceptance criteria NOT met", "How many cells are enough", "x/val", "Site calibration: Lab &lt;B&gt;",
                 "bad.png: not an image", "95 % interval"):
        assert text in html, text
    assert html.count("<svg") == 4  # ROC and reliability: the lab's cells, the held-out part
    assert not re.search(r"""(src|href)=["']?https?:""", html)  # self-contained


def test_html_without_criteria():
    html = build_html(_report()).decode("utf-8")
    assert "No acceptance criteria were given" in html and "Acceptance criteria NOT met" not in html
