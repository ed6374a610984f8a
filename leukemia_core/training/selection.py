"""Choosing the epoch across labs: the validation score every training run maximises.

Each validation dataset (lab) is scored on its own cells and the score is their mean ROC AUC, so a
model that ranks one lab's cells well but another's badly is not chosen over one that ranks both.
"""

from __future__ import annotations

import numpy as np

from ..cells.dataset import CellSet
from ..evaluation.metrics import compute_metrics
from ..models.calibration import DEFAULT_THRESHOLD


def cell_datasets(cells: CellSet) -> np.ndarray:
    """Dataset name (``aria``, ``cnmc``, ``folder``) of every cell, ``str (N,)``."""
    return np.array([cells.records[i].dataset for i in cells.image_index])


def validation_score(y: np.ndarray, p: np.ndarray, datasets: np.ndarray) -> dict:
    """Per-dataset cell metrics and the selection score: the mean ROC AUC over the validation
    datasets, each weighted by the square root of its number of cells.

    A dataset of one class (BCCD: normal cells only) is ranked against the other class's cells of
    the *other* datasets: its AUC says whether another lab's normal cells score below the ALL cells,
    the cross-lab ranking a deployed model needs; its share called ALL at 0.5 is reported beside it.

    An AUC's standard error shrinks like one over the square root of the number of cells: with equal
    weights, 17 C-NMC validation cells (AUC 0.26-0.94 between epochs) chose the epoch by chance.

    ``y``: ``int (N,)`` (0 HEM, 1 ALL); ``p``: P(ALL) ``float (N,)``; ``datasets``: ``(N,)`` names.
    ``{}`` when nothing can be scored.
    """
    out, aucs, weights = {}, [], []
    for name in sorted(set(datasets.tolist())):
        sel = datasets == name
        classes = set(y[sel].tolist())
        if len(classes) == 1:
            other = 1 - classes.pop()
            against = (~sel) & (y == other)
            out[f"val_{name}_called_all"] = float(np.mean(p[sel] >= DEFAULT_THRESHOLD))
            if not against.any():
                continue
            pool = sel | against
            m = compute_metrics(y[pool], p[pool], DEFAULT_THRESHOLD)
        else:
            m = compute_metrics(y[sel], p[sel], DEFAULT_THRESHOLD)
            out[f"val_{name}_balanced_accuracy"] = m["balanced_accuracy"]
        out[f"val_{name}_auc"] = m["roc_auc"]
        if m["roc_auc"] is not None:
            aucs.append(m["roc_auc"])
            weights.append(np.sqrt(sel.sum()))
    if aucs:
        out["val_score"] = float(np.average(aucs, weights=weights))
    return out


#: At most this many validation cells per dataset are scored after each epoch (a fixed subset).
MONITOR_CELLS = 1500


def monitor_subset(datasets: np.ndarray, per_dataset: int, seed: int = 0) -> np.ndarray:
    """Boolean mask keeping at most ``per_dataset`` cells of each dataset (fixed random choice).

    ``datasets``: ``(N,)`` names; returns ``bool (N,)``.
    """
    keep = np.zeros(len(datasets), bool)
    rng = np.random.default_rng(seed)
    for name in sorted(set(datasets.tolist())):
        idx = np.flatnonzero(datasets == name)
        keep[idx if len(idx) <= per_dataset else rng.choice(idx, per_dataset, replace=False)] = True
    return keep
