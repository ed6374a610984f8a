"""reports.scores: metrics tables, accuracy by role with published figures, ROC points, and metrics
recomputed at another threshold (counts, rates, mistakes)."""

import numpy as np
import pytest

from leukemia_core.reports.scores import (
    SUMMARY_COLUMNS,
    accuracy_by_role,
    confusion_at,
    metrics_table,
    misclassified,
    reference_label,
    reference_table,
    roc_curves,
    summary_table,
)

IMAGES = [{"path": "a", "label": "all", "p_all": 0.9, "cells": [0.9]},
          {"path": "b", "label": "all", "p_all": 0.4, "cells": [0.4, 0.45], "n_found": 2},
          {"path": "c", "label": "hem", "p_all": 0.6, "cells": [0.6]},
          {"path": "d", "label": "hem", "p_all": 0.1, "cells": [0.1]}]
METRICS = {"n": 4, "accuracy": 0.5, "balanced_accuracy": 0.5, "sensitivity": 0.5, "specificity": 0.5,
           "roc_auc": 0.75, "threshold": 0.5, "per_class": {"ALL": {"precision": 0.5, "recall": 0.5, "f1": 0.5}},
           "weighted": {"precision": 0.5, "recall": 0.5, "f1": 0.5}}
TEST = {"key": "cnmc/test", "role": "test", "n_images": 4, "n_cells": 5, "n_groups": 4, "images": IMAGES,
        "metrics": METRICS, "cell_metrics": {**METRICS, "n": 5}}
VAL = {"key": "cnmc/val", "role": "val", "n_images": 4, "images": IMAGES, "metrics": {**METRICS, "accuracy": 0.7}}
REPORTS = {"m": {"threshold": 0.5, "sets": [TEST, VAL]}}


def test_metrics_and_summary_tables():
    t = metrics_table(REPORTS)
    assert t[["set", "level", "scored"]].values.tolist() == [["cnmc/test", "cells", 5],
                                                             ["cnmc/test", "images (fields)", 4],
                                                             ["cnmc/val", "images (fields)", 4]]
    assert t["role"].tolist() == ["test", "test", "validation"] and t["threshold"].tolist() == ["0.50"] * 3
    assert t["ROC AUC"].dtype == np.float64 and t["F1 (ALL)"].tolist() == [0.5] * 3
    only = metrics_table(REPORTS, "cnmc/val", levels=("images",))
    assert only["accuracy"].tolist() == [0.7]
    s = summary_table(t)
    assert list(s.columns) == list(SUMMARY_COLUMNS.values()) and len(s) == 3


def test_accuracy_by_role_with_published_figures():
    ref = {"dataset": "cnmc", "split": "random", "init": "imagenet", "epochs": 10,
           "models": {"m": {"train_accuracy": 0.99, "val_accuracy": None}}}
    label = reference_label(ref)
    assert label == ("The reference system's README figures (C-NMC 2019, random split, ImageNet initialisation, "
                     "10 epochs); not measured here")
    assert "dataset not stated, unknown split, initialisation not stated" in reference_label(None)
    a = accuracy_by_role(REPORTS, "cnmc", ref)
    assert a[["role", "value", "source"]].values.tolist() == [["test", 0.5, "this project"],
                                                              ["validation", 0.7, "this project"],
                                                              ["published train", 0.99, label]]
    assert accuracy_by_role(REPORTS, "aria").empty
    assert accuracy_by_role(REPORTS, "cnmc", ref, metric="roc_auc")["role"].tolist() == ["test", "validation"]
    assert reference_table(ref).values.tolist() == [["m", 0.99, None]] and reference_table(None).empty


def test_roc_curves():
    r = roc_curves(REPORTS, "cnmc/test")
    assert list(r) == ["m"] and r["m"]["auc"] == 0.75
    assert r["m"]["fpr"][0] == 0.0 and r["m"]["tpr"][-1] == 1.0
    assert roc_curves(REPORTS, "absent") == {}
    one_class = {"m": {"sets": [{"key": "k/test", "images": [IMAGES[0]]}]}}
    assert roc_curves(one_class, "k/test") == {}


def test_confusion_at_another_threshold():
    m = confusion_at(TEST, 0.5)
    assert m["counts"].tolist() == [[1, 1], [1, 1]] and m["counts"].dtype.kind == "i"
    np.testing.assert_allclose(m["rates"], [[0.5, 0.5], [0.5, 0.5]])
    m = confusion_at(TEST, 0.3)
    assert m["counts"].tolist() == [[1, 1], [0, 2]]
    cells = confusion_at(TEST, 0.5, "cells")
    assert cells["counts"].sum() == 5
    only_all = confusion_at({"images": IMAGES[:2]}, 0.5)
    assert np.isnan(only_all["rates"][0]).all()  # no HEM image: NaN, not 0
    # with a field rule, the image of two cells is called at 0.35 + 0.1
    rule = {"threshold": 0.5, "field_threshold": 0.6, "calibration": {"threshold": 0.5}}
    assert confusion_at(TEST, 0.35, report=rule)["counts"].tolist() == [[1, 1], [1, 1]]
    assert confusion_at(TEST, 0.35)["counts"].tolist() == [[1, 1], [0, 2]]


def test_misclassified_most_confident_first():
    df = misclassified(TEST, 0.5)
    assert df["path"].tolist() == ["b", "c"]  # |0.4-0.5| = |0.6-0.5|: stable order
    row = df.iloc[0].to_dict()
    assert row["true"] == "ALL" and row["predicted"] == "HEM" and row["cells"] == 2 and row["ALL cells"] == 0
    assert row["confidence"] == pytest.approx(0.1) and row["threshold"] == 0.5
    df = misclassified(TEST, 0.85)
    assert df["path"].tolist() == ["b"] and df.iloc[0]["confidence"] == pytest.approx(0.45)
    assert misclassified({"images": []}, 0.5).empty
