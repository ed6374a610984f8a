"""Statistics of a verification study: proportions with Wilson intervals, ROC AUC with a
bootstrap interval, and how many cells a target interval width needs.

* **Wilson score interval** (E. B. Wilson, JASA 1927; recommended over the Wald interval by
  R. G. Newcombe, Stat Med 1998;17:857-872 and by CLSI EP12 for sensitivity and specificity)::

      centre = (k + z²/2) / (n + z²),  half = z / (n + z²) * sqrt(k (n - k) / n + z²/4)

* **Balanced accuracy** ``(sensitivity + specificity) / 2``: its interval is the Wilson interval
  at the effective sample size ``n_eff = BA (1 - BA) / var`` with
  ``var = (Se (1 - Se) / n_ALL + Sp (1 - Sp) / n_HEM) / 4`` (the two recalls are independent
  binomials); when ``var`` is 0 (both recalls 0 or 1), ``n_eff = 4 / (1/n_ALL + 1/n_HEM)``.
* **ROC AUC**: the Mann-Whitney statistic (ties count half); its interval is the percentile
  bootstrap, resampling within each class (or whole groups, when cells of one image or patient
  must move together).
* **Cells needed**: the smallest ``n`` whose Wilson interval at an expected proportion is at most
  a target width.
"""

from __future__ import annotations

import math

import numpy as np

#: Two-sided 95 % normal quantile.
Z95 = 1.959963984540054
#: Below this many cells of a class the page and the report warn: the intervals are too wide to verify.
MIN_PER_CLASS = 20


def wilson(k: int, n: int, z: float = Z95) -> tuple[float | None, float | None, float | None]:
    """``(k / n, low, high)``: the proportion and its Wilson score interval; all None for ``n = 0``."""
    k, n = int(k), int(n)
    if n <= 0:
        return None, None, None
    if not 0 <= k <= n:
        raise ValueError(f"k = {k} is not between 0 and n = {n}")
    z2 = z * z
    centre = (k + z2 / 2) / (n + z2)
    half = z / (n + z2) * math.sqrt(k * (n - k) / n + z2 / 4)
    return k / n, max(0.0, centre - half), min(1.0, centre + half)


def wilson_width(p: float, n: float, z: float = Z95) -> float:
    """Full width of the Wilson interval for an observed proportion ``p`` out of ``n`` (continuous in ``n``)."""
    if n <= 0:
        return 1.0
    _, lo, hi = _wilson_real(p, n, z)
    return hi - lo


def cells_for_width(width: float, p: float = 0.9, z: float = Z95, limit: int = 1_000_000) -> int:
    """The smallest number of cells of a class whose Wilson interval at proportion ``p`` is at
    most ``width`` wide (e.g. 0.10 for ±5 points); ``limit`` when even that is not enough."""
    if not 0 < width <= 1:
        raise ValueError("the target width must be in (0, 1]")
    lo, hi = 1, limit
    if wilson_width(p, hi, z) > width:
        return limit
    while lo < hi:  # the width falls as n grows: bisect
        mid = (lo + hi) // 2
        if wilson_width(p, mid, z) <= width:
            hi = mid
        else:
            lo = mid + 1
    return lo


def balanced_accuracy(y: np.ndarray, called_all: np.ndarray) -> float | None:
    """Mean of sensitivity and specificity of the calls ``called_all`` (bool) for labels ``y``
    (0 HEM, 1 ALL); None when ``y`` holds one class only."""
    y, called_all = np.asarray(y), np.asarray(called_all, bool)
    if len(set(y.tolist())) < 2:
        return None
    return float((np.mean(called_all[y == 1]) + np.mean(~called_all[y == 0])) / 2)


def _proportion(k: int, n: int, z: float) -> dict:
    p, lo, hi = wilson(k, n, z)
    return {"value": p, "low": lo, "high": hi, "k": int(k), "n": int(n)}


def balanced_accuracy_interval(se: tuple[int, int], sp: tuple[int, int], z: float = Z95) -> dict:
    """Balanced accuracy from ``se = (ALL called ALL, ALL cells)`` and ``sp = (HEM called HEM,
    HEM cells)``, with the effective-n Wilson interval of the module docstring."""
    (k1, n1), (k0, n0) = se, sp
    if not n1 or not n0:
        return {"value": None, "low": None, "high": None, "n_eff": None}
    s1, s0 = k1 / n1, k0 / n0
    ba = (s1 + s0) / 2
    var = (s1 * (1 - s1) / n1 + s0 * (1 - s0) / n0) / 4
    n_eff = ba * (1 - ba) / var if var > 0 else 4 / (1 / n1 + 1 / n0)
    _, lo, hi = _wilson_real(ba, n_eff, z)
    return {"value": ba, "low": lo, "high": hi, "n_eff": float(n_eff)}


def _wilson_real(p: float, n: float, z: float) -> tuple[float, float, float]:
    """Wilson interval for a proportion ``p`` at a real-valued ``n`` (the effective sample size)."""
    z2 = z * z
    centre = (p * n + z2 / 2) / (n + z2)
    half = z / (n + z2) * math.sqrt(n * p * (1 - p) + z2 / 4)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def binary_figures(y: np.ndarray, called_all: np.ndarray, z: float = Z95) -> dict:
    """Sensitivity, specificity, PPV, NPV and balanced accuracy with 95 % intervals, and the
    confusion matrix.

    ``y``: ``int (N,)`` 0 HEM / 1 ALL; ``called_all``: ``bool (N,)``. Each proportion is
    ``{value, low, high, k, n}`` (None values when its denominator is 0). PPV and NPV hold at
    this sample's share of ALL only.
    """
    y = np.asarray(y, int)
    c = np.asarray(called_all, bool)
    tp, fn = int(np.sum((y == 1) & c)), int(np.sum((y == 1) & ~c))
    tn, fp = int(np.sum((y == 0) & ~c)), int(np.sum((y == 0) & c))
    return {
        "sensitivity": _proportion(tp, tp + fn, z), "specificity": _proportion(tn, tn + fp, z),
        "ppv": _proportion(tp, tp + fp, z), "npv": _proportion(tn, tn + fn, z),
        "balanced_accuracy": balanced_accuracy_interval((tp, tp + fn), (tn, tn + fp), z),
        "confusion_matrix": [[tn, fp], [fn, tp]],  # rows true (HEM, ALL), columns called (HEM, ALL)
        "n_all": tp + fn, "n_hem": tn + fp,
    }


def auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """ROC AUC as the Mann-Whitney statistic (ties count half); None with one class."""
    from scipy.stats import rankdata

    y = np.asarray(y, int)
    n1, n0 = int(np.sum(y == 1)), int(np.sum(y == 0))
    if not n1 or not n0:
        return None
    r = rankdata(np.asarray(p, float))
    return float((r[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def bootstrap_auc(y: np.ndarray, p: np.ndarray, groups: np.ndarray | None = None, n_boot: int = 1000,
                  seed: int = 0, level: float = 0.95) -> dict:
    """ROC AUC and its percentile-bootstrap interval: ``{value, low, high, n_boot}``.

    Without ``groups`` each class is resampled on its own (the class sizes stay fixed); with
    ``groups`` (``(N,)`` ids, e.g. the image of each cell) whole groups are resampled and draws
    holding one class only are skipped. All None with one class.
    """
    from scipy.stats import rankdata

    y, p = np.asarray(y, int), np.asarray(p, float)
    value = auc(y, p)
    if value is None:
        return {"value": None, "low": None, "high": None, "n_boot": 0}
    rng = np.random.default_rng(seed)
    if groups is None:
        pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        idx = np.concatenate([rng.choice(pos, (n_boot, len(pos))), rng.choice(neg, (n_boot, len(neg)))], axis=1)
        r = rankdata(p[idx], axis=1)
        n1, n0 = len(pos), len(neg)
        vals = (r[:, :n1].sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)
    else:
        ids, inv = np.unique(np.asarray(groups), return_inverse=True)
        members = [np.flatnonzero(inv == g) for g in range(len(ids))]
        vals = []
        for _ in range(n_boot):
            pick = np.concatenate([members[g] for g in rng.integers(0, len(ids), len(ids))])
            v = auc(y[pick], p[pick])
            if v is not None:
                vals.append(v)
        vals = np.asarray(vals)
    if not len(vals):
        return {"value": value, "low": None, "high": None, "n_boot": 0}
    a = (1 - level) / 2
    return {"value": value, "low": float(np.quantile(vals, a)), "high": float(np.quantile(vals, 1 - a)),
            "n_boot": int(len(vals))}


def best_threshold_balanced_accuracy(y: np.ndarray, p: np.ndarray) -> tuple[float | None, float | None]:
    """``(threshold, balanced accuracy)`` of the best cut of ``p`` for these labels (the oracle:
    chosen on the very cells it is scored on, so an upper bound); None with one class."""
    y, p = np.asarray(y, int), np.asarray(p, float)
    n1, n0 = int(np.sum(y == 1)), int(np.sum(y == 0))
    if not n1 or not n0:
        return None, None
    cuts = np.unique(np.concatenate([p, [np.inf]]))
    best_t, best = None, -1.0
    for t in cuts:  # call ALL at p >= t
        ba = (np.sum((y == 1) & (p >= t)) / n1 + np.sum((y == 0) & (p < t)) / n0) / 2
        if ba > best:
            best_t, best = float(t), float(ba)
    return best_t, best
