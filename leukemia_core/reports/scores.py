"""Scores from evaluation reports: metrics tables, accuracy by role, published reference figures,
ROC points, and metrics recomputed at another threshold (confusion matrix, mistakes)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..evaluation.metrics import compute_metrics, roc_points
from ..inference import label_of
from ..models.card import report_thresholds
from ..stats import balanced_accuracy_interval, wilson
from .sets import LEVEL_NAMES, LEVELS, ROLE_NAMES, get_set, labels_probs, role_of
from .thresholds import image_thresholds, threshold_text

#: Ratio columns of :func:`metrics_table` (0-1; pages show them as percentages).
RATIO_COLUMNS = ("accuracy", "balanced accuracy", "sensitivity (ALL recall)", "specificity (HEM recall)",
                 "precision (ALL)", "recall (ALL)", "F1 (ALL)", "precision (weighted)", "recall (weighted)",
                 "F1 (weighted)")

#: The columns of :func:`metrics_table` a page shows in its summary table, with short names.
SUMMARY_COLUMNS = {"model": "model", "level": "level", "scored": "scored", "accuracy": "accuracy",
                   "balanced accuracy": "balanced accuracy", "sensitivity (ALL recall)": "sensitivity",
                   "specificity (HEM recall)": "specificity", "F1 (ALL)": "F1 ALL", "ROC AUC": "ROC AUC",
                   "threshold": "threshold"}

#: What each summary column means (tooltips).
SUMMARY_HELP = {"scored": "cells or images scored", "balanced accuracy": "mean of ALL recall and HEM recall",
                "sensitivity": "ALL recall: share of the ALL cells / images called ALL",
                "specificity": "HEM recall: share of the HEM cells / images called HEM",
                "F1 ALL": "F1 of the ALL class", "ROC AUC": "area under the ROC curve (0.5 = chance)",
                "threshold": "decision threshold on calibrated P(ALL)"}


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """The summary columns of a :func:`metrics_table`, under their short names."""
    return table[list(SUMMARY_COLUMNS)].rename(columns=SUMMARY_COLUMNS)


def _metric_row(name: str, s: dict, level: str, report: dict | None = None) -> dict:
    m = s.get(LEVELS[level]) or {}
    pc = (m.get("per_class") or {}).get("ALL", {})
    w = m.get("weighted") or {}
    n = m.get("n")
    if n is None:
        n = s.get("n_cells") if level == "cells" else s.get("n_images")
    return {
        "model": name, "set": s["key"], "role": ROLE_NAMES.get(role_of(s), role_of(s)),
        "level": LEVEL_NAMES[level], "scored": n,
        "accuracy": m.get("accuracy"), "balanced accuracy": m.get("balanced_accuracy"),
        "sensitivity (ALL recall)": m.get("sensitivity"), "specificity (HEM recall)": m.get("specificity"),
        "precision (ALL)": pc.get("precision"), "recall (ALL)": pc.get("recall"), "F1 (ALL)": pc.get("f1"),
        "precision (weighted)": w.get("precision"), "recall (weighted)": w.get("recall"),
        "F1 (weighted)": w.get("f1"), "ROC AUC": m.get("roc_auc"),
        "threshold": (threshold_text(report, "cells" if level == "cells" else "images") if report is not None
                      else ("n/a" if (t := report_thresholds(m).stated_threshold) is None else f"{t:.2f}")),
    }


def metrics_table(reports: dict[str, dict], set_key: str | None = None,
                  levels: Sequence[str] = ("cells", "images")) -> pd.DataFrame:
    """Stored metrics, one row per (model, set, level); only ``set_key`` when given.

    ``levels``: ``cells`` (each cell carries its image's label), ``images`` (the image call from
    the mean P(ALL) of its whole cells), ``images, grayscale`` (test sets: grayscale crops, the
    colour-shortcut check). A level a set does not have is left out. The colour-only baseline is a
    row like any model. Values are the reports' own, at each report's threshold; ``scored`` is the
    number of cells or images.
    """
    rows = [_metric_row(n, s, lv, rep) for n, rep in reports.items() for s in rep.get("sets", [])
            if set_key is None or s["key"] == set_key for lv in levels if s.get(LEVELS[lv])]
    cols = list(_metric_row("", {"key": ""}, "images").keys())
    df = pd.DataFrame(rows, columns=cols)
    num = [c for c in cols if c not in ("model", "set", "role", "level", "threshold")]
    df[num] = df[num].apply(pd.to_numeric, errors="coerce")
    return df


_DATASET_NAMES = {"cnmc": "C-NMC 2019", "aria": "Aria ALL", "aria-original": "Aria ALL"}

_INIT_NAMES = {"imagenet": "ImageNet initialisation", "random": "random initialisation"}


def reference_label(reference: dict | None) -> str:
    """How published figures are labelled wherever they are shown: whose figures, on which data,
    which split and which initialisation (from ``reference_published.json``)."""
    ref = reference or {}
    parts = [_DATASET_NAMES.get(ref.get("dataset"), ref.get("dataset") or "dataset not stated"),
             f"{ref.get('split') or 'unknown'} split",
             _INIT_NAMES.get(ref.get("init"), f"{ref['init']} initialisation" if ref.get("init")
                             else "initialisation not stated")]
    if ref.get("epochs"):
        parts.append(f"{ref['epochs']} epochs")
    return f"The reference system's README figures ({', '.join(parts)}); not measured here"


def accuracy_by_role(reports: dict[str, dict], dataset: str, reference: dict | None = None,
                     level: str = "images", metric: str = "accuracy") -> pd.DataFrame:
    """``metric`` (a :func:`~leukemia_core.evaluation.metrics.compute_metrics` key) on every role of
    ``dataset``, per model, at ``level``; roles in the order test, val, train.

    ``low``/``high``: the 95 % Wilson interval of an accuracy over its ``scored`` items (None for
    other metrics and published figures, whose counts are unknown).

    With ``reference``, the published training and validation accuracies are added as rows whose
    ``source`` is :func:`reference_label` (their ``role`` says ``published train`` /
    ``published validation``: another split, not ours).
    """
    rows = []
    for name, rep in reports.items():
        for s in rep.get("sets", []):
            ds = s["key"].rpartition("/")[0]
            m = s.get(LEVELS[level])
            if ds != dataset or not m:
                continue
            n = m.get("n", s.get("n_cells") if level == "cells" else s.get("n_images"))
            v = m.get(metric)
            low = high = None
            if metric == "accuracy" and v is not None and n:  # a proportion of n: its Wilson interval
                _, low, high = wilson(int(round(v * n)), int(n))
            rows.append({"model": name, "role": ROLE_NAMES.get(role_of(s), role_of(s)), "value": v,
                         "source": "this project", "set": s["key"], "scored": n, "groups": s.get("n_groups"),
                         "low": low, "high": high})
    if reference and metric == "accuracy":
        label = reference_label(reference)
        for name, figs in reference.get("models", {}).items():
            for role, field in (("published train", "train_accuracy"), ("published validation", "val_accuracy")):
                if figs.get(field) is not None:
                    rows.append({"model": name, "role": role, "value": float(figs[field]), "source": label,
                                 "set": reference.get("dataset", ""), "scored": None, "groups": None,
                                 "low": None, "high": None})
    df = pd.DataFrame(rows, columns=["model", "role", "value", "source", "set", "scored", "groups", "low", "high"])
    order = {r: i for i, r in enumerate(["test", "validation", "training", "unsplit", "published train",
                                         "published validation"])}
    return df.sort_values("role", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)


def reference_table(reference: dict | None) -> pd.DataFrame:
    """Published figures as a table (empty without a reference file)."""
    rows = [{"model": n, "published train accuracy": f.get("train_accuracy"),
             "published validation accuracy": f.get("val_accuracy")}
            for n, f in (reference or {}).get("models", {}).items()]
    return pd.DataFrame(rows, columns=["model", "published train accuracy", "published validation accuracy"])


def roc_curves(reports: dict[str, dict], set_key: str, level: str = "images") -> dict[str, dict]:
    """ROC points per model on ``set_key`` from the stored probabilities at ``level``.

    Returns ``{model: {"fpr", "tpr", "auc"}}``; models without that set or with one class only
    are left out.
    """
    out = {}
    for name, rep in reports.items():
        s = get_set(rep, set_key)
        if s is None or not s.get("images"):
            continue
        y, p = labels_probs(s, level)
        pts = roc_points(y, p)
        if not pts["fpr"]:
            continue
        out[name] = {"fpr": pts["fpr"], "tpr": pts["tpr"], "auc": (s.get(LEVELS[level]) or {}).get("roc_auc")}
    return out


def confusion_at(report_set: dict, threshold: float, level: str = "images", report: dict | None = None) -> dict:
    """Metrics of ``report_set`` recomputed at cell threshold ``threshold`` from its stored
    probabilities at ``level`` (``images`` or ``cells``). With ``report``, images of several cells
    follow its field rule (:func:`image_thresholds`).

    Returns :func:`~leukemia_core.evaluation.metrics.compute_metrics`'s dict plus ``counts`` (2x2 array,
    rows true HEM/ALL, columns predicted HEM/ALL) and ``rates`` (each row divided by its total;
    NaN for a class without images).
    """
    y, p = labels_probs(report_set, level)
    thr = image_thresholds(report, report_set, threshold) if level == "images" and report is not None else threshold
    m = compute_metrics(y, p, thr)
    counts = np.asarray(m["confusion_matrix"], float)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(totals > 0, counts / np.where(totals > 0, totals, 1), np.nan)
    m["counts"] = counts.astype(int)
    m["rates"] = rates
    return m


def misclassified(report_set: dict, threshold: float, report: dict | None = None) -> pd.DataFrame:
    """Images the model gets wrong at cell threshold ``threshold``, most confident mistakes first.

    With ``report``, images of several cells follow its field rule (:func:`image_thresholds`).
    Columns: path, true, predicted, p_all, threshold (the image's), cells (scored cells of the
    image), ALL cells (those called ALL at ``threshold``; None when the report stores no cells),
    group, subclass, part, confidence (distance of P(ALL) from the image's threshold).
    """
    rows = []
    thresholds = image_thresholds(report, report_set, threshold)
    for img, thr in zip(report_set.get("images", []), thresholds):
        true = img["label"].upper()
        pred = label_of(img["p_all"], thr)
        if pred != true:
            cells = img.get("cells")
            rows.append({"path": img["path"], "true": true, "predicted": pred, "p_all": img["p_all"],
                         "threshold": float(thr),
                         "cells": img.get("n_cells", len(cells) if cells is not None else None),
                         "ALL cells": None if cells is None else int(sum(c >= threshold for c in cells)),
                         "group": img.get("group", ""), "subclass": img.get("subclass", ""),
                         "part": img.get("part", ""), "confidence": abs(img["p_all"] - thr)})
    df = pd.DataFrame(rows, columns=["path", "true", "predicted", "p_all", "threshold", "cells", "ALL cells", "group",
                                     "subclass", "part", "confidence"])
    return df.sort_values("confidence", ascending=False, kind="stable").reset_index(drop=True)


def intervals_of(m: dict) -> dict:
    """95 % intervals of :func:`confusion_at`'s figures, from its counts: ``{"balanced accuracy",
    "sensitivity, ALL recall", "specificity, HEM recall"}`` -> ``(low, high)`` or None (a class
    without cells). Sensitivity and specificity: Wilson; balanced accuracy: Wilson at its effective
    n (:func:`~leukemia_core.stats.balanced_accuracy_interval`)."""
    (tn, fp), (fn, tp) = np.asarray(m["counts"], int).tolist()
    se, sp = wilson(tp, tp + fn), wilson(tn, tn + fp)
    ba = balanced_accuracy_interval((tp, tp + fn), (tn, tn + fp))
    return {"balanced accuracy": (ba["low"], ba["high"]) if ba["value"] is not None else None,
            "sensitivity, ALL recall": se[1:] if tp + fn else None,
            "specificity, HEM recall": sp[1:] if tn + fp else None}
