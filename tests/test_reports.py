"""Colour baseline, Grad-CAM energy check and the README results table, on tiny models and real samples."""

import json

import numpy as np
import pytest

from leukemia_core.baseline import colour_features, run_baseline
from leukemia_core.camcheck import cell_mask, run_cam_check
from leukemia_core.evaluate import evaluate, read_report
from leukemia_core.images import read_image
from leukemia_core.results import END, START, write_results

from test_results import BASELINE_LABEL, SET_HEADER, _table_after


def test_colour_features_are_nine_statistics():
    x = np.zeros((2, 4, 4, 3), np.uint8)
    x[1, ..., 0] = 255
    f = colour_features(x)
    assert f.shape == (2, 9)
    assert f[1, 0] == 1.0 and f[0].sum() == 0


def test_colour_baseline_report(aria_tree, tmp_path):
    rep = run_baseline([str(aria_tree)], tmp_path / "b.json")
    assert read_report(tmp_path / "b.json")["model"] == "colour_baseline"
    # Segmented fields are left out by default; ten fields per subclass: 7 train, 1 val, 2 test
    assert {s["key"]: s["n_images"] for s in rep["sets"]} == {
        "aria-original/train": 4 * 7, "aria-original/val": 4 * 1, "aria-original/test": 4 * 2}
    for s in rep["sets"]:
        assert len(s["images"]) == s["n_images"] > 0
        # the stored metrics are those of the stored per-image probabilities
        y = np.array([i["label"] == "all" for i in s["images"]])
        called = np.array([i["p_all"] >= 0.5 for i in s["images"]])
        m = s["metrics"]
        assert m["accuracy"] == pytest.approx(np.mean(y == called), abs=1e-6)
        assert m["sensitivity"] == pytest.approx(np.mean(called[y]), abs=1e-6)
        assert m["specificity"] == pytest.approx(np.mean(~called[~y]), abs=1e-6)
        assert m["confusion_matrix"] == [[int(np.sum(~y & ~called)), int(np.sum(~y & called))],
                                         [int(np.sum(y & ~called)), int(np.sum(y & called))]]


def test_cell_mask_from_segmented_sample(aria_samples):
    s = next(s for s in aria_samples if s.mask is not None)
    m = cell_mask(read_image(s.mask), 64)
    assert m.shape == (64, 64) and m.dtype == bool
    assert 0.05 < m.mean() < 0.9  # cells cover part, not all, of the field


def test_cam_check_and_results_table(aria_tree, trained_tiny, tmp_path):
    wdir = trained_tiny["weights_dir"]
    out = tmp_path / "cam.json"
    res = run_cam_check(["tiny_cnn"], aria_tree, out, wdir)
    r = res["models"]["tiny_cnn"]
    # the Aria test block: the last 20 % of each subclass's ten numbers, fields 9 and 10, in four
    # subclasses (the val band before it holds only one field per subclass, field 8)
    assert r["n_images"] + r["n_flat_maps"] == res["n_fields"] == 8
    assert sorted(int(i["path"][-7:-4]) for i in r["per_image"]) == [9] * 4 + [10] * 4
    assert {i["path"].split("/")[-3] for i in r["per_image"]} == {"Original"}
    shares = [i["energy_on_cells"] for i in r["per_image"] if i["energy_on_cells"] is not None]
    assert len(r["per_image"]) == res["n_fields"] and r["n_images"] == len(shares)
    if shares:  # the summary is the mean of the per-image shares
        assert r["mean_energy_on_cells"] == pytest.approx(np.mean(shares), abs=1e-4)
        assert r["median_energy_on_cells"] == pytest.approx(np.median(shares), abs=1e-4)
    else:
        assert np.isnan(r["mean_energy_on_cells"])
    assert json.loads(out.read_text())["set"] == "aria-original/test"

    # a results table built from reports written by the project's own commands
    wd = tmp_path / "weights"
    wd.mkdir()
    for f in wdir.iterdir():
        (wd / f.name.replace("tiny_cnn", "proposed")).write_bytes(f.read_bytes())
    evaluate("tiny_cnn", [str(aria_tree)], wd / "proposed.report.json", wdir, allow_leakage=True)
    run_baseline([str(aria_tree)], wd / "colour_baseline.report.json")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{START}\nSTALE-TABLE\n{END}\noutro\n")
    text = write_results(wd, readme)
    content = readme.read_text()
    assert "STALE-TABLE" not in content and content.startswith("intro") and content.rstrip().endswith("outro")
    # the aria-original/val table, cell by cell, from the two reports written above
    lines = text.splitlines()
    header, rows = _table_after(lines, "**aria-original/val**")
    assert header == SET_HEADER
    assert [r[0] for r in rows] == ["`proposed`", BASELINE_LABEL]
    for row, report in zip(rows, ("proposed", "colour_baseline")):
        s = next(s for s in read_report(wd / f"{report}.report.json")["sets"] if s["key"] == "aria-original/val")
        m = s["metrics"]
        expected = [str(s["n_images"]), str(s["n_groups"])] + [
            "–" if v is None else f"{v:.3f}" for v in (m["accuracy"], m["balanced_accuracy"], m["weighted"]["f1"],
                                                       m["roc_auc"], m["sensitivity"], m["specificity"])]
        assert row[1:] == expected, report
        y = np.array([i["label"] == "all" for i in s["images"]])
        # calls at the report's own threshold (evaluate chooses it on the val role; the baseline's is 0.5)
        called = np.array([i["p_all"] >= m["threshold"] for i in s["images"]])
        assert row[SET_HEADER.index("sensitivity (ALL)")] == f"{np.mean(called[y]):.3f}"
        assert row[SET_HEADER.index("specificity (HEM)")] == f"{np.mean(~called[~y]):.3f}"
    (tmp_path / "x.md").write_text("no block here")
    with pytest.raises(ValueError, match="results"):
        write_results(wd, tmp_path / "x.md")
