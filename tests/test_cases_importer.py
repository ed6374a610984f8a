"""Tests of leukemia_core.cases.importer: a reading as a run (with crop and map pictures), ``predict``
CSVs (with their cell CSV), ``screen`` Parquet output, folders run through a model, and what is
skipped. On SQLite and PostgreSQL where the store is used."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from cases_fixtures import SAMPLE, db_url, pg_server, pg_url, store  # noqa: F401  (fixtures)
from leukemia_core.cases import importer
from leukemia_core.cases.errors import CaseInputError
from leukemia_core.cases.repository import cell_pictures, get_case
from leukemia_core.cells.finder import Cell
from leukemia_core.models.calibration import Calibration


def _cell(i, x, border=False):
    return Cell(i, (x, 4, 30, 30), 700, (x + 15.0, 19.0), np.zeros((1, 2), np.int32), border)


def test_png_is_a_small_picture():
    rgb = np.zeros((224, 224, 3), np.uint8)
    rgb[..., 0] = 255
    back = cv2.imdecode(np.frombuffer(importer.png(rgb), np.uint8), cv2.IMREAD_COLOR)
    assert back.shape == (importer.THUMB, importer.THUMB, 3) and back[0, 0, 2] == 255  # red stays red
    gray = cv2.imdecode(np.frombuffer(importer.png(np.full((50, 50), 0.5, np.float16)), np.uint8), cv2.IMREAD_UNCHANGED)
    assert gray.shape == (importer.THUMB, importer.THUMB) and 126 <= gray[0, 0] <= 128


def test_run_from_cells_keeps_calls_refer_and_the_map_of_each_call():
    cal = Calibration(threshold=0.5, refer_half_width=0.1)
    crops = np.zeros((3, 64, 64, 3), np.uint8)
    maps_all, maps_hem = np.ones((3, 64, 64), np.float16), np.zeros((3, 64, 64), np.float16)
    run = importer.run_from_cells("m", [_cell(1, 0), _cell(2, 40), _cell(3, 80, border=True)], crops,
                                  np.array([0.9, 0.45, 0.2]), cal, 0.5, False, ["note"], "sha", None,
                                  maps_all, maps_hem)
    assert [c.call for c in run.cells] == ["ALL", "NO CALL", "HEM"] and [c.refer for c in run.cells] == [False, True, False]
    assert run.cells[1].flags == ("borderline: P(ALL) inside the refer band",)  # the reason travels with the cell
    # the border cell does not count, nor the NO CALL one: the image's P(ALL) is the 0.9 cell's
    assert run.cells[2].touches_border and run.p_image == pytest.approx(0.9)
    assert run.image_call == ("ALL" if run.p_image >= run.image_threshold else "HEM") and run.refer_half_width == 0.1
    decode = lambda b: cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_UNCHANGED)  # noqa: E731
    assert decode(run.cells[0].map_png).max() == 255 and decode(run.cells[1].map_png).max() == 0
    whole = importer.run_from_cells("m", [], crops[:1], np.array([0.7]), cal, 0.5, True, [], image_shape=(300, 400, 3))
    assert whole.whole_image and whole.cells[0].box == (0, 0, 400, 300) and whole.cells[0].map_png is None
    none = importer.run_from_cells("m", [], crops[:1], np.array([0.7]), cal, 0.5, True, ["no white cell found: ..."])
    assert none.image_call == "ALL"  # a note that is not one of the finder's own leaves the call alone


def _predict_csvs(tmp_path, samples):
    imgs = [s.path for s in samples[:2]]
    pred, cells = tmp_path / "pred.csv", tmp_path / "cells.csv"
    with open(pred, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "model", "label", "p_all", "n_cells", "blast_pct", "n_refer", "threshold", "cell_threshold",
                    "notes", "error", "profile"])
        w.writerow([imgs[0], "tiny", "ALL", 0.8, 2, 50.0, 0, 0.55, 0.5, "", "", ""])
        w.writerow([imgs[1], "tiny", "HEM", 0.3, 0, "", 0, 0.5, 0.5, "no white cell found", "", ""])
        w.writerow([tmp_path / "gone.png", "tiny", "", "", "", "", "", "", "", "", "cannot read", ""])
        w.writerow([tmp_path / "moved.png", "tiny", "HEM", 0.1, 0, "", 0, 0.5, 0.5, "", "", ""])
        w.writerow([imgs[1], "other", "HEM", 0.3, 0, "", 0, "", "", "", "", ""])  # called at what? not said
    with open(cells, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "model", "cell", "x", "y", "w", "h", "area", "cx", "cy", "touches_border", "label", "p_all",
                    "refer", "profile"])
        w.writerow([imgs[0], "tiny", 2, 50, 5, 30, 30, 700, 65, 20, "False", "HEM", 0.4, "True", ""])
        w.writerow([imgs[0], "tiny", 1, 1, 2, 30, 30, 700, 16, 17, "True", "ALL", 0.95, "False", ""])
    return pred, cells


def test_predict_csv_import(store, tmp_path, samples):
    pred, cells = _predict_csvs(tmp_path, samples)
    rep = importer.import_path(store, "P-1", pred, "ann", cells=cells, sample=SAMPLE)
    assert (rep.images, rep.runs, rep.cells, len(rep.skipped)) == (2, 2, 2, 3)
    assert "cannot read" in rep.skipped[0] and "moved.png" in rep.skipped[1] and "3 skipped" in rep.line()
    assert "(other): no threshold recorded" in rep.skipped[2]  # never called at a made-up threshold
    view = get_case(store, "P-1")
    (im0, run0, c1), (_, _, c2), (im1, run1, w) = view.cells("tiny")
    assert (c1.number, c1.call, c1.touches_border, c2.refer, c2.box) == (1, "ALL", True, True, (50, 5, 30, 30))
    assert run0.source == "predict csv" and run0.image_threshold == 0.55 and run0.image_call == "ALL"
    assert run1.whole_image and w.flags == "whole image" and run1.notes == ["no white cell found"]
    assert im0.file_name == samples[0].path.name and store.image_bytes(im0.sha256) == samples[0].path.read_bytes()
    assert cell_pictures(store, [c1.id])[c1.id] == (None, None)  # a CSV carries no pictures
    importer.import_path(store, "P-1", pred, "ann", cells=cells, sample=SAMPLE)  # into the same case: new runs, no new image
    assert len(get_case(store, "P-1").images) == 2


def test_screen_parquet_import(store, tmp_path, samples):
    from leukemia_core.rows import write_part

    img = str(samples[0].path)
    write_part(tmp_path, "images", [{"path": img, "model": "tiny", "label": "ALL", "p_all": 0.7, "n_cells": 1,
                                     "threshold": 0.5, "cell_threshold": 0.5, "notes": "", "error": "",
                                     "weights_sha256": "cd" * 32, "file_sha256": "", "backend": "onnxruntime"}])
    write_part(tmp_path, "cells", [{"path": img, "model": "tiny", "cell": 1, "x": 3, "y": 4, "w": 20, "h": 21,
                                    "area": 300, "cx": 13.0, "cy": 14.0, "touches_border": False, "label": "ALL",
                                    "p_all": 0.7, "refer": False}])
    rep = importer.import_path(store, "S-1", tmp_path, "ann", sample=SAMPLE)
    assert (rep.images, rep.runs, rep.cells) == (1, 1, 1)
    (_, run, cell), = get_case(store, "S-1").cells("tiny")
    assert run.weights_sha256 == "cd" * 32 and run.source == "screen parquet" and cell.box == (3, 4, 20, 21)


def test_import_refusals(store, tmp_path):
    with pytest.raises(CaseInputError, match="no such file"):
        importer.import_path(store, "X", tmp_path / "missing", "ann", sample=SAMPLE)
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(CaseInputError, match="not a predict CSV"):
        importer.import_path(store, "X", tmp_path / "other.csv", "ann", sample=SAMPLE)
    (tmp_path / "imgs").mkdir()
    with pytest.raises(CaseInputError, match="name the model"):
        importer.import_path(store, "X", tmp_path / "imgs", "ann", sample=SAMPLE)


def test_folder_is_run_through_the_model(store, trained_tiny, samples, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for s in samples[:2]:
        (folder / s.path.name).write_bytes(s.path.read_bytes())
    (folder / "notes.gif").write_bytes(b"GIF89a")
    rep = importer.import_path(store, "F-1", folder, "ann", models=["tiny_cnn"], weights_dir=trained_tiny["weights_dir"], sample=SAMPLE)
    assert rep.images == 2 and rep.runs == 2 and len(rep.skipped) == 1
    view = get_case(store, "F-1")
    cells = view.cells("tiny_cnn")
    assert cells and all(r.weights_sha256 == trained_tiny["manifest"]["weights_sha256"] for _, r, _ in cells)
    crop, _ = cell_pictures(store, [cells[0][2].id])[cells[0][2].id]
    assert crop.startswith(b"\x89PNG")
