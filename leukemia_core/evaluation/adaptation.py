"""Ways to carry a model to another lab's cells, measured: ``python -m leukemia_core adapt-check``.

A threshold fitted on our validation cells need not carry to another lab. Two remedies are
measured here on the validation and test roles, each on two kinds of batch, because a remedy that
helps on a mixed batch can hurt on a batch of normal cells only:

* **Reinhard colour matching** (E. Reinhard et al., "Color transfer between images", 2001), per
  crop, in Lab over the cell's pixels, to the mean and standard deviation of the training cells.
* **Batch-norm re-estimation** (Y. Li et al., "Revisiting batch normalization for practical domain
  adaptation", 2016): a copy of the model whose batch-norm statistics are re-estimated on one
  batch of the lab's unlabelled cells (the shipped model is never changed).

For each set: ROC AUC and balanced accuracy at the model's validated threshold on the whole set
("mixed" batch), and the share of cells called ALL when the batch holds only HEM cells
("HEM-only": the adaptation itself sees only normal cells).
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ..cells.dataset import extract_cells
from ..data.datasets import read_many
from ..data.pipeline import predict_array
from ..inference import load_model
from ..jsonio import write_json
from .evaluate import group_sets
from .metrics import compute_metrics


def lab_stats(crops: np.ndarray) -> dict:
    """Mean and std of L, a, b over the cell pixels of ``uint8 (N, S, S, 3)`` crops."""
    px = np.concatenate([cv2.cvtColor(c, cv2.COLOR_RGB2LAB).reshape(-1, 3)[c.reshape(-1, 3).max(1) > 8]
                         for c in crops]).astype(np.float64)
    return {"mean": px.mean(0).tolist(), "std": px.std(0).tolist()}


def reinhard(crops: np.ndarray, target: dict) -> np.ndarray:
    """Each crop's cell pixels matched in Lab to ``target`` (from :func:`lab_stats`); black stays black.

    ``crops``: ``uint8 (N, S, S, 3)`` RGB on black; returns ``uint8 (N, S, S, 3)``.
    """
    out = crops.copy()
    tm, ts = np.asarray(target["mean"]), np.asarray(target["std"])
    for i, c in enumerate(crops):
        cell = c.max(axis=2) > 8
        if cell.sum() < 2:
            continue
        lab = cv2.cvtColor(c, cv2.COLOR_RGB2LAB).astype(np.float64)
        px = lab[cell]
        px = (px - px.mean(0)) / (px.std(0) + 1e-6) * ts + tm
        lab[cell] = np.clip(px, 0, 255)
        rgb = cv2.cvtColor(lab.astype(np.uint8), cv2.COLOR_LAB2RGB)
        out[i] = rgb * cell[..., None]
    return out


def bn_adapted(model, crops: np.ndarray, batch_size: int = 256):
    """A copy of ``model`` whose batch-norm moving statistics are those of ``crops`` (uint8).

    Every batch-norm layer's momentum is set to 0 in the copy and one training-mode pass over (at
    most ``batch_size``) crops replaces its statistics; nothing else is trained.
    """
    # lazy: Keras imports TensorFlow (about 4 s here); the CLI's cheap commands import this module
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for layer in copy.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    rng = np.random.default_rng(0)
    idx = rng.choice(len(crops), min(batch_size, len(crops)), replace=False)
    copy(crops[idx].astype(np.float32) / 255.0, training=True)
    return copy


def _p(model, crops: np.ndarray, cal) -> np.ndarray:
    return cal.apply(predict_array(model, crops))


def _figures(y: np.ndarray, p: np.ndarray, thr: float) -> dict:
    m = compute_metrics(y, p, thr)
    return {"roc_auc": m["roc_auc"], "balanced_accuracy": m["balanced_accuracy"],
            "sensitivity": m["sensitivity"], "specificity": m["specificity"]}


def run_adapt_check(name: str, data: Sequence[str], out: Path | None = None, weights_dir=None,
                    cache_dir: Path | None = None, roles: Sequence[str] = ("val", "test")) -> dict:
    """Measure no adaptation, Reinhard matching and batch-norm re-estimation (see module docstring)."""
    loaded = load_model(name, weights_dir)
    cal, thr = loaded.calibration, loaded.calibration.threshold
    records = [r for r in read_many(list(data)) if r.part != "Segmented"]
    sets = group_sets(records)
    train = np.concatenate([extract_cells(v, loaded.input_size, loaded.cell_share, cache_dir, masked=loaded.mask_outside).x
                            for k, v in sets.items() if k.endswith("/train")])
    target = lab_stats(train[:: max(1, len(train) // 2000)])
    result = {"model": name, "threshold": thr, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "reinhard_target": target, "sets": {}}
    for key, recs in sets.items():
        if key.split("/")[-1] not in roles:
            continue
        cs = extract_cells(recs, loaded.input_size, loaded.cell_share, cache_dir, masked=loaded.mask_outside)
        x, y = cs.x[~cs.border], cs.y[~cs.border]
        hem = x[y == 0]
        row = {"n_cells": int(len(y)), "n_hem": int(len(hem))}
        base = _p(loaded.model, x, cal)
        row["none"] = {"mixed": _figures(y, base, thr), "hem_only_called_all": float(np.mean(base[y == 0] >= thr))}
        rx = reinhard(x, target)
        pr = _p(loaded.model, rx, cal)
        row["reinhard"] = {"mixed": _figures(y, pr, thr), "hem_only_called_all": float(np.mean(pr[y == 0] >= thr))}
        mixed_model = bn_adapted(loaded.model, x)
        hem_model = bn_adapted(loaded.model, hem) if len(hem) else None
        row["bn_reestimation"] = {
            "mixed": _figures(y, _p(mixed_model, x, cal), thr),
            "hem_only_called_all": float(np.mean(_p(hem_model, hem, cal) >= thr)) if hem_model is not None else None}
        result["sets"][key] = row
    if out is not None:
        write_json(Path(out), result)
    return result
