"""The score that chooses the epoch: per-lab ROC AUC, weighted by the square root of each lab's
cells, a one-class lab ranked against the other labs' cells; and the fixed monitoring subset."""

import numpy as np
import pytest

from leukemia_core.training.selection import monitor_subset, validation_score


def test_epoch_score_weights_datasets_by_the_square_root_of_their_cells():
    # dataset a: 100 cells, AUC 1.0; dataset b: 4 cells, AUC 0.0 -> (10 * 1 + 2 * 0) / 12
    y = np.array([0] * 50 + [1] * 50 + [0, 0, 1, 1])
    p = np.concatenate([np.linspace(0, 0.4, 50), np.linspace(0.6, 1, 50), [0.9, 0.8, 0.2, 0.1]])
    ds = np.array(["a"] * 100 + ["b"] * 4)
    out = validation_score(y, p, ds)
    assert out["val_a_auc"] == 1.0 and out["val_b_auc"] == 0.0
    assert out["val_score"] == pytest.approx(10 / 12)


def test_a_one_class_dataset_is_ranked_against_the_other_datasets_cells():
    # lab a: both classes, perfectly ranked; lab n: normal cells only, scored above a's ALL cells
    y = np.array([0, 0, 1, 1] + [0] * 4)
    p = np.array([0.1, 0.2, 0.6, 0.7] + [0.8, 0.9, 0.3, 0.95])
    ds = np.array(["a"] * 4 + ["n"] * 4)
    out = validation_score(y, p, ds)
    # n's cells against a's two ALL cells (0.6, 0.7): only 0.3 ranks below both -> AUC 2 / 8
    assert out["val_n_auc"] == pytest.approx(0.25)
    assert out["val_n_called_all"] == pytest.approx(0.75)
    assert "val_n_balanced_accuracy" not in out
    assert out["val_score"] == pytest.approx((2 * 1.0 + 2 * 0.25) / 4)
    # alone, a one-class dataset has nothing to be ranked against: no AUC, no score
    alone = validation_score(np.zeros(3, int), np.array([0.1, 0.6, 0.7]), np.array(["n"] * 3))
    assert "val_n_auc" not in alone and "val_score" not in alone
    assert alone["val_n_called_all"] == pytest.approx(2 / 3)


def test_monitor_subset_caps_each_dataset_with_a_fixed_choice():
    datasets = np.array(["cnmc"] * 10 + ["aria"] * 3)
    keep = monitor_subset(datasets, 4, seed=1)
    assert keep.dtype == bool and keep.shape == (13,)
    assert keep[:10].sum() == 4 and keep[10:].all()  # a small dataset is kept whole
    np.testing.assert_array_equal(keep, monitor_subset(datasets, 4, seed=1))
    assert monitor_subset(np.array([], str), 4).shape == (0,)
