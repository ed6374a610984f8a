"""Metrics computed from per-image probabilities."""

import numpy as np
import pytest

from leukemia_core.metrics import compute_metrics, confusion, roc_points


def test_confusion_layout_rows_true_cols_pred():
    m = confusion([0, 0, 1, 1, 1], [0, 1, 1, 1, 0])
    assert m.tolist() == [[1, 1], [1, 2]]


def test_metrics_hand_computed():
    y = np.array([0, 0, 0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.7, 0.4, 0.9, 0.3])
    m = compute_metrics(y, p, 0.5)
    assert m["confusion_matrix"] == [[3, 1], [1, 1]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["sensitivity"] == pytest.approx(0.5) and m["specificity"] == pytest.approx(0.75)
    assert m["balanced_accuracy"] == pytest.approx(0.625)
    assert m["per_class"]["ALL"]["precision"] == pytest.approx(0.5)
    assert m["per_class"]["HEM"]["f1"] == pytest.approx(0.75)
    assert m["weighted"]["f1"] == pytest.approx((0.75 * 4 + 0.5 * 2) / 6)
    assert m["roc_auc"] == pytest.approx(6 / 8)


def test_threshold_changes_the_calls():
    y = np.array([0, 1])
    p = np.array([0.3, 0.6])
    assert compute_metrics(y, p, 0.5)["accuracy"] == 1.0
    assert compute_metrics(y, p, 0.7)["accuracy"] == 0.5
    assert compute_metrics(y, p, 0.2)["confusion_matrix"] == [[0, 1], [0, 1]]


def test_one_class_gives_none_not_made_up_numbers():
    m = compute_metrics([1, 1, 1], [0.9, 0.2, 0.8])
    assert m["roc_auc"] is None and m["specificity"] is None
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert roc_points([1, 1], [0.2, 0.3]) == {"fpr": [], "tpr": [], "thresholds": []}
    r = roc_points([0, 1], [0.2, 0.3])
    assert r["fpr"][0] == 0 and r["tpr"][-1] == 1
