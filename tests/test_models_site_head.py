"""The site model's head: a class-balanced logistic regression folded into one linear layer."""

from __future__ import annotations

import numpy as np
import pytest

from leukemia_core.models.site_head import Head, fit_head, out_of_fold


def _blobs(n=40, f=12, shift=1.5, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array([0, 1] * (n // 2))
    x = rng.normal(size=(n, f)) + shift * y[:, None] * (np.arange(f) < 3)
    return x * rng.uniform(0.5, 20, size=f), y  # features on very different scales


def test_the_folded_head_gives_what_scaler_and_regression_give():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _blobs()
    head = fit_head(x, y, C=0.1)
    ref = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000)).fit(x, y)
    np.testing.assert_allclose(head.predict(x), ref.predict_proba(x)[:, 1], atol=1e-4)


def test_the_two_logit_layer_is_the_head():
    x, y = _blobs()
    head = fit_head(x, y, C=1.0)
    kernel, bias = head.dense_weights()
    z = x @ kernel + bias
    softmax_all = np.exp(z[:, 1]) / np.exp(z).sum(axis=1)
    np.testing.assert_allclose(softmax_all, head.predict(x), atol=1e-5)


def test_strength_is_chosen_by_grouped_folds_inside_the_cells_given():
    x, y = _blobs(n=60)
    groups = np.repeat(np.arange(30), 2).astype(str)  # two cells per group, one of each class
    head = fit_head(x, y, groups)
    assert head.cv_auc is not None and head.cv_auc > 0.8
    assert head.n == {"all": 30, "hem": 30}
    assert fit_head(x, y, groups, C=0.01).cv_auc is None  # a given strength: no search


def test_out_of_fold_scores_never_come_from_a_fit_on_the_same_group():
    x, y = _blobs(n=40)
    groups = np.repeat(np.arange(20), 2).astype(str)
    p = out_of_fold(x, y, groups, C=0.1)
    assert p.shape == (40,) and np.all((p > 0) & (p < 1))
    assert out_of_fold(x, y, np.array(["g"] * 40), C=0.1) is None  # one group: no folds


def test_one_class_is_refused_and_json_round_trips():
    x, y = _blobs()
    with pytest.raises(ValueError, match="both classes"):
        fit_head(x, np.zeros_like(y))
    head = fit_head(x, y, C=0.3)
    back = Head.from_json(head.to_json())
    np.testing.assert_allclose(back.predict(x), head.predict(x))
