"""cells.crop: the fixed-scale crop of one cell (shape, dtype, cell share, black outside the cell, padding)
and the whole-image crop."""

import numpy as np
import pytest
from conftest import PALE, PINK, VIOLET, _disc, _field

from leukemia_core.cells import CELL_SHARE, crop_cell, crop_cells, find_cells, whole_image_crop
from leukemia_core.cells.crop import crop_box
from leukemia_core.cells.finder import violet_excess

# --------------------------------------------------------------------------------------------- crop


def _one_cell(img):
    cells = find_cells(img)
    assert len(cells) == 1
    return cells[0]


def test_crop_shape_dtype_and_cell_share():
    img = _disc(_field(), (100, 120), 24)
    cell = _one_cell(img)
    out = crop_cell(img, cell, 64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    # the violet disc spans CELL_SHARE of the crop (0.75 * 64 = 48 px), centred
    ys, xs = np.nonzero(violet_excess(out) > 40)
    assert xs.max() - xs.min() + 1 == pytest.approx(CELL_SHARE * 64, abs=2)
    assert ys.max() - ys.min() + 1 == pytest.approx(CELL_SHARE * 64, abs=2)
    assert (xs.min() + xs.max()) / 2 == pytest.approx(31.5, abs=1.5)
    assert crop_cells(img, [cell], 64).shape == (1, 64, 64, 3)
    np.testing.assert_array_equal(crop_cells(img, [cell], 64)[0], out)
    assert crop_cells(img, [], 64).shape == (0, 64, 64, 3)


def test_crop_scale_does_not_depend_on_source_magnification():
    small = _disc(_field(160), (70, 80), 15)                  # 31 px cell
    big = _disc(_field(480), (210, 240), 45)                  # the same cell at 3x: 91 px
    a = crop_cell(small, _one_cell(small), 64)
    b = crop_cell(big, _one_cell(big), 64)
    diff = np.abs(a.astype(float) - b.astype(float)).mean()
    assert diff < 10, diff  # about 7: edge interpolation only
    # the measure can tell scales apart: the same cell cropped at another share differs by > 30
    other = crop_cell(big, _one_cell(big), 64, share=0.5)
    assert np.abs(a.astype(float) - other.astype(float)).mean() > 30
    # and not a trivially empty pair: both show the cell
    assert (violet_excess(a) > 40).mean() > 0.3 and (violet_excess(b) > 40).mean() > 0.3


def test_crop_blacks_out_everything_but_the_cell():
    img = _disc(_field(), (100, 100), 20)
    for c in [(100, 70), (70, 100), (130, 128)]:  # red cells inside the crop square, not touching the cell
        _disc(img, c, 7, PINK)
    cell = _one_cell(img)
    x0, y0, side = crop_box(cell)
    out = crop_cell(img, cell, side)  # no resizing: pixel for pixel
    yy, xx = np.mgrid[:side, :side]
    r = np.hypot(xx - (100 - x0), yy - (100 - y0))
    margin = 0.03 * cell.diameter + 2
    assert (out[r > 20 + margin] == 0).all()                # background and red cells: black
    assert (out[r < 18] == VIOLET).all()                    # the cell itself untouched
    assert not np.any(np.all(out == PINK, axis=-1))
    kept = crop_cell(img, cell, side, mask_outside=False)   # without the mask the field shows
    assert np.all(kept[0, 0] == PALE) and np.any(np.all(kept == PINK, axis=-1))


def test_crop_near_the_border_is_padded_black():
    img = _disc(_field(), (24, 100), 20)  # the square around it reaches past the left edge
    cell = _one_cell(img)
    assert not cell.touches_border
    x0, y0, side = crop_box(cell)
    assert x0 < 0 <= y0 and y0 + side <= img.shape[0]
    out = crop_cell(img, cell, side, mask_outside=False)
    assert out.shape == (side, side, 3)
    assert (out[:, :-x0] == 0).all()                        # outside the image: black
    assert np.all(out[0, -x0] == PALE)                      # inside it: the field
    np.testing.assert_array_equal(out[:, -x0:], img[y0:y0 + side, 0:side + x0])
    # a cell cut by the border: its crop is padded on that side too
    cut = _disc(_field(), (5, 100), 20)
    c2 = _one_cell(cut)
    assert c2.touches_border
    out2 = crop_cell(cut, c2, 64)
    assert out2.shape == (64, 64, 3) and (out2[:, :4] == 0).all()


def test_whole_image_crop_pads_and_resizes():
    img = np.full((40, 80, 3), 200, np.uint8)
    out = whole_image_crop(img, 32)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[16], 200)  # the middle row is the image
