"""Metrics computed from per-image probabilities."""

import numpy as np
import pytest

from leukemia_core.evaluation.metrics import compute_metrics, confusion, roc_points


def test_confusion_layout_rows_true_cols_pred():
    # 3 HEM (1 right, 2 called ALL), 2 ALL (1 right, 1 called HEM): not symmetric, so a transposed
    # matrix shows
    m = confusion([0, 0, 0, 1, 1], [0, 1, 1, 1, 0])
    assert m.tolist() == [[1, 2], [1, 1]]


def test_metrics_hand_computed():
    # 8 HEM: 7 right (TN), 1 called ALL (FP); 5 ALL: 2 found (TP), 3 missed (FN).
    # Every figure below differs from the others, so a swapped or transposed one shows.
    y = np.array([0] * 8 + [1] * 5)
    p = np.array([0.05, 0.1, 0.2, 0.3, 0.35, 0.4, 0.45, 0.7,   # HEM: 7 below 0.5, one above
                  0.8, 0.95, 0.15, 0.25, 0.42])                # ALL: 2 above 0.5, 3 below
    m = compute_metrics(y, p, 0.5)
    tn, fp, fn, tp = 7, 1, 3, 2
    assert m["confusion_matrix"] == [[tn, fp], [fn, tp]]
    assert m["n"] == 13 and m["threshold"] == 0.5
    assert m["accuracy"] == pytest.approx(9 / 13)
    assert m["sensitivity"] == pytest.approx(2 / 5)     # ALL recall: TP / (TP + FN)
    assert m["specificity"] == pytest.approx(7 / 8)     # HEM recall: TN / (TN + FP)
    assert m["balanced_accuracy"] == pytest.approx((2 / 5 + 7 / 8) / 2)
    all_, hem = m["per_class"]["ALL"], m["per_class"]["HEM"]
    assert all_["precision"] == pytest.approx(2 / 3)    # TP / (TP + FP)
    assert hem["precision"] == pytest.approx(7 / 10)    # TN / (TN + FN)
    assert all_["recall"] == pytest.approx(2 / 5) and hem["recall"] == pytest.approx(7 / 8)
    f1_all = 2 * (2 / 3) * (2 / 5) / (2 / 3 + 2 / 5)   # 0.5
    f1_hem = 2 * (7 / 10) * (7 / 8) / (7 / 10 + 7 / 8)  # 0.7778
    assert all_["f1"] == pytest.approx(0.5) and f1_all == pytest.approx(0.5)
    assert hem["f1"] == pytest.approx(f1_hem) and f1_hem == pytest.approx(7 / 9)
    assert all_["support"] == 5 and hem["support"] == 8
    assert m["weighted"]["precision"] == pytest.approx((2 / 3 * 5 + 7 / 10 * 8) / 13)
    assert m["weighted"]["recall"] == pytest.approx((2 / 5 * 5 + 7 / 8 * 8) / 13)
    assert m["weighted"]["f1"] == pytest.approx((0.5 * 5 + 7 / 9 * 8) / 13)
    # ROC AUC = share of (ALL, HEM) pairs ranked right: 8 + 8 + 2 + 3 + 6 of 40
    assert m["roc_auc"] == pytest.approx(27 / 40)


def test_threshold_changes_the_calls():
    y = np.array([0, 1])
    p = np.array([0.3, 0.6])
    assert compute_metrics(y, p, 0.5)["accuracy"] == 1.0
    assert compute_metrics(y, p, 0.7)["accuracy"] == 0.5
    assert compute_metrics(y, p, 0.2)["confusion_matrix"] == [[0, 1], [0, 1]]
    # exactly at the threshold is an ALL call, as the app and predict label it (label_of)
    assert compute_metrics([0, 1], [0.6, 0.6], 0.6)["confusion_matrix"] == [[0, 1], [0, 1]]


def test_one_class_gives_none_not_made_up_numbers():
    m = compute_metrics([1, 1, 1], [0.9, 0.2, 0.8])
    assert m["roc_auc"] is None and m["specificity"] is None
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert roc_points([1, 1], [0.2, 0.3]) == {"fpr": [], "tpr": [], "thresholds": []}
    # HEM at 0.1 and 0.4, ALL at 0.35 and 0.8: each threshold step, by hand
    r = roc_points([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert r["fpr"] == pytest.approx([0, 0, 0.5, 0.5, 1])
    assert r["tpr"] == pytest.approx([0, 0.5, 0.5, 1, 1])
    assert r["thresholds"] == pytest.approx([1.0, 0.8, 0.4, 0.35, 0.1])  # the infinite first one as 1.0


def test_never_predicted_class_counts_as_f1_zero():
    # a model that calls every image HEM: 6 HEM (all right), 4 ALL (all missed)
    y = np.array([0] * 6 + [1] * 4)
    p = np.full(10, 0.1)
    m = compute_metrics(y, p, 0.5)
    assert m["confusion_matrix"] == [[6, 0], [4, 0]]
    hem, all_ = m["per_class"]["HEM"], m["per_class"]["ALL"]
    assert all_["precision"] is None               # 0 / 0: never called ALL
    assert all_["recall"] == 0.0 and all_["support"] == 4
    assert all_["f1"] == 0.0                        # undefined precision, recall 0, support 4 -> 0
    assert hem["precision"] == pytest.approx(6 / 10) and hem["recall"] == 1.0
    assert hem["f1"] == pytest.approx(2 * 0.6 * 1.0 / 1.6)  # 0.75
    # weighted F1 = (0.75 * 6 + 0 * 4) / 10 = 0.45, not HEM's 0.75 alone
    assert m["weighted"]["f1"] == pytest.approx(0.45)
    assert m["weighted"]["recall"] == pytest.approx((1.0 * 6 + 0.0 * 4) / 10)
    assert m["weighted"]["precision"] == pytest.approx(0.6)  # over the classes with a defined precision
    from sklearn.metrics import f1_score
    assert m["weighted"]["f1"] == pytest.approx(f1_score(y, (p >= 0.5).astype(int), average="weighted",
                                                         zero_division=0))
    # the same for a model that calls everything ALL
    m = compute_metrics(y, np.full(10, 0.9), 0.5)
    assert m["per_class"]["HEM"]["precision"] is None and m["per_class"]["HEM"]["f1"] == 0.0
    assert m["per_class"]["ALL"]["f1"] == pytest.approx(2 * 0.4 / 1.4)
    assert m["weighted"]["f1"] == pytest.approx((2 * 0.4 / 1.4) * 4 / 10)
    # a class with no samples keeps F1 None and weighs nothing
    one = compute_metrics([1, 1, 1], [0.9, 0.2, 0.8])
    assert one["per_class"]["HEM"]["f1"] is None
    assert one["weighted"]["f1"] == pytest.approx(one["per_class"]["ALL"]["f1"]) == pytest.approx(0.8)


def test_f1_when_precision_equals_recall():
    # HEM: 1 right, 1 called ALL; ALL: 1 right, 1 called HEM -> each class precision = recall = 0.5,
    # so F1 = 0.5 (neither "precision - recall == 0" nor "precision + recall == 1" means no hit)
    m = compute_metrics([0, 0, 1, 1], [0.1, 0.9, 0.8, 0.2])
    for c in ("HEM", "ALL"):
        assert m["per_class"][c] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    # 2 TP, 1 FP, 1 FN for ALL: precision = recall = 2/3, F1 2/3
    m = compute_metrics([0, 0, 1, 1, 1], [0.1, 0.9, 0.8, 0.7, 0.2])
    assert m["per_class"]["ALL"]["f1"] == pytest.approx(2 / 3)


def test_empty_input_gives_none_everywhere():
    m = compute_metrics([], [])
    assert m["n"] == 0 and m["confusion_matrix"] == [[0, 0], [0, 0]]
    assert m["accuracy"] is None and m["balanced_accuracy"] is None and m["roc_auc"] is None
    assert m["weighted"] == {"precision": None, "recall": None, "f1": None}
    assert roc_points([], []) == {"fpr": [], "tpr": [], "thresholds": []}


def test_inputs_as_python_lists_of_bools_and_floats():
    # labels as floats or bools, calls as bools: counted as classes 0/1, and the matrix holds ints
    m = confusion([0.0, 1.0, 1.0], [True, False, True])
    assert m.dtype.kind == "i" and m.tolist() == [[0, 1], [1, 1]]
    assert all(type(v) is int for row in m.tolist() for v in row)
    r = compute_metrics([0.0, 1.0, 1.0], [0.2, 0.4, 0.9])
    assert r["confusion_matrix"] == [[1, 0], [1, 1]]
    assert all(type(v) is int for row in r["confusion_matrix"] for v in row)
    assert r["roc_auc"] == 1.0 and r["per_class"]["ALL"]["support"] == 2
    assert roc_points([0.0, 1.0], [0.2, 0.9])["tpr"] == [0.0, 1.0, 1.0]


def test_one_threshold_per_sample():
    # thresholds 0.5, 0.2, 0.9, 0.5: calls HEM, ALL, HEM, ALL
    m = compute_metrics([0, 0, 1, 1], [0.3, 0.3, 0.8, 0.8], np.array([0.5, 0.2, 0.9, 0.5]))
    assert m["threshold"] is None and m["confusion_matrix"] == [[1, 1], [1, 1]]
    assert compute_metrics([0, 1], [0.3, 0.8], np.float64(0.25))["threshold"] == 0.25
