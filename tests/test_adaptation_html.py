"""The adaptation report page: the verdict, the study, the curve, names escaped."""

from __future__ import annotations

from adaptation_fixtures import lab_dir, tiny_source  # noqa: F401  (fixtures)

from leukemia_core.adaptation.html import build_html, write_files
from leukemia_core.adaptation.study import run_adapt
from leukemia_core.verification.study import read_labelled


def test_the_page_states_the_verdict_and_escapes_names(lab_dir, tiny_source, tmp_path):
    res = run_adapt(tiny_source, read_labelled([lab_dir]), "<lab & co>", min_sensitivity=0.99, draws=2, n_boot=20)
    page = build_html(res.report).decode()
    assert "&lt;lab &amp; co&gt;" in page and "<lab & co>" not in page
    verdict = {True: "met", False: "NOT met", None: "none given"}[res.report["acceptance"]["met"]]
    assert f">{verdict}</span>" in page and "Learning curve" in page and "<script" not in page
    files = write_files(res.report, tmp_path)
    assert files["json"].is_file() and files["html"].read_bytes() == build_html(res.report)
