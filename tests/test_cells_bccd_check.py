"""cells.bccd_check: matching found cells to human boxes, BCCD figures per role, speed, contact sheets."""

import cv2
import numpy as np
import pytest

from leukemia_core.cells.bccd_check import (BOX_IOU, SHEET_TILE, bccd_tiles, check_bccd, contact_sheet,
                                            count_tiles, finder_speed, mask_tiles, match_boxes, write_sheet)
from leukemia_core.cells.finder import Cell
from leukemia_core.data.bccd import Box


def _cell(x, y, w, h, i=1):
    contour = np.array([[x, y], [x + w - 1, y], [x + w - 1, y + h - 1], [x, y + h - 1]], np.int32)
    return Cell(i, (x, y, w, h), w * h, (x + w / 2, y + h / 2), contour, False)


def test_match_needs_the_centre_inside_and_enough_iou():
    box = Box("WBC", 0, 0, 100, 100)
    assert match_boxes([_cell(0, 0, 100, 100)], [box]) == 1
    # centre inside but IoU 0.25 < 0.3: no match
    assert match_boxes([_cell(25, 25, 50, 50)], [box]) == 0
    assert match_boxes([_cell(25, 25, 50, 50)], [box], iou_min=0.25) == 1
    # IoU high enough but centre outside the box
    assert match_boxes([_cell(60, 0, 100, 100)], [box]) == 0
    assert BOX_IOU == 0.3


def test_match_is_one_to_one():
    box = Box("WBC", 0, 0, 100, 100)
    two = [_cell(0, 0, 100, 100, 1), _cell(5, 5, 95, 95, 2)]
    assert match_boxes(two, [box]) == 1
    assert match_boxes(two, [box, Box("WBC", 5, 5, 100, 100)]) == 2
    assert match_boxes([], [box]) == 0 and match_boxes(two, []) == 0


def test_check_bccd_on_the_bundled_images(bccd_tree):
    figures, rows = check_bccd(bccd_tree)
    # each bundled BCCD image holds one normal white cell, and the finder finds exactly it
    assert {k: figures[k] for k in ("role", "n_images", "found", "reference", "matched", "one_box_images")} == {
        "role": "all", "n_images": 10, "found": 10, "reference": 10, "matched": 10, "one_box_images": 10}
    assert figures["recall"] == figures["precision"] == figures["share_exactly_one"] == 1.0
    assert {r: f["n_images"] for r, f in figures["by_role"].items()} == {"train": 5, "val": 2, "test": 3}
    assert all(e == 0 and len(c) == 1 and len(b) == 1 for e, _, c, b in rows)
    test, _ = check_bccd(bccd_tree, role="test", limit=2)
    assert test["role"] == "test" and test["n_images"] == 2 and "by_role" not in test


def test_check_bccd_counts_misses_and_extras(bccd_tree):
    # a blank image with the lymphocyte's box: one box missed, none found
    cv2.imwrite(str(bccd_tree / "JPEGImages" / "BloodImage_00001.jpg"), np.full((480, 640, 3), 235, np.uint8))
    # an image whose annotation lists no white cell: its found cell is an extra
    xml = bccd_tree / "Annotations" / "BloodImage_00002.xml"
    xml.write_text(xml.read_text().replace("<name>WBC</name>", "<name>RBC</name>"))
    f, rows = check_bccd(bccd_tree)
    assert (f["found"], f["reference"], f["matched"]) == (9, 9, 8)
    assert f["recall"] == pytest.approx(8 / 9) and f["precision"] == pytest.approx(8 / 9)
    assert f["one_box_images"] == 9 and f["share_exactly_one"] == pytest.approx(8 / 9)
    errors = {p.name: e for e, p, _, _ in rows}
    assert errors["BloodImage_00001.jpg"] == 1 and errors["BloodImage_00002.jpg"] == 1
    worst = bccd_tiles(rows, n=2)
    assert len(worst) == 2 and worst[0].shape == (SHEET_TILE + 22, SHEET_TILE, 3)


def test_finder_speed_and_its_baseline(samples):
    from leukemia_core.data.images import read_image
    imgs = [read_image(s.path) for s in samples if s.dataset == "Aria ALL"]
    assert finder_speed(imgs, repeats=1) > 0
    assert finder_speed(imgs, repeats=1, nucleus_gate=False) > 0
    assert finder_speed([], repeats=1) == 0.0


def test_contact_sheet_layout_and_png(tmp_path):
    tile = np.zeros((SHEET_TILE + 22, SHEET_TILE, 3), np.uint8)
    sheet = contact_sheet([tile] * 5, columns=4)
    assert sheet.shape == (2 * (SHEET_TILE + 22), 4 * SHEET_TILE, 3)
    # the row is padded with white tiles
    assert (sheet[SHEET_TILE + 22:, SHEET_TILE:] == 255).all() and (sheet[:, :SHEET_TILE] == 0).all()
    assert contact_sheet([]).shape == (40, SHEET_TILE, 3)
    out = write_sheet(tmp_path / "sub" / "s.png", [tile])
    assert out == str(tmp_path / "sub" / "s.png")
    assert cv2.imread(out).shape == (SHEET_TILE + 22, 4 * SHEET_TILE, 3)


def test_tiles_pick_the_worst_images(samples):
    aria = [s for s in samples if s.dataset == "Aria ALL"]
    ref = np.zeros((224, 224), bool)
    ref[10:40, 10:40] = True
    rows = [(i, s.path, [], [ref]) for i, s in enumerate(aria)]
    assert len(mask_tiles(rows, n=3)) == 3
    one = [s for s in samples if s.dataset == "C-NMC 2019"]
    counted = [(one[0].path, [_cell(0, 0, 5, 5)]), (one[1].path, []), (one[2].path, [_cell(0, 0, 5, 5)] * 3)]
    # only images whose count is not one, the farthest from one first
    tiles = count_tiles(counted)
    assert len(tiles) == 2
    assert count_tiles(counted[:1]) == []
