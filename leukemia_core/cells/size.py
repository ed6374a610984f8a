"""A white cell's size in red-cell diameters, where red cells are visible.

Every crop is scaled to the same cell size, so a model never sees how large a cell is. Size is
still one of the first things a haematologist reads: a small lymphocyte is about one red cell
across, a neutrophil about one and a half to two, a lymphoblast often two or more. Measured in red
cells of the same image the figure does not depend on the microscope's magnification or the
camera.

How the red-cell diameter is estimated: every pixel that differs from the background colour
(the median of the image's brightest pixels outside the white cells) by more than Otsu's
threshold is a cell; holes are filled (pale red-cell centres), the white cells found by the finder
are cut out, and the distance transform of what is left peaks once inside each red cell, at its
radius, whether the cell lies alone or in a clump of touching ones. The estimate is the median of
those peaks, each weighted by its area (specks and the necks between touching cells count
little); peaks whose circle would cross the image edge are left out. An image with fewer than
:data:`MIN_PEAKS` peaks, or a segmented cell on black, has no estimate.

Reference: N. Otsu, "A threshold selection method from gray-level histograms", IEEE SMC 1979.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .body import fill_holes
from .finder import Cell, is_segmented_on_black

#: Fewest distance-transform peaks (red cells, roughly) for an estimate.
MIN_PEAKS = 8
#: Smallest peak radius in pixels: below it a peak is a speck or JPEG noise.
MIN_RADIUS_PX = 2.0
#: Background colour: the median of pixels at least this percentile bright (outside white cells).
BACKGROUND_PERCENTILE = 80


@dataclass(frozen=True)
class RedCellScale:
    """The typical red-cell diameter of one image: ``diameter`` px, from ``peaks`` red-cell peaks."""

    diameter: float
    peaks: int


def cell_diameter(cell: Cell) -> float:
    """Diameter of the circle with the cell's area, px (a lobed or oval cell's mean width)."""
    return float(2.0 * np.sqrt(cell.area / np.pi))


def white_cell_mask(shape: tuple[int, int], cells: Sequence[Cell]) -> np.ndarray:
    """``uint8 (H, W)`` in {0, 1}: the filled outlines of ``cells``."""
    mask = np.zeros(shape, np.uint8)
    for c in cells:
        cv2.drawContours(mask, [c.contour.reshape(-1, 1, 2).astype(np.int32)], -1, 1, cv2.FILLED)
    return mask


def _hist_quantile(values: np.ndarray, q: float) -> int:
    """The ``q`` quantile (0-1, lower) of ``uint8`` values by their histogram (no sort)."""
    counts = np.cumsum(np.bincount(values, minlength=256))
    return int(np.searchsorted(counts, q * counts[-1]))


def foreground_mask(rgb: np.ndarray, white: np.ndarray) -> np.ndarray:
    """``uint8 (H, W)`` in {0, 1}: pixels unlike the background (cells of any kind), holes filled.

    The background colour and Otsu's threshold are taken outside ``white`` (the white cells), so
    a field full of dark white cells does not push the red cells into the background.
    """
    outside = white == 0
    if not outside.any():
        return np.zeros(rgb.shape[:2], np.uint8)
    lum = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    bright = outside & (lum >= _hist_quantile(lum[outside], BACKGROUND_PERCENTILE / 100))
    dist = np.zeros(rgb.shape[:2], np.float32)
    for ch in range(3):  # channel by channel: NumPy reduces a short last axis slowly
        plane = rgb[..., ch]
        d = plane.astype(np.float32) - np.float32(_hist_quantile(plane[bright], 0.5))
        dist += d * d
    dist = cv2.GaussianBlur(np.sqrt(dist), (0, 0), max(0.8, max(rgb.shape[:2]) / 400))
    d8 = np.clip(dist, 0, 255).astype(np.uint8)
    threshold, _ = cv2.threshold(d8[outside].reshape(-1, 1), 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return fill_holes((d8 > threshold).astype(np.uint8))


def red_cell_scale(rgb: np.ndarray, cells: Sequence[Cell]) -> RedCellScale | None:
    """The image's typical red-cell diameter, or ``None`` where it cannot be read (see the module).

    Args:
        rgb: ``uint8 (H, W, 3)``.
        cells: the white cells :func:`leukemia_core.cells.finder.find_cells` found in it.
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    if is_segmented_on_black(rgb):
        return None
    h, w = rgb.shape[:2]
    side = max(h, w)
    k = max(3, int(round(side / 150)) | 1)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    white = white_cell_mask((h, w), cells)
    red = cv2.morphologyEx(foreground_mask(rgb, white), cv2.MORPH_OPEN, disc)
    # white cells become background, dilated so a red cell touching one keeps its own outline
    red &= 1 - cv2.dilate(white, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    dist = cv2.distanceTransform(np.pad(red, 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    window = max(3, int(side / 60) | 1)
    peak = (dist >= cv2.dilate(dist, np.ones((window, window), np.uint8))) & (dist >= MIN_RADIUS_PX)
    ys, xs = np.nonzero(peak)
    r = dist[ys, xs]
    inside = (xs >= r) & (ys >= r) & (xs < w - r) & (ys < h - r)
    r = np.sort(r[inside])
    if len(r) < MIN_PEAKS:
        return None
    area = np.cumsum(r ** 2)
    return RedCellScale(diameter=float(2.0 * r[np.searchsorted(area, area[-1] / 2)]), peaks=int(len(r)))


def sizes_at(cells: Sequence[Cell], scale: RedCellScale | None) -> list[float | None]:
    """Each cell's :func:`cell_diameter` over ``scale``'s red-cell diameter; ``None`` without a
    scale, and for a cell cut by the image edge (its visible part is smaller than the cell)."""
    return [None if scale is None or c.touches_border else cell_diameter(c) / scale.diameter for c in cells]


def sizes_in_red_cells(rgb: np.ndarray, cells: Sequence[Cell]) -> list[float | None]:
    """Each cell's size in red cells of ``rgb`` (:func:`red_cell_scale`, then :func:`sizes_at`)."""
    return sizes_at(cells, red_cell_scale(rgb, cells))
