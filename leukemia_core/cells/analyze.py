"""Classify an image cell by cell: find its white cells, crop each at the fixed scale, score each
crop, and sum up the image.

The image's P(ALL) is the mean calibrated P(ALL) of its whole cells (cells cut by the image edge
count only when there is no other); an image of one cell takes that cell's call, an image of
several cells is called ALL when the mean reaches the field threshold (both thresholds chosen on
validation, see :mod:`leukemia_core.models.calibration`). An image in which no white cell is found is classified whole
(padded to square and resized), and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..models.calibration import Calibration
from ..models.ood import NOTE_OOD, is_outside
from .crop import CELL_SHARE, crop_cells, whole_image_crop
from .finder import Cell, find_cells

#: A side shorter than this (px) cannot show a white cell at any usual magnification.
MIN_IMAGE_SIDE = 24

NOTE_NO_CELL = "no white cell found: the whole image was classified instead; check by eye"
NOTE_GRAYSCALE = "grayscale image: the models were trained on stained colour images; check by eye"
NOTE_TOO_SMALL = "image too small to hold a white cell at the model's scale; check by eye"
NOTE_CROWDED = ("more white cells found than a smear field holds: the finder may be outlining red cells "
                "in a stain it does not read; check the outlines by eye")

#: More cells than this in one image is more than a smear field holds (Aria's densest leukemic
#: fields, packed with blasts, hold up to 32 found cells in 2,766 fields).
MAX_FIELD_CELLS = 40
#: Found cells covering more than this share of the image is more than white cells cover in a
#: smear field (at most 0.29 in Aria's fields, 0.20 in BCCD's).
MAX_CELL_COVER = 0.45


@dataclass
class FoundCells:
    """The white cells of one image and their crops (shared by every model of the same input size)."""

    cells: list[Cell]
    crops: np.ndarray  # uint8 (N, S, S, 3); one whole-image crop when no cell was found
    whole_image: bool
    notes: list[str] = field(default_factory=list)


def is_grayscale(rgb: np.ndarray, tol: int = 3) -> bool:
    """True when the three channels are (nearly) equal everywhere.

    ``rgb``: ``uint8 (H, W, 3)``; every 4th pixel each way is compared, channels within ``tol``.
    """
    sample = rgb[::4, ::4].astype(np.int16)
    return bool(np.abs(sample[..., 0] - sample[..., 1]).max() <= tol and np.abs(sample[..., 1] - sample[..., 2]).max() <= tol)


def find_and_crop(rgb: np.ndarray, size: int, share: float = CELL_SHARE) -> FoundCells:
    """Find the white cells of ``rgb`` (``uint8 (H, W, 3)``) and crop each to ``size`` px."""
    notes = []
    if min(rgb.shape[:2]) < MIN_IMAGE_SIDE:
        notes.append(NOTE_TOO_SMALL)
    if is_grayscale(rgb):
        notes.append(NOTE_GRAYSCALE)
    cells = find_cells(rgb) if not notes or NOTE_TOO_SMALL not in notes else []
    if not cells:
        if NOTE_TOO_SMALL not in notes:
            notes.append(NOTE_NO_CELL)
        return FoundCells([], whole_image_crop(rgb, size)[None], True, notes)
    if is_crowded(cells, rgb.shape[0] * rgb.shape[1]):
        notes.append(NOTE_CROWDED)
    return FoundCells(cells, crop_cells(rgb, cells, size, share), False, notes)


def is_crowded(cells: list[Cell], image_area: int) -> bool:
    """True when ``cells`` are more (:data:`MAX_FIELD_CELLS`) or cover more of an image of
    ``image_area`` px (:data:`MAX_CELL_COVER`) than white cells do in a smear field."""
    return len(cells) > MAX_FIELD_CELLS or sum(c.area for c in cells) > MAX_CELL_COVER * image_area


@dataclass
class ImageAnalysis:
    """One model's reading of one image.

    Attributes:
        found: the cells and crops.
        p_raw: ``float (N,)`` the model's P(ALL) per crop.
        p_all: ``float (N,)`` calibrated P(ALL) per crop.
        calibration: the model's calibration (threshold, refer band).
    """

    found: FoundCells
    p_raw: np.ndarray
    p_all: np.ndarray
    calibration: Calibration

    @property
    def n_cells(self) -> int:
        """Cells found in the image (0 when it was classified whole)."""
        return len(self.found.cells)

    def counted(self) -> np.ndarray:
        """``bool (N,)``: the crops that count for the image call: the whole cells, or every cell
        when all touch the image edge (one ``True`` for a whole-image crop).
        """
        if self.found.whole_image:
            return np.ones(1, bool)
        whole = np.array([not c.touches_border for c in self.found.cells])
        return whole if whole.any() else np.ones(len(whole), bool)

    @property
    def image_p_all(self) -> float:
        """Mean calibrated P(ALL) over the cells that count (see module docstring)."""
        return float(self.p_all[self.counted()].mean())

    def calls(self, threshold: float) -> np.ndarray:
        """``bool (N,)``: each crop called ALL at ``threshold``."""
        return self.p_all >= threshold

    def refer(self, threshold: float) -> np.ndarray:
        """``bool (N,)``: each crop's P(ALL) is inside the refer band around ``threshold``."""
        return self.calibration.refer(self.p_all, threshold)

    def image_threshold(self, threshold: float) -> float:
        """The threshold the image's mean P(ALL) is compared with (see ``Calibration.image_threshold``)."""
        return self.calibration.image_threshold(threshold, 0 if self.found.whole_image else self.n_cells)

    def label(self, threshold: float) -> str:
        """The image's call at cell threshold ``threshold``."""
        return "ALL" if self.image_p_all >= self.image_threshold(threshold) else "HEM"

    def blast_pct(self, threshold: float) -> float | None:
        """Share (%) of found cells called ALL; None when no cell was found."""
        if self.found.whole_image:
            return None
        return float(100.0 * self.calls(threshold).mean())


def analyze(found: FoundCells, predict, calibration: Calibration) -> ImageAnalysis:
    """Score ``found``'s crops with ``predict`` (``float32 [0, 1] (N, S, S, 3) -> P(ALL) (N,)``)."""
    p_raw = np.asarray(predict(found.crops.astype(np.float32) / np.float32(255.0)), np.float64)
    if not found.whole_image and NOTE_OOD not in found.notes and is_outside(calibration.reference, found.crops):
        found = FoundCells(found.cells, found.crops, found.whole_image, found.notes + [NOTE_OOD])
    return ImageAnalysis(found, p_raw, calibration.apply(p_raw), calibration)
