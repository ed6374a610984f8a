"""reports.scores: metrics tables, accuracy by role with published figures, ROC points, and metrics
recomputed at another threshold (counts, rates, mistakes)."""

import numpy as np
import pytest
from app_fixtures import app_weights  # noqa: F401  (a fixture)

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
from leukemia_core.models.weights import read_manifest
from leukemia_core.reports.display import human_columns
from leukemia_core.reports.facts import model_facts, per_model_table
from leukemia_core.reports.files import (
    load_bench,
    load_cam_check,
    load_history,
    load_reference,
    load_reports,
    report_is_current,
    report_names,
)
from leukemia_core.reports.sets import get_set, labels_probs, set_caption, set_keys, sets_table
from leukemia_core.stats import wilson
from leukemia_core.reports.thresholds import (
    calibration_table,
    image_thresholds,
    refer_band,
    reliability_frame,
    threshold_text,
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


def test_report_tables(app_weights):
    wdir = app_weights["weights_dir"]
    names = report_names(wdir, ["tiny_cnn"])
    assert names == ["tiny_cnn", "colour_baseline"]
    reps, problems = load_reports(names, wdir)
    assert not problems
    test = get_set(reps["tiny_cnn"], "folder/test")
    assert test["role"] == "test" and test["held_out"]
    table = metrics_table(reps, "folder/test", levels=("cells", "images", "images, grayscale"))
    assert list(zip(table["model"], table["level"])) == [
        ("tiny_cnn", "cells"), ("tiny_cnn", "images (fields)"), ("tiny_cnn", "images, grayscale crops"),
        ("colour_baseline", "cells"), ("colour_baseline", "images (fields)")]  # the baseline has no grayscale run
    for (name, level), field in zip(table[["model", "level"]].itertuples(index=False),
                                    ["cell_metrics", "metrics", "grayscale_metrics", "cell_metrics", "metrics"]):
        m = get_set(reps[name], "folder/test")[field]
        row = table[(table["model"] == name) & (table["level"] == level)].iloc[0]
        assert row["scored"] == m["n"]
        assert row["threshold"] == threshold_text(reps[name], "cells" if level == "cells" else "images")
        for col, key in (("accuracy", "accuracy"), ("balanced accuracy", "balanced_accuracy"),
                         ("sensitivity (ALL recall)", "sensitivity"), ("ROC AUC", "roc_auc")):
            assert (np.isnan(row[col]) if m[key] is None else row[col] == m[key]), (name, level, col)
    # the cell level scores every cell with its image's label
    y, p = labels_probs(test, "cells")
    assert len(p) == test["n_cells"] == sum(len(i["cells"]) for i in test["images"])
    assert y.sum() == sum(len(i["cells"]) for i in test["images"] if i["label"] == "all")
    assert set_keys(reps["tiny_cnn"]) == ["folder/test", "folder/val", "folder/train"]
    sets = sets_table(reps)
    assert list(sets["set"]) == ["folder/test", "folder/val", "folder/train"]
    assert list(sets["role"]) == ["test", "validation", "training"]
    assert sets.loc[1, "used for"] == "validation: chose the epoch, calibrator, threshold and refer band (not a test set)"
    assert "folder/test: test: reported only" in set_caption(test) and "cells" in set_caption(test)
    ref = load_reference(wdir)
    acc = accuracy_by_role(reps, "cnmc", ref)
    assert len(acc) == 8 and set(acc["source"]) == {reference_label(ref)}
    assert set(acc["role"]) == {"published train", "published validation"}
    acc = accuracy_by_role(reps, "folder", level="cells", metric="balanced_accuracy")
    assert list(acc["role"].unique()) == ["test", "validation", "training"]
    row = acc[(acc["model"] == "tiny_cnn") & (acc["role"] == "test")].iloc[0]
    assert row["value"] == test["cell_metrics"]["balanced_accuracy"] and row["scored"] == test["n_cells"]
    assert accuracy_by_role(reps, "cnmc", ref, metric="balanced_accuracy").empty  # published: accuracy only
    assert row["low"] is None  # intervals are drawn for accuracies (proportions of a count) only
    acc = accuracy_by_role(reps, "folder", level="cells")
    row = acc[(acc["model"] == "tiny_cnn") & (acc["role"] == "test")].iloc[0]
    k, n = round(row["value"] * row["scored"]), row["scored"]
    assert row["low"] <= row["value"] <= row["high"] and (row["low"], row["high"]) == wilson(k, n)[1:]
    for level in ("images", "cells"):
        curves = roc_curves(reps, "folder/test", level)
        assert set(curves) == set(names)
        assert curves["tiny_cnn"]["auc"] == test["cell_metrics" if level == "cells" else "metrics"]["roc_auc"]
    cal = calibration_table(reps)
    info = reps["tiny_cnn"]["calibration"]["info"]
    row = cal.iloc[0]
    assert row["model"] == "tiny_cnn"
    assert row["ECE before"] == info["ece_before"] and row["ECE after"] == info["ece_after"]
    lo, hi = refer_band(reps["tiny_cnn"])
    assert row["refer band"] == f"{lo:.2f}–{hi:.2f}" and row["threshold"] == reps["tiny_cnn"]["threshold"]
    assert cal.iloc[1]["refer band"] == "none" and np.isnan(cal.iloc[1]["ECE after"])
    rel = reliability_frame(reps)
    assert set(rel["model"]) == {"tiny_cnn"} and set(rel["stage"]) == {"before calibration", "after calibration"}
    assert rel["cells"].sum() == 2 * info["n_cells"]
    hist = load_history("tiny_cnn", wdir)
    assert list(hist["step"]) == list(range(1, len(hist) + 1)) and "val_score" in hist
    facts = model_facts(["tiny_cnn", "proposed"], wdir)
    assert list(facts["model"]) == ["tiny_cnn"] and facts.loc[0, "file size (MB)"] > 0
    cam = human_columns(per_model_table(load_cam_check(wdir)))
    assert cam.loc[0, "mean share of map energy on cells (0-1)"] == 0.61
    assert per_model_table(load_bench(wdir)).empty
    assert report_is_current(reps["tiny_cnn"], read_manifest("tiny_cnn", wdir))


def test_reference_label_names_its_source(app_weights):
    ref = load_reference(app_weights["weights_dir"])
    assert reference_label(ref) == ("The reference system's README figures (C-NMC 2019, unknown split, "
                                            "ImageNet initialisation, 60 epochs); not measured here")
    assert "unknown split" in reference_label({})
    table = reference_table(ref)
    assert list(table.columns) == ["model", "published train accuracy", "published validation accuracy"]


def test_confusion_and_misclassified_follow_the_threshold():
    s = {"images": [{"path": "a", "label": "all", "p_all": 0.9}, {"path": "b", "label": "all", "p_all": 0.3},
                    {"path": "c", "label": "hem", "p_all": 0.6}, {"path": "d", "label": "hem", "p_all": 0.1}]}
    m = confusion_at(s, 0.5)
    assert m["counts"].tolist() == [[1, 1], [1, 1]] and m["accuracy"] == 0.5
    assert np.allclose(m["rates"], 0.5)
    m = confusion_at(s, 0.25)
    assert m["counts"].tolist() == [[1, 1], [0, 2]]
    wrong = misclassified(s, 0.5)
    assert list(wrong["path"]) == ["b", "c"] and list(wrong["predicted"]) == ["HEM", "ALL"]
    assert misclassified(s, 0.0)["true"].tolist() == ["HEM", "HEM"]
    one_class = {"images": [{"path": "a", "label": "all", "p_all": 0.9}]}
    assert np.isnan(confusion_at(one_class, 0.5)["rates"][0]).all()
    # cell level: every cell carries its image's label
    cells = {"images": [{"path": "f1", "label": "all", "p_all": 0.6, "n_cells": 3, "cells": [0.9, 0.6, 0.3]},
                        {"path": "f2", "label": "hem", "p_all": 0.55, "n_cells": 2, "cells": [0.8, 0.3]}]}
    m = confusion_at(cells, 0.5, "cells")
    assert m["counts"].tolist() == [[1, 1], [1, 2]] and m["n"] == 5
    assert confusion_at(cells, 0.5)["counts"].tolist() == [[0, 1], [0, 1]]
    wrong = misclassified(cells, 0.5)
    assert wrong.to_dict("records")[0] | {"confidence": 0} == {
        "path": "f2", "true": "HEM", "predicted": "ALL", "p_all": 0.55, "threshold": 0.5, "cells": 2, "ALL cells": 1,
        "group": "", "subclass": "", "part": "", "confidence": 0}
    # the field rule: images of several cells are called against the field threshold, moved with the cell
    # threshold by the validated offset (field 0.6 - cell 0.5); one-cell images take the cell threshold
    rep = {"threshold": 0.5, "field_threshold": 0.6, "calibration": {"threshold": 0.5, "fitted": True}}
    mixed = {"images": [{"path": "one", "label": "hem", "p_all": 0.55, "n_cells": 1, "cells": [0.55]},
                        {"path": "many", "label": "hem", "p_all": 0.55, "n_cells": 2, "n_found": 2,
                         "cells": [0.8, 0.3]},
                        {"path": "many_all", "label": "all", "p_all": 0.62, "n_cells": 3, "n_found": 3,
                         "cells": [0.7, 0.6, 0.56]}]}
    assert image_thresholds(rep, mixed, 0.5) == pytest.approx([0.5, 0.6, 0.6])
    assert image_thresholds(rep, mixed, 0.3) == pytest.approx([0.3, 0.4, 0.4])
    assert image_thresholds(None, mixed, 0.5).tolist() == [0.5] * 3
    assert confusion_at(mixed, 0.5, "images", rep)["counts"].tolist() == [[1, 1], [0, 1]]
    assert confusion_at(mixed, 0.5, "images")["counts"].tolist() == [[0, 2], [0, 1]]
    wrong = misclassified(mixed, 0.5, rep)
    assert list(wrong["path"]) == ["one"] and wrong.loc[0, "threshold"] == 0.5
    assert threshold_text(rep, "images") == "0.50 one cell, 0.60 several"
    assert threshold_text(rep, "cells") == "0.50" and threshold_text(rep, "images", 0.3) == (
        "0.30 one cell, 0.40 several")


def test_intervals_of_the_figures_from_their_counts():
    from leukemia_core.reports.scores import intervals_of
    from leukemia_core.stats import balanced_accuracy_interval, wilson

    # rows true HEM / ALL, columns called HEM / ALL: HEM 8 of 10 right, ALL 3 of 4
    ci = intervals_of({"counts": [[8, 2], [1, 3]]})
    assert ci["sensitivity, ALL recall"] == wilson(3, 4)[1:] and ci["specificity, HEM recall"] == wilson(8, 10)[1:]
    ba = balanced_accuracy_interval((3, 4), (8, 10))
    assert ci["balanced accuracy"] == (ba["low"], ba["high"]) and ba["low"] < (0.75 + 0.8) / 2 < ba["high"]
    # one class only: no sensitivity, no balanced accuracy
    only = intervals_of({"counts": [[5, 1], [0, 0]]})
    assert only["sensitivity, ALL recall"] is None and only["balanced accuracy"] is None
    assert only["specificity, HEM recall"] == wilson(5, 6)[1:]
