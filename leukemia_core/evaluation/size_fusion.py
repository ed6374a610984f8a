"""Does a cell's size in red-cell diameters add to a model's P(ALL)? (``size-fusion``)

Every crop is scaled to one cell size, so no model sees how large a cell is; a blast is larger
than a small lymphocyte and smaller than most granulocytes and monocytes. This measures the size
as a feature beside a trained model, without training it again: on the cells whose size can be
measured (smear fields with red cells: Aria and BCCD; C-NMC's segmented cells on black have none),

* **model alone**: a weighted logistic fit of the label on ``logit(P(ALL))``;
* **model + size**: the same fit on ``logit(P(ALL))``, ``size`` and ``size²`` (a blast is neither
  the smallest nor the largest white cell, so a straight line in size cannot say it),

both fitted (nearly unregularised: three features, thousands of cells) on the **validation**
cells, each lab and each class within a lab weighing the same as the calibration does, with a
threshold of best weighted balanced accuracy there; both are then scored on the **test** cells, which chose nothing: Aria's cells ALL against HEM (field labels),
Aria's ALL cells against BCCD's normal cells (ROC AUC, intervals resampling whole images), and
the share of BCCD's normal cells called ALL. Cells cut by the image edge are left out.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Sequence

import numpy as np

from ..cells.analyze import ImageCells
from ..data.datasets import read_many
from ..data.images import read_image
from ..errors import LeukemiaCoreError
from ..models.calibration import balanced_weights, best_threshold, logit
from ..jsonio import with_other_models, write_json

FORMAT = "leukemia_core.size_fusion/1"
ARMS = ("model_alone", "model_and_size")


def measure_cells(records, predictor) -> list[dict]:
    """One row per found cell not cut by the edge and with a size: dataset, label, image, role,
    the model's raw P(ALL) and the size in red-cell diameters."""
    rows = []
    for r in records:
        found = ImageCells(read_image(r.path)).for_model(predictor)
        keep = [i for i, (c, s) in enumerate(zip(found.cells, found.sizes)) if s is not None and not c.touches_border]
        if not keep:  # no forward pass for an image without a sized cell (C-NMC's, a bare field)
            continue
        p = predictor.predict(found.crops[keep].astype(np.float32) / np.float32(255.0))
        for i, p_raw in zip(keep, np.asarray(p, float)):
            rows.append({"dataset": r.dataset, "label": r.label, "image": str(r.path), "role": r.split,
                         "p_raw": float(p_raw), "size": float(found.sizes[i])})
    return rows


def features(rows: Sequence[dict], arm: str) -> np.ndarray:
    """``float (N, F)``: ``logit(P(ALL))``, with ``size`` and ``size²`` for ``model_and_size``."""
    z = logit(np.array([r["p_raw"] for r in rows], float))[:, None]
    if arm == "model_alone":
        return z
    s = np.array([r["size"] for r in rows], float)[:, None]
    return np.hstack([z, s, s ** 2])


def fit_arm(rows: Sequence[dict], arm: str):
    """The arm's logistic fit and threshold on validation rows: ``(model, threshold, val figures)``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.array([r["label"] == "all" for r in rows], int)
    w = balanced_weights(y, np.array([r["dataset"] for r in rows]))
    x = features(rows, arm)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1e4, max_iter=5000))
    model.fit(x, y, logisticregression__sample_weight=w * len(y))
    threshold, ba = best_threshold(y, model.predict_proba(x)[:, 1], w)
    return model, threshold, {"cells": len(y), "weighted_balanced_accuracy": round(ba, 4)}


def score_test(rows: Sequence[dict], model, threshold: float, arm: str, n_boot: int = 1000) -> dict:
    """The arm's test figures (module docstring) on ``rows``."""
    # the image-resampling bootstrap is the verification layer's (above this one): imported here
    from ..stats import bootstrap_auc

    p = model.predict_proba(features(rows, arm))[:, 1]
    ds = np.array([r["dataset"] for r in rows])
    y = np.array([r["label"] == "all" for r in rows], int)
    images = np.array([r["image"] for r in rows])

    def ranked(keep: np.ndarray) -> dict | None:
        if len(set(y[keep].tolist())) < 2:
            return None
        b = bootstrap_auc(y[keep], p[keep], groups=images[keep], n_boot=n_boot)
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in b.items()}

    def called(keep: np.ndarray) -> float | None:
        return round(float((p[keep] >= threshold).mean()), 4) if keep.any() else None

    bccd = ds == "bccd"
    aria = ds == "aria"
    return {"aria_all_vs_hem_auc": ranked(aria), "aria_all_vs_bccd_auc": ranked((aria & (y == 1)) | bccd),
            "bccd_called_all": called(bccd), "aria_hem_called_all": called(aria & (y == 0)),
            "aria_all_called_all": called(aria & (y == 1)),
            "cells": {d: int((ds == d).sum()) for d in sorted(set(ds.tolist()))}}


def run_size_fusion(models: Sequence[str], data: Sequence[str], out: Path | None = None, weights_dir=None,
                    limit: int | None = None, n_boot: int = 1000) -> dict:
    """Both arms for each model on the val and test images of ``data``; writes ``out`` (JSON).

    ``limit``: at most this many images per dataset and role (evenly spaced), for a quick look.
    """
    from ..inference import Predictor, load_model

    records = [r for r in read_many([str(d) for d in data]) if r.split in ("val", "test") and r.part != "Segmented"]
    if limit:
        picked = []
        for key in sorted({(r.dataset, r.split) for r in records}):
            recs = [r for r in records if (r.dataset, r.split) == key]
            picked += recs[::max(1, len(recs) // limit)][:limit]
        records = picked
    result = {"format": FORMAT, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "data": [str(d) for d in data], "fitted_on": "val", "scored_on": "test", "models": {}}
    if limit:  # a quick look: recorded, so that it never mixes with a full run's models
        result["limit"] = limit
    for name in models:
        rows = measure_cells(records, Predictor(load_model(name, weights_dir)))
        val, test = [r for r in rows if r["role"] == "val"], [r for r in rows if r["role"] == "test"]
        if not val or not test or len({r["label"] for r in val}) < 2:
            raise LeukemiaCoreError(f"{name}: sized cells of both classes in val and cells in test are needed")
        result["models"][name] = {}
        for arm in ARMS:
            model, thr, fit = fit_arm(val, arm)
            result["models"][name][arm] = {"threshold": thr, "val": fit,
                                           "test": score_test(test, model, thr, arm, n_boot)}
    if out is not None:
        result = with_other_models(Path(out), result, ("format", "data", "fitted_on", "scored_on", "limit"))
        write_json(Path(out), result)
    return result
