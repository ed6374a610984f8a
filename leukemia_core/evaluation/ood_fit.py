"""``python -m leukemia_core ood``: fit the feature check of a model and measure what it withholds.

The check (:func:`~leukemia_core.models.ood.fit_feature_reference`) is fitted on the features of
the training role's whole cells and its threshold on the validation role's, then stored in the
model's calibration file as ``feature_reference`` (run it after ``evaluate``, which rewrites that
file). Every labelled set given is then read as the app reads it: each cell gets ALL, HEM or NO CALL
(borderline: inside the refer band; outside: beyond the feature threshold), and the figures per set
are the **risk-coverage** of the calls: the share of cells given a call (coverage) and how often
those calls are right, against the accuracy of calling every cell, and how many of the wrong calls
were withheld. With ``left_out`` (a model trained without that lab), the lab's every image is one
``<lab>/left-out`` set and nothing of it is fitted on: the test of whether the check catches a lab
the model cannot read.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ..cells.dataset import extract_cells
from ..data.datasets import read_many
from ..data.splits import select
from ..errors import LeukemiaCoreError
from ..inference import Predictor, load_model
from ..jsonio import with_other_models, write_json
from ..models.calibration import calibration_path
from ..models.ood import feature_distances, fit_feature_reference
from ..paths import weights_dir_or_default
from .evaluate import leave_out

OOD_FORMAT = "leukemia_core.ood/1"
#: Cells per (lab, class) at most in the fit (drawn with a fixed seed): the reference needs means
#: and a spread, not every cell of a large lab.
MAX_FIT_CELLS = 2000


def _cells(records, pred: Predictor, cache_dir, max_cells: int | None = None, seed: int = 0):
    """Whole cells of ``records`` as ``pred`` reads them: ``(features, raw P(ALL), y, labs)``."""
    loaded = pred.loaded
    cs = extract_cells(records, loaded.input_size, loaded.cell_share, cache_dir, masked=loaded.mask_outside)
    keep = np.flatnonzero(~cs.border)
    labs = np.array([cs.records[i].dataset for i in cs.image_index])
    if max_cells:
        rng, pick = np.random.default_rng(seed), []
        for lab in sorted(set(labs[keep])):
            for cls in (0, 1):
                idx = keep[(labs[keep] == lab) & (cs.y[keep] == cls)]
                pick.append(idx if len(idx) <= max_cells else np.sort(rng.choice(idx, max_cells, replace=False)))
        keep = np.sort(np.concatenate(pick)) if pick else keep
    x = cs.x[keep].astype(np.float32) / np.float32(255.0)
    return pred.features(x), pred.predict(x).astype(np.float64), cs.y[keep].astype(int), labs[keep]


def risk_coverage(y: np.ndarray, p_cal: np.ndarray, outside: np.ndarray, threshold: float, band) -> dict:
    """Figures of one set's cells: calls at ``threshold``; NO CALL inside ``band`` (``(low, high)`` or
    None) or ``outside``. ``coverage``: share given a call; ``accuracy_called`` / ``accuracy_all``:
    right calls among those given / among all cells; ``wrong_withheld``: share of the wrong calls that
    became NO CALL; plus the balanced accuracy of the calls made."""
    called_all = p_cal >= threshold
    borderline = (p_cal >= band[0]) & (p_cal <= band[1]) if band else np.zeros(len(p_cal), bool)
    no_call = borderline | outside
    right = called_all == (y == 1)
    given = ~no_call
    out = {"cells": int(len(y)), "all_cells": int((y == 1).sum()), "borderline": int(borderline.sum()),
           "outside": int(outside.sum()), "coverage": float(given.mean()) if len(y) else None,
           "accuracy_all": float(right.mean()) if len(y) else None,
           "accuracy_called": float(right[given].mean()) if given.any() else None,
           "wrong": int((~right).sum()), "wrong_withheld": float(no_call[~right].mean()) if (~right).any() else None}
    sens = [right[given & (y == c)].mean() for c in (0, 1) if (given & (y == c)).any()]
    out["balanced_accuracy_called"] = float(np.mean(sens)) if len(sens) == 2 else None
    return out


def fit_and_measure(name: str, data: Sequence[str], weights_dir=None, left_out: Sequence[str] = (),
                    exclude_parts: Sequence[str] = ("Segmented",), cache_dir=None, write: bool = True) -> dict:
    """Fit ``name``'s feature check on ``data`` (train role; threshold on val), store it in its
    calibration file (unless ``write`` is False), and measure every set (see the module).

    Raises:
        LeukemiaCoreError: no training or no validation cells among ``data``.
    """
    wdir = weights_dir_or_default(weights_dir)
    loaded = load_model(name, wdir)
    pred = Predictor(loaded)
    records = leave_out([r for r in read_many(data) if r.part not in exclude_parts], left_out)
    train, val = select(records, ["train"]), select(records, ["val"])
    if not train or not val:
        raise LeukemiaCoreError(f"{name}: the feature check needs training and validation images among the data")
    cal = loaded.calibration
    f_tr, _, y_tr, labs_tr = _cells(train, pred, cache_dir, MAX_FIT_CELLS)
    f_val, p_val, _, _ = _cells(val, pred, cache_dir)
    ref = fit_feature_reference(f_tr, y_tr, labs_tr, f_val, cal.apply(p_val) >= cal.threshold)
    ref["weights_sha256"] = loaded.manifest.get("weights_sha256")
    cal = replace(cal, feature_reference=ref)
    if write:
        write_json(calibration_path(wdir, name), cal.to_json())
    band = cal.refer_band if cal.refer_half_width > 0 else None
    sets = {}
    for role in ("val", "test", "left-out"):
        part = select(records, [role])
        for lab in sorted({r.dataset for r in part}):
            f, p_raw, y, _ = _cells([r for r in part if r.dataset == lab], pred, cache_dir)
            p_cal = cal.apply(p_raw)
            d = feature_distances(ref, f, p_cal >= cal.threshold)
            sets[f"{lab}/{role}"] = {**risk_coverage(y, p_cal, d > ref["threshold"], cal.threshold, band),
                                     "curve": _curve(y, p_cal, d, cal.threshold)}
    return {"format": OOD_FORMAT, "model": name, "weights_sha256": loaded.manifest.get("weights_sha256"),
            "left_out": list(left_out), "threshold": cal.threshold, "refer_band": list(band) if band else None,
            "feature_threshold": ref["threshold"], "feature_percentile": ref["percentile"],
            "fitted_on": {"train_cells": int(len(y_tr)), "val_cells": int(len(f_val)),
                          "labs": sorted(set(labs_tr.tolist()))}, "sets": sets}


def _curve(y, p_cal, d, threshold, shares=(1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2)) -> list[dict]:
    """Risk-coverage by the feature distance alone: keep the nearest ``share`` of the cells."""
    right = (p_cal >= threshold) == (y == 1)
    order = np.argsort(d, kind="stable")
    out = []
    for s in shares:
        k = order[: max(1, int(round(s * len(order))))] if len(order) else order
        out.append({"coverage": s, "accuracy": float(right[k].mean()) if len(k) else None})
    return out


def write_result(result: dict, out: Path) -> None:
    """Write one model's result into ``out`` (``{"models": {key: result}}``), keeping the others."""
    key = result["model"] + (f" (without {', '.join(result['left_out'])})" if result["left_out"] else "")
    write_json(out, with_other_models(out, {"format": OOD_FORMAT, "models": {key: result}}, ()))


def _f(v, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def ood_table(doc: dict) -> str:
    """Markdown of an ``ood`` result file: per model and set, coverage and the accuracy of the calls
    made against calling every cell, and the share of wrong calls withheld (the ``ood`` block)."""
    head = ["model", "set", "cells", "given a call (coverage)", "accuracy of the calls made",
            "accuracy, every cell called",
            "wrong calls withheld", "NO CALL: borderline / outside"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
    for key, res in doc.get("models", {}).items():
        for set_key, s in res["sets"].items():
            lines.append("| " + " | ".join([f"`{key}`", set_key, str(s["cells"]), _f(s["coverage"]),
                                            _f(s["accuracy_called"]), _f(s["accuracy_all"]), _f(s["wrong_withheld"]),
                                            f"{s['borderline']} / {s['outside']}"]) + " |")
    return "\n".join(lines)
