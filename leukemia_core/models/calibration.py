"""Calibrated probabilities, the decision threshold and the "refer" band, all fitted on
validation cells only.

* **Calibrator**: Platt scaling, ``P = sigmoid(a * logit(p) + b)`` (temperature scaling is the
  case ``b = 0``; ``a = 1 / T``), fitted by weighted maximum likelihood. Weights give each dataset
  the same total and, within a dataset, each class the same total, so the calibrated P(ALL)
  answers "is this cell a blast" at even odds, not at the validation set's class mix
  (Aria's validation fields are 85 % ALL). J. Platt, "Probabilistic outputs for support vector
  machines", 1999; C. Guo et al., "On calibration of modern neural networks", ICML 2017.
* **Threshold**: the calibrated P(ALL) at which validation balanced accuracy (same weights) is
  highest.
* **Refer band**: ``[threshold - w, threshold + w]``; ``w`` is the smallest half-width (steps of
  0.01) that holds at least :data:`REFER_RATE` of the (weighted) validation cells: every model
  refers the same stated share of cells, the most uncertain ones. Stored with it: the share held,
  the share of the validation cells' wrong calls inside the band (what referring catches) and the
  balanced accuracy of the calls outside it. Cells inside it get NO CALL "borderline": a person
  must look at them.
* **Field threshold**: an image with several cells is called ALL when the mean calibrated P(ALL)
  of its whole cells reaches ``field_threshold``, chosen for the best balanced accuracy over the
  validation images that hold several cells (datasets weighted equally). An image with one cell
  takes that cell's call. When a user moves the cell threshold, the field threshold moves by the
  same amount (:meth:`Calibration.image_threshold`).
* **ECE**: expected calibration error over 10 equal-width bins, with the same weights.

A :class:`Calibration` is stored as ``model_weights/<model>.calibration.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..data.pipeline import sample_weights
from ..paths import artefact_file

#: The decision threshold when a model has no calibration file.
DEFAULT_THRESHOLD = 0.5
#: The share of (weighted) validation cells the refer band holds.
REFER_RATE = 0.10
_EPS = 1e-6


def logit(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` elementwise, float64 of ``p``'s shape; ``p`` clipped to
    ``[1e-6, 1 - 1e-6]`` first, so 0 and 1 give finite values.
    """
    p = np.clip(np.asarray(p, np.float64), _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` elementwise, float64 in [0, 1] of ``z``'s shape (stable for any ``z``)."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, np.float64)))


def balanced_weights(y: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Weights giving each group (dataset) an equal total and each class within it an equal share
    (the training sampler's weights with equal dataset shares); they sum to 1.

    ``y``: ``int (N,)`` (0 HEM, 1 ALL); ``groups``: ``(N,)`` dataset names (None: one group).
    Returns ``float64 (N,)``, non-negative, summing to 1 (empty for ``N = 0``).
    """
    y = np.asarray(y, int)
    return sample_weights(y, np.zeros(len(y), int) if groups is None else np.asarray(groups))


def weighted_balanced_accuracy(y: np.ndarray, called_all: np.ndarray, w: np.ndarray) -> float | None:
    """Mean of the weighted recalls of the two classes (None when a class is absent)."""
    rec = []
    for c in (0, 1):
        sel = y == c
        if not w[sel].sum():
            return None
        rec.append(float(w[sel & (called_all == bool(c))].sum() / w[sel].sum()))
    return float(np.mean(rec))


def ece(y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None, bins: int = 10) -> float:
    """Expected calibration error of P(ALL) (weighted), equal-width bins on [0, 1]."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    w = np.ones(len(y)) if w is None else np.asarray(w, float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total, err = w.sum(), 0.0
    for b in range(bins):
        sel = idx == b
        if w[sel].sum() > 0:
            err += w[sel].sum() / total * abs(np.average(y[sel], weights=w[sel]) - np.average(p[sel], weights=w[sel]))
    return float(err)


def reliability(y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None, bins: int = 10) -> list[dict]:
    """Per-bin mean predicted P(ALL), observed share of ALL and weight share (for a plot).

    ``y``: ``int (N,)``; ``p``: P(ALL) ``float (N,)`` in [0, 1]; ``w``: ``float (N,)`` weights
    (None: equal). One dict per non-empty bin of ``[0, 1]``.
    """
    y, p = np.asarray(y, float), np.asarray(p, float)
    w = np.ones(len(y)) if w is None else np.asarray(w, float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        sel = idx == b
        if w[sel].sum() > 0:
            out.append({"bin": [b / bins, (b + 1) / bins], "mean_p": float(np.average(p[sel], weights=w[sel])),
                        "observed": float(np.average(y[sel], weights=w[sel])), "n": int(sel.sum()),
                        "weight": float(w[sel].sum() / w.sum())})
    return out


def fit_platt(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted logistic fit of ``y`` on ``logit(p)``: returns ``(a, b)`` (L-BFGS on the log loss).

    ``p``: raw P(ALL) ``float (N,)`` in [0, 1]; ``y``: ``int (N,)``; ``w``: ``float (N,)`` weights.
    """
    # lazy: SciPy's optimiser (about 0.5 s here); the app only applies calibrations
    from scipy.optimize import minimize

    z = logit(p)
    y = np.asarray(y, float)
    w = np.asarray(w, float) / np.sum(w)

    def loss(ab):
        t = ab[0] * z + ab[1]
        # log(1 + e^t) - y t, computed stably
        nll = np.logaddexp(0.0, t) - y * t
        q = sigmoid(t)
        return float(np.sum(w * nll)), np.array([np.sum(w * (q - y) * z), np.sum(w * (q - y))])

    # a > 0: calibration may rescale the model's ranking but never reverse it
    res = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B", bounds=[(1e-3, None), (None, None)])
    return float(res.x[0]), float(res.x[1])


def threshold_in_use(explicit: float | None, stored: float) -> float:
    """The threshold order, the one place it is written: an explicit cell threshold (the user's
    slider, a command's ``--threshold``) when one is given, else the stored one (a calibration's or
    a site profile's, chosen on validation; :data:`DEFAULT_THRESHOLD` where nothing was fitted)."""
    return float(stored) if explicit is None else float(explicit)


def band_around(threshold: float, half_width: float) -> tuple[float, float]:
    """``(low, high)``: the refer band of ``half_width`` around ``threshold``, clipped to [0, 1]
    (the one place the band is drawn)."""
    return max(0.0, threshold - half_width), min(1.0, threshold + half_width)


@dataclass(frozen=True)
class Calibration:
    """Platt calibrator, threshold and refer band of one model (identity when not fitted)."""

    a: float = 1.0
    b: float = 0.0
    threshold: float = DEFAULT_THRESHOLD
    refer_half_width: float = 0.0
    fitted: bool = False
    info: dict = field(default_factory=dict)
    field_threshold: float | None = None  # None: the cell threshold
    reference: dict = field(default_factory=dict)  # training-data statistics (leukemia_core.models.ood)
    feature_reference: dict = field(default_factory=dict)  # the training cells' features (models.ood)
    lymphoid_gate: dict = field(default_factory=dict)  # lymphoid vs other white cells (models.lymphoid)

    def apply(self, p_raw: np.ndarray) -> np.ndarray:
        """Calibrated P(ALL) for raw model outputs (any shape)."""
        if not self.fitted:
            return np.asarray(p_raw, np.float64)
        return sigmoid(self.a * logit(p_raw) + self.b)

    def image_threshold(self, threshold: float, n_cells: int) -> float:
        """The threshold an image's mean cell P(ALL) is compared with, for a cell threshold
        ``threshold``: for an image of several cells it is moved by the validated offset
        ``field_threshold - self.threshold`` (so a moved cell threshold moves it too); an image of
        one cell (or none) takes the cell threshold."""
        if n_cells > 1 and self.field_threshold is not None:
            return float(min(1.0, max(0.0, threshold + self.field_threshold - self.threshold)))
        return float(threshold)

    def raw_threshold(self, threshold: float) -> float:
        """The raw model output that calibrates to ``threshold`` (for explaining the call)."""
        if not self.fitted or self.a <= 0:
            return float(threshold)
        return float(sigmoid((logit(np.array(threshold)) - self.b) / self.a))

    @property
    def refer_band(self) -> tuple[float, float]:
        """``(low, high)`` of the refer band around the fitted threshold, clipped to [0, 1]."""
        return band_around(self.threshold, self.refer_half_width)

    def band_at(self, threshold: float) -> tuple[float, float]:
        """The refer band moved to another threshold (same half-width)."""
        return band_around(threshold, self.refer_half_width)

    def refer(self, p_cal: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """``bool`` of ``p_cal``'s shape: calibrated P(ALL) inside the refer band around ``threshold``
        (default: the fitted one); all False without a band.
        """
        lo, hi = self.band_at(threshold_in_use(threshold, self.threshold))
        p = np.asarray(p_cal)
        return (p >= lo) & (p <= hi) if self.refer_half_width > 0 else np.zeros(p.shape, bool)

    def to_json(self) -> dict:
        """The calibration as a JSON-ready dict (every field)."""
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "Calibration":
        """The calibration stored by :meth:`to_json`; fields absent from ``d`` take their defaults."""
        return cls(**{k: d[k] for k in ("a", "b", "threshold", "refer_half_width", "fitted", "info", "reference",
                                             "field_threshold", "feature_reference", "lymphoid_gate")
                      if k in d})


def best_threshold(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """``(threshold, balanced accuracy)``: the threshold on ``p`` (0.05-0.95 in steps of 0.01) of
    best weighted balanced accuracy, the first of equals."""
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2)
    scores = [weighted_balanced_accuracy(y, p >= t, w) or 0.0 for t in grid]
    best = int(np.argmax(scores))
    return float(grid[best]), float(scores[best])


def refer_band_of(p: np.ndarray, y: np.ndarray, w: np.ndarray, threshold: float,
                  rate: float = REFER_RATE) -> tuple[float, dict]:
    """``(half-width, figures)`` of the refer band around ``threshold`` on calibrated ``p`` with
    labels ``y`` and weights ``w`` (summing to 1): the smallest half-width (steps of 0.01, below
    0.5) holding at least ``rate`` of the weight. Figures: ``refer_rate`` (asked), ``refer_share``
    (held), ``wrong_calls_referred`` (the weighted share of the wrong calls inside the band; None
    without a wrong call) and ``balanced_accuracy_outside_refer_band``."""
    p, y, w = np.asarray(p, float), np.asarray(y, int), np.asarray(w, float)
    half = 0.0
    for h in np.round(np.arange(0.0, 0.5, 0.01), 2):
        half = float(h)
        if w[(p >= threshold - h) & (p <= threshold + h)].sum() >= rate:
            break
    inside = (p >= threshold - half) & (p <= threshold + half)
    wrong = (p >= threshold) != (y == 1)
    out = ~inside
    return half, {"refer_rate": float(rate), "refer_share": float(w[inside].sum()),
                  "wrong_calls_referred": float(w[wrong & inside].sum() / w[wrong].sum()) if w[wrong].sum() else None,
                  "balanced_accuracy_outside_refer_band": float(
                      weighted_balanced_accuracy(y[out], (p >= threshold)[out], w[out]) or 0.0) if out.any() else 0.0}


def fit_calibration(p_raw: np.ndarray, y: np.ndarray, datasets: np.ndarray) -> Calibration:
    """Fit calibrator, threshold and refer band on validation cells (see module docstring).

    ``p_raw``: the model's P(ALL) ``float (N,)`` in [0, 1]; ``y``: ``int (N,)`` (0 HEM, 1 ALL);
    ``datasets``: ``(N,)`` dataset names (each weighs the same).
    """
    y = np.asarray(y, int)
    w = balanced_weights(y, datasets)
    a, b = fit_platt(p_raw, y, w)
    p = sigmoid(a * logit(p_raw) + b)
    threshold, ba_at_threshold = best_threshold(y, p, w)
    half, band = refer_band_of(p, y, w, threshold)
    info = {
        "method": "Platt scaling on logit(P(ALL)), weighted so each dataset and each class within it count equally",
        "n_cells": int(len(y)), "datasets": sorted(set(np.asarray(datasets).tolist())),
        "ece_before": ece(y, p_raw, w), "ece_after": ece(y, p, w),
        "reliability_before": reliability(y, p_raw, w), "reliability_after": reliability(y, p, w),
        "balanced_accuracy_at_threshold": ba_at_threshold,
        **band,
    }
    return Calibration(a, b, threshold, half, True, info)


def fit_field_threshold(image_p: np.ndarray, y: np.ndarray, datasets: np.ndarray) -> tuple[float, float]:
    """Threshold on the mean cell P(ALL) of multi-cell validation images: ``(threshold, balanced acc.)``.

    ``image_p``: mean cell P(ALL) per image ``float (M,)`` in [0, 1]; ``y``: ``int (M,)``;
    ``datasets``: ``(M,)`` names. The threshold is on a 0.01 grid in [0.02, 0.98].
    """
    w = balanced_weights(np.asarray(y, int), datasets)
    grid = np.round(np.arange(0.02, 0.981, 0.01), 2)
    scores = [weighted_balanced_accuracy(np.asarray(y, int), np.asarray(image_p) >= t, w) or 0.0 for t in grid]
    k = int(np.argmax(scores))
    return float(grid[k]), float(scores[k])


def calibration_path(weights_dir: Path, name: str) -> Path:
    """``<weights_dir>/<name>.calibration.json``."""
    return Path(weights_dir) / artefact_file(name, "calibration")


def read_calibration(weights_dir: Path, name: str) -> Calibration:
    """The stored calibration of ``name``, or the identity (threshold :data:`DEFAULT_THRESHOLD`, no band) when absent."""
    path = calibration_path(weights_dir, name)
    if not path.is_file():
        return Calibration()
    return Calibration.from_json(json.loads(path.read_text()))
