"""Score the white-cell finder against BCCD's human-drawn boxes, time it, and draw contact sheets.

A found cell matches a white-cell box when its centre lies inside the box and the IoU of its
bounding box with the box is at least :data:`BOX_IOU` (one-to-one, greedy by IoU). BCCD's boxes are
loose around the cell, hence the lower IoU than against Aria's masks.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from ..data.bccd import Box, white_cell_boxes
from ..data.datasets import read_dataset
from ..data.images import read_image
from .finder import Cell, find_cells

BOX_IOU = 0.3
#: Images per dataset on a contact sheet, worst first.
SHEET_IMAGES = 12
SHEET_TILE = 320
FOUND_RGB = (0, 200, 0)
REFERENCE_RGB = (230, 0, 0)


def match_boxes(cells: Sequence[Cell], boxes: Sequence[Box], iou_min: float = BOX_IOU) -> int:
    """Number of one-to-one matches of found ``cells`` to ``boxes`` (centre inside, IoU >= ``iou_min``)."""
    pairs = []
    for i, c in enumerate(cells):
        x, y, w, h = c.bbox
        for j, b in enumerate(boxes):
            if b.contains(*c.centre):
                iou = b.iou((x, y, x + w, y + h))
                if iou >= iou_min:
                    pairs.append((iou, i, j))
    return greedy_matches(pairs)


def greedy_matches(pairs: Sequence[tuple[float, int, int]]) -> int:
    """Number of one-to-one matches among candidate ``(iou, found index, reference index)`` pairs,
    taken highest IoU first (greedy)."""
    used_f, used_r, n = set(), set(), 0
    for _, i, j in sorted(pairs, reverse=True):
        if i not in used_f and j not in used_r:
            used_f.add(i)
            used_r.add(j)
            n += 1
    return n


def check_bccd(root: Path, role: str | None = None, limit: int | None = None) -> tuple[dict, list[tuple]]:
    """Score the finder on BCCD's images (``role``: one role only; ``None``: every image).

    Returns:
        ``(figures, per_image)``: figures are found, reference and matched cells, recall, precision
        (None without cells) and, over images with exactly one box, the share where exactly one cell
        is found; with ``role=None`` also ``by_role``, the same figures per role (the finder's
        settings were chosen on train and val, so test is the held-out figure); ``per_image`` rows
        ``(errors, path, cells, boxes)`` for the contact sheet, where errors = unmatched found
        cells + unmatched boxes.
    """
    recs = [r for r in read_dataset(Path(root)) if role is None or r.split == role][:limit]
    scored = []
    for r in recs:
        cells = find_cells(read_image(r.path))
        boxes = white_cell_boxes(root, r.path)
        scored.append((r.split, match_boxes(cells, boxes), r.path, cells, boxes))
    figures = {"role": role or "all", **_figures(scored)}
    if role is None:
        figures["by_role"] = {k: _figures([s for s in scored if s[0] == k])
                              for k in ("train", "val", "test") if any(s[0] == k for s in scored)}
    rows = [(len(cells) - m + len(boxes) - m, path, cells, boxes) for _, m, path, cells, boxes in scored]
    return figures, rows


def _figures(scored: Sequence[tuple]) -> dict:
    n_found = sum(len(s[3]) for s in scored)
    n_ref = sum(len(s[4]) for s in scored)
    n_match = sum(s[1] for s in scored)
    one = [s for s in scored if len(s[4]) == 1]
    one_ok = sum(len(s[3]) == 1 for s in one)
    return {"n_images": len(scored), "found": n_found, "reference": n_ref, "matched": n_match,
            "recall": n_match / n_ref if n_ref else None, "precision": n_match / n_found if n_found else None,
            "one_box_images": len(one), "share_exactly_one": one_ok / len(one) if one else None}


def finder_speed(images: Sequence[np.ndarray], repeats: int = 3, nucleus_gate: bool = True) -> float:
    """Images per second of :func:`find_cells` over ``images`` (best of ``repeats`` passes; 0.0
    without images)."""
    if not images:
        return 0.0
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for rgb in images:
            find_cells(rgb, nucleus_gate=nucleus_gate)
        best = min(best, time.perf_counter() - t)
    return len(images) / best if best > 0 else float("inf")


def _tile(path: Path, cells: Sequence[Cell], draw_reference: Callable[[np.ndarray], None], title: str) -> np.ndarray:
    rgb = read_image(path).copy()
    draw_reference(rgb)
    thick = max(1, round(max(rgb.shape[:2]) / 200))
    for c in cells:
        cv2.drawContours(rgb, [c.contour.reshape(-1, 1, 2).astype(np.int32)], -1, FOUND_RGB, thick)
    h, w = rgb.shape[:2]
    s = min(1.0, SHEET_TILE / max(h, w))  # never enlarged: the sheet shows the pixels the finder saw
    tile = np.full((SHEET_TILE + 22, SHEET_TILE, 3), 255, np.uint8)
    small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    tile[22:22 + small.shape[0], :small.shape[1]] = small
    cv2.putText(tile, title[:44], (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return tile


def contact_sheet(tiles: Sequence[np.ndarray], columns: int = 4) -> np.ndarray:
    """Tiles (``uint8 (h, w, 3)``, equal sizes) laid out in rows of ``columns``; white padding."""
    if not tiles:
        return np.full((40, SHEET_TILE, 3), 255, np.uint8)
    blank = np.full_like(tiles[0], 255)
    rows = [list(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    rows[-1] += [blank] * (columns - len(rows[-1]))
    return np.vstack([np.hstack(r) for r in rows])


def write_sheet(path: Path, tiles: Sequence[np.ndarray]) -> str:
    """Write the contact sheet PNG at ``path``; returns the path as a string."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(contact_sheet(tiles), cv2.COLOR_RGB2BGR))
    return str(path)


def bccd_tiles(rows: Sequence[tuple], n: int = SHEET_IMAGES) -> list[np.ndarray]:
    """Tiles of the ``n`` worst BCCD images: human boxes in red, found outlines in green."""
    def boxes_of(boxes):
        def draw(rgb):
            for b in boxes:
                cv2.rectangle(rgb, (b.x0, b.y0), (b.x1, b.y1), REFERENCE_RGB, 3)
        return draw
    worst = sorted(rows, key=lambda r: (-r[0], str(r[1])))[:n]
    return [_tile(p, cells, boxes_of(boxes), f"{p.name}: {len(cells)} found, {len(boxes)} boxes")
            for _, p, cells, boxes in worst]


def mask_tiles(rows: Sequence[tuple], n: int = SHEET_IMAGES) -> list[np.ndarray]:
    """Tiles of the ``n`` worst images scored against reference masks: rows
    ``(errors, path, cells, reference masks)``; reference outlines in red, found in green."""
    def masks_of(masks):
        def draw(rgb):
            for m in masks:
                cs, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
                cv2.drawContours(rgb, cs, -1, REFERENCE_RGB, 1)
        return draw
    worst = sorted(rows, key=lambda r: (-r[0], str(r[1])))[:n]
    return [_tile(p, cells, masks_of(masks), f"{p.parent.name}/{p.name}: {len(cells)} found, {len(masks)} ref")
            for _, p, cells, masks in worst]


def count_tiles(rows: Sequence[tuple], n: int = SHEET_IMAGES) -> list[np.ndarray]:
    """Tiles of single-cell images where the count is not one: rows ``(path, cells)``."""
    bad = sorted((r for r in rows if len(r[1]) != 1), key=lambda r: (-abs(len(r[1]) - 1), str(r[0])))[:n]
    return [_tile(p, cells, lambda rgb: None, f"{p.name}: {len(cells)} found") for p, cells in bad]
