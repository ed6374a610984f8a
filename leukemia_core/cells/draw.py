"""Drawing found cells for people: outlines numbered in the colour of their call.

Colours (RGB): ALL red, HEM blue, NO CALL gray; cells in the refer band get an amber ring outside
their outline.
"""

from __future__ import annotations

import cv2
import numpy as np

from .finder import Cell

CALL_RGB = {"ALL": (214, 39, 40), "HEM": (31, 119, 180), "NO CALL": (110, 110, 110)}
REFER_RGB = (255, 176, 0)


def draw_cells(rgb: np.ndarray, cells: list[Cell], calls: list[str], refer: list[bool] | None = None,
               max_side: int = 900) -> np.ndarray:
    """A display copy of ``rgb`` (``uint8 (H, W, 3)``) with each cell outlined and numbered.

    Args:
        cells: from :func:`leukemia_core.cells.finder.find_cells`.
        calls: ``"ALL"``/``"HEM"``/``"NO CALL"`` per cell.
        refer: per cell, whether its P(ALL) is in the refer band (amber ring).
        max_side: the copy is scaled so that its longer side is at most this (and at least 448 px,
            so that numbers stay legible on small fields).

    Returns:
        ``uint8 (h, w, 3)`` RGB, a new array (``rgb`` is not changed).
    """
    h, w = rgb.shape[:2]
    scale = min(max_side / max(h, w), max(1.0, 448 / max(h, w)))
    out = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                     interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC) if scale != 1 else rgb.copy()
    thick = max(1, round(max(out.shape[:2]) / 300))
    refer = refer or [False] * len(cells)
    for cell, call, ref in zip(cells, calls, refer):
        pts = np.round(cell.contour.astype(np.float64) * scale).astype(np.int32).reshape(-1, 1, 2)
        if ref:
            cv2.drawContours(out, [pts], -1, REFER_RGB, thick * 6)
        cv2.drawContours(out, [pts], -1, CALL_RGB[call], thick + 1)
        x, y, bw, bh = (round(v * scale) for v in cell.bbox)
        label = str(cell.id)
        size = 0.45 * max(1.0, max(out.shape[:2]) / 450)
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, size, thick)
        tx, ty = min(max(0, x), out.shape[1] - tw - 2), max(th + 2, y - 3)
        cv2.rectangle(out, (tx - 1, ty - th - 2), (tx + tw + 1, ty + 2), (255, 255, 255), -1)
        cv2.putText(out, label, (tx, ty), cv2.FONT_HERSHEY_SIMPLEX, size, CALL_RGB[call], thick, cv2.LINE_AA)
    return out
