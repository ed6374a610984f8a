"""One cell crop function, used by training, evaluation, prediction and the dashboard.

:func:`crop_cell` cuts a square around one found cell such that the cell's diameter is always
:data:`CELL_SHARE` of the crop's side, whatever the source magnification, then resizes it to the
model's input. A 224-px low-magnification field and a 450-px single-cell image thus give crops
in which the cell has the same size. Two ways, as the model's manifest says (``mask_outside``):

* masked: pixels outside the cell (dilated by a small margin) are set to black, so every crop looks
  like a C-NMC cell on black, and the background, red cells and neighbouring white cells are not
  shown to the model;
* with its surroundings (``train --with-surroundings``): the same square as the microscope shows
  it. The red cells around a white cell tell its size, and a model trained this way called far
  fewer of an unseen lab's normal cells ALL (docs/training.md, "Leave-BCCD-out").
"""

from __future__ import annotations

import cv2
import numpy as np

from ..data.preprocess import CELL_SHARE, pad_to_square  # noqa: F401  (CELL_SHARE: the crops' scale, re-exported)
from .finder import Cell
#: The mask is dilated by this share of the cell's diameter before the outside is blacked out.
MASK_MARGIN = 0.03


def cell_region_mask(shape: tuple[int, int], cell: Cell, margin: float = MASK_MARGIN) -> np.ndarray:
    """``uint8 (H, W)`` in {0, 1}: the cell's filled contour, dilated by ``margin`` x diameter."""
    mask = np.zeros(shape[:2], np.uint8)
    cv2.drawContours(mask, [cell.contour.reshape(-1, 1, 2).astype(np.int32)], -1, 1, thickness=cv2.FILLED)
    r = int(round(margin * cell.diameter))
    if r > 0:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return mask


def crop_box(cell: Cell, share: float = CELL_SHARE) -> tuple[int, int, int]:
    """``(x0, y0, side)`` of the square crop around ``cell`` (may extend past the image)."""
    side = max(4, int(round(cell.diameter / share)))
    x, y, w, h = cell.bbox
    cx, cy = x + w / 2.0, y + h / 2.0
    return int(round(cx - side / 2.0)), int(round(cy - side / 2.0)), side


def crop_cell(rgb: np.ndarray, cell: Cell, size: int, share: float = CELL_SHARE,
              mask_outside: bool = True) -> np.ndarray:
    """Crop one cell at the project's fixed cell scale.

    Args:
        rgb: ``uint8 (H, W, 3)``, the image ``cell`` was found in.
        cell: from :func:`leukemia_core.cells.finder.find_cells`.
        size: output side in pixels (the model's input size).
        share: the cell's diameter as a share of the crop side.
        mask_outside: black out everything but the (slightly dilated) cell.

    Returns:
        ``uint8 (size, size, 3)``; parts of the square outside the image are black.
    """
    h, w = rgb.shape[:2]
    src = rgb
    if mask_outside:
        src = rgb * cell_region_mask((h, w), cell)[..., None]
    x0, y0, side = crop_box(cell, share)
    out = np.zeros((side, side, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = src[sy0:sy1, sx0:sx1]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(out, (size, size), interpolation=interp)


def crop_cells(rgb: np.ndarray, cells: list[Cell], size: int, share: float = CELL_SHARE,
               mask_outside: bool = True) -> np.ndarray:
    """All cells of one image: ``uint8 (N, size, size, 3)`` (``N`` may be 0)."""
    if not cells:
        return np.zeros((0, size, size, 3), np.uint8)
    return np.stack([crop_cell(rgb, c, size, share, mask_outside) for c in cells])


def whole_image_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """Fallback when no cell is found: the whole image padded to square and resized, ``uint8``."""
    sq = pad_to_square(rgb)
    interp = cv2.INTER_AREA if sq.shape[0] > size else cv2.INTER_CUBIC
    return cv2.resize(sq, (size, size), interpolation=interp)
