"""leukemia_core.stats: intervals checked against published values."""

from __future__ import annotations

import numpy as np
import pytest

from leukemia_core.stats import MIN_PER_CLASS, auc, balanced_accuracy_interval, best_threshold_balanced_accuracy, binary_figures, bootstrap_auc, cells_for_width, wilson, wilson_width


# R. G. Newcombe, "Two-sided confidence intervals for the single proportion: comparison of seven
# methods", Statistics in Medicine 1998;17:857-872, Table I, method 3 (Wilson score, no continuity
# correction), given to 4 decimals there.
NEWCOMBE_TABLE_I = [((81, 263), (0.2553, 0.3662)), ((15, 148), (0.0624, 0.1605)),
                    ((0, 20), (0.0000, 0.1611)), ((1, 29), (0.0061, 0.1718))]


@pytest.mark.parametrize("kn, interval", NEWCOMBE_TABLE_I)
def test_wilson_matches_newcombe_table_1(kn, interval):
    p, lo, hi = wilson(*kn)
    assert p == pytest.approx(kn[0] / kn[1])
    assert (round(lo, 4), round(hi, 4)) == interval


def test_wilson_8_of_10_by_hand():
    # by hand: centre (8 + 1.9208) / 13.8415 = 0.7167; half 1.96 / 13.8415 * sqrt(1.6 + 0.9604) = 0.2266
    _, lo, hi = wilson(8, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)


def test_wilson_edges():
    assert wilson(0, 0) == (None, None, None)
    assert wilson(10, 10)[2] == 1.0 and wilson(0, 10)[1] == 0.0
    with pytest.raises(ValueError):
        wilson(11, 10)


def test_balanced_accuracy_interval_is_wilson_at_the_pooled_n_when_both_recalls_agree():
    # Se = Sp = 0.8 on 10 + 10: var = 0.16 / 20, n_eff = 20: the Wilson interval of 16/20
    ba = balanced_accuracy_interval((8, 10), (8, 10))
    _, lo, hi = wilson(16, 20)
    assert ba["value"] == pytest.approx(0.8) and ba["n_eff"] == pytest.approx(20)
    assert (ba["low"], ba["high"]) == (pytest.approx(lo), pytest.approx(hi))
    perfect = balanced_accuracy_interval((10, 10), (30, 30))
    assert perfect["value"] == 1.0 and perfect["n_eff"] == pytest.approx(4 / (1 / 10 + 1 / 30))
    assert balanced_accuracy_interval((0, 0), (3, 4))["value"] is None


def test_binary_figures_counts_and_ratios():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    called = np.array([1, 1, 1, 0, 0, 0, 0, 0, 1, 1], bool)
    f = binary_figures(y, called)
    assert f["confusion_matrix"] == [[4, 2], [1, 3]]
    assert f["sensitivity"]["value"] == 0.75 and f["sensitivity"]["n"] == 4
    assert f["specificity"]["value"] == pytest.approx(4 / 6)
    assert f["ppv"]["value"] == 0.6 and f["npv"]["value"] == 0.8
    assert f["balanced_accuracy"]["value"] == pytest.approx((0.75 + 4 / 6) / 2)
    none = binary_figures(np.zeros(3, int), np.zeros(3, bool))
    assert none["sensitivity"]["value"] is None and none["ppv"]["value"] is None


def test_cells_for_width_is_the_smallest_n_reaching_the_width():
    for width, p in ((0.10, 0.9), (0.20, 0.5), (0.05, 0.95)):
        n = cells_for_width(width, p)
        assert wilson_width(p, n) <= width < wilson_width(p, n - 1)
    # the Wald rule of thumb n = z^2 p (1-p) / h^2 gives 96 for +-0.10 at 0.5; Wilson needs slightly fewer
    assert cells_for_width(0.20, 0.5) == 93
    assert cells_for_width(0.10, 0.9) > MIN_PER_CLASS
    with pytest.raises(ValueError):
        cells_for_width(0.0)


def test_auc_is_the_mann_whitney_statistic():
    # scikit-learn's documented example: roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.75
    assert auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert auc(np.array([0, 1]), np.array([0.3, 0.3])) == pytest.approx(0.5)  # a tie counts half
    assert auc(np.array([1, 1]), np.array([0.3, 0.4])) is None


def test_bootstrap_auc_interval():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(60, int), np.ones(60, int)]
    p = np.r_[rng.normal(0, 1, 60), rng.normal(1, 1, 60)]
    a = bootstrap_auc(y, p, n_boot=500, seed=3)
    assert a["low"] < a["value"] < a["high"] and a["n_boot"] == 500
    assert 0.1 < a["high"] - a["low"] < 0.3  # about ±0.08 for 60 + 60 at AUC 0.76
    assert bootstrap_auc(y, p, n_boot=500, seed=3) == a  # the seed fixes the draws
    # 40 images of 3 nearly equal cells: 120 cells but 40 independent units; resampling whole
    # images gives the wider (honest) interval, resampling cells the narrower one
    img = np.r_[rng.normal(0, 1, 20), rng.normal(1, 1, 20)]
    cy, cp = np.repeat(np.r_[np.zeros(20, int), np.ones(20, int)], 3), np.repeat(img, 3) + rng.normal(0, .01, 120)
    cells = bootstrap_auc(cy, cp, n_boot=500, seed=3)
    by_image = bootstrap_auc(cy, cp, groups=np.repeat(np.arange(40), 3), n_boot=500, seed=3)
    assert by_image["value"] == cells["value"]
    assert by_image["high"] - by_image["low"] > 1.3 * (cells["high"] - cells["low"])
    perfect = bootstrap_auc(y, y.astype(float), n_boot=100)
    assert (perfect["value"], perfect["low"], perfect["high"]) == (1.0, 1.0, 1.0)
    assert bootstrap_auc(np.ones(5, int), np.ones(5))["value"] is None


def test_best_threshold_is_the_oracle_cut():
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.6, 0.7, 0.8, 0.85, 0.9, 0.95])
    t, ba = best_threshold_balanced_accuracy(y, p)
    assert ba == 1.0 and 0.8 < t <= 0.85
    assert best_threshold_balanced_accuracy(np.zeros(3, int), p[:3]) == (None, None)


def test_balanced_accuracy_of_calls_and_one_class():
    from leukemia_core.stats import balanced_accuracy

    y = np.array([1, 1, 0, 0])
    assert balanced_accuracy(y, np.array([True, False, False, False])) == 0.75
    assert balanced_accuracy(np.array([1, 1]), np.array([True, True])) is None
