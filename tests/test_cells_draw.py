"""cells.draw: outlines in the colour of each call, amber rings for referred cells, a new scaled copy."""

import numpy as np
from conftest import _disc, _field

from leukemia_core.cells import find_cells
from leukemia_core.cells.draw import CALL_RGB, REFER_RGB, draw_cells


def _has(img, rgb):
    return bool((img == np.array(rgb, np.uint8)).all(axis=-1).any())


def _two_cells():
    img = _disc(_disc(_field(), (60, 112), 22), (160, 112), 22)
    cells = find_cells(img)
    assert len(cells) == 2
    return img, cells


def test_outlines_take_the_colour_of_the_call_on_a_new_copy():
    img, cells = _two_cells()
    before = img.copy()
    out = draw_cells(img, cells, ["ALL", "HEM"])
    np.testing.assert_array_equal(img, before)  # the input is not changed
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert out.shape[:2] == (448, 448)  # a 224 px field is enlarged to 448 px so numbers stay legible
    assert _has(out, CALL_RGB["ALL"]) and _has(out, CALL_RGB["HEM"])
    assert not _has(out, REFER_RGB)
    only_all = draw_cells(img, cells, ["ALL", "ALL"])
    assert not _has(only_all, CALL_RGB["HEM"])


def test_referred_cells_get_an_amber_ring():
    img, cells = _two_cells()
    out = draw_cells(img, cells, ["ALL", "HEM"], refer=[False, True])
    assert _has(out, REFER_RGB)
    # the ring is drawn round the second cell only (right half of the field)
    amber = (out == np.array(REFER_RGB, np.uint8)).all(axis=-1)
    assert amber[:, : out.shape[1] // 2].sum() == 0 and amber[:, out.shape[1] // 2:].sum() > 0


def test_large_images_are_shrunk_to_max_side():
    img = np.kron(_two_cells()[0], np.ones((8, 8, 1), np.uint8))  # 1792 px
    cells = find_cells(img)
    out = draw_cells(img, cells, ["HEM"] * len(cells), max_side=900)
    assert max(out.shape[:2]) == 900
    same = draw_cells(img[:448, :448], [], [], max_side=448)  # nothing to draw, already at size
    np.testing.assert_array_equal(same, img[:448, :448])
