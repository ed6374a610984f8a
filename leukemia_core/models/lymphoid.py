"""The lymphoid gate: is a found white cell lymphoid (a lymphocyte or lymphoblast), the only cells the
blast question is about? Neutrophils, eosinophils, monocytes and basophils get NO CALL "not a
lymphoid cell" instead of an ALL/HEM call.

The gate reads the classifying model's own features (:meth:`~leukemia_core.inference.Predictor.features`,
also an output of the ONNX export): a logistic regression on standardised features, lymphoid (1)
against other white cells (0). Its threshold on P(lymphoid) is chosen on out-of-fold scores of the
training cells (folds by image group) so that a stated share of the lymphoid cells pass
(:data:`KEEP_LYMPHOID`): the gate is built to keep lymphoid cells, and what it stops is measured, not
tuned. Stored in the model's calibration as ``lymphoid_gate`` (a JSON dict: mean, scale, coefficients,
intercept, threshold and what it was fitted on).
"""

from __future__ import annotations

import numpy as np

GATE_FORMAT = "leukemia_core.lymphoid_gate/1"
#: The other white-cell types the gate's type head tells apart (the differential). Basophils are too
#: few among the typed cells here (5) to learn; a basophil the gate stops is named as one of these.
OTHER_TYPES = ("neutrophil", "eosinophil", "monocyte")
#: Share of the training lymphoid cells (out of fold) that pass the gate.
KEEP_LYMPHOID = 0.97
#: The NO CALL reason of a cell the gate stops.
REASON_NOT_LYMPHOID = "not a lymphoid cell"


def _scores(gate: dict, feats: np.ndarray) -> np.ndarray:
    x = _standardised(gate, feats)
    z = x @ np.asarray(gate["coef"]) + float(gate["intercept"])
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def fit_gate(feats: np.ndarray, lymphoid: np.ndarray, groups: np.ndarray, keep: float = KEEP_LYMPHOID,
             folds: int = 5, c: float = 0.05, seed: int = 0) -> dict:
    """Fit the gate on ``feats`` ``(N, F)`` with ``lymphoid`` ``bool (N,)``; ``groups`` (image or lab
    group per cell) keep a group's cells in one fold when choosing the threshold.

    Raises:
        ValueError: fewer than 10 cells of either kind.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold

    x, y = np.asarray(feats, np.float64), np.asarray(lymphoid, bool).astype(int)
    if min(y.sum(), (1 - y).sum()) < 10:
        raise ValueError("the lymphoid gate needs at least 10 lymphoid and 10 other white cells")
    mean, scale = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / scale
    oof = np.zeros(len(y))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for tr, te in splitter.split(z, y, np.asarray(groups)):
        m = LogisticRegression(C=c, class_weight="balanced", max_iter=3000).fit(z[tr], y[tr])
        oof[te] = m.predict_proba(z[te])[:, 1]
    threshold = float(np.quantile(oof[y == 1], 1.0 - keep))
    m = LogisticRegression(C=c, class_weight="balanced", max_iter=3000).fit(z, y)
    return {"format": GATE_FORMAT, "mean": mean.tolist(), "scale": scale.tolist(), "coef": m.coef_[0].tolist(),
            "intercept": float(m.intercept_[0]), "threshold": threshold, "keep_lymphoid": keep,
            "out_of_fold": {"lymphoid_pass": float((oof[y == 1] >= threshold).mean()),
                            "other_stopped": float((oof[y == 0] < threshold).mean())},
            "n_cells": {"lymphoid": int(y.sum()), "other": int((1 - y).sum())}}


def lymphoid_scores(gate: dict | None, feats: np.ndarray) -> np.ndarray | None:
    """P(lymphoid) per cell (None without a gate)."""
    if not gate:
        return None
    return _scores(gate, feats)


def not_lymphoid(gate: dict | None, feats: np.ndarray | None) -> np.ndarray | None:
    """``bool (N,)``: the cells the gate stops (None without a gate or features)."""
    if not gate or feats is None:
        return None
    return _scores(gate, feats) < float(gate["threshold"])


def _standardised(gate: dict, feats: np.ndarray) -> np.ndarray:
    return (np.asarray(feats, np.float64) - np.asarray(gate["mean"])) / np.asarray(gate["scale"])


def fit_types(gate: dict, feats: np.ndarray, types: np.ndarray, c: float = 0.05, min_cells: int = 5) -> dict:
    """The gate's type head: a multinomial logistic regression on the gate's standardised features
    of the typed non-lymphoid cells (``types`` in :data:`OTHER_TYPES`; the rest are ignored), each
    type weighted equally. Returns ``{classes, coef, intercept, n_cells}`` for ``gate["types"]``.

    Raises:
        ValueError: fewer than two types with ``min_cells`` cells each.
    """
    from sklearn.linear_model import LogisticRegression

    types = np.asarray(types)
    counts = {t: int((types == t).sum()) for t in OTHER_TYPES}
    classes = [t for t, n in counts.items() if n >= min_cells]
    if len(classes) < 2:
        raise ValueError(f"the type head needs two types with {min_cells} cells or more; got {counts}")
    keep = np.isin(types, classes)
    m = LogisticRegression(C=c, class_weight="balanced", max_iter=3000).fit(
        _standardised(gate, feats)[keep], types[keep])
    coef, intercept = np.atleast_2d(m.coef_), np.atleast_1d(m.intercept_)
    if len(m.classes_) == 2:  # sklearn keeps one row for two classes: score the first against it
        coef, intercept = np.vstack([-coef, coef]) / 2, np.array([-intercept[0], intercept[0]]) / 2
    return {"classes": [str(t) for t in m.classes_], "coef": coef.tolist(), "intercept": intercept.tolist(),
            "n_cells": {t: counts[t] for t in classes}}


def other_types(gate: dict | None, feats: np.ndarray | None) -> list[str] | None:
    """The most likely other white-cell type of each cell by the gate's type head (meaningful for the
    cells the gate stops); None without a gate, a type head or features."""
    head = (gate or {}).get("types")
    if not head or feats is None:
        return None
    scores = _standardised(gate, feats) @ np.asarray(head["coef"]).T + np.asarray(head["intercept"])
    return [head["classes"][i] for i in np.argmax(scores, axis=1)]


def differential(stopped: np.ndarray | None) -> dict[str, int] | None:
    """Counts of the cells the gate lets through (``lymphoid``) and stops (``other white cell``; the
    type head is measured, not served: it does not name the other types reliably); None without a
    gate."""
    if stopped is None:
        return None
    stopped = np.asarray(stopped, bool)
    return {"lymphoid": int((~stopped).sum()), "other white cell": int(stopped.sum())}


def differential_text(counts: dict[str, int] | None) -> str:
    """``"lymphoid 20, neutrophil 3, eosinophil 0, monocyte 1"``; ``""`` without counts."""
    return ", ".join(f"{k} {v}" for k, v in counts.items()) if counts else ""
