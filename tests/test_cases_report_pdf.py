"""The case report prints to PDF: Chromium (as a browser's "Print to PDF") prints a signed case's
report, and its pages are read back as images and text with pypdfium2 (PDFium, the PDF engine of
Chromium itself): A4 pages, none blank, every cell's picture drawn, the signature with its meaning
and the audit table present, and no cell row cut across two pages. With ``LEUKEMIA_SCREENSHOTS``
naming a folder (as for the browser test), writes the pages there as PNGs (case_report_p1.png ...)
to look at."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from cases_fixtures import SAMPLE, make_run, single
from leukemia_core.cases import repository as repo
from leukemia_core.cases import review
from leukemia_core.cases.db import open_store
from leukemia_core.cases.report import report_html
from test_browser import CHROMIUM, CHROMIUM_ARGS

SHOTS = Path(os.environ["LEUKEMIA_SCREENSHOTS"]) if os.environ.get("LEUKEMIA_SCREENSHOTS") else None
A4_PT = (595, 842)


def _signed_case(tmp_path, n=30):
    store = open_store(f"sqlite:///{tmp_path / 'c.sqlite3'}", tmp_path)
    repo.create_case(store, "PDF-1", "ann", note="printed", **SAMPLE)
    run = make_run(n=n)
    rng = np.random.default_rng(0)
    cells = []
    for c in run.cells:
        crop = cv2.imencode(".png", rng.integers(60, 200, (48, 48, 3), dtype=np.uint8))[1].tobytes()
        heat = cv2.imencode(".png", np.tile(np.arange(48, dtype=np.uint8) * 5, (48, 1)))[1].tobytes()
        cells.append(dataclasses.replace(c, crop_png=crop, map_png=heat, flags=("borderline",) if c.refer else ()))
    repo.add_reading(store, "PDF-1", "field.png", b"img", dataclasses.replace(run, cells=cells), "ann")
    view = repo.get_case(store, "PDF-1")
    v = review.accept_remaining(store, view, "m1", "ann")
    review.sign_case(store, "PDF-1", "bob", v)
    return store, report_html(store, repo.get_case(store, "PDF-1"))


def test_the_report_prints_to_readable_a4_pages(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    import pypdfium2 as pdfium
    from playwright.sync_api import sync_playwright

    store, html = _signed_case(tmp_path)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_content(html, wait_until="load")
        pdf = page.pdf(prefer_css_page_size=True, print_background=True)
        browser.close()
    doc = pdfium.PdfDocument(pdf)
    assert 2 <= len(doc) <= 6
    if SHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
    text = ""
    for i, p in enumerate(doc):
        assert tuple(round(v) for v in p.get_size()) == A4_PT
        img = np.asarray(p.render(scale=1.5).to_pil().convert("RGB"))
        assert (img.min(axis=2) < 200).mean() > 0.01, f"page {i + 1} is blank"
        if SHOTS:
            cv2.imwrite(str(SHOTS / f"case_report_p{i + 1}.png"), img[..., ::-1])
        text += p.get_textpage().get_text_range() + "\n"
    flat = " ".join(text.split())
    assert "Case PDF-1" in flat and "SP-1" in flat and "PT-0001" in flat
    assert "Signed by " + single("bob") in flat and "Meaning: reviewed and approved" in flat
    assert "Audit trail" in flat and "accept remaining" in flat and '{"' not in flat
    # every cell row is whole on one page: each cell's number appears with its P(ALL) on one line
    lines = text.splitlines()
    assert sum(ln.strip().startswith("field.png") for ln in lines) == 30
    store.dispose()
