"""The HTML case report of a batch: counts computed by hand, escaping, embedded pictures only."""

from __future__ import annotations

import base64
import datetime as dt
from html.parser import HTMLParser

import cv2
import numpy as np
import pytest

from leukemia_core.cells.analyze import FoundCells, ImageAnalysis
from leukemia_core.cells.finder import Cell
from leukemia_core.evaluation.evaluate import ROLE_TEXT
from leukemia_core.models.calibration import Calibration
from leukemia_core.reports.casereport import NOTICE, ReportImage, batch_summary, build_case_report, model_info

S = 24  # crop side
CAL = Calibration(threshold=0.5, refer_half_width=0.1, fitted=True)
SHA = "ab12" * 16
BAD_NAME = "<script>x.png"


def _cell(i: int, x: int, y: int, border: bool = False) -> Cell:
    contour = np.array([[x, y], [x + 10, y], [x + 10, y + 10], [x, y + 10]], np.int32)
    return Cell(i, (x, y, 11, 11), 121, (x + 5.0, y + 5.0), contour, border)


def _result(p: list[float], cells: list[Cell], whole: bool = False, notes: list[str] | None = None,
            sizes: tuple = ()) -> ImageAnalysis:
    n = len(p)
    rng = np.random.default_rng(n)
    crops = rng.integers(0, 256, (n, S, S, 3), dtype=np.uint8)
    ramp = np.linspace(0, 1, S * S, dtype=np.float16).reshape(S, S)
    return ImageAnalysis(FoundCells(cells, crops, whole, notes or [], sizes), np.array(p, float), np.array(p, float), CAL,
                         np.stack([ramp] * n), np.stack([ramp.T] * n))


def _field() -> np.ndarray:
    return np.full((64, 80, 3), 200, np.uint8)


def _batch(models=("m1",)) -> list[ReportImage]:
    a = _result([0.9, 0.55, 0.2], [_cell(1, 5, 5), _cell(2, 30, 5), _cell(3, 5, 30)], sizes=(1.62, None, 2.04))
    b = _result([0.7, 0.3], [_cell(1, 20, 20), _cell(2, 0, 40, border=True)], notes=["grayscale image; check by eye"])
    c = _result([0.45], [], whole=True, notes=["no white cell found; check by eye"])
    return [ReportImage(BAD_NAME, _field(), {m: a for m in models}),
            ReportImage("b&c.png", _field(), {m: b for m in models}),
            ReportImage("whole.png", _field(), {m: c for m in models})]


MANIFEST = {"name": "m1", "weights_sha256": SHA, "training": {
    "data": ["../shared/data/cnmc2019", "../shared/data/aria_all"], "val_data": [],
    "train": {"images": {"cnmc/train/hem": 38, "cnmc/train/all": 39}, "groups": {"cnmc/train": 31}},
    "val": {"images": {"cnmc/val/hem": 22, "cnmc/val/all": 21}, "groups": {"cnmc/val": 21}}}}


def _set(key: str, role_text: bool = True) -> dict:
    role = key.split("/")[1]
    m = {"balanced_accuracy": 0.812, "roc_auc": 0.901}
    s = {"key": key, "split": role, "role": role, "description": key, "n_images": 40, "n_cells": 60,
         "metrics": m, "cell_metrics": {"balanced_accuracy": 0.777, "roc_auc": 0.855}}
    if role_text:
        s["role_text"] = ROLE_TEXT[role]
    return s


REPORT = {"format": "leukemia_core.report/2", "model": "m1", "weights_sha256": SHA,
          "sets": [_set("cnmc/train"), _set("cnmc/val"), _set("cnmc/test"), _set("aria-original/test", role_text=False)]}


class _Doc(HTMLParser):
    """Tags, visible text, image sources and the rows of the batch summary table."""

    def __init__(self, html: str):
        super().__init__()
        self.tags, self.text, self.srcs, self.rows = [], [], [], []
        self._in_summary = False
        self.feed(html)
        self.close()
        self.text = "".join(self.text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "img":
            self.srcs.append(a.get("src", ""))
        if tag == "table" and a.get("class") == "summary":
            self._in_summary = True
        if self._in_summary and tag == "tr":
            self.rows.append([])
        if self._in_summary and tag in ("td", "th"):
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_summary = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_summary and self.rows and self.rows[-1]:
            self.rows[-1][-1] += data


def _report(thr: dict, models=("m1",)) -> tuple[str, _Doc]:
    infos = [model_info(m, MANIFEST, REPORT) for m in models]
    raw = build_case_report(_batch(models), infos, thr, created=dt.datetime(2024, 5, 6, 7, 8, 9))
    assert isinstance(raw, bytes)
    html = raw.decode("utf-8")
    return html, _Doc(html)


def _summary(doc: _Doc) -> list[dict]:
    head, *rows = doc.rows
    return [dict(zip(head, r)) for r in rows]


def test_batch_summary_counts_by_hand():
    imgs = _batch()
    s = batch_summary([(im.name, im.results["m1"]) for im in imgs], 0.5)
    # A: 0.9 ALL, 0.55 NO CALL (refer band 0.4-0.6), 0.2 HEM; B: 0.7 ALL, 0.3 HEM; C: whole image (no cells),
    # 0.45 in the band; blast %: 2 ALL of the 4 cells with a call
    assert (s["images"], s["read"], s["cells"], s["all_cells"], s["no_call"], s["refer"]) == (3, 3, 5, 2, 1, 2)
    assert s["blast_pct"] == pytest.approx(50.0)
    # image P(ALL): A 0.55 ALL, B 0.7 ALL (the border cell does not count), C 0.45 HEM
    assert (s["images_all"], s["whole_image"]) == (2, 1)
    assert [n for n, _ in s["check_by_eye"]] == ["b&c.png", "whole.png"]
    s = batch_summary([(im.name, im.results["m1"]) for im in imgs], 0.62)
    # band [0.52, 0.72]: A 0.55 and B 0.7 NO CALL, C 0.45 not; ALL: 0.9 only; image B's one counted cell
    # (0.7; the other touches the edge) has no call, so B has none either; A (0.9 ALL, 0.2 HEM: blast
    # 50 %) is ALL by the blast limit though its mean 0.55 is below the image threshold
    assert (s["cells"], s["all_cells"], s["no_call"], s["refer"], s["images_all"], s["images_no_call"]) == (
        5, 1, 2, 2, 1, 1)
    assert s["blast_pct"] == pytest.approx(100 / 3)
    s = batch_summary([("a", "unreadable file"), ("b", None)], 0.5)
    assert s["failed"] == [("a", "unreadable file"), ("b", "not read")] and s["blast_pct"] is None


def test_report_parses_with_notice_counts_and_escaped_names():
    html, doc = _report({"m1": 0.5})
    assert NOTICE in doc.text and "2024-05-06 07:08:09" in doc.text and "0.50" in doc.text
    (row,) = _summary(doc)
    assert row["model"] == "m1" and row["threshold"] == "0.50"
    assert (row["images"], row["cells found"], row["cells called ALL"], row["cells NO CALL"], row["blast %"],
            row["cells to refer"], row["called ALL"], row["NO CALL"], row["check by eye"]) == (
        "3", "5", "2", "1", "50.0", "2", "2", "1", "2")  # C (whole, 0.45) sits in the band: no call
    # check-by-eye notes listed with their image
    assert "b&c.png: grayscale image; check by eye" in doc.text
    assert "whole.png: no white cell found; check by eye" in doc.text
    # names escaped everywhere: shown as text, never as markup
    assert BAD_NAME in doc.text and "<script" not in html and "b&c.png" not in html
    assert "&lt;script&gt;x.png" in html and not [t for t, _ in doc.tags if t == "script"]
    assert "ALL</b>: mean P(ALL) 0.55 of the 2 whole cells with a call" in html  # image A's call and its rule


def test_every_picture_embedded_one_per_field_and_cell():
    html, doc = _report({"m1": 0.5, "m2": 0.62}, models=("m1", "m2"))
    # per model: (1 field + 3 cells) + (1 + 2) + (1 + 1 whole-image crop)
    assert len(doc.srcs) == 2 * 9
    assert all(s.startswith("data:image/jpeg;base64,") for s in doc.srcs)
    sizes = set()
    for s in doc.srcs:
        pic = cv2.imdecode(np.frombuffer(base64.b64decode(s.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
        assert pic is not None
        sizes.add(pic.shape[:2])
    assert (160, 160) in sizes
    assert "http://" not in html and "https://" not in html
    assert not [t for t, a in doc.tags if t in ("link", "script", "iframe")]
    assert "@media print" in html and "page-break-before" in html


def test_model_section_sha_training_and_roles():
    _, doc = _report({"m1": 0.5})
    assert SHA in doc.text and "Training data: C-NMC 2019" in doc.text
    assert "shared/data" not in doc.text  # datasets by name, never by the folder they were read from
    for role in ("val", "test"):
        assert ROLE_TEXT[role] in doc.text
    assert "cnmc/train" in doc.text and "all: 39, hem: 38" in doc.text
    assert "0.812" in doc.text and "0.901" in doc.text and "0.777" in doc.text and "0.855" in doc.text
    info = model_info("m1", MANIFEST, REPORT)
    # train-role (fit) figures left out; an older report without role_text gets it from its role
    assert [f["role_text"] for f in info.figures] == [ROLE_TEXT["val"], ROLE_TEXT["test"], ROLE_TEXT["test"]]
    assert ROLE_TEXT["train"] not in doc.text and "measured on other weights" not in doc.text
    stale = model_info("m1", MANIFEST, {**REPORT, "weights_sha256": "cd34" * 16})
    html = build_case_report(_batch(), [stale], {"m1": 0.5}).decode()
    assert "measured on other weights" in html and "cd34" * 16 in html
    empty = model_info("m3", None, None)
    assert empty.weights_sha256 is None and empty.figures == [] and empty.training == []


def test_threshold_change_relabels():
    _, low = _report({"m1": 0.5})
    _, high = _report({"m1": 0.62})
    (a,), (b,) = _summary(low), _summary(high)
    assert (a["cells called ALL"], a["blast %"], a["called ALL"]) == ("2", "50.0", "2")
    assert (b["cells called ALL"], b["blast %"], b["called ALL"], b["NO CALL"]) == ("1", "33.3", "1", "1")
    # cell 2 of image A (P 0.55) sits in the refer band at both thresholds: NO CALL with its reason
    assert "cell 2: NO CALL 0.55 borderline" in low.text and "cell 2: NO CALL 0.55 borderline" in high.text
    assert "cell 1: HEM 0.70" in high.text or "cell 1: NO CALL 0.70 borderline" in high.text
    # each cell's size in red cells where it was measured (cell 2's was not; image B has none)
    assert "cell 1: ALL 0.90 · 1.6 red cells across" in low.text and "cell 3: HEM 0.20 · 2.0 red cells" in low.text
    assert low.text.count("red cells across") == 2


def test_failed_image_and_missing_threshold():
    imgs = _batch() + [ReportImage("bad.png", _field(), {"m1": "cannot decode <file>"})]
    html = build_case_report(imgs, [model_info("m1", MANIFEST, REPORT)], {"m1": 0.5}).decode()
    doc = _Doc(html)
    assert "not read by m1: cannot decode <file>" in doc.text and len(doc.srcs) == 9
    assert _summary(doc)[0]["read"] == "3"
    with pytest.raises(ValueError, match="m1"):
        build_case_report(imgs, [model_info("m1", MANIFEST, REPORT)], {})


def test_site_profile_is_named_per_model():
    infos = [model_info("m1", MANIFEST, REPORT)]
    with_profile = build_case_report(_batch(), infos, {"m1": 0.5}, site_profiles={"m1": "Lab <A>"}).decode()
    assert "m1: site profile <b>Lab &lt;A&gt;</b>" in with_profile
    plain = build_case_report(_batch(), infos, {"m1": 0.5}).decode()
    assert "site profile <b>" not in plain and "(no site profile)" in plain


def test_a_site_model_is_named_with_its_study():
    infos = [model_info("m1", MANIFEST, REPORT)]
    note = "a site model: a head of this lab's own ... ROC AUC 0.71; the lab's acceptance criteria NOT met"
    page = build_case_report(_batch(), infos, {"m1": 0.5}, site_profiles={"m1": "Lab A"},
                             site_notes={"m1": note}).decode()
    assert "m1: site profile <b>Lab A</b> (a site model: a head of this lab&#x27;s own" in page
    assert "acceptance criteria NOT met" in page and "calibration and thresholds fitted" not in page


def test_sample_fields_are_printed_and_six_fields_stay_under_a_megabyte():
    from leukemia_core.data.images import read_image
    from leukemia_core.samples import SAMPLES_DIR

    field = cv2.resize(read_image(SAMPLES_DIR / "all" / "WBC-Malignant-Pre-790.jpg"), (640, 480))  # a real field
    cells = [_cell(i, 40 + 70 * (i % 8), 40 + 90 * (i // 8), False) for i in range(16)]
    res = _result([0.2 + 0.04 * i for i in range(16)], cells)
    res.found.crops[:] = [cv2.resize(field[y:y + 120, x:x + 120], (S, S)) for x, y in
                          ((c.bbox[0], c.bbox[1]) for c in cells)]  # cells cut from the field
    images = [ReportImage(f"f{k}.png", field, {"m1": res}) for k in range(6)]
    html = build_case_report(images, [model_info("m1", None, None)], {"m1": 0.5},
                             sample={"specimen_id": "SP-9", "patient_ref": "PT-<1>", "operator": "Ann"}).decode()
    assert "<th>Specimen</th><td>SP-9</td>" in html and "PT-&lt;1&gt;" in html and "<td>not given</td>" in html
    assert len(html.encode()) < 1_000_000


def test_the_batch_differential_sums_the_gated_images_and_prints():
    from dataclasses import replace

    imgs = _batch()
    a = imgs[0].results["m1"]
    imgs[0].results["m1"] = replace(a, not_lymphoid=np.array([False, True, False]))  # one other white cell
    s = batch_summary([(im.name, im.results["m1"]) for im in imgs], 0.5)
    assert s["differential"] == {"lymphoid": 2, "other white cell": 1}  # B has no gate: it adds nothing
    html = build_case_report(imgs, [model_info("m1", MANIFEST, REPORT)], {"m1": 0.5}).decode()
    assert "differential (lymphoid gate): lymphoid 2, other white cell 1" in html
    assert "<td>lymphoid 2, other white cell 1</td>" in html
