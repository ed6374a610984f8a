"""inference: the CSV rows of a classification (image_row, cell_rows) and loading shipped weights (missing
manifest, altered file)."""

import json
from dataclasses import replace

import numpy as np
import pytest

from leukemia_core.cells.analyze import FoundCells, ImageAnalysis
from leukemia_core.cells.finder import Cell
from leukemia_core.errors import WeightsError
from leukemia_core.inference import cell_rows, image_row
from leukemia_core.models.calibration import Calibration


def _cell(i, bbox, border=False):
    x, y, w, h = bbox
    return Cell(i, bbox, w * h - 7, (x + w / 2 + 0.34, y + h / 2 - 0.26), np.zeros((4, 2), np.int32), border)


def _analysis(p_all, border=(False, False, False), notes=(), band=0.1, field=None):
    cells = [_cell(i + 1, (10 * i, 5 + i, 20, 22), b) for i, b in enumerate(border)]
    found = FoundCells(cells, np.zeros((len(cells), 8, 8, 3), np.uint8), False, list(notes))
    cal = Calibration(threshold=0.5, refer_half_width=band, fitted=True, field_threshold=field)
    p = np.asarray(p_all, float)
    return ImageAnalysis(found, p, p, cal)


def test_image_row_hand_computed():
    # cells at 0.2, 0.45 and 0.9123456789; threshold 0.4, band 0.4 +- 0.1: the 0.45 cell is referred
    # and takes no part in the image's P(ALL): the mean of 0.2 and 0.9123
    a = _analysis([0.2, 0.45, 0.9123456789], notes=["note one", "note two"])
    row = image_row("dir/x.png", "tiny_cnn", a, 0.4)
    assert row == {"path": "dir/x.png", "model": "tiny_cnn", "label": "ALL", "reason": "", "p_all": 0.556173,
                   "n_cells": 3, "n_no_call": 1, "n_not_lymphoid": 0, "blast_pct": 50.0, "n_refer": 1, "threshold": 0.4,
                   "cell_threshold": 0.4, "notes": "note one; note two", "error": "", "analysis": a}
    assert isinstance(row["n_refer"], int) and isinstance(row["path"], str)
    # the image's P(ALL) is the mean over the cells: 0.5208 against 0.5412 is HEM (no band)
    a = _analysis([0.2, 0.45, 0.9123456789], band=0.0)
    row = image_row("x.png", "m", a, 0.541249)
    assert (row["label"], row["blast_pct"], row["n_refer"], row["threshold"]) == ("HEM", 33.3, 0, 0.5412)
    # a band of +- 0.4 holds all three cells: none has a call, nor has the image
    a = _analysis([0.2, 0.45, 0.9123456789], band=0.4)
    row = image_row("x.png", "m", a, 0.541249)
    assert (row["label"], row["reason"], row["blast_pct"], row["n_refer"], row["n_no_call"]) == (
        "NO CALL", "no cell with a call", "", 3, 3)
    assert row["notes"] == "" and row["p_all"] == 0.520782 and row["cell_threshold"] == 0.5412


def test_image_row_of_several_cells_uses_the_field_threshold():
    # field threshold 0.6 against cell threshold 0.5: +0.1, so at cell threshold 0.35 the image's mean
    # 0.4833 is compared with 0.45 (ALL), at 0.4 with 0.5: HEM (no band; 1 of 3 cells ALL)
    a = _analysis([0.2, 0.3, 0.95], field=0.6, band=0.0)
    row = image_row("x.png", "m", a, 0.35)
    assert (row["label"], row["threshold"], row["cell_threshold"]) == ("ALL", 0.45, 0.35)
    row = image_row("x.png", "m", a, 0.4)
    assert (row["label"], row["threshold"], row["cell_threshold"], row["blast_pct"]) == ("HEM", 0.5, 0.4, 33.3)
    # one cell: the cell threshold
    one = _analysis([0.52], border=(False,), field=0.6, band=0.0)
    row = image_row("x.png", "m", one, 0.5)
    assert (row["label"], row["threshold"], row["n_cells"], row["blast_pct"]) == ("ALL", 0.5, 1, 100.0)


def test_image_row_counts_border_cells_only_when_there_is_no_other():
    a = _analysis([0.2, 0.3, 0.9], border=(False, False, True))
    row = image_row("x.png", "m", a, 0.5)
    assert row["p_all"] == 0.25 and row["label"] == "HEM" and row["blast_pct"] == 33.3


def test_image_row_of_a_whole_image_call_has_no_blast_share():
    found = FoundCells([], np.zeros((1, 8, 8, 3), np.uint8), True, ["no white cell found"])
    a = ImageAnalysis(found, np.array([0.7]), np.array([0.7]), Calibration())
    row = image_row("x.png", "m", a, 0.5)
    assert row["blast_pct"] == "" and row["n_cells"] == 0 and row["label"] == "ALL" and row["p_all"] == 0.7
    assert row["n_refer"] == 0 and row["notes"] == "no white cell found"
    assert cell_rows(row, 0.5) == []


def test_cell_rows_hand_computed():
    a = _analysis([0.2, 0.45, 0.9123456789], border=(False, True, False))
    row = image_row("x.png", "m", a, 0.4)
    rows = cell_rows(row, 0.4)
    assert rows == [
        {"path": "x.png", "model": "m", "cell": 1, "x": 0, "y": 5, "w": 20, "h": 22, "area": 433,
         "cx": 10.3, "cy": 15.7, "touches_border": False, "label": "HEM", "reason": "", "p_all": 0.2, "refer": False,
         "size_red_cells": ""},
        {"path": "x.png", "model": "m", "cell": 2, "x": 10, "y": 6, "w": 20, "h": 22, "area": 433,
         "cx": 20.3, "cy": 16.7, "touches_border": True, "label": "NO CALL",
         "reason": "borderline: P(ALL) inside the refer band", "p_all": 0.45, "refer": True,
         "size_red_cells": ""},
        {"path": "x.png", "model": "m", "cell": 3, "x": 20, "y": 7, "w": 20, "h": 22, "area": 433,
         "cx": 30.3, "cy": 17.7, "touches_border": False, "label": "ALL", "reason": "", "p_all": 0.912346,
         "refer": False,
         "size_red_cells": ""},
    ]
    assert all(type(r["refer"]) is bool and type(r["p_all"]) is float for r in rows)
    # a measured size is written to two decimals
    sized = ImageAnalysis(replace(a.found, sizes=(1.234, None, 2.0)), a.p_raw, a.p_all, a.calibration)
    assert [r["size_red_cells"] for r in cell_rows(image_row("x.png", "m", sized, 0.4), 0.4)] == [1.23, "", 2.0]
    # another threshold moves the calls and the band
    assert [(r["label"], r["refer"]) for r in cell_rows(row, 0.5)] == [("HEM", False), ("NO CALL", True),
                                                                         ("ALL", False)]
    assert [(r["label"], r["refer"]) for r in cell_rows(row, 0.7)] == [("HEM", False), ("HEM", False),
                                                                         ("ALL", False)]
    # the band moves with the threshold given, not the calibration's own (0.5): 0.7 +- 0.1 holds none
    assert [(r["label"], r["refer"]) for r in cell_rows(row, 0.7)] == [("HEM", False), ("HEM", False),
                                                                         ("ALL", False)]


def test_cell_rows_of_an_error_row_is_empty():
    assert cell_rows({"path": "x.png", "model": "m", "analysis": None, "error": "bad"}, 0.5) == []
    assert cell_rows({"path": "x.png", "model": "m", "error": "bad"}, 0.5) == []


def test_missing_manifest_is_a_weights_error(tmp_path):
    from leukemia_core.inference import load_model, weights_status
    with pytest.raises(WeightsError, match="train it with"):
        load_model("proposed", tmp_path)
    assert "no manifest" in weights_status("proposed", tmp_path)


def test_altered_shipped_file_is_refused(trained_tiny, tmp_path):
    import shutil

    from leukemia_core.inference import load_model
    wdir = tmp_path / "w"
    shutil.copytree(trained_tiny["weights_dir"], wdir)
    assert load_model("tiny_cnn", wdir).input_size == 32
    f = wdir / "tiny_cnn.weights.npz"
    data = bytearray(f.read_bytes())
    data[-100] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_model("tiny_cnn", wdir)
    f.unlink()
    with pytest.raises(WeightsError, match="not found"):
        load_model("tiny_cnn", wdir)
    manifest = json.loads((wdir / "tiny_cnn.manifest.json").read_text())
    assert manifest["weights_sha256"] and manifest["training"]["seed"] == 42


def test_predict_files_records_the_threshold_and_site_profile_in_each_reading(tmp_path):
    import cv2

    from leukemia_core.cells.analyze import analyze, find_and_crop
    from leukemia_core.inference import predict_files

    class Fake:  # a predictor of P(ALL) 0.7 everywhere
        def __init__(self, cal):
            self.loaded = type("Loaded", (), {"input_size": 16, "cell_share": 0.5, "mask_outside": True,
                                              "calibration": cal})()

        def find_cells(self, rgb):
            return find_and_crop(rgb, 16)

        def analyze(self, found):
            return analyze(found, lambda x: np.full(len(x), 0.7), self.loaded.calibration)

    path = tmp_path / "x.png"
    cv2.imwrite(str(path), np.full((40, 40, 3), 200, np.uint8))
    preds = {"a": Fake(Calibration(threshold=0.6)), "b": Fake(Calibration(threshold=0.8))}
    rows = predict_files([path], preds, site_profiles={"b": "lab"})
    assert [(r["analysis"].threshold, r["analysis"].site_profile) for r in rows] == [(0.6, None), (0.8, "lab")]
    # a uniform gray image: NO CALL whatever the threshold, but each reading keeps its own threshold
    assert [r["label"] for r in rows] == ["NO CALL", "NO CALL"] and rows[1]["cell_threshold"] == 0.8
    assert rows[0]["reason"] == "grayscale image"
    assert [bool(r["analysis"].calls(r["analysis"].cell_threshold)[0]) for r in rows] == [True, False]
    rows = predict_files([path], preds, threshold=0.75)
    assert [r["analysis"].cell_threshold for r in rows] == [0.75, 0.75]


def test_predict_files_finds_an_images_cells_once_for_models_of_two_sizes(tmp_path, monkeypatch):
    import cv2
    from conftest import _disc, _field

    import leukemia_core.cells.found as mod
    from leukemia_core.cells.analyze import analyze
    from leukemia_core.inference import predict_files

    runs = []
    real = mod.find_cells
    monkeypatch.setattr(mod, "find_cells", lambda rgb: runs.append(1) or real(rgb))

    class Fake:  # P(ALL) 0.4 per crop, at its own input size
        def __init__(self, size):
            self.loaded = type("Loaded", (), {"input_size": size, "cell_share": 0.6, "mask_outside": True,
                                              "calibration": Calibration()})()

        def analyze(self, found):
            return analyze(found, lambda x: np.full(len(x), 0.4), self.loaded.calibration)

    path = tmp_path / "field.png"
    cv2.imwrite(str(path), cv2.cvtColor(_disc(_disc(_field(), (60, 60), 20), (150, 140), 20), cv2.COLOR_RGB2BGR))
    rows = predict_files([path], {"small": Fake(16), "large": Fake(24), "again": Fake(16)})
    assert len(runs) == 1 and [r["n_cells"] for r in rows] == [2, 2, 2]
    assert [r["analysis"].crops.shape[1] for r in rows] == [16, 24, 16]


def test_every_loader_refuses_a_calibration_fitted_on_other_weights(trained_tiny, tmp_path, monkeypatch):
    import shutil

    from leukemia_core.inference import load_model
    from leukemia_core.screening.pipeline import plan_models

    wdir = tmp_path / "w"
    shutil.copytree(trained_tiny["weights_dir"], wdir)
    assert plan_models(["tiny_cnn"], wdir)[0].loaded.input_size == 32
    cal = Calibration(a=2.0, fitted=True, info={"weights_sha256": "00" * 32})
    (wdir / "tiny_cnn.calibration.json").write_text(json.dumps(cal.to_json()))
    monkeypatch.setenv("LEUKEMIA_ONNX", "0")  # the Keras branch of the screening plan
    for load in (lambda: load_model("tiny_cnn", wdir), lambda: plan_models(["tiny_cnn"], wdir)):
        with pytest.raises(WeightsError, match="fitted on other weights"):
            load()
