"""The lab probe: does a model's head read the lab? (``evaluate``, ``lab-probe``)

Among cells of one class (normal cells of C-NMC, Aria, BCCD, wbcseg; blasts of C-NMC and Aria), a
linear classifier on what the model's head reads (the input of its ``logits`` layer) tries to tell
which lab each cell comes from. Its balanced accuracy, cross-validated group by group (a patient's or
a block's cells are all in one fold), is set beside chance (1 / number of labs): a model whose
features name the lab can learn "this lab's look" as an answer. Beside it, each lab's calibrated
P(ALL) distribution per class shows whether that is what the model does.

Cells: the whole cells (not cut by the image edge) of every image given whose labels make it
lymphoid (:func:`~leukemia_core.data.names.is_lymphoid`: a lab's neutrophils against another
lab's lymphocytes would be told apart by their type, not their lab), at most
:data:`MAX_CELLS` per (lab, class), drawn with a fixed seed; a lab enters a class's probe with at
least :data:`MIN_CELLS` cells in :data:`MIN_GROUPS` groups.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..cells.dataset import extract_cells
from ..data.datasets import LABELS, Record
from ..data.names import is_lymphoid

MAX_CELLS = 300
MIN_CELLS = 10
MIN_GROUPS = 2
FOLDS = 5
C = 0.1
QUANTILES = (5, 25, 50, 75, 95)


def sample_cells(labs: np.ndarray, y: np.ndarray, max_cells: int = MAX_CELLS, seed: int = 0) -> np.ndarray:
    """Indices of at most ``max_cells`` cells per (lab, class), drawn with ``seed``, in index order."""
    rng = np.random.default_rng(seed)
    keep = []
    for lab in sorted(set(labs)):
        for cls in (0, 1):
            idx = np.flatnonzero((labs == lab) & (y == cls))
            keep.append(idx if len(idx) <= max_cells else rng.choice(idx, max_cells, replace=False))
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, int)


def _quantiles(p: np.ndarray) -> dict:
    return {"n": int(len(p)), **{f"p{q}": float(np.percentile(p, q)) for q in QUANTILES}} if len(p) else {"n": 0}


def probe(x: np.ndarray, labs: np.ndarray, y: np.ndarray, groups: np.ndarray, p_all: np.ndarray | None = None,
          seed: int = 0) -> dict:
    """The probe on features ``x`` ``(N, F)`` of cells with their ``labs``, classes ``y`` (0 HEM,
    1 ALL) and ``groups``; ``p_all``: their calibrated P(ALL) (for the distributions).

    Returns:
        ``{"HEM": {...}, "ALL": {...}}``, each with ``labs`` (cells per lab), ``balanced_accuracy``
        and ``chance`` (None when fewer than two labs qualify), ``folds``, and ``p_all`` (per lab:
        ``n`` and percentiles) when ``p_all`` is given.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labs, y, groups = np.asarray(labs).astype(str), np.asarray(y, int), np.asarray(groups).astype(str)
    out = {}
    for cls, name in enumerate(LABELS):
        sel = y == cls
        counts = {str(lab): int((sel & (labs == lab)).sum()) for lab in sorted(set(labs[sel]))}
        ok = [lab for lab, n in counts.items()
              if n >= MIN_CELLS and len(set(groups[sel & (labs == lab)])) >= MIN_GROUPS]
        entry = {"labs": counts, "probed_labs": ok, "balanced_accuracy": None,
                 "chance": 1.0 / len(ok) if len(ok) >= 2 else None, "folds": 0}
        if len(ok) >= 2:
            k = sel & np.isin(labs, ok)
            folds = min(FOLDS, min(len(set(groups[k & (labs == lab)])) for lab in ok))
            model = make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=3000))
            cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
            guess = cross_val_predict(model, x[k], labs[k], groups=groups[k], cv=cv)
            entry.update(balanced_accuracy=float(balanced_accuracy_score(labs[k], guess)), folds=int(folds))
        if p_all is not None:
            entry["p_all"] = {lab: _quantiles(np.asarray(p_all)[sel & (labs == lab)]) for lab in counts}
        out[name.upper()] = entry
    return out


def probe_cells(records: Sequence[Record], predictor, max_cells: int = MAX_CELLS, seed: int = 0,
                cache_dir=None) -> dict:
    """Crop the whole cells of the lymphoid ``records`` as ``predictor``'s model reads them, and run
    :func:`probe` on its features and calibrated P(ALL) (the ``lab_probe`` entry of a report)."""
    loaded = predictor.loaded
    records = [r for r in records if is_lymphoid(r)]
    cs = extract_cells(records, loaded.input_size, loaded.cell_share, cache_dir, masked=loaded.mask_outside)
    whole = ~cs.border
    labs = np.array([cs.records[i].dataset for i in cs.image_index])[whole]
    groups = np.array([f"{cs.records[i].dataset}:{cs.records[i].group}" for i in cs.image_index])[whole]
    x, y = cs.x[whole], cs.y[whole]
    pick = sample_cells(labs, y, max_cells, seed)
    unit = x[pick].astype(np.float32) / np.float32(255.0)
    feats = predictor.features(unit)
    p_all = loaded.calibration.apply(predictor.predict(unit).astype(np.float64))
    result = probe(feats, labs[pick], y[pick], groups[pick], p_all, seed)
    return {"cells": int(len(pick)), "max_cells_per_lab_and_class": max_cells, "seed": seed, "lymphoid_only": True,
            "weights_sha256": loaded.manifest.get("weights_sha256"), "classes": result}


def _f(v, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def probe_table(reports: dict[str, dict]) -> str:
    """Markdown of the ``lab_probe`` entries of ``{model: report}``: per model and class, the probe's
    balanced accuracy against chance, and each lab's median P(ALL) (the ``lab-probe`` block)."""
    labs = sorted({lab for r in reports.values() for c in (r.get("lab_probe") or {}).get("classes", {}).values()
                   for lab in c.get("labs", {})})
    head = ["model", "cells of", "labs told apart (bal. acc.)", "chance"] + [f"median P(ALL), {lab}" for lab in labs]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
    for model, rep in reports.items():
        lp = rep.get("lab_probe")
        if not lp:
            continue
        for cls, c in lp["classes"].items():
            meds = [_f((c.get("p_all", {}).get(lab) or {}).get("p50"), 3) for lab in labs]
            lines.append("| " + " | ".join([f"`{model}`", cls, _f(c.get("balanced_accuracy")), _f(c.get("chance"))]
                                           + meds) + " |")
    return "\n".join(lines)
