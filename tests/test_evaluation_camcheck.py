"""evaluation.camcheck: the cell mask of a crop, the Grad-CAM energy check on cell crops and its row in the
README results table."""

import json

import numpy as np
import pytest
from test_results import BASELINE_LABEL, SET_HEADER, _table_after, expected_set_row

from leukemia_core.evaluation.baseline import run_baseline
from leukemia_core.evaluation.camcheck import crop_mask, run_cam_check
from leukemia_core.evaluation.evaluate import evaluate
from leukemia_core.reports.files import load_report
from leukemia_core.errors import LeukemiaCoreError
from leukemia_core.reports.results import END, START, write_results


def test_crop_mask_is_the_cell_on_black():
    crop = np.zeros((16, 16, 3), np.uint8)
    crop[4:10, 5:12] = (120, 40, 200)
    crop[0, 0] = (5, 5, 5)  # dark noise stays background
    m = crop_mask(crop)
    assert m.dtype == bool and m.sum() == 6 * 7 and m[4:10, 5:12].all()


def test_cam_check_and_results_table(aria_tree, trained_tiny, tmp_path):
    wdir = trained_tiny["weights_dir"]
    out = tmp_path / "cam.json"
    res = run_cam_check(["tiny_cnn"], [aria_tree], out, wdir)
    r = res["models"]["tiny_cnn"]
    # cells of the test role only (the Aria test block), every one scored or counted as a flat map
    assert res["role"] == "test" and json.loads(out.read_text())["role"] == "test"
    assert set(r["per_dataset"]) <= {"aria"} and r["n_cells"] == sum(d["n_cells"] for d in r["per_dataset"].values())
    assert r["n_cells"] + r["n_flat_maps"] > 0 and 0 < r["mask_area_mean"] < 1
    if r["n_cells"]:  # one dataset: the summary is its mean; shares are shares
        assert r["mean_energy_on_cells"] == pytest.approx(r["per_dataset"]["aria"]["mean_energy_on_cells"])
        assert 0 <= r["median_energy_on_cells"] <= 1 and 0 <= r["share_of_cells_above_0.6"] <= 1
    else:
        assert r["mean_energy_on_cells"] is None

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
    # the Aria test and validation tables, cell by cell, from the two reports written above
    lines = text.splitlines()
    reps = {m: load_report(m, wd) for m in ("proposed", "colour_baseline")}
    assert reps["proposed"]["calibration"]["fitted"]  # evaluate calibrated on the val role
    for key in ("aria-original/test", "aria-original/val"):
        header, rows = _table_after(lines, f"**{key}**")
        assert header == SET_HEADER
        assert [r[0] for r in rows] == ["`proposed`", BASELINE_LABEL]
        for row, (name, rep) in zip(rows, reps.items()):
            s = next(s for s in rep["sets"] if s["key"] == key)
            # by hand from the stored probabilities, at the report's own thresholds (evaluate chooses them
            # on the val role: cells, and fields of several cells; the baseline's is 0.5)
            assert row == expected_set_row(name, s, rep["threshold"], rep.get("field_threshold")), (name, key)
            assert row[SET_HEADER.index("cells")] == str(s["n_cells"])
        # the baseline is scored on the same cells as the model
        assert rows[0][SET_HEADER.index("cells")] == rows[1][SET_HEADER.index("cells")]
    assert "Role: validation: chose the epoch, calibrator, threshold and refer band (not a test set)." in text
    (tmp_path / "x.md").write_text("no block here")
    with pytest.raises(LeukemiaCoreError, match="results"):
        write_results(wd, tmp_path / "x.md")


def test_a_model_trained_with_its_surroundings_is_read_and_checked_that_way(aria_tree, tmp_path):
    from leukemia_core.inference import Predictor, load_model
    from leukemia_core.training.train import TrainConfig, train

    wdir = tmp_path / "w"
    cfg = TrainConfig(model="tiny_cnn", data=[str(aria_tree)], epochs=1, batch_size=4, steps_per_epoch=1,
                      mask_outside=False, run_dir=str(tmp_path / "run"), weights_dir=str(wdir), cache_dir=None,
                      verbose=0)
    assert train(cfg)["mask_outside"] is False
    loaded = load_model("tiny_cnn", wdir)
    assert loaded.mask_outside is False
    from leukemia_core.data.images import read_image

    field = read_image(next((aria_tree / "Original" / "Benign").glob("*.jpg")))
    from leukemia_core.cells.analyze import find_and_crop

    found, on_black = Predictor(loaded).find_cells(field), find_and_crop(field, 32, loaded.cell_share)
    shown = [(f.crops.max(axis=3) > 8).mean() for f in (found, on_black)]
    assert not found.whole_image and shown[0] > 0.8 > shown[1]  # black only past the image's edge
    # the CAM energy is measured against the cell's own mask, not the whole (non-black) crop
    r = run_cam_check(["tiny_cnn"], [aria_tree], tmp_path / "cam.json", wdir)["models"]["tiny_cnn"]
    assert 0 < r["mask_area_mean"] < 0.9
