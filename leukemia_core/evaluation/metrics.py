"""Classification metrics from per-image probabilities (pure NumPy + scikit-learn's ROC).

Class order everywhere: 0 = HEM (normal), 1 = ALL (leukemic); ALL is the positive class.
"""

from __future__ import annotations

import numpy as np

from ..models.calibration import DEFAULT_THRESHOLD

CLASS_NAMES = ("HEM", "ALL")


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """2x2 counts, rows = true class, columns = predicted class, order (HEM, ALL)."""
    m = np.zeros((2, 2), dtype=int)
    for t, p in zip(np.asarray(y_true, int), np.asarray(y_pred, int)):
        m[t, p] += 1
    return m


def _div(a: float, b: float) -> float | None:
    return float(a / b) if b else None


def compute_metrics(y_true, p_all, threshold: float = DEFAULT_THRESHOLD) -> dict:
    """Metrics of calling ALL when ``p_all >= threshold``.

    Args:
        y_true: int array ``(N,)``, 0 HEM / 1 ALL.
        p_all: float array ``(N,)`` in [0, 1], the model's P(ALL).
        threshold: decision threshold on ``p_all``.

    Returns:
        dict with ``accuracy``, ``balanced_accuracy``, ``sensitivity`` (ALL recall),
        ``specificity`` (HEM recall), ``per_class`` {HEM, ALL: precision, recall, f1, support},
        ``weighted`` {precision, recall, f1}, ``roc_auc`` (None with one class present),
        ``confusion_matrix`` (rows true, columns predicted, HEM then ALL), ``n``, ``threshold``.
        Undefined ratios (no samples of a class) are None, never a made-up number.

    Convention for a class that is never predicted: its precision (0/0) stays None, but its F1
    is 0 when it has samples (its recall is then 0), as in scikit-learn's ``zero_division=0``;
    so weighted F1 counts that class with its full support instead of silently leaving it out
    (a model that calls everything HEM does not get HEM's F1 as its weighted F1). A class with
    no samples has F1 None and weight 0. Weighted precision and recall average the classes whose
    value is defined, weighted by support.
    """
    y = np.asarray(y_true, int)
    p = np.asarray(p_all, float)
    pred = (p >= threshold).astype(int)
    cm = confusion(y, pred)
    n = int(cm.sum())
    per_class = {}
    for c, name in enumerate(CLASS_NAMES):
        tp = cm[c, c]
        precision = _div(tp, cm[:, c].sum())
        recall = _div(tp, cm[c, :].sum())
        if recall is None:  # no samples of this class: F1 undefined (and weight 0)
            f1 = None
        elif precision is None or precision + recall == 0:  # never predicted (recall 0), or no hit
            f1 = 0.0
        else:
            f1 = 2 * precision * recall / (precision + recall)
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": int(cm[c, :].sum())}
    weighted = {}
    for k in ("precision", "recall", "f1"):
        vals = [(per_class[c][k], per_class[c]["support"]) for c in CLASS_NAMES]
        tot = sum(s for v, s in vals if v is not None)
        weighted[k] = float(sum(v * s for v, s in vals if v is not None) / tot) if tot else None
    recalls = [per_class[c]["recall"] for c in CLASS_NAMES]
    auc = None
    if len(set(y.tolist())) == 2:
        # lazy: scikit-learn (about 1.2 s here); the app's pages import this module
        from sklearn.metrics import roc_auc_score

        auc = float(roc_auc_score(y, p))
    return {
        "n": n,
        "threshold": float(threshold) if np.ndim(threshold) == 0 else None,  # None: one per sample
        "accuracy": _div(np.trace(cm), n),
        "balanced_accuracy": float(np.mean([r for r in recalls if r is not None])) if any(
            r is not None for r in recalls) else None,
        "sensitivity": per_class["ALL"]["recall"],
        "specificity": per_class["HEM"]["recall"],
        "per_class": per_class,
        "weighted": weighted,
        "roc_auc": auc,
        "confusion_matrix": cm.tolist(),
    }


def roc_points(y_true, p_all) -> dict:
    """ROC curve ``{"fpr": [...], "tpr": [...], "thresholds": [...]}`` (empty with one class).

    ``y_true``: ``int`` or ``bool (N,)`` (1 = ALL); ``p_all``: P(ALL) ``float (N,)`` in [0, 1].
    The lists are plain floats; ``fpr`` and ``tpr`` rise from 0 to 1.
    """
    y = np.asarray(y_true, int)
    if len(set(y.tolist())) < 2:
        return {"fpr": [], "tpr": [], "thresholds": []}
    # lazy: scikit-learn (about 1.2 s here), as above
    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(y, np.asarray(p_all, float))
    thr = np.where(np.isfinite(thr), thr, 1.0)
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": thr.tolist()}
