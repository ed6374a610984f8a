"""evaluation.size_fusion: the size feature beside a model's P(ALL), fitted on validation rows and
scored on test rows; cells without a size or cut by the edge left out."""

import json

import cv2
import numpy as np
import pytest
from conftest import PINK, _disc, _field

from leukemia_core.errors import LeukemiaCoreError
from leukemia_core.evaluation.size_fusion import features, fit_arm, measure_cells, run_size_fusion, score_test


def _rows(n, seed, role):
    """Aria ALL cells about 1.6 red cells across, Aria normal cells and BCCD cells of 1.0 or 2.1;
    the model's P(ALL) carries no signal."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        ds, label, size = [("aria", "all", 1.6), ("aria", "hem", 1.0), ("bccd", "hem", 2.1), ("aria", "hem", 2.1)][i % 4]
        rows.append({"dataset": ds, "label": label, "image": f"{ds}{i // 8}", "role": role,
                     "p_raw": float(rng.uniform(0.2, 0.8)), "size": size + float(rng.normal(0, 0.08))})
    return rows


def test_the_size_arm_learns_that_blasts_are_middle_sized():
    val, test = _rows(400, 0, "val"), _rows(400, 1, "test")
    assert features(val, "model_alone").shape == (400, 1) and features(val, "model_and_size").shape == (400, 3)
    np.testing.assert_allclose(features(val, "model_and_size")[:, 2], features(val, "model_and_size")[:, 1] ** 2)
    alone, both = (score_test(test, *fit_arm(val, arm)[:2], arm, n_boot=50) for arm in ("model_alone", "model_and_size"))
    assert both["aria_all_vs_hem_auc"]["value"] > 0.95 and both["aria_all_vs_bccd_auc"]["value"] > 0.95
    assert 0.3 < alone["aria_all_vs_hem_auc"]["value"] < 0.7  # P(ALL) alone is noise here
    assert both["bccd_called_all"] == 0.0 and both["aria_all_called_all"] == 1.0
    assert both["cells"] == {"aria": 300, "bccd": 100}
    model, thr, fit = fit_arm(val, "model_and_size")
    assert fit["cells"] == 400 and fit["weighted_balanced_accuracy"] > 0.95 and 0.05 <= thr <= 0.95


class _Fake:
    """A predictor reading 32-px crops, P(ALL) 0.7 for every crop."""

    loaded = type("Loaded", (), {"input_size": 32, "cell_share": 0.75, "mask_outside": True})()

    def predict(self, x):
        assert x.dtype == np.float32 and x.max() <= 1.0
        return np.full(len(x), 0.7, np.float32)


def _smear(white_centre=(150, 150)):
    img = _field()
    for i in range(15):
        _disc(img, (20 + 45 * (i % 5), 20 + 45 * (i // 5)), 9, PINK)
    return _disc(img, white_centre, 18)


def test_cells_without_a_size_or_cut_by_the_edge_are_left_out(tmp_path):
    from leukemia_core.data.datasets import Record

    paths = {}
    for name, rgb in {"sized": _smear(), "edge": _smear((10, 150)), "bare": _disc(_field(), (100, 100), 18)}.items():
        paths[name] = tmp_path / f"{name}.png"
        cv2.imwrite(str(paths[name]), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    recs = [Record(p, "all", n, "aria", "val", "Original") for n, p in paths.items()]
    rows = measure_cells(recs, _Fake())
    assert [r["image"] for r in rows] == [str(paths["sized"])]
    assert rows[0]["p_raw"] == pytest.approx(0.7) and 1.6 < rows[0]["size"] < 2.3 and rows[0]["role"] == "val"


def test_run_needs_sized_cells_of_both_classes_in_val(tmp_path, monkeypatch):
    import leukemia_core.inference as inference

    monkeypatch.setattr(inference, "load_model", lambda name, wdir=None: None)
    monkeypatch.setattr(inference, "Predictor", lambda loaded: _Fake())
    for role, label in (("val", "all"), ("test", "hem")):
        d = tmp_path / "data" / role / label
        d.mkdir(parents=True)
        cv2.imwrite(str(d / "a.png"), cv2.cvtColor(_smear(), cv2.COLOR_RGB2BGR))
    with pytest.raises(LeukemiaCoreError, match="both classes in val"):
        run_size_fusion(["fake"], [str(tmp_path / "data")], tmp_path / "out.json")
    d = tmp_path / "data" / "val" / "hem"
    d.mkdir()
    cv2.imwrite(str(d / "b.png"), cv2.cvtColor(_smear((60, 160)), cv2.COLOR_RGB2BGR))
    r = run_size_fusion(["fake"], [str(tmp_path / "data")], tmp_path / "out.json", n_boot=10)
    assert json.loads((tmp_path / "out.json").read_text()) == r
    arms = r["models"]["fake"]
    assert set(arms) == {"model_alone", "model_and_size"} and arms["model_alone"]["val"]["cells"] == 2
    assert arms["model_and_size"]["test"]["cells"] == {"folder": 1} and r["fitted_on"] == "val"
