"""Explanation check: how much of a model's CAM energy falls on white cells.

On the Aria test block (the last 20 % of file numbers per subclass, never used to choose
anything), each Original field has a Segmented version made by the dataset's
authors (white cells kept, everything else black). Thresholding it (any channel > 20), closing
small holes and filling each cell gives a cell mask. For every field we compute the model's
Grad-CAM (for the class it predicts) and the share of the map's total energy inside the mask.
The mask's own area share is the level a map spread evenly over the image would reach; a model
that looks at cells scores well above it.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .datasets import read_aria
from .errors import LeukemiaCoreError
from .images import read_image
from .preprocess import pad_to_square

MASK_THRESHOLD = 20


def cell_mask(segmented_rgb: np.ndarray, size: int) -> np.ndarray:
    """Boolean ``(size, size)`` cell mask from a Segmented image (same geometry as ``prepare``)."""
    img = pad_to_square(segmented_rgb)
    raw = (img.max(axis=2) > MASK_THRESHOLD).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    closed = cv2.morphologyEx(raw, cv2.MORPH_CLOSE, kernel)
    contours, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(closed)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return cv2.resize(filled, (size, size), interpolation=cv2.INTER_NEAREST) > 0


def run_cam_check(models: Sequence[str], data: str | Path, out: Path | None = None, weights_dir=None,
                  method: str = "gradcam", limit: int | None = None, batch_size: int = 16) -> dict:
    """Share of CAM energy on cells, per model, on the Aria ``test`` block.

    Returns (and writes to ``out``)::

        {"method", "data", "set", "n_fields", "mask_area_mean",
         "models": {name: {"mean_energy_on_cells", "median_energy_on_cells",
                           "share_of_fields_above_0.8", "n_images", "per_image": [...]}}}
    """
    from .explain import Explainer, energy_inside
    from .inference import Predictor, load_model
    from .models import list_models

    names = list_models() if list(models) == ["all"] else list(models)
    recs = read_aria(Path(data))
    segmented = {r.path.name: r for r in recs if r.part == "Segmented" and r.split == "test"}
    fields = [r for r in recs if r.part == "Original" and r.split == "test" and r.path.name in segmented]
    if not fields:
        raise LeukemiaCoreError(f"{data}: no Original fields with a Segmented version in the test block")
    if limit:
        step = max(1, len(fields) // limit)
        fields = fields[::step][:limit]
    result = {"method": method, "data": str(data), "set": "aria-original/test", "n_fields": len(fields),
              "mask_threshold": MASK_THRESHOLD,
              "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "models": {}}
    originals = [read_image(r.path) for r in fields]
    seg_images = [read_image(segmented[r.path.name].path) for r in fields]
    for name in names:
        loaded = load_model(name, weights_dir)
        pred = Predictor(loaded)
        ex = Explainer(loaded.model, loaded.cam_layer, method)
        masks = [cell_mask(s, loaded.input_size) for s in seg_images]
        x = np.stack([pred.prepare(o) for o in originals])
        shares, areas, rows = [], [], []
        for i in range(0, len(x), batch_size):
            # each field's map explains the class it is called as
            p, maps = ex.explain_called(x[i:i + batch_size])
            for j, cam in enumerate(maps):
                k = i + j
                share = energy_inside(cam, masks[k])
                rows.append({"path": str(fields[k].path), "p_all": round(float(p[j]), 4),
                             "energy_on_cells": None if share is None else round(share, 4),
                             "mask_area": round(float(masks[k].mean()), 4)})
                if share is not None:
                    shares.append(share)
                areas.append(float(masks[k].mean()))
        s = np.array(shares) if shares else np.array([np.nan])
        result["models"][name] = {
            "input_size": loaded.input_size,
            "n_images": len(shares),
            "n_flat_maps": len(rows) - len(shares),
            "mean_energy_on_cells": float(np.nanmean(s)),
            "median_energy_on_cells": float(np.nanmedian(s)),
            "share_of_fields_above_0.8": float(np.mean(s >= 0.8)) if shares else None,
            "mask_area_mean": float(np.mean(areas)),
            "per_image": rows,
        }
    result["mask_area_mean"] = float(np.mean([cell_mask(s, 128).mean() for s in seg_images]))
    if out is not None:
        from .weights import write_json

        write_json(Path(out), result)
    return result
