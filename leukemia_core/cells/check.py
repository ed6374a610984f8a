"""Score the white-cell finder: ``python -m leukemia_core cells-check``.

* **Aria**: the dataset authors' Segmented images (white cells on black, from their colour
  threshold) give the reference cells of each Original field. A reference cell is a connected
  non-black region after a small opening and hole filling, of at least :data:`GT_MIN_AREA`
  pixels. A found cell matches a reference cell at IoU >= 0.5 (one-to-one, greedy by IoU).
  Reported: per-cell recall and precision over the chosen role (the test block by default).
  The reference is itself a colour threshold and has flaws (fragments, missed pale cells), so
  these figures bound the finder's agreement with it, not its truth.
* **C-NMC**: every image holds one segmented cell; reported is the share of images in which
  exactly one cell is found.
* **BCCD**: people drew a box around every white cell (see :mod:`leukemia_core.cells.bccd_check`).
* **wbcseg**: one normal white cell per image from two more labs, with an expert mask: one cell
  found, and its outline against the mask (see :mod:`leukemia_core.cells.wbcseg_check`).
* **Speed**: images per second at 224 px (Aria fields) and at 640 x 480 (BCCD), with the
  colour-only finder (no nucleus gate) timed on the same images in the same run as the baseline.

Each dataset also gets a contact sheet (PNG) of its worst images, found outlines in green over the
reference in red, so a person can look at the failures.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ..data.datasets import read_dataset
from ..data.images import read_image
from ..errors import LeukemiaCoreError
from ..jsonio import write_json
from . import bccd_check, wbcseg_check
from .finder import BLACK_LEVEL, cell_masks, channel_max, find_cells

#: Smallest reference cell (pixels) in a 224-px Aria Segmented image.
GT_MIN_AREA = 120
IOU_MATCH = 0.5


def reference_cells(segmented_rgb: np.ndarray) -> list[np.ndarray]:
    """Reference cell masks (``bool (H, W)`` each) from an Aria Segmented image."""
    mask = (channel_max(segmented_rgb) > BLACK_LEVEL + 12).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours:
        filled = np.zeros(mask.shape, np.uint8)
        cv2.drawContours(filled, [c], -1, 1, thickness=cv2.FILLED)
        if filled.sum() >= GT_MIN_AREA:
            out.append(filled.astype(bool))
    return out


def found_masks(rgb: np.ndarray, cells: list | None = None) -> list[np.ndarray]:
    """Masks of the cells :func:`find_cells` returns (or of ``cells``), ``bool (H, W)`` each."""
    return cell_masks(rgb.shape, find_cells(rgb) if cells is None else cells)


def match(found: Sequence[np.ndarray], reference: Sequence[np.ndarray], iou_min: float = IOU_MATCH) -> int:
    """Number of one-to-one matches at IoU >= ``iou_min`` (greedy, highest IoU first).

    ``found``, ``reference``: ``bool (H, W)`` masks of one cell each (same image size).
    Returns an ``int`` in ``[0, min(len(found), len(reference))]``.
    """
    pairs = []
    for i, f in enumerate(found):
        for j, r in enumerate(reference):
            inter = np.logical_and(f, r).sum()
            if inter:
                iou = inter / np.logical_or(f, r).sum()
                if iou >= iou_min:
                    pairs.append((iou, i, j))
    return bccd_check.greedy_matches(pairs)


def check_aria(root: Path, role: str = "test", limit: int | None = None, rows: list | None = None) -> dict:
    """Score the finder on Aria's ``role`` fields against their Segmented twins (``limit``: the
    first fields only): found, reference and matched cells (IoU >= 0.5), recall and precision (None
    without cells), in total and per subclass.

    Raises:
        LeukemiaCoreError: no Original field of ``role`` has a Segmented twin.

    ``rows``, when given, receives ``(errors, path, cells, reference masks)`` per field.
    """
    recs = read_dataset(root)
    seg = {(r.subclass, r.path.name): r for r in recs if r.part == "Segmented" and r.split == role}
    fields = [r for r in recs if r.part == "Original" and r.split == role and (r.subclass, r.path.name) in seg]
    if limit:
        fields = fields[:limit]
    if not fields:
        raise LeukemiaCoreError(f"{root}: no Aria Original fields with a Segmented twin in the {role} role")
    n_found = n_ref = n_match = 0
    per_subclass: dict[str, list[int]] = {}
    for r in fields:
        rgb = read_image(r.path)
        cells = find_cells(rgb)
        f = found_masks(rgb, cells)
        g = reference_cells(read_image(seg[(r.subclass, r.path.name)].path))
        m = match(f, g)
        if rows is not None:
            rows.append((len(f) - m + len(g) - m, r.path, cells, g))
        n_found, n_ref, n_match = n_found + len(f), n_ref + len(g), n_match + m
        acc = per_subclass.setdefault(r.subclass, [0, 0, 0])
        acc[0], acc[1], acc[2] = acc[0] + len(f), acc[1] + len(g), acc[2] + m
    return {"role": role, "n_fields": len(fields), "found": n_found, "reference": n_ref, "matched": n_match,
            "recall": n_match / n_ref if n_ref else None, "precision": n_match / n_found if n_found else None,
            "per_subclass": {s: {"found": a[0], "reference": a[1], "matched": a[2],
                                 "recall": a[2] / a[1] if a[1] else None,
                                 "precision": a[2] / a[0] if a[0] else None} for s, a in sorted(per_subclass.items())}}


def check_cnmc(root: Path, rows: list | None = None) -> dict:
    """Count the cells the finder sees in each C-NMC image (each holds exactly one): images,
    images with exactly one cell, its share (None without images) and a histogram ``{cells: images}``.
    ``rows``, when given, receives ``(path, cells)`` per image.
    """
    recs = read_dataset(root)
    found = [(r.path, find_cells(read_image(r.path))) for r in recs]
    if rows is not None:
        rows.extend(found)
    counts = [len(c) for _, c in found]
    hist = {str(k): counts.count(k) for k in sorted(set(counts))}
    return {"n_images": len(counts), "exactly_one": sum(c == 1 for c in counts),
            "share_exactly_one": sum(c == 1 for c in counts) / len(counts) if counts else None,
            "cells_per_image": hist}


def run_cells_check(aria: Path | None, cnmc: Path | None, out: Path | None = None, role: str = "test",
                    limit: int | None = None, bccd: Path | None = None, sheets: Path | None = None,
                    wbcseg: Path | None = None) -> dict:
    """Score the finder on the Aria role's fields, C-NMC images and every BCCD image; time it on the
    Aria fields (224 px) and BCCD images (640 x 480); write JSON to ``out`` and, with ``sheets``, one
    contact sheet PNG per dataset into that folder.
    """
    result = {"format": "leukemia_core.cells_check/2", "iou_match": IOU_MATCH, "reference_min_area": GT_MIN_AREA,
              "bccd_box_iou": bccd_check.BOX_IOU,
              "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "targets": {"recall": 0.95, "precision": 0.90, "cnmc_share_exactly_one": 1.0,
                          "bccd_recall": 0.97, "bccd_precision": 0.95, "bccd_share_exactly_one": 0.97,
                          "wbcseg_share_exactly_one": 0.99, "wbcseg_median_iou": 0.85,
                          "images_per_s_224": 150}}
    tiles, speed = {}, {}
    if aria:
        rows: list = []
        result["aria"] = {"data": str(aria), **check_aria(Path(aria), role, limit, rows)}
        tiles["aria"] = bccd_check.mask_tiles(rows)
        fields = [read_image(r[1]) for r in rows[:200]]
        speed["224"] = bccd_check.finder_speed(fields)
        speed["224_colour_only"] = bccd_check.finder_speed(fields, nucleus_gate=False)
    if cnmc:
        rows = []
        result["cnmc"] = {"data": str(cnmc), **check_cnmc(Path(cnmc), rows)}
        tiles["cnmc"] = bccd_check.count_tiles(rows)
    if bccd:
        figures, rows = bccd_check.check_bccd(Path(bccd), limit=limit)
        result["bccd"] = {"data": str(bccd), **figures}
        tiles["bccd"] = bccd_check.bccd_tiles(rows)
        smears = [read_image(r[1]) for r in rows[:100]]
        speed["640x480"] = bccd_check.finder_speed(smears)
        speed["640x480_colour_only"] = bccd_check.finder_speed(smears, nucleus_gate=False)
    if wbcseg:
        rows = []
        result["wbcseg"] = {"data": Path(wbcseg).name, **wbcseg_check.check_wbcseg(Path(wbcseg), rows)}
        tiles["wbcseg"] = bccd_check.mask_tiles(rows)
    if speed:
        result["images_per_s"] = {k: round(v, 1) for k, v in speed.items()}
    if sheets is not None:
        result["sheets"] = {k: bccd_check.write_sheet(Path(sheets) / f"cells_check_{k}.png", t)
                            for k, t in tiles.items()}
    if out is not None:
        write_json(Path(out), result)
    return result
