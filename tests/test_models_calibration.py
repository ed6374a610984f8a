"""Calibration: Platt fit, weights, ECE, threshold and refer band (leukemia_core.models.calibration)."""

import json

import numpy as np
import pytest

from leukemia_core.models.calibration import (
    DEFAULT_THRESHOLD,
    REFER_RATE,
    Calibration,
    balanced_weights,
    calibration_path,
    ece,
    fit_calibration,
    fit_field_threshold,
    fit_platt,
    logit,
    read_calibration,
    refer_band_of,
    reliability,
    sigmoid,
    weighted_balanced_accuracy,
)


def test_constants():
    assert (DEFAULT_THRESHOLD, REFER_RATE) == (0.5, 0.10)


def test_logit_and_sigmoid_values():
    assert logit(np.array([0.5, 0.8, 0.2])) == pytest.approx([0.0, np.log(4), -np.log(4)])
    # 0 and 1 are clipped to 1e-6 and 1 - 1e-6: finite, +-log((1 - 1e-6) / 1e-6)
    assert logit(np.array([0.0, 1.0])) == pytest.approx([-13.815509557963773, 13.815509557963773], abs=1e-9)
    assert sigmoid(np.array([0.0, np.log(4), -np.log(4)])) == pytest.approx([0.5, 0.8, 0.2])
    assert sigmoid(np.array([-800.0, 800.0])).tolist() == [0.0, 1.0]
    assert logit(np.array([0.3])).dtype == np.float64 and sigmoid(np.array([1], np.float32)).dtype == np.float64


def test_balanced_weights_one_dataset():
    # 3 HEM, 1 ALL: each class gets half the total
    w = balanced_weights(np.array([0, 0, 0, 1]))
    assert w == pytest.approx([1 / 6, 1 / 6, 1 / 6, 1 / 2])


def test_balanced_weights_give_each_dataset_and_class_equal_totals():
    y = np.array([0, 0, 1, 1, 1, 1, 0, 1, 1])
    ds = np.array(["a", "a", "a", "b", "b", "b", "c", "c", "c"])
    w = balanced_weights(y, ds)
    assert w.sum() == pytest.approx(1.0)
    # a: 2 HEM + 1 ALL, each class 1/6; b: ALL only, 1/3; c: 1 HEM + 2 ALL, each class 1/6
    assert w == pytest.approx([1 / 12, 1 / 12, 1 / 6, 1 / 9, 1 / 9, 1 / 9, 1 / 6, 1 / 12, 1 / 12])
    for d in "abc":
        assert w[ds == d].sum() == pytest.approx(1 / 3)
    for d in "ac":
        for c in (0, 1):
            assert w[(ds == d) & (y == c)].sum() == pytest.approx(1 / 6)


def test_balanced_weights_empty():
    w = balanced_weights(np.array([], int))
    assert w.shape == (0,) and w.dtype == np.float64


def test_weighted_balanced_accuracy_hand_computed():
    y = np.array([0, 0, 1, 1])
    w = np.array([0.1, 0.3, 0.2, 0.4])
    # HEM recall: only the first (0.1 of 0.4) called HEM = 0.25; ALL recall: the last (0.4 of 0.6) = 2/3
    assert weighted_balanced_accuracy(y, np.array([False, True, False, True]), w) == pytest.approx(
        (0.25 + 2 / 3) / 2)
    assert weighted_balanced_accuracy(y, np.array([False, False, True, True]), w) == 1.0
    assert weighted_balanced_accuracy(y, np.array([True, True, False, False]), w) == 0.0
    # a class absent, or with zero weight: undefined
    assert weighted_balanced_accuracy(np.array([1, 1]), np.array([True, True]), np.array([0.5, 0.5])) is None
    assert weighted_balanced_accuracy(np.array([0, 0]), np.array([False, False]), np.array([0.5, 0.5])) is None
    assert weighted_balanced_accuracy(y, np.array([False, True, True, True]), np.array([0, 0, 0.5, 0.5])) is None


def test_ece_of_a_perfectly_calibrated_set_is_zero():
    # 4 cells at 0.25 (1 ALL), 4 at 0.75 (3 ALL), 2 at 1.0 (both ALL; p = 1 falls in the last bin)
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0, 1, 1])
    p = np.array([0.25] * 4 + [0.75] * 4 + [1.0] * 2)
    assert ece(y, p) == pytest.approx(0.0, abs=1e-12)


def test_ece_of_a_shifted_set_hand_computed():
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0, 1, 0])
    p = np.array([0.35] * 4 + [0.85] * 4 + [1.0, 0.9])
    # bin 3: 4 cells, |0.25 - 0.35| = 0.10; bin 8: 4 cells, |0.75 - 0.85| = 0.10;
    # bin 9 (0.9 and 1.0): 2 cells, observed 0.5, mean p 0.95: 0.45
    assert ece(y, p) == pytest.approx(0.4 * 0.10 + 0.4 * 0.10 + 0.2 * 0.45)
    # weights: bin 3 weighs 1, bin 8 weighs 2 (its ALL cells 0.5 each), bin 9 weighs 1 (the 1.0 cell 0.75)
    w = np.array([0.25] * 4 + [0.5, 0.5, 0.5, 0.5] + [0.75, 0.25])
    # bin 8: observed 1.5 / 2 = 0.75, mean p 0.85; bin 9: observed 0.75, mean p 0.75 + 0.225 = 0.975
    assert ece(y, p, w) == pytest.approx(0.25 * 0.10 + 0.5 * 0.10 + 0.25 * abs(0.75 - 0.975))
    # 5 bins: 0.35 in bin 1, 0.85 / 0.9 / 1.0 in bin 4 (6 cells, observed 4/6, mean p 0.8833)
    assert ece(y, p, bins=5) == pytest.approx(0.4 * 0.10 + 0.6 * abs(4 / 6 - (0.85 * 4 + 1.9) / 6))


def test_reliability_bins():
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0, 1, 0])
    p = np.array([0.35] * 4 + [0.85] * 4 + [1.0, 0.9])
    w = np.array([0.25] * 4 + [0.5, 0.5, 0.5, 0.5] + [0.75, 0.25])
    r = reliability(y, p, w)
    assert [b["bin"] for b in r] == [[0.3, 0.4], [0.8, 0.9], [0.9, 1.0]]
    assert [b["n"] for b in r] == [4, 4, 2]
    assert [b["mean_p"] for b in r] == pytest.approx([0.35, 0.85, 0.975])
    assert [b["observed"] for b in r] == pytest.approx([0.25, 0.75, 0.75])
    assert [b["weight"] for b in r] == pytest.approx([0.25, 0.5, 0.25])
    r = reliability(y, p, bins=5)
    assert [b["bin"] for b in r] == [[0.2, 0.4], [0.8, 1.0]]
    assert [b["n"] for b in r] == [4, 6] and [b["weight"] for b in r] == pytest.approx([0.4, 0.6])
    assert [b["observed"] for b in r] == pytest.approx([0.25, 4 / 6])


def _platt_population(a, b):
    """Cells at raw outputs over (0, 1); each appears as ALL with weight q and HEM with 1 - q,
    q = sigmoid(a logit(p) + b): the weighted maximum-likelihood fit is exactly (a, b)."""
    p = sigmoid(np.linspace(-4, 4, 41))
    q = sigmoid(a * logit(p) + b)
    return np.concatenate([p, p]), np.concatenate([np.ones(41), np.zeros(41)]), np.concatenate([q, 1 - q])


@pytest.mark.parametrize("a,b", [(2.0, -0.5), (0.5, 1.0), (1.0, 0.0)])
def test_fit_platt_recovers_known_a_b(a, b):
    p, y, w = _platt_population(a, b)
    fa, fb = fit_platt(p, y, w)
    assert fa == pytest.approx(a, abs=2e-3) and fb == pytest.approx(b, abs=2e-3)
    # the weights are normalised: scaling them changes nothing
    assert fit_platt(p, y, 7.0 * w) == pytest.approx((fa, fb), abs=1e-4)


def test_fit_platt_never_reverses_the_ranking():
    # ALL cells have the lower raw outputs: the best fit would have a < 0; it is held at the bound 1e-3
    p, y, w = _platt_population(-1.0, 0.3)
    fa, fb = fit_platt(p, y, w)
    assert fa == pytest.approx(1e-3)
    # at a = 1e-3 the best b is the (weighted) share of ALL's logit: the mean of q is sigmoid(0.3)-ish
    assert fb == pytest.approx(logit(np.array(w[:41].sum() / w.sum())), abs=0.02)


def test_calibration_apply_identity_and_fitted():
    p = np.array([[0.1, 0.5], [0.8, 0.99]])
    ident = Calibration()
    assert np.array_equal(ident.apply(p), p)
    assert ident.apply([1, 0]).dtype == np.float64 and ident.apply([1, 0]).tolist() == [1.0, 0.0]
    assert Calibration(a=2.0, b=-0.5).apply(p).tolist() == p.tolist()  # not fitted: a, b unused
    cal = Calibration(a=2.0, b=-0.5, fitted=True)
    out = cal.apply(p)
    assert out.shape == (2, 2)
    assert out[0, 1] == pytest.approx(sigmoid(-0.5))
    assert out[1, 0] == pytest.approx(sigmoid(2 * np.log(4) - 0.5))  # 1 / (1 + e^-2.2726)
    assert out[1, 0] == pytest.approx(0.906581, abs=1e-6)


def test_raw_threshold_inverts_apply():
    cal = Calibration(a=2.0, b=-0.5, fitted=True)
    for t in (0.1, 0.37, 0.5, 0.9):
        r = cal.raw_threshold(t)
        assert cal.apply(np.array(r)) == pytest.approx(t)
    # logit(r) = (logit(0.5) + 0.5) / 2 = 0.25
    assert cal.raw_threshold(0.5) == pytest.approx(sigmoid(0.25))
    assert Calibration().raw_threshold(0.37) == 0.37
    assert Calibration(a=0.0, fitted=True).raw_threshold(0.37) == 0.37
    assert Calibration(a=-1.0, fitted=True).raw_threshold(0.37) == 0.37
    assert isinstance(cal.raw_threshold(0.5), float)


def test_refer_band_and_calls_on_a_hand_made_example():
    cal = Calibration(threshold=0.5, refer_half_width=0.25, fitted=True)  # binary-exact figures
    assert cal.refer_band == (0.25, 0.75)
    assert cal.band_at(0.625) == (0.375, 0.875)
    # edges are inside the band
    p = np.array([0.2, 0.25, 0.5, 0.75, 0.8, 0.875, 0.9])
    assert cal.refer(p).tolist() == [False, True, True, True, False, False, False]
    assert cal.refer(p, threshold=0.625).tolist() == [False, False, True, True, True, True, False]
    assert cal.refer(p, 0.625).tolist() == cal.refer(p, threshold=0.625).tolist()
    assert cal.refer(np.full((2, 3), 0.5)).shape == (2, 3) and cal.refer(np.full((2, 3), 0.5)).all()
    # clipped to [0, 1]
    assert Calibration(threshold=0.875, refer_half_width=0.25).refer_band == (0.625, 1.0)
    assert Calibration(threshold=0.125, refer_half_width=0.25).refer_band == (0.0, 0.375)
    assert Calibration(refer_half_width=0.25).band_at(0.875) == (0.625, 1.0)
    assert Calibration(refer_half_width=0.25).band_at(0.125) == (0.0, 0.375)
    assert Calibration(threshold=0.125, refer_half_width=0.25).refer(np.array([0.0, 0.375, 0.4])).tolist() == [
        True, True, False]
    # no band: nothing referred, even exactly at the threshold
    none = Calibration(threshold=0.5)
    assert none.refer_band == (0.5, 0.5)
    assert none.refer(np.array([0.5, 0.6])).tolist() == [False, False]
    assert none.refer(np.full((2, 3), 0.5)).shape == (2, 3)


def test_calibration_json_round_trip(tmp_path):
    cal = Calibration(1.5, -0.25, 0.42, 0.1, True, {"n_cells": 3}, field_threshold=0.6, reference={"mean": [1, 2]})
    d = cal.to_json()
    assert d == {"a": 1.5, "b": -0.25, "threshold": 0.42, "refer_half_width": 0.1, "fitted": True,
                 "info": {"n_cells": 3}, "field_threshold": 0.6, "reference": {"mean": [1, 2]}, "feature_reference": {},
                 "lymphoid_gate": {}}
    assert Calibration.from_json({**d, "unknown": 1}) == cal
    assert Calibration.from_json({"a": 2.0}) == Calibration(a=2.0)
    assert calibration_path(tmp_path, "m") == tmp_path / "m.calibration.json"
    assert read_calibration(tmp_path, "m") == Calibration()
    (tmp_path / "m.calibration.json").write_text(json.dumps(d))
    assert read_calibration(tmp_path, "m") == cal
    assert read_calibration(str(tmp_path), "m") == cal


def test_fit_calibration_hand_made_example():
    # One dataset, HEM at raw 0.1 .. 0.6 (5 cells), ALL at 0.4 .. 0.9 (5 cells); ranked, the best
    # cut puts 0.1-0.35 on the HEM side and 0.4 and up on the ALL side (balanced accuracy
    # (4/5 + 1) / 2 = 0.9: only the HEM cell at 0.6 is wrong).
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    p_raw = np.array([0.1, 0.2, 0.3, 0.35, 0.6, 0.4, 0.7, 0.8, 0.85, 0.9])
    cal = fit_calibration(p_raw, y, np.array(["d"] * 10))
    assert cal.fitted and cal.field_threshold is None
    a, b = fit_platt(p_raw, y, balanced_weights(y))
    assert (cal.a, cal.b) == (a, b)
    assert cal.a == pytest.approx(2.1555, abs=1e-3) and cal.b == pytest.approx(-0.1963, abs=1e-3)
    p = cal.apply(p_raw)
    # the threshold is the first grid point (steps of 0.01) above the calibrated 0.35
    assert p[3] == pytest.approx(0.1779, abs=1e-3) and p[5] == pytest.approx(0.2554, abs=1e-3)
    assert cal.threshold == 0.18
    assert cal.info["balanced_accuracy_at_threshold"] == pytest.approx(0.9)
    # the band holds 10 % of the weight: +- 0.01 = [0.17, 0.19] holds the HEM cell at 0.1779 (weight
    # 0.5 / 5 = 0.1); the one wrong call (the HEM cell at 0.6632) stays outside
    assert cal.refer_half_width == 0.01
    info = cal.info
    assert info["n_cells"] == 10 and info["datasets"] == ["d"]
    # equal weights (5 and 5): per bin |observed - mean p| x share, bins 1, 2, 3 (0.3, 0.35), 4, 6,
    # 7, 8 (0.8, 0.85), 9: 0.01 + 0.02 + 0.065 + 0.06 + 0.06 + 0.03 + 0.035 + 0.01
    assert info["ece_before"] == pytest.approx(0.29)
    w = balanced_weights(y)
    assert info["ece_after"] == pytest.approx(ece(y, p, w)) and info["ece_after"] == pytest.approx(0.2010, abs=1e-3)
    assert info["reliability_after"] == reliability(y, p, w)
    assert info["reliability_before"] == reliability(y, p_raw, w)
    assert info["refer_share"] == pytest.approx(0.1) and info["refer_rate"] == 0.1
    assert info["wrong_calls_referred"] == 0.0
    # outside: HEM 3/4 right, ALL 5/5
    assert info["balanced_accuracy_outside_refer_band"] == pytest.approx(0.875)
    assert info["method"].startswith("Platt scaling on logit(P(ALL))")


def test_fit_calibration_refer_band_grows_until_it_holds_the_rate():
    # 6 HEM, 8 ALL; the middle of the range is mixed.
    y = np.array([0, 0, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1])
    p_raw = np.array([0.05, 0.1, 0.15, 0.2, 0.4, 0.45, 0.5, 0.55, 0.6, 0.8, 0.85, 0.9, 0.92, 0.95])
    cal = fit_calibration(p_raw, y, np.zeros(14, int))
    assert cal.a == pytest.approx(2.3363, abs=1e-3) and cal.b == pytest.approx(0.1047, abs=1e-3)
    p = cal.apply(p_raw)
    assert p[4:9] == pytest.approx([0.3010, 0.4100, 0.5262, 0.6396, 0.7412], abs=1e-3)
    # Best cut: above the HEM cell at 0.6396, below the ALL cell at 0.7412: HEM 6/6 right, ALL 6/8
    # (the cells at 0.3010 and 0.5262 missed): 0.875. The first grid point there is 0.64.
    assert cal.threshold == 0.64
    assert cal.info["balanced_accuracy_at_threshold"] == pytest.approx(0.875)
    # weights: each ALL cell 0.5 / 8, each HEM cell 0.5 / 6. Up to +- 0.10 the band holds the HEM
    # cell at 0.6396 only (1/12 < 0.1); +- 0.11 = [0.53, 0.75] adds the ALL cell at 0.7412: 1/12 + 1/16.
    assert cal.refer_half_width == 0.11
    assert cal.refer_band == pytest.approx((0.53, 0.75))
    assert cal.refer(p).tolist() == [False] * 7 + [True, True] + [False] * 5
    assert cal.info["refer_share"] == pytest.approx(1 / 12 + 1 / 16)
    # both wrong calls (ALL at 0.3010 and 0.5262) lie outside the band; outside: HEM 5/5, ALL 5/7
    assert cal.info["wrong_calls_referred"] == 0.0
    assert cal.info["balanced_accuracy_outside_refer_band"] == pytest.approx((1 + 5 / 7) / 2)
    assert cal.info["datasets"] == [0]


def test_the_refer_band_counts_the_wrong_calls_it_holds():
    # threshold 0.5, equal weights 0.1: wrong calls are the HEM cell at 0.55 and the ALL cell at 0.3
    p = np.array([0.1, 0.2, 0.3, 0.45, 0.55, 0.6, 0.7, 0.8, 0.9, 0.95])
    y = np.array([0, 0, 1, 0, 0, 1, 1, 1, 1, 1])
    w = np.full(10, 0.1)
    half, f = refer_band_of(p, y, w, 0.5, rate=0.2)
    # +- 0.05 = [0.45, 0.55] holds 0.45 and 0.55 (0.2 of the weight): one of the two wrong calls
    assert half == 0.05 and f["refer_share"] == pytest.approx(0.2) and f["wrong_calls_referred"] == 0.5
    # outside: HEM 2/2 right, ALL 5/6 right
    assert f["balanced_accuracy_outside_refer_band"] == pytest.approx((1 + 5 / 6) / 2)
    assert refer_band_of(p, (p >= 0.5).astype(int), w, 0.5, rate=0.2)[1]["wrong_calls_referred"] is None


def test_image_threshold_follows_the_cell_threshold():
    cal = Calibration(threshold=0.4, field_threshold=0.55, fitted=True)
    assert cal.image_threshold(0.4, 3) == pytest.approx(0.55)
    assert cal.image_threshold(0.5, 2) == pytest.approx(0.65)  # moved by the same 0.1
    assert cal.image_threshold(0.5, 1) == 0.5 and cal.image_threshold(0.5, 0) == 0.5
    assert cal.image_threshold(0.9, 2) == 1.0  # clipped
    assert Calibration(threshold=0.4, field_threshold=0.2).image_threshold(0.1, 5) == 0.0
    assert Calibration(threshold=0.4).image_threshold(0.3, 5) == 0.3
    assert isinstance(cal.image_threshold(0.5, 1), float)
    assert Calibration.from_json(cal.to_json()).field_threshold == 0.55


def test_fit_field_threshold_hand_made():
    # separable: the first grid point (0.02, 0.03, ...) above 0.3
    assert fit_field_threshold(np.array([0.2, 0.3, 0.6, 0.7]), np.array([0, 0, 1, 1]), np.zeros(4)) == (0.31, 1.0)
    # HEM at 0.2 and 0.5, ALL at 0.4 and 0.7: 0.75 first reached just above 0.2
    assert fit_field_threshold(np.array([0.2, 0.5, 0.4, 0.7]), np.array([0, 0, 1, 1]), np.zeros(4)) == (0.21, 0.75)
    # datasets weigh equally: dataset b (one HEM at 0.5, one ALL at 0.9) outweighs a's many cells
    p = np.array([0.1] * 8 + [0.6] + [0.5, 0.9])
    y = np.array([0] * 8 + [1] + [0, 1])
    t, ba = fit_field_threshold(p, y, np.array(["a"] * 9 + ["b"] * 2))
    assert (t, ba) == (0.51, 1.0)


def test_ece_bin_edges():
    # p = 1 falls in the last bin (not outside every bin): a wrong call at 1.0 is an error of 1
    assert ece(np.array([0]), np.array([1.0])) == 1.0
    # 0.85 and 0.95 are in bins 8 and 9, not one: 0.5 x 0.15 + 0.5 x 0.95 (one bin would give 0.4)
    assert ece(np.array([1, 0]), np.array([0.85, 0.95])) == pytest.approx(0.55)
    assert [b["bin"] for b in reliability(np.array([1, 0]), np.array([0.85, 1.0]))] == [[0.8, 0.9], [0.9, 1.0]]


def test_raw_threshold_for_a_below_one_and_refer_dtype():
    cal = Calibration(a=0.5, b=0.2, fitted=True)
    # logit(r) = (logit(0.3) - 0.2) / 0.5
    assert cal.raw_threshold(0.3) == pytest.approx(float(sigmoid((np.log(0.3 / 0.7) - 0.2) / 0.5)))
    assert cal.apply(np.array(cal.raw_threshold(0.3))) == pytest.approx(0.3)
    assert Calibration(threshold=0.5).refer(np.array([0.5])).dtype == bool


def test_fit_calibration_weighs_datasets_equally():
    # the cells of the first test plus a small second dataset: weighted by dataset, the 3 cells of b
    # count as much as the 14 of a, which moves every fitted figure
    y = np.array([0, 0, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1])
    p_raw = np.array([0.05, 0.1, 0.15, 0.2, 0.4, 0.45, 0.5, 0.55, 0.6, 0.8, 0.85, 0.9, 0.92, 0.95, 0.3, 0.7, 0.35])
    ds = np.array(["a"] * 14 + ["b"] * 3)
    cal = fit_calibration(p_raw, y, ds)
    w = balanced_weights(y, ds)
    assert (cal.a, cal.b) == pytest.approx((2.6007, 0.9324), abs=1e-3)
    assert (cal.threshold, cal.refer_half_width) == (0.22, 0.01)
    assert cal.info["balanced_accuracy_at_threshold"] == pytest.approx(11 / 12)
    assert cal.info["ece_before"] == pytest.approx(ece(y, p_raw, w)) == pytest.approx(0.1025)
    assert cal.info["ece_after"] == pytest.approx(ece(y, cal.apply(p_raw), w))
    assert cal.info["reliability_before"] == reliability(y, p_raw, w)
    # the same cells as one dataset
    one = fit_calibration(p_raw, y, np.zeros(17, int))
    assert (one.threshold, one.refer_half_width) == (0.19, 0.09) and one.info["refer_share"] >= 0.1


def test_fit_calibration_of_one_class_has_no_balanced_accuracy():
    cal = fit_calibration(np.array([0.2, 0.4, 0.6]), np.array([0, 0, 0]), np.zeros(3, int))
    assert cal.info["balanced_accuracy_at_threshold"] == 0.0 and cal.threshold == 0.05
    assert cal.info["balanced_accuracy_outside_refer_band"] == 0.0


def test_fit_field_threshold_weights_and_grid():
    # a: 10 HEM at 0.2, 10 ALL at 0.4; b: HEM at 0.45, ALL at 0.8. Cuts in (0.2, 0.4] miss b's HEM,
    # half the HEM weight when datasets weigh equally: (0.5 + 1) / 2 = 0.75 (by cells it would be 0.95)
    p = np.array([0.2] * 10 + [0.4] * 10 + [0.45, 0.8])
    y = np.array([0] * 10 + [1] * 10 + [0, 1])
    assert fit_field_threshold(p, y, np.array(["a"] * 20 + ["b"] * 2)) == (0.21, 0.75)
    # the grid ends at 0.98: a cut at 0.99 is not tried
    assert fit_field_threshold(np.array([0.1, 0.985, 0.99, 0.995]), np.array([0, 0, 1, 1]), np.zeros(4)) == (0.11, 0.75)


def test_fit_field_threshold_of_one_class_scores_zero():
    assert fit_field_threshold(np.array([0.3, 0.6]), np.array([1, 1]), np.zeros(2)) == (0.02, 0.0)


def test_best_threshold_is_the_first_of_best_weighted_balanced_accuracy():
    from leukemia_core.models.calibration import best_threshold

    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.3, 0.6, 0.8])
    w = np.full(4, 0.25)
    # every threshold in (0.3, 0.6] separates the classes; the first on the grid is 0.31
    assert best_threshold(y, p, w) == (0.31, 1.0)
    # weights decide: a heavy HEM cell at 0.7 moves the best threshold above it
    assert best_threshold(np.array([0, 1, 1]), np.array([0.7, 0.75, 0.9]), np.array([0.8, 0.1, 0.1])) == (0.71, 1.0)
