"""What a reading can say besides ALL and HEM: the notes an image gets (too small, grayscale, no
white cell, crowded) and the NO CALL outcome with its reasons, for a whole image and for one cell."""

from __future__ import annotations

import numpy as np

from .finder import Cell

#: A side shorter than this (px) cannot show a white cell at any usual magnification.
MIN_IMAGE_SIDE = 24

NOTE_NO_CELL = "no white cell found: the whole image was classified instead; check by eye"
NOTE_GRAYSCALE = "grayscale image: the models were trained on stained colour images; check by eye"
NOTE_TOO_SMALL = "image too small to hold a white cell at the model's scale; check by eye"
NOTE_CROWDED = ("more white cells found than a smear field holds: the finder may be outlining red cells "
                "in a stain it does not read; check the outlines by eye")

#: The label of a cell or an image that gets no call, and its reasons. A degenerate image gets none
#: at all (its note names why); a cell gets none when its P(ALL) is borderline (inside the refer band
#: around the threshold in use) or when what the model reads of it lies outside the training cells
#: (:mod:`leukemia_core.models.ood`); an image whose counted cells all lack a call gets none either.
NO_CALL = "NO CALL"
REASON_BORDERLINE = "borderline: P(ALL) inside the refer band"
REASON_OUTSIDE = "outside what the model can read"
REASON_NO_CALLED_CELL = "no cell with a call"
#: Notes that leave the whole image without a call, with the reason the outcome gives.
NO_CALL_NOTES = {NOTE_TOO_SMALL: "image too small", NOTE_GRAYSCALE: "grayscale image",
                 NOTE_NO_CELL: "no white cell found", NOTE_CROWDED: "not a smear field the finder reads"}

#: More cells than this in one image is more than a smear field holds (Aria's densest leukemic
#: fields, packed with blasts, hold up to 32 found cells in 2,766 fields).
MAX_FIELD_CELLS = 40
#: Found cells covering more than this share of the image is more than white cells cover in a
#: smear field (at most 0.29 in Aria's fields, 0.20 in BCCD's).
MAX_CELL_COVER = 0.45


def is_grayscale(rgb: np.ndarray, tol: int = 3) -> bool:
    """True when the three channels are (nearly) equal everywhere.

    ``rgb``: ``uint8 (H, W, 3)``; every 4th pixel each way is compared, channels within ``tol``.
    """
    sample = rgb[::4, ::4].astype(np.int16)
    return bool(np.abs(sample[..., 0] - sample[..., 1]).max() <= tol and np.abs(sample[..., 1] - sample[..., 2]).max() <= tol)


def is_crowded(cells: list[Cell], image_area: int) -> bool:
    """True when ``cells`` are more (:data:`MAX_FIELD_CELLS`) or cover more of an image of
    ``image_area`` px (:data:`MAX_CELL_COVER`) than white cells do in a smear field."""
    return len(cells) > MAX_FIELD_CELLS or sum(c.area for c in cells) > MAX_CELL_COVER * image_area
