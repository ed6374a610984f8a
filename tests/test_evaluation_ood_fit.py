"""evaluation.ood_fit: the risk-coverage of calls with the feature check, by hand and on the samples
with a trained tiny model (the check fitted, stored in its calibration file, and read back)."""

import json
import shutil

import numpy as np
import pytest
from conftest import analyze_file

from leukemia_core.evaluation.ood_fit import _curve, fit_and_measure, ood_table, risk_coverage, write_result


def test_risk_coverage_by_hand():
    y = np.array([1, 1, 0, 0, 0, 1])
    p = np.array([0.9, 0.52, 0.1, 0.7, 0.48, 0.2])  # at 0.5: right, right, right, wrong, right, wrong
    outside = np.array([False, False, False, True, False, False])
    r = risk_coverage(y, p, outside, 0.5, (0.45, 0.55))  # 0.52 and 0.48 borderline, 0.7 outside
    assert (r["cells"], r["all_cells"], r["borderline"], r["outside"], r["wrong"]) == (6, 3, 2, 1, 2)
    assert r["coverage"] == pytest.approx(3 / 6) and r["accuracy_all"] == pytest.approx(4 / 6)
    assert r["accuracy_called"] == pytest.approx(2 / 3)  # 0.9 right, 0.1 right, 0.2 wrong
    assert r["wrong_withheld"] == pytest.approx(1 / 2) and r["balanced_accuracy_called"] == pytest.approx(0.75)
    none = risk_coverage(y, p, np.zeros(6, bool), 0.5, None)
    assert none["coverage"] == 1.0 and none["accuracy_called"] == none["accuracy_all"] and none["wrong_withheld"] == 0


def test_the_curve_keeps_the_nearest_cells_first():
    y, p = np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1])  # the second is the only wrong call
    d = np.array([0.1, 9.0, 0.2, 0.3])  # ... and the furthest
    curve = _curve(y, p, d, 0.5, shares=(1.0, 0.75, 0.25))
    assert [c["accuracy"] for c in curve] == [0.75, 1.0, 1.0] and curve[0]["coverage"] == 1.0


def test_fit_store_and_measure_on_the_samples(trained_tiny, tmp_path):
    wdir = tmp_path / "w"
    shutil.copytree(trained_tiny["weights_dir"], wdir)
    res = fit_and_measure("tiny_cnn", [str(trained_tiny["data"])], wdir, cache_dir=None)
    assert res["format"] == "leukemia_core.ood/1" and res["fitted_on"]["labs"] == ["folder"]
    assert set(res["sets"]) == {"folder/val"} and res["sets"]["folder/val"]["cells"] > 0
    assert res["feature_threshold"] is not None and len(res["sets"]["folder/val"]["curve"]) == 9
    cal = json.loads((wdir / "tiny_cnn.calibration.json").read_text())
    assert cal["feature_reference"]["threshold"] == res["feature_threshold"]
    # the served model reads it back: every reading marks the cells outside
    from leukemia_core.inference import Predictor, load_model
    from leukemia_core.samples import list_samples

    pred = Predictor(load_model("tiny_cnn", wdir))
    a = analyze_file(pred, list_samples()[0].path)
    assert a.outside is not None and a.outside.dtype == bool and len(a.outside) == len(a.p_all)
    out = tmp_path / "ood.json"
    write_result(res, out)
    write_result({**res, "left_out": ["cnmc"]}, out)
    doc = json.loads(out.read_text())
    assert list(doc["models"]) == ["tiny_cnn", "tiny_cnn (without cnmc)"]
    table = ood_table(doc)
    assert table.count("| `tiny_cnn` | folder/val |") == 1 and "| `tiny_cnn (without cnmc)` |" in table


def test_the_docs_block_is_the_shipped_file():
    from leukemia_core.docblocks import block_text
    from leukemia_core.jsonio import read_json
    from leukemia_core.paths import PROJECT_ROOT

    doc = read_json(PROJECT_ROOT / "model_weights" / "ood.json")
    if not doc:
        pytest.skip("no shipped ood.json")
    assert block_text((PROJECT_ROOT / "docs" / "results.md").read_text(), "ood") == ood_table(doc)
    shipped = [m for m in doc["models"] if " " not in m]  # "(without ...)": a leave-one-lab-out run
    for m in shipped:  # the check the app serves is the one measured
        cal = read_json(PROJECT_ROOT / "model_weights" / f"{m}.calibration.json")
        assert cal["feature_reference"]["threshold"] == doc["models"][m]["feature_threshold"]
