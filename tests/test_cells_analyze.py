"""cells.analyze: find and crop an image's cells (notes for grayscale, tiny and cell-less images), the
image call from its whole cells' mean P(ALL), and scoring crops with a model."""

import numpy as np
import pytest
from conftest import PINK, _disc, _field

from leukemia_core.cells.analyze import (CropKey, FoundCells, ImageAnalysis, ImageCells, analyze, find_and_crop,
                                        find_and_crop_each, read_calls, read_cells)
from leukemia_core.cells.finder import Cell
from leukemia_core.cells.outcome import (MIN_IMAGE_SIDE, NO_CALL, NOTE_GRAYSCALE, NOTE_NO_CELL, NOTE_TOO_SMALL,
                                         REASON_NO_CALLED_CELL)
from leukemia_core.models.calibration import Calibration


def test_find_and_crop_one_cell():
    found = find_and_crop(_disc(_field(), (100, 120), 22), 64)
    assert not found.whole_image and found.notes == []
    assert len(found.cells) == 1
    assert found.crops.shape == (1, 64, 64, 3) and found.crops.dtype == np.uint8
    # no red cells drawn: the size cannot be measured
    assert found.sizes == (None,)


def test_find_and_crop_measures_size_in_red_cells():
    rgb = _field()
    for i in range(15):
        _disc(rgb, (20 + 45 * (i % 5), 20 + 45 * (i // 5)), 9, PINK)
    found = find_and_crop(_disc(rgb, (180, 190), 18), 32)
    assert len(found.cells) == 1 and len(found.sizes) == 1
    # a cell about 37 px across among red cells about 19 px across
    assert 1.6 < found.sizes[0] < 2.3
    a = analyze(found, lambda x: np.full(len(x), 0.3), Calibration())
    assert a.size_of(0) == found.sizes[0] and a.found.sizes == found.sizes


def test_image_cells_are_found_once_for_every_crop_size(monkeypatch):
    import leukemia_core.cells.found as mod

    runs = []
    real = mod.find_cells
    monkeypatch.setattr(mod, "find_cells", lambda rgb: runs.append(1) or real(rgb))
    rgb = _disc(_disc(_field(), (60, 60), 20), (150, 140), 20)
    each = find_and_crop_each(rgb, [(32, 0.6), (48, 0.6), CropKey(32, 0.6, True), (32, 0.6, False)])
    assert len(runs) == 1 and sorted(each) == [(32, 0.6, False), (32, 0.6, True), (48, 0.6, True)]
    assert each[(32, 0.6, True)].crops.shape == (2, 32, 32, 3) and each[(48, 0.6, True)].crops.shape == (2, 48, 48, 3)
    assert each[(32, 0.6, True)].cells is each[(48, 0.6, True)].cells
    # with its surroundings the crop shows the field around the cell; on black it does not
    masked, kept = each[(32, 0.6, True)].crops, each[(32, 0.6, False)].crops
    assert (masked[0, 0, 0] == 0).all() and (kept[0, 0, 0] > 200).all()
    # the same crops as finding them again for one size alone
    alone = find_and_crop(rgb, 48, 0.6)
    assert np.array_equal(alone.crops, each[(48, 0.6, True)].crops) and alone.sizes == each[(48, 0.6, True)].sizes
    # a model asking later reads the found cells, and a repeated ask the same crops
    cells = ImageCells(rgb)
    model = type("P", (), {"loaded": type("L", (), {"input_size": 40, "cell_share": 0.5, "mask_outside": True})()})()
    first = cells.for_model(model)
    assert first.crops.shape == (2, 40, 40, 3) and cells.cropped(40, 0.5) is first
    assert cells.cropped(24).crops.shape == (2, 24, 24, 3) and len(runs) == 3
    # an image without a cell is classified whole at each size, each note list its own
    none = find_and_crop_each(_field(), [(32, 0.6), (16, 0.6)])  # a key's cut-off fields default
    assert [f.crops.shape for f in none.values()] == [(1, 32, 32, 3), (1, 16, 16, 3)]
    assert all(f.whole_image and f.notes == [NOTE_NO_CELL] for f in none.values())
    assert none[(32, 0.6, True)].notes is not none[(16, 0.6, True)].notes


def test_images_without_a_cell_are_classified_whole_and_say_why():
    found = find_and_crop(_field(), 32)
    assert found.whole_image and found.cells == [] and found.notes == [NOTE_NO_CELL]
    assert found.crops.shape == (1, 32, 32, 3) and found.crops.dtype == np.uint8
    tiny = find_and_crop(_field(MIN_IMAGE_SIDE - 1), 32)
    assert tiny.whole_image and tiny.notes == [NOTE_TOO_SMALL]  # no "no cell" note on top
    grey = find_and_crop(np.full((100, 100, 3), 128, np.uint8), 32)
    assert grey.notes == [NOTE_GRAYSCALE, NOTE_NO_CELL]


def _cell(i, border):
    return Cell(i, (0, 0, 10, 10), 80, (5.0, 5.0), np.zeros((4, 2), np.int32), border)


def _analysis(p, border, whole=False, field=None):
    found = FoundCells([] if whole else [_cell(i + 1, b) for i, b in enumerate(border)],
                       np.zeros((len(p), 8, 8, 3), np.uint8), whole)
    cal = Calibration(threshold=0.5, refer_half_width=0.1, fitted=True, field_threshold=field)
    return ImageAnalysis(found, np.asarray(p, float), np.asarray(p, float), cal)


def test_image_call_counts_whole_cells_only_when_there_are_some():
    a = _analysis([0.9, 0.2, 0.3], [True, False, False])
    assert a.n_cells == 3
    np.testing.assert_array_equal(a.counted(), [False, True, True])
    assert a.image_p_all == pytest.approx(0.25)
    assert a.label(0.5) == "HEM" and a.label(0.15) == "ALL"
    # at 0.2 both counted cells sit in the refer band (0.1-0.3): none has a call, nor has the image
    assert a.cell_labels(0.2) == ["ALL", NO_CALL, NO_CALL] and a.verdict(0.2) == (NO_CALL, REASON_NO_CALLED_CELL)
    np.testing.assert_array_equal(a.calls(0.5), [True, False, False])
    np.testing.assert_array_equal(a.refer(0.5), [False, False, False])
    np.testing.assert_array_equal(a.refer(0.25), [False, True, True])
    assert a.blast_pct(0.5) == pytest.approx(100 / 3)
    edge = _analysis([0.9, 0.3], [True, True])  # every cell cut by the edge: all count
    assert edge.image_p_all == pytest.approx(0.6)


def test_field_threshold_applies_to_images_of_several_cells():
    several = _analysis([0.3, 0.7, 0.2], [False, False, False], field=0.65)
    assert several.image_threshold(0.5) == pytest.approx(0.65) and several.label(0.5) == "HEM"  # mean 0.4, 33 %
    assert several.rule(0.5) == ("HEM: mean P(ALL) 0.40 of the 3 whole cells with a call is below the image threshold "
                                 "0.65 (field threshold); 33 % of the cells with a call are called ALL (below the "
                                 "50 % limit that makes an image ALL)")
    mean_rule = _analysis([0.95, 0.95, 0.2, 0.2, 0.3], [False] * 5, field=0.5)
    assert mean_rule.label(0.5) == "ALL" and mean_rule.blast_pct(0.5) == pytest.approx(40)  # mean 0.52
    one = _analysis([0.65], [False], field=0.7)
    assert one.image_threshold(0.5) == 0.5 and one.label(0.5) == "ALL"
    whole = _analysis([0.55], [], whole=True, field=0.6)
    assert whole.n_cells == 0 and whole.image_threshold(0.5) == 0.5
    np.testing.assert_array_equal(whole.counted(), [True])
    assert whole.blast_pct(0.5) is None


def test_an_image_is_never_hem_beside_a_blast_share_at_the_limit():
    from leukemia_core.cells.analyze import BLAST_LIMIT_PCT

    half = _analysis([0.3, 0.7], [False, False], field=0.65)  # mean 0.5 is below 0.65, but half are blasts
    assert half.blast_pct(0.5) == BLAST_LIMIT_PCT and half.label(0.5) == "ALL"
    assert "50 % of the cells with a call are called ALL (at or above the 50 % limit" in half.rule(0.5)
    for p in ([0.3, 0.7], [0.1, 0.9, 0.2], [0.55, 0.52, 0.2, 0.1], [0.49, 0.51], [0.0, 1.0, 1.0]):
        for thr in (0.3, 0.5, 0.7, 0.9):
            a = _analysis(p, [False] * len(p), field=0.95)
            blast = a.blast_pct(thr)
            assert not (a.label(thr) == "HEM" and blast is not None and blast >= BLAST_LIMIT_PCT), (p, thr)


def test_no_call_cells_take_no_part_in_the_image_call():
    # 0.45 sits in the refer band (0.4-0.6): NO CALL; the image call is the one other cell's
    a = _analysis([0.45, 0.7], [False, False], field=0.65)
    np.testing.assert_array_equal(a.image_call(0.5).used, [False, True])
    assert a.image_mean(0.5) == pytest.approx(0.7) and a.image_threshold(0.5) == 0.5 and a.label(0.5) == "ALL"
    assert a.rule(0.5).startswith("ALL: mean P(ALL) 0.70 of the 1 whole cell with a call is at or above the image "
                                  "threshold 0.50 (cell threshold)")
    assert a.summary(0.5)["p_all"] == pytest.approx(0.7) and a.summary(0.5)["rule"] == a.rule(0.5)
    none = _analysis([0.45, 0.55], [False, False])
    assert none.verdict(0.5) == (NO_CALL, REASON_NO_CALLED_CELL)
    assert none.rule(0.5) == f"NO CALL: {REASON_NO_CALLED_CELL}" and none.image_mean(0.5) == pytest.approx(0.5)


def test_analyze_scales_crops_to_unit_floats_and_calibrates():
    found = find_and_crop(_disc(_field(), (100, 120), 22), 16)
    seen = {}

    def predict(x):
        seen["x"] = x
        return np.full(len(x), 0.8, np.float32)

    cal = Calibration(a=2.0, b=0.0, fitted=True)
    a = analyze(found, predict, cal)
    assert seen["x"].dtype == np.float32 and seen["x"].shape == (1, 16, 16, 3)
    np.testing.assert_allclose(seen["x"], found.crops / 255.0, atol=1e-7)
    assert 0.0 <= seen["x"].min() and seen["x"].max() <= 1.0
    assert a.p_raw.dtype == np.float64 and a.p_raw[0] == pytest.approx(0.8)
    assert a.p_all[0] == pytest.approx(0.8**2 / (0.8**2 + 0.2**2))  # sigmoid(2 logit(0.8))
    assert a.found.notes == []  # no reference statistics: never flagged as outside


# --- the one reading type: what the app keeps (maps, site profile, threshold) and the summary row


def _maps(n, value):
    return np.full((n, 8, 8), value, np.float16)


def test_a_reading_holds_its_maps_and_says_which_explains_each_call():
    a = _analysis([0.9, 0.2], [False, False])
    assert not a.has_maps and a.map_of(0, 0.5).shape == (8, 8) and a.map_of(0, 0.5).max() == 0
    assert a.nbytes == a.crops.nbytes + a.p_all.nbytes  # no maps yet
    from dataclasses import replace
    m = replace(a, maps_all=_maps(2, 0.75), maps_hem=_maps(2, 0.25))
    assert m.has_maps and m.nbytes == a.nbytes + 2 * 2 * 8 * 8 * 2
    assert m.map_of(0, 0.5).dtype == np.float32 and m.map_of(0, 0.5).max() == 0.75  # called ALL: ALL evidence
    assert m.map_of(1, 0.5).max() == 0.25 and m.map_of(0, 0.95).max() == 0.25    # called HEM: HEM evidence
    assert m.cells is m.found.cells and m.crops is m.found.crops and m.notes is m.found.notes
    assert m.cell_labels(0.5) == ["ALL", "HEM"] and m.whole_image is False


def test_the_threshold_applied_defaults_to_the_calibrations():
    a = _analysis([0.55, 0.45], [False, False])
    assert a.threshold is None and a.site_profile is None and a.cell_threshold == 0.5
    a.threshold = 0.4
    assert a.cell_threshold == 0.4 and a.summary() == a.summary(0.4)
    assert a.summary(0.5)["all_cells"] == 0 and a.summary(0.5)["no_call"] == 2  # both in the band 0.4-0.6
    assert a.summary(0.3)["all_cells"] == 2 and a.summary(0.7)["all_cells"] == 0 and a.summary(0.7)["no_call"] == 0


def test_summary_hand_computed():
    # cells at 0.2, 0.45, 0.9 (the last cut by the edge); threshold 0.4, band +- 0.1; field threshold
    # 0.6 (+0.1 over the cell threshold). The 0.45 cell is borderline (0.3-0.5): NO CALL, so the image
    # call is made from the one whole cell with a call (0.2, against the cell threshold 0.4); but of
    # the two cells with a call one is ALL (blast 50 %), and an image is never HEM beside that
    a = _analysis([0.2, 0.45, 0.9], [False, False, True], field=0.6)
    a.found.notes.append("check me")
    s = a.summary(0.4)
    assert s == {"call": "ALL", "reason": "", "rule": a.rule(0.4), "p_all": pytest.approx(0.2), "cells": 3,
                 "differential": None,  # no lymphoid gate
                 "all_cells": 1, "no_call": 1, "not_lymphoid": 0, "blast_pct": pytest.approx(50.0), "refer": 1,
                 "image_threshold": pytest.approx(0.4), "cell_threshold": 0.4, "whole_image": False,
                 "notes": ["check me"]}
    assert s["rule"] == ("ALL: mean P(ALL) 0.20 of the 1 whole cell with a call is below the image threshold 0.40 "
                         "(cell threshold); 50 % of the cells with a call are called ALL (at or above the 50 % limit that "
                         "makes an image ALL)")
    s["notes"].append("x")
    assert a.notes == ["check me"]  # the row's list is its own
    whole = _analysis([0.7], [], whole=True)
    w = whole.summary(0.5)
    assert (w["call"], w["cells"], w["all_cells"], w["blast_pct"], w["whole_image"]) == ("ALL", 0, 0, None, True)
    whole.found.notes.append(NOTE_NO_CELL)  # as the finder says it: no white cell, no call
    assert whole.verdict(0.5) == (NO_CALL, "no white cell found") and whole.summary(0.5)["reason"] == "no white cell found"
    assert whole.blast_pct(0.5) is None


class _Explainer:
    """``predict_and_explain`` of a fake model: P(ALL) 0.8 per crop, a map of 0.9 (ALL) or 0.1 (HEM)."""

    def __init__(self):
        self.seen = []

    def predict_and_explain(self, x, class_index):
        self.seen.append((x.dtype, x.shape, class_index))
        return np.full(len(x), 0.8, np.float32), np.full(x.shape[:3], 0.9 if class_index else 0.1, np.float32)


class _Predictor:
    """``find_cells`` and ``analyze`` of a fake model (P(ALL) 0.6 per crop), calibration ``cal``."""

    def __init__(self, cal, notes=()):
        self.loaded = type("Loaded", (), {"calibration": cal})()
        self.notes = list(notes)

    def find_cells(self, rgb):
        found = find_and_crop(rgb, 16)
        return FoundCells(found.cells, found.crops, found.whole_image, found.notes + self.notes)

    def analyze(self, found):
        return analyze(found, lambda x: np.full(len(x), 0.6), self.loaded.calibration)


def test_read_cells_scores_and_explains_both_classes(monkeypatch):
    import leukemia_core.cells.analyze as mod

    rgb = _disc(_disc(_field(), (60, 60), 20), (150, 140), 20)
    stored, site = Calibration(a=2.0, fitted=True), Calibration(threshold=0.7, fitted=True)
    ex = _Explainer()
    a = mod.read_cells(rgb, _Predictor(stored), ex)
    assert [s[2] for s in ex.seen] == [1, 0] and all(s[0] == np.float32 for s in ex.seen)
    assert a.n_cells == 2 and a.calibration is stored and a.site_profile is None and a.notes == []
    assert a.p_raw == pytest.approx([0.8, 0.8]) and a.p_all[0] == pytest.approx(0.8**2 / (0.8**2 + 0.2**2))
    assert a.maps_all.dtype == np.float16 and float(a.map_of(0, 0.5).max()) == pytest.approx(0.9, abs=1e-3)
    monkeypatch.setattr(mod, "is_outside", lambda ref, crops: True)
    b = mod.read_cells(rgb, _Predictor(stored), _Explainer(), site, site_profile="lab A")
    assert b.calibration is site and b.site_profile == "lab A" and b.cell_threshold == 0.7
    assert b.notes == [mod.NOTE_OOD] and b.p_all == pytest.approx([0.8, 0.8])  # the site's calibration


def test_models_reading_one_image_share_its_cells(monkeypatch):
    import leukemia_core.cells.found as mod

    runs = []
    real = mod.find_cells
    monkeypatch.setattr(mod, "find_cells", lambda rgb: runs.append(1) or real(rgb))
    rgb = _disc(_disc(_field(), (60, 60), 20), (150, 140), 20)
    pred = _Predictor(Calibration(fitted=True))
    pred.loaded.input_size, pred.loaded.cell_share, pred.loaded.mask_outside = 16, 0.6, True
    cells = ImageCells(rgb)
    a = read_cells(rgb, pred, _Explainer(), cells=cells)
    b = read_calls(rgb, pred, cells=cells)
    assert len(runs) == 1 and a.found.cells is b.found.cells and a.crops.shape == (2, 16, 16, 3)
    read_calls(rgb, pred)  # without shared cells the predictor finds its own
    assert len(runs) == 2


def test_read_calls_first_then_add_maps(monkeypatch):
    import leukemia_core.cells.analyze as mod

    rgb = _disc(_field(), (100, 120), 22)
    stored, site = Calibration(fitted=True), Calibration(threshold=0.3, fitted=True)
    monkeypatch.setattr(mod, "is_outside", lambda ref, crops: ref is site.reference)
    calls = mod.read_calls(rgb, _Predictor(stored), site, site_profile="lab B")
    assert not calls.has_maps and calls.site_profile == "lab B" and calls.calibration is site
    assert calls.notes == [mod.NOTE_OOD] and calls.p_all == pytest.approx([0.6])
    # the note is the site reference's alone: the stored one's flag is dropped
    monkeypatch.setattr(mod, "is_outside", lambda ref, crops: ref is stored.reference)
    assert mod.read_calls(rgb, _Predictor(stored), site).notes == []
    done = mod.add_maps(calls, _Explainer())
    assert done.has_maps and not calls.has_maps and done.p_all is calls.p_all  # the call shown first is kept
    assert done.site_profile == "lab B" and done.nbytes > calls.nbytes


def test_cells_outside_the_feature_reference_get_no_call():
    from dataclasses import replace as dc_replace

    found = find_and_crop(_disc(_disc(_field(), (60, 60), 20), (150, 150), 20), 16)
    assert len(found.cells) == 2
    ref = {"components": [{"lab": "a", "class": c, "n": 10, "mean": [0.0, 0.0]} for c in (0, 1)],
           "scale": [1.0, 1.0], "threshold": 1.0}
    cal = dc_replace(Calibration(threshold=0.5), feature_reference=ref)
    feats = lambda x: np.array([[0.1, 0.0], [5.0, 0.0]])[: len(x)]  # noqa: E731  the second cell: far
    a = analyze(found, lambda x: np.full(len(x), 0.8), cal, feats)
    assert a.outside.tolist() == [False, True]
    assert a.outcomes(0.5) == (["ALL", NO_CALL], ["", "outside what the model can read"])
    assert analyze(found, lambda x: np.full(len(x), 0.8), Calibration(threshold=0.5), feats).outside is None


def test_cells_the_lymphoid_gate_stops_get_no_call_before_any_other_reason():
    from dataclasses import replace as dc_replace

    found = find_and_crop(_disc(_disc(_field(), (60, 60), 20), (150, 150), 20), 16)
    # P(lymphoid) = sigmoid(feature 0): the first cell passes, the second is stopped
    gate = {"mean": [0.0, 0.0], "scale": [1.0, 1.0], "coef": [1.0, 0.0], "intercept": 0.0, "threshold": 0.5}
    cal = dc_replace(Calibration(threshold=0.5, refer_half_width=0.5), lymphoid_gate=gate)
    feats = lambda x: np.array([[3.0, 0.0], [-3.0, 0.0]])[: len(x)]  # noqa: E731
    a = analyze(found, lambda x: np.full(len(x), 0.8), cal, feats)
    assert a.not_lymphoid.tolist() == [False, True] and a.outside is None
    # the stopped cell says why, ahead of its borderline P(ALL); the other stays borderline
    assert a.outcomes(0.5) == ([NO_CALL, NO_CALL], ["borderline: P(ALL) inside the refer band", "not a lymphoid cell"])
    assert a.summary(0.5)["not_lymphoid"] == 1
    assert analyze(found, lambda x: np.full(len(x), 0.8), Calibration(threshold=0.5), feats).not_lymphoid is None


def test_the_differential_counts_what_the_lymphoid_gate_lets_through_and_stops():
    a = _analysis([0.9, 0.2, 0.3], [False, False, True])
    assert a.differential() is None and a.summary(0.5)["differential"] is None  # no gate
    gated = ImageAnalysis(a.found, a.p_raw, a.p_all, a.calibration, not_lymphoid=np.array([False, True, False]))
    assert gated.differential() == {"lymphoid": 2, "other white cell": 1}
    assert gated.summary(0.5)["differential"] == gated.differential()
    assert _analysis([0.7], [], whole=True).differential() is None  # an image read whole has no cells
