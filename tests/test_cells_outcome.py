"""cells.outcome: the notes an image gets and what leaves it, or one cell, without a call."""

import numpy as np
from conftest import _disc, _field

from leukemia_core.cells.analyze import find_and_crop
from leukemia_core.cells.finder import Cell
from leukemia_core.cells.outcome import MAX_CELL_COVER, MAX_FIELD_CELLS, NOTE_CROWDED, is_crowded, is_grayscale


def test_is_grayscale():
    g = np.random.default_rng(0).integers(0, 256, (40, 40, 1), np.uint8).repeat(3, axis=2)
    assert is_grayscale(g)
    g2 = g.copy().astype(np.int16)
    g2[..., 2] += 3
    assert is_grayscale(np.clip(g2, 0, 255).astype(np.uint8))  # within the tolerance
    assert not is_grayscale(_disc(_field(), (100, 100), 20))


def test_crowded_images_say_so():
    def cells(n, area):
        return [Cell(i + 1, (0, 0, 10, 10), area, (5.0, 5.0), np.zeros((4, 2), np.int32), False) for i in range(n)]
    assert (MAX_FIELD_CELLS, MAX_CELL_COVER) == (40, 0.45)
    assert not is_crowded(cells(40, 10), 100_000) and is_crowded(cells(41, 10), 100_000)
    # 10 cells of 4,500 px cover exactly 0.45 of 100,000 px: not more than the share
    assert not is_crowded(cells(10, 4500), 100_000) and is_crowded(cells(10, 4501), 100_000)
    # a field tiled with 48 violet discs gets the note beside its cells
    rgb = _field(320)
    for y in range(20, 320, 40):
        for x in range(20, 320, 54):
            _disc(rgb, (x, y), 14)
    found = find_and_crop(rgb, 32)
    assert len(found.cells) > MAX_FIELD_CELLS and found.notes == [NOTE_CROWDED]
    assert NOTE_CROWDED not in find_and_crop(_disc(_field(), (100, 120), 22), 32).notes
