"""A site model's head: a class-balanced logistic regression on frozen features, as one linear layer.

:func:`fit_head` standardises the features, chooses the L2 strength ``C`` by grouped
cross-validation *inside the cells it is given* (ROC AUC over the out-of-fold scores; folds never
split a group) and refits on all of them. The standardisation is folded into the weights, so a
head is ``P(ALL) = sigmoid(w . f + b)``: it runs in NumPy (:meth:`Head.predict`) and is exactly the
served model's ``logits`` layer with kernel ``[0, w]`` and bias ``[0, b]`` (softmax over two logits
is the sigmoid of their difference), so Keras, Grad-CAM and the ONNX graph can carry it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import WeightsError

#: The L2 strengths tried (inverse regularisation, scikit-learn's ``C``).
C_GRID = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
MAX_FOLDS = 5


@dataclass(frozen=True)
class Head:
    """``P(ALL) = sigmoid(w . f + b)`` on a feature source's features.

    Attributes:
        w: ``float64 (F,)``; b: the bias.
        C: the L2 strength chosen; ``cv_auc``: its out-of-fold ROC AUC inside the fit cells (None
            when there were too few groups to cross-validate, and ``C`` is the default).
        n: cells per class it was fitted on.
    """

    w: np.ndarray
    b: float
    C: float
    cv_auc: float | None
    n: dict

    def logit(self, feats: np.ndarray) -> np.ndarray:
        """``w . f + b`` of features ``(N, F)``."""
        return np.asarray(feats, np.float64) @ self.w + self.b

    def predict(self, feats: np.ndarray) -> np.ndarray:
        """P(ALL) ``float64 (N,)`` of features ``(N, F)``."""
        return 1.0 / (1.0 + np.exp(-np.clip(self.logit(feats), -60, 60)))

    def dense_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Kernel ``float32 (F, 2)`` and bias ``float32 (2,)`` of a two-logit layer computing it."""
        kernel = np.zeros((len(self.w), 2), np.float32)
        kernel[:, 1] = self.w
        return kernel, np.array([0.0, self.b], np.float32)

    def to_json(self) -> dict:
        """The head as stored in a site model (weights, bias, strength, counts)."""
        return {"kind": "logistic regression on standardised frozen features (folded into w, b)",
                "w": [float(v) for v in self.w], "b": float(self.b), "C": self.C, "cv_auc": self.cv_auc,
                "n": self.n, "features": int(len(self.w))}

    @classmethod
    def from_json(cls, d: dict) -> "Head":
        """The head written by :meth:`to_json`."""
        return cls(np.asarray(d["w"], np.float64), float(d["b"]), float(d["C"]), d.get("cv_auc"), dict(d.get("n") or {}))


def _folds(y: np.ndarray, groups: np.ndarray, seed: int):
    """Grouped, class-stratified folds over the cells, or None when a class has fewer than two groups."""
    from sklearn.model_selection import StratifiedGroupKFold

    per_class = [len(set(groups[y == c])) for c in (0, 1)]
    k = min(MAX_FOLDS, *per_class)
    if k < 2:
        return None
    return list(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y, groups))


def _fit(x: np.ndarray, y: np.ndarray, C: float):
    from sklearn.linear_model import LogisticRegression

    mu, sd = x.mean(0), x.std(0) + 1e-6
    lr = LogisticRegression(C=C, class_weight="balanced", max_iter=2000)
    lr.fit((x - mu) / sd, y)
    coef = lr.coef_[0] / sd
    return coef, float(lr.intercept_[0] - coef @ mu)


def out_of_fold(x: np.ndarray, y: np.ndarray, groups: np.ndarray, C: float, seed: int = 0) -> np.ndarray | None:
    """Out-of-fold P(ALL) of every cell at strength ``C`` (None when folds cannot be made)."""
    folds = _folds(y, groups, seed)
    if folds is None:
        return None
    p = np.zeros(len(y))
    for tr, te in folds:
        w, b = _fit(x[tr], y[tr], C)
        p[te] = 1.0 / (1.0 + np.exp(-np.clip(x[te] @ w + b, -60, 60)))
    return p


def fit_head(x: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None, seed: int = 0,
             C: float | None = None) -> Head:
    """Fit a head on features ``x`` ``(N, F)`` and labels ``y`` (0 HEM, 1 ALL); ``groups`` keep a
    patient's cells in one fold. ``C`` given: no search (the learning curve reuses the chosen one).

    Raises:
        ValueError: one class only.
    """
    from sklearn.metrics import roc_auc_score

    x, y = np.asarray(x, np.float64), np.asarray(y, int)
    if len(set(y.tolist())) < 2:
        raise ValueError("a head needs cells of both classes")
    groups = np.asarray(groups) if groups is not None else np.arange(len(y)).astype(str)
    cv_auc = None
    if C is None:
        scores = {}
        for c in C_GRID:
            p = out_of_fold(x, y, groups, c, seed)
            if p is None:
                break
            scores[c] = float(roc_auc_score(y, p))
        C = max(scores, key=lambda c: (scores[c], -c)) if scores else 0.01  # ties: the stronger penalty
        cv_auc = scores.get(C)
    w, b = _fit(x, y, C)
    return Head(w, b, float(C), cv_auc, {"all": int((y == 1).sum()), "hem": int((y == 0).sum())})


def headed_graph(model, head: Head, feature_layer: str | None = None):
    """A Keras graph ``model.inputs -> features -> head -> probs`` (backbone layers shared).

    ``feature_layer``: the layer whose output is the features (default: the input of ``logits``).
    """
    import keras
    from keras import layers

    from .registry import BUILD_LOCK, LOGITS_LAYER, PROBS_LAYER

    feats = model.get_layer(feature_layer).output if feature_layer else model.get_layer(LOGITS_LAYER).input
    if int(feats.shape[-1]) != len(head.w):
        raise WeightsError(f"the site model's head reads {len(head.w)} features; {model.name} gives "
                           f"{int(feats.shape[-1])}")
    with BUILD_LOCK:
        dense = layers.Dense(2, name=LOGITS_LAYER)
        probs = layers.Activation("softmax", name=PROBS_LAYER, dtype="float32")(dense(feats))
        out = keras.Model(model.inputs, probs, name=f"{model.name}_site")
    dense.set_weights(list(head.dense_weights()))
    return out
