"""cells.size: an image's red-cell diameter and each white cell's size in red cells."""

import numpy as np
import pytest

from conftest import PINK, VIOLET, _disc, _field
from leukemia_core.cells.finder import find_cells
from leukemia_core.cells.size import MIN_PEAKS, cell_diameter, red_cell_scale, sizes_in_red_cells
from leukemia_core.data.images import read_image


def _smear(red_r=9, white_r=15, n_red=16, size=224):
    """A drawn field: ``n_red`` separate red cells of radius ``red_r`` and one white cell."""
    img = _field(size)
    centres = [(24 + 44 * (i % 5), 24 + 44 * (i // 5)) for i in range(n_red)]
    for c in centres:
        _disc(img, c, red_r, PINK)
    return _disc(img, (size - 40, size - 40), white_r, VIOLET)


def test_red_cell_diameter_of_drawn_cells():
    rgb = _smear(red_r=9)
    cells = find_cells(rgb)
    assert len(cells) == 1
    scale = red_cell_scale(rgb, cells)
    assert scale is not None and scale.peaks >= MIN_PEAKS
    assert scale.diameter == pytest.approx(19, abs=2.5)
    # the white cell is about 31 px across: 1.6 red cells
    (size,) = sizes_in_red_cells(rgb, cells)
    assert size == pytest.approx(cell_diameter(cells[0]) / scale.diameter)
    assert 1.4 < size < 1.9


def test_scale_follows_magnification():
    small = red_cell_scale(_smear(red_r=6, white_r=10), find_cells(_smear(red_r=6, white_r=10)))
    large = red_cell_scale(_smear(red_r=10, white_r=17), find_cells(_smear(red_r=10, white_r=17)))
    assert small.diameter < large.diameter
    assert large.diameter / small.diameter == pytest.approx(10 / 6, rel=0.2)


def test_touching_red_cells_still_give_one_cell_across():
    img = _field()
    for row in range(3):
        for col in range(8):  # a chain of touching red cells, 18 px apart, radius 9
            _disc(img, (20 + 18 * col, 30 + 60 * row), 9, PINK)
    _disc(img, (190, 200), 15, VIOLET)
    scale = red_cell_scale(img, find_cells(img))
    assert scale is not None and scale.diameter == pytest.approx(19, abs=3)


def test_a_cell_cut_by_the_edge_gets_no_size():
    rgb = _smear()
    _disc(rgb, (222, 100), 15, VIOLET)  # half outside the field
    cells = find_cells(rgb)
    sizes = sizes_in_red_cells(rgb, cells)
    assert [s is None for s in sizes] == [c.touches_border for c in cells] and any(s is None for s in sizes)


def test_no_estimate_without_red_cells_or_on_black():
    bare = _disc(_field(), (112, 112), 15, VIOLET)
    assert red_cell_scale(bare, find_cells(bare)) is None
    assert sizes_in_red_cells(bare, find_cells(bare)) == [None]
    few = _smear(n_red=MIN_PEAKS - 3)
    assert red_cell_scale(few, find_cells(few)) is None
    on_black = np.zeros((100, 100, 3), np.uint8)
    _disc(on_black, (50, 50), 30, VIOLET)
    assert red_cell_scale(on_black, find_cells(on_black)) is None
    with pytest.raises(ValueError):
        red_cell_scale(np.zeros((10, 10), np.uint8), [])


def test_real_aria_samples_have_a_scale_and_cnmc_has_none(samples):
    for s in samples:
        rgb = read_image(s.path)
        scale = red_cell_scale(rgb, find_cells(rgb))
        if s.dataset == "Aria ALL":
            # red cells of a 224 px Aria field are 12-18 px across (the measured run's median peaks)
            assert scale is not None and 8 < scale.diameter < 25
        elif s.dataset == "C-NMC 2019":
            assert scale is None
