"""cells.analyze: find and crop an image's cells (notes for grayscale, tiny and cell-less images), the
image call from its whole cells' mean P(ALL), and scoring crops with a model."""

import numpy as np
import pytest
from conftest import PINK, _disc, _field

from leukemia_core.cells.analyze import (
    MAX_CELL_COVER,
    MAX_FIELD_CELLS,
    MIN_IMAGE_SIDE,
    NOTE_CROWDED,
    NOTE_GRAYSCALE,
    NOTE_NO_CELL,
    NOTE_TOO_SMALL,
    FoundCells,
    ImageAnalysis,
    CropKey,
    ImageCells,
    analyze,
    find_and_crop,
    find_and_crop_each,
    is_crowded,
    is_grayscale,
)
from leukemia_core.cells.finder import Cell
from leukemia_core.models.calibration import Calibration


def test_is_grayscale():
    g = np.random.default_rng(0).integers(0, 256, (40, 40, 1), np.uint8).repeat(3, axis=2)
    assert is_grayscale(g)
    g2 = g.copy().astype(np.int16)
    g2[..., 2] += 3
    assert is_grayscale(np.clip(g2, 0, 255).astype(np.uint8))  # within the tolerance
    assert not is_grayscale(_disc(_field(), (100, 100), 20))


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
    import leukemia_core.cells.analyze as mod

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


def test_crowded_images_say_so():
    def cells(n, area):
        return [Cell(i + 1, (0, 0, 10, 10), area, (5.0, 5.0), np.zeros((4, 2), np.int32), False) for i in range(n)]
    assert (MAX_FIELD_CELLS, MAX_CELL_COVER) == (40, 0.45)
    assert not is_crowded(cells(40, 10), 100_000) and is_crowded(cells(41, 10), 100_000)
    # 10 cells of 4,500 px cover exactly 0.45 of 100,000 px: not more than the share
    assert not is_crowded(cells(10, 4500), 100_000) and is_crowded(cells(10, 4501), 100_000)
    # a field tiled with 48 violet discs gets the note beside its cells
    rgb = _field(320)
    for y in range(20, 320, 40):
        for x in range(20, 320, 54):
            _disc(rgb, (x, y), 14)
    found = find_and_crop(rgb, 32)
    assert len(found.cells) > MAX_FIELD_CELLS and found.notes == [NOTE_CROWDED]
    assert NOTE_CROWDED not in find_and_crop(_disc(_field(), (100, 120), 22), 32).notes


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
    assert a.label(0.5) == "HEM" and a.label(0.2) == "ALL"
    np.testing.assert_array_equal(a.calls(0.5), [True, False, False])
    np.testing.assert_array_equal(a.refer(0.5), [False, False, False])
    np.testing.assert_array_equal(a.refer(0.25), [False, True, True])
    assert a.blast_pct(0.5) == pytest.approx(100 / 3)
    edge = _analysis([0.9, 0.3], [True, True])  # every cell cut by the edge: all count
    assert edge.image_p_all == pytest.approx(0.6)


def test_field_threshold_applies_to_images_of_several_cells():
    several = _analysis([0.55, 0.55], [False, False], field=0.6)
    assert several.image_threshold(0.5) == pytest.approx(0.6) and several.label(0.5) == "HEM"
    one = _analysis([0.55], [False], field=0.6)
    assert one.image_threshold(0.5) == 0.5 and one.label(0.5) == "ALL"
    whole = _analysis([0.55], [], whole=True, field=0.6)
    assert whole.n_cells == 0 and whole.image_threshold(0.5) == 0.5
    np.testing.assert_array_equal(whole.counted(), [True])
    assert whole.blast_pct(0.5) is None


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
    assert a.summary(0.5)["all_cells"] == 1 and a.summary()["all_cells"] == 2


def test_summary_hand_computed():
    # cells at 0.2, 0.45, 0.9 (the last cut by the edge); threshold 0.4, band +- 0.1; field threshold
    # 0.6 (+0.1 over the cell threshold): the image's mean of its whole cells 0.325 against 0.5
    a = _analysis([0.2, 0.45, 0.9], [False, False, True], field=0.6)
    a.found.notes.append("check me")
    s = a.summary(0.4)
    assert s == {"call": "HEM", "p_all": pytest.approx(0.325), "cells": 3, "all_cells": 2,
                 "blast_pct": pytest.approx(200 / 3), "refer": 1, "image_threshold": pytest.approx(0.5),
                 "cell_threshold": 0.4, "whole_image": False, "notes": ["check me"]}
    s["notes"].append("x")
    assert a.notes == ["check me"]  # the row's list is its own
    whole = _analysis([0.7], [], whole=True)
    w = whole.summary(0.5)
    assert (w["call"], w["cells"], w["all_cells"], w["blast_pct"], w["whole_image"]) == ("ALL", 0, 0, None, True)
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
    import leukemia_core.cells.analyze as mod

    runs = []
    real = mod.find_cells
    monkeypatch.setattr(mod, "find_cells", lambda rgb: runs.append(1) or real(rgb))
    rgb = _disc(_disc(_field(), (60, 60), 20), (150, 140), 20)
    pred = _Predictor(Calibration(fitted=True))
    pred.loaded.input_size, pred.loaded.cell_share, pred.loaded.mask_outside = 16, 0.6, True
    cells = ImageCells(rgb)
    a = mod.read_cells(rgb, pred, _Explainer(), cells=cells)
    b = mod.read_calls(rgb, pred, cells=cells)
    assert len(runs) == 1 and a.found.cells is b.found.cells and a.crops.shape == (2, 16, 16, 3)
    mod.read_calls(rgb, pred)  # without shared cells the predictor finds its own
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
