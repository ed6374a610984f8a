"""Colour baseline, Grad-CAM energy check and the README results table, on tiny models and real samples."""

import json

import numpy as np
import pytest

from leukemia_core.baseline import colour_features, run_baseline
from leukemia_core.camcheck import cell_mask, run_cam_check
from leukemia_core.evaluate import evaluate, read_report
from leukemia_core.images import read_image
from leukemia_core.results import END, START, write_results


def test_colour_features_are_nine_statistics():
    x = np.zeros((2, 4, 4, 3), np.uint8)
    x[1, ..., 0] = 255
    f = colour_features(x)
    assert f.shape == (2, 9)
    assert f[1, 0] == 1.0 and f[0].sum() == 0


def test_colour_baseline_report(aria_tree, tmp_path):
    rep = run_baseline([str(aria_tree)], tmp_path / "b.json")
    assert read_report(tmp_path / "b.json")["model"] == "colour_baseline"
    keys = {s["key"] for s in rep["sets"]}
    assert {"aria-original/train", "aria-original/val", "aria-segmented/val"} <= keys
    for s in rep["sets"]:
        assert 0 <= s["metrics"]["accuracy"] <= 1 and len(s["images"]) == s["n_images"]


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
    assert r["n_images"] + r["n_flat_maps"] == res["n_fields"] == 8
    if r["n_images"]:
        assert 0 <= r["mean_energy_on_cells"] <= 1
    assert json.loads(out.read_text())["set"] == "aria-original/val"

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
    assert "aria-original/val" in text and "colour-only baseline" in text and "`proposed`" in text
    (tmp_path / "x.md").write_text("no block here")
    with pytest.raises(ValueError, match="results"):
        write_results(wd, tmp_path / "x.md")
