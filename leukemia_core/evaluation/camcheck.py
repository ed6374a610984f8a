"""Explanation check on cell crops: how much of a model's CAM energy falls on the cell itself.

A model sees each white cell either alone on black or with its surroundings
(:mod:`leukemia_core.cells.crop`, the manifest's ``mask_outside``). The cell's mask in the crop is
the non-black pixels of the same cell cropped on black, whichever way the model crops. For cells of the **test** role (C-NMC fold_2,
Aria test block; never used to choose anything) we compute the map of the class each cell is
called (at the model's validated threshold) and the share of the map's energy inside the mask.
The mask's own area share is what a map spread evenly over the crop would reach; a model that
looks at the cell scores well above it. Target: >= 0.6.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Sequence

import numpy as np

from ..cells.dataset import extract_cells
from ..data.datasets import read_many
from ..errors import LeukemiaCoreError
from ..explain import create_explainer
from ..explain.maps import energy_inside
from ..inference import load_model
from ..models import list_models
from ..jsonio import write_json

#: A crop pixel brighter than this in some channel belongs to the cell.
MASK_LEVEL = 8
TARGET = 0.6


def crop_mask(crop: np.ndarray) -> np.ndarray:
    """``bool (S, S)``: the cell's pixels in a crop (``uint8 (S, S, 3)``, cell on black)."""
    return crop.max(axis=2) > MASK_LEVEL


def run_cam_check(models: Sequence[str], data: Sequence[str | Path], out: Path | None = None, weights_dir=None,
                  method: str = "gradcam", limit: int | None = 400, batch_size: int = 32,
                  cache_dir: Path | None = None, seed: int = 0) -> dict:
    """Share of CAM energy on the cell, per model, on at most ``limit`` test cells per dataset.

    Returns (and writes to ``out``)::

        {"method", "data", "role": "test", "n_cells", "mask_area_mean", "target",
         "models": {name: {"mean_energy_on_cells", "median_energy_on_cells", "share_of_cells_above_0.6",
                           "mask_area_mean", "n_cells", "n_flat_maps", "per_dataset": {...}}}}
    """
    names = list_models() if list(models) == ["all"] else list(models)
    recs = [r for r in read_many([str(d) for d in data]) if r.split == "test" and r.part != "Segmented"]
    if not recs:
        raise LeukemiaCoreError(f"{', '.join(map(str, data))}: no images in the test role")
    result = {"method": method, "data": [str(d) for d in data], "role": "test", "target": TARGET,
              "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "models": {}}
    rng = np.random.default_rng(seed)
    for name in names:
        loaded = load_model(name, weights_dir)
        cs = extract_cells(recs, loaded.input_size, loaded.cell_share, cache_dir, masked=loaded.mask_outside)
        # the cell's mask comes from the same cells cropped on black (identical for a masked model)
        masks = cs if loaded.mask_outside else extract_cells(recs, loaded.input_size, loaded.cell_share, cache_dir)
        ds = np.array([cs.records[i].dataset for i in cs.image_index])
        pick = []
        for d in sorted(set(ds.tolist())):
            idx = np.flatnonzero(ds == d)
            pick.extend(sorted(rng.choice(idx, min(limit or len(idx), len(idx)), replace=False)))
        pick = np.array(pick, int)
        ex = create_explainer(loaded.model, loaded.cam_layer, method)
        raw_thr = loaded.calibration.raw_threshold(loaded.calibration.threshold)
        shares, areas, dsets, flat = [], [], [], 0
        for i in range(0, len(pick), batch_size):
            idx = pick[i:i + batch_size]
            x = cs.x[idx].astype(np.float32) / 255.0
            _, maps = ex.explain_called(x, raw_thr)
            for j, cam in zip(idx, maps):
                mask = crop_mask(masks.x[j])
                share = energy_inside(cam, mask)
                areas.append(float(mask.mean()))
                if share is None:
                    flat += 1
                    continue
                shares.append(share)
                dsets.append(ds[j])
        s, dsets = np.array(shares), np.array(dsets)
        per = {d: {"n_cells": int((dsets == d).sum()), "mean_energy_on_cells": float(s[dsets == d].mean())}
               for d in sorted(set(dsets.tolist()))}
        result["models"][name] = {
            "input_size": loaded.input_size, "n_cells": len(shares), "n_flat_maps": flat,
            "mean_energy_on_cells": float(s.mean()) if len(s) else None,
            "median_energy_on_cells": float(np.median(s)) if len(s) else None,
            f"share_of_cells_above_{TARGET}": float(np.mean(s >= TARGET)) if len(s) else None,
            "mask_area_mean": float(np.mean(areas)), "per_dataset": per,
        }
    result["mask_area_mean"] = float(np.mean([m["mask_area_mean"] for m in result["models"].values()]))
    if out is not None:
        write_json(Path(out), result)
    return result
