"""cells.size and cells.size_check: red-cell diameter, cell size in red cells, and its measurement."""

import json

import numpy as np
import pytest

from conftest import PINK, VIOLET, _disc, _field
from leukemia_core.cells.finder import find_cells
from leukemia_core.cells.size import MIN_PEAKS, cell_diameter, red_cell_scale, sizes_in_red_cells
from leukemia_core.cells.size_check import box_diameter, run_size_check, summarize
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


def test_real_bccd_sample_agrees_with_the_human_red_cell_boxes(samples):
    for s in [s for s in samples if s.dataset == "BCCD"]:
        rgb = read_image(s.path)
        cells = find_cells(rgb)
        scale = red_cell_scale(rgb, cells)
        boxes = box_diameter(s.boxes, rgb.shape[:2])
        assert boxes is not None and scale is not None
        # the boxes are drawn loose around each red cell: on all 280 BCCD images with boxes the
        # ratio's 10-90 % range is 0.68-0.91 (model_weights/size_check.json)
        assert 0.6 < scale.diameter / boxes < 1.0
        # a normal white cell is one to three red cells across
        assert all(1.0 < x < 3.0 for x in sizes_in_red_cells(rgb, cells))


def test_real_aria_samples_have_a_scale_and_cnmc_has_none(samples):
    for s in samples:
        rgb = read_image(s.path)
        scale = red_cell_scale(rgb, find_cells(rgb))
        if s.dataset == "Aria ALL":
            # red cells of a 224 px Aria field are 12-18 px across (the measured run's median peaks)
            assert scale is not None and 8 < scale.diameter < 25
        elif s.dataset == "C-NMC 2019":
            assert scale is None


def _row(ds, label, image, size, cell=1, typ=None):
    return {"dataset": ds, "label": label, "image": image, "role": "test", "cell": cell, "size": size,
            "red_cell_px": 10.0, "box_px": 12.5 if ds == "bccd" else None}


def test_summarize_ranks_size_and_compares_with_the_boxes():
    rows = [_row("aria", "all", f"a{i}.jpg", 2.0 + 0.01 * i) for i in range(10)]
    rows += [_row("aria", "hem", f"h{i}.jpg", 1.0 + 0.01 * i) for i in range(10)]
    rows += [_row("bccd", "hem", f"/x/BloodImage_{i:05d}.jpg", 3.0) for i in range(4)]
    rows += [_row("aria", "hem", "h0.jpg", None, cell=2), _row("aria", "hem", "empty.jpg", None, cell=None)]
    types = {"BloodImage_00000": "lymphocyte", "BloodImage_00001": "neutrophil"}
    out = summarize(rows, types, n_boot=50)
    assert out["auc"]["aria_all_vs_hem"]["value"] == 1.0
    assert out["auc"]["aria_all_vs_bccd"]["value"] == 0.0  # the other lab's normal cells are larger
    assert out["auc"]["aria_all_vs_bccd_lymphocytes"]["n_hem"] == 1
    hem = out["by_lab"]["aria/hem"]
    assert (hem["cells"], hem["with_size"], hem["coverage"]) == (11, 10, 0.909)
    assert set(out["bccd_by_type"]) == {"lymphocyte", "neutrophil"}
    b = out["bccd_red_cell_vs_boxes"]
    assert (b["images_with_boxes"], b["with_estimate"], b["median"]) == (4, 4, 0.8)


def test_run_size_check_on_bundled_trees(tmp_path, bccd_tree, cnmc_tree):
    out = tmp_path / "size.json"
    r = run_size_check([str(bccd_tree), str(cnmc_tree)], out, roles=("train", "val", "test"))
    assert json.loads(out.read_text())["format"] == "leukemia_core.size_check/1"
    assert r["by_lab"]["bccd/hem"]["coverage"] == 1.0
    assert r["by_lab"]["cnmc/all"]["with_size"] == 0
    assert r["bccd_red_cell_vs_boxes"]["with_estimate"] == 10
    # the cost figure: the finder with the scale against the finder alone, per lab
    sp = r["speed"]["bccd"]
    assert sp["image"] == "640x480" and sp["images"] == 10 and r["speed"]["cnmc"]["images"] > 0
    assert sp["ratio"] == pytest.approx(sp["with_scale_ms_per_image"] / sp["finder_ms_per_image"], rel=0.01)
    # one class per lab: no ranking within a lab, and BCCD against C-NMC is not asked
    assert r["auc"]["aria_all_vs_hem"] is None
