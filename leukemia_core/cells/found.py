"""One image's white cells, found once and cropped for each model: the finder's notes (too small,
grayscale, no white cell, crowded), each cell's size in red cells, and the crops of every
:class:`CropKey` asked (models that crop alike share them). :mod:`.analyze` reads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .crop import CELL_SHARE, crop_cells, whole_image_crop
from .finder import Cell, find_cells
from .outcome import (MIN_IMAGE_SIDE, NOTE_CROWDED, NOTE_GRAYSCALE, NOTE_NO_CELL, NOTE_TOO_SMALL, is_crowded,
                      is_grayscale)
from .size import sizes_in_red_cells


@dataclass
class FoundCells:
    """The white cells of one image and their crops (shared by every model of the same :class:`CropKey`)."""

    cells: list[Cell]
    crops: np.ndarray  # uint8 (N, S, S, 3); one whole-image crop when no cell was found
    whole_image: bool
    notes: list[str] = field(default_factory=list)
    #: each cell's diameter in red-cell diameters of its image (:mod:`leukemia_core.cells.size`);
    #: None where no red cells could be measured (a segmented cell on black, a bare field)
    sizes: tuple[float | None, ...] = ()


class CropKey(NamedTuple):
    """How a model's crops are cut: models with the same key read the same crops."""

    size: int
    share: float = CELL_SHARE
    masked: bool = True


def crop_key(loaded) -> CropKey:
    """The :class:`CropKey` of a loaded model (``input_size``, ``cell_share``, ``mask_outside``)."""
    return CropKey(int(loaded.input_size), float(loaded.cell_share), bool(loaded.mask_outside))


def find_and_crop(rgb: np.ndarray, size: int, share: float = CELL_SHARE, masked: bool = True) -> FoundCells:
    """Find the white cells of ``rgb`` (``uint8 (H, W, 3)``) and crop each to ``size`` px (the
    outside of each cell blacked out unless ``masked`` is False)."""
    return ImageCells(rgb).cropped(size, share, masked)


def find_and_crop_each(rgb: np.ndarray, keys) -> dict[CropKey, FoundCells]:
    """:func:`find_and_crop` for every :class:`CropKey` (or ``(size, share[, masked])``) of ``keys``,
    the cells found once."""
    cells = ImageCells(rgb)
    return {CropKey(*k): cells.cropped(*k) for k in keys}


class ImageCells:
    """One image's white cells, found once (finder, notes, sizes in red cells) and cropped for each
    :class:`CropKey` asked: every model reading the image shares one finder run."""

    def __init__(self, rgb: np.ndarray):  # noqa: D107
        self.rgb = rgb
        self._found: tuple[list[Cell], list[str], tuple] | None = None
        self._crops: dict[CropKey, FoundCells] = {}

    def _find(self) -> tuple[list[Cell], list[str], tuple]:
        if self._found is None:
            rgb, notes = self.rgb, []
            if min(rgb.shape[:2]) < MIN_IMAGE_SIDE:
                notes.append(NOTE_TOO_SMALL)
            if is_grayscale(rgb):
                notes.append(NOTE_GRAYSCALE)
            cells = find_cells(rgb) if NOTE_TOO_SMALL not in notes else []
            sizes: tuple = ()
            if not cells and NOTE_TOO_SMALL not in notes:
                notes.append(NOTE_NO_CELL)
            elif cells:
                if is_crowded(cells, rgb.shape[0] * rgb.shape[1]):
                    notes.append(NOTE_CROWDED)
                sizes = tuple(sizes_in_red_cells(rgb, cells))
            self._found = (cells, notes, sizes)
        return self._found

    def cropped(self, size: int, share: float = CELL_SHARE, masked: bool = True) -> FoundCells:
        """The cells cropped to ``size`` px at cell share ``share``, the outside blacked out unless
        ``masked`` is False (the whole image when no cell was found)."""
        key = CropKey(size, share, masked)
        if key not in self._crops:
            cells, notes, sizes = self._find()
            if cells:
                crops = crop_cells(self.rgb, cells, size, share, masked)
                self._crops[key] = FoundCells(cells, crops, False, list(notes), sizes)
            else:
                self._crops[key] = FoundCells([], whole_image_crop(self.rgb, size)[None], True, list(notes))
        return self._crops[key]

    def for_model(self, predictor) -> FoundCells:
        """The cells cropped as ``predictor`` reads them (:func:`crop_key` of its ``loaded``)."""
        return self.cropped(*crop_key(predictor.loaded))
