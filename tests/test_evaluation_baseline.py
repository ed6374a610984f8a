"""evaluation.baseline: the colour features and the colour baseline's report on real samples."""

import json

import numpy as np
import pytest

from leukemia_core.evaluation.baseline import run_baseline


def test_colour_baseline_report(aria_tree, tmp_path):
    rep = run_baseline([str(aria_tree)], tmp_path / "b.json")
    assert json.loads((tmp_path / "b.json").read_text())["model"] == "colour_baseline"
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


def test_colour_baseline_left_out_lab_is_scored_by_the_other_labs_fit(aria_tree, bccd_tree, tmp_path):
    rep = run_baseline([str(aria_tree), str(bccd_tree)], left_out=["bccd"])
    keys = {s["key"]: s for s in rep["sets"]}
    assert "bccd/left-out" in keys and not any(k.startswith("bccd/") and k != "bccd/left-out" for k in keys)
    left = keys["bccd/left-out"]
    assert left["held_out"] and left["n_images"] == 10 and left["metrics"]["roc_auc"] is None
    assert rep["left_out"] == ["bccd"] and rep["trained_on"] == ["aria"]
    # without --left-out, BCCD (one class) has no fit of its own and is not scored
    plain = run_baseline([str(aria_tree), str(bccd_tree)])
    assert not any(s["key"].startswith("bccd") for s in plain["sets"])
