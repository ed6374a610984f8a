"""The finder on single-cell images of other labs: ``cells-check --wbcseg``.

wbcseg (:mod:`leukemia_core.data.wbcseg`) holds one normal white cell per image from two labs, one of
them CellaVision-type with red cells around it, and an expert mask of each cell (nucleus and
cytoplasm). Per lab: the share of images in which the finder sees exactly one cell, how many of the
found cells are not the white cell (IoU < :data:`STRAY_IOU` with the expert mask: red cells,
fragments), and the outline's IoU with the expert mask (the found cell that overlaps it most; 0 when
none does), as a median and its share at or above :data:`GOOD_IOU`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.images import read_image
from ..data.wbcseg import read_mask, wbcseg_images
from .finder import cell_masks, find_cells

#: A found cell overlapping the expert mask less than this is not the white cell.
STRAY_IOU = 0.1
#: An outline at least this close to the expert mask is a good one.
GOOD_IOU = 0.85


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def check_wbcseg(root: Path, rows: list | None = None) -> dict:
    """Figures per lab and over both (see the module); ``rows``, when given, receives ``(errors,
    path, cells, [expert cell mask])`` per image for the contact sheet."""
    per_lab: dict[str, list] = {}
    for w in wbcseg_images(root):
        rgb = read_image(w.image)
        _, cell = read_mask(w.mask)
        cells = find_cells(rgb)
        ious = [_iou(m, cell) for m in cell_masks(rgb.shape, cells)]
        best = max(ious, default=0.0)
        stray = sum(i < STRAY_IOU for i in ious)
        per_lab.setdefault(w.lab, []).append((len(cells), best, stray))
        if rows is not None:
            rows.append((abs(len(cells) - 1) + (best < GOOD_IOU), w.image, cells, [cell]))
    out = {lab: _figures(v) for lab, v in sorted(per_lab.items())}
    out["all"] = _figures([x for v in per_lab.values() for x in v])
    return {"stray_iou": STRAY_IOU, "good_iou": GOOD_IOU, "by_lab": out}


def _figures(v: list) -> dict:
    counts = np.array([c for c, _, _ in v])
    best = np.array([b for _, b, _ in v])
    return {"n_images": len(v), "exactly_one": int((counts == 1).sum()),
            "share_exactly_one": float((counts == 1).mean()) if len(v) else None,
            "none_found": int((counts == 0).sum()), "stray_cells": int(sum(s for _, _, s in v)),
            "images_with_stray": int(sum(s > 0 for _, _, s in v)),
            "median_iou": float(np.median(best)) if len(v) else None,
            "share_iou_good": float((best >= GOOD_IOU).mean()) if len(v) else None,
            "cells_per_image": {str(k): int((counts == k).sum()) for k in sorted(set(counts.tolist()))}}
