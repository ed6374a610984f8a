"""cells.check: matching found cells to reference masks by IoU, reference cells from masks, cells-check
scoring on small trees."""

import cv2
import numpy as np
import pytest
from conftest import _disc, _field

from leukemia_core.cells import find_cells
from leukemia_core.cells.check import GT_MIN_AREA, match, reference_cells
from leukemia_core.data.images import read_image

# --------------------------------------------------------------------------------------------- check


def _cols(a, b, shape=(10, 20)):
    """Boolean mask of rows 0-9, columns a..b-1: IoU of two such masks is overlap / union of the intervals."""
    m = np.zeros(shape, bool)
    m[:, a:b] = True
    return m


def test_match_threshold_at_iou_one_half():
    found = _cols(0, 10)
    assert match([found], [_cols(0, 6)]) == 1    # IoU 60 / 100 = 0.6
    assert match([found], [_cols(0, 4)]) == 0    # IoU 40 / 100 = 0.4
    assert match([found], [_cols(0, 5)]) == 1    # exactly 0.5 counts
    assert match([found], [_cols(0, 4)], iou_min=0.4) == 1
    assert match([found], [_cols(12, 20)]) == 0  # no overlap
    assert match([], [found]) == 0 and match([found], []) == 0


def test_match_is_one_to_one_greedy_by_iou():
    a = _cols(0, 10)
    # one found cell over two references (IoU 0.9 and 0.6): one match, not two
    assert match([a], [_cols(0, 9), _cols(0, 6)]) == 1
    # two found cells over one reference: one match
    assert match([a, _cols(0, 9)], [_cols(0, 9)]) == 1
    # pairs A-X 0.7, A-Y 0.8, B-Y 0.875: highest IoU first gives B-Y then A-X, two matches
    # (taking each found cell's own best in turn would give A-Y and leave B unmatched)
    x, y, b = _cols(0, 7), _cols(2, 10), _cols(3, 10)
    assert match([a, b], [x, y]) == 2


def test_reference_cells_fill_holes_and_drop_small_regions():
    seg = np.zeros((224, 224, 3), np.uint8)
    _disc(seg, (60, 60), 20, (220, 120, 200))
    _disc(seg, (60, 60), 6, (0, 0, 0))               # a dark hole inside: filled
    _disc(seg, (160, 60), 12, (220, 120, 200))        # about 450 px: kept
    _disc(seg, (160, 160), 5, (220, 120, 200))        # about 80 px, below GT_MIN_AREA: dropped
    _disc(seg, (60, 160), 20, (25, 25, 25))           # too dim to be a cell (threshold 30)
    ref = reference_cells(seg)
    assert GT_MIN_AREA == 120
    assert len(ref) == 2 and all(m.dtype == bool and m.shape == (224, 224) for m in ref)
    areas = sorted(int(m.sum()) for m in ref)
    assert areas[0] == pytest.approx(np.pi * 12 ** 2, rel=0.12)
    assert areas[1] == pytest.approx(np.pi * 20 ** 2, rel=0.1)
    big = max(ref, key=lambda m: m.sum())
    assert big[60, 60]                                  # the hole is filled
    assert match(ref, ref) == 2


def test_match_takes_the_highest_iou_first_even_when_that_leaves_fewer_matches():
    # A-X 0.9, B-X 0.667, A-Y 0.6: highest first takes A-X, and then neither B-X nor A-Y is free
    a, b = _cols(0, 10), _cols(4, 10)
    x, y = _cols(1, 10), _cols(0, 6)
    assert match([a, b], [x, y]) == 1
    assert match([b], [x, y]) == 1 and match([a], [y]) == 1


def test_reference_cells_threshold_opening_and_least_area():
    seg = np.zeros((120, 120, 3), np.uint8)
    seg[5:9, 5:36] = 200           # 4 x 31, opened (corners off): exactly 120 px, kept
    seg[20:24, 5:35] = 200         # 4 x 30: 116 px, dropped
    seg[40:60, 5:25] = (0, 30, 0)  # brightest channel 30: black (BLACK_LEVEL + 12 = 30)
    seg[40:60, 40:60] = (0, 31, 0)  # 31: a cell of 20 x 20 less 4 corners
    for i in range(50, 110):       # a diagonal chain of 3 x 3 crosses survives the elliptic (cross) opening
        for dy, dx in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
            seg[i + dy, i + dx - 40] = 200
    ref = reference_cells(seg)
    assert sorted(int(m.sum()) for m in ref) == [120, 182, 396]


def test_found_masks_are_the_filled_outlines():
    from leukemia_core.cells.check import found_masks
    rgb = _disc(_disc(_field(), (60, 60), 14), (160, 150), 18)
    masks = found_masks(rgb)
    cells = find_cells(rgb)
    assert len(masks) == len(cells) == 2
    for m, c in zip(masks, cells):
        assert m.dtype == bool and m.shape == (224, 224)
        x, y, w, h = c.bbox
        assert m[y + h // 2, x + w // 2] and not m[:y].any() and not m[y + h:].any()
        assert abs(int(m.sum()) - c.area) <= 0.1 * c.area


def test_check_aria_and_cnmc_on_small_trees(aria_tree, cnmc_tree, tmp_path, samples):
    import json

    from leukemia_core.cells.check import check_aria, check_cnmc, run_cells_check
    from leukemia_core.errors import LeukemiaCoreError
    # val role: one field per subclass (the same sample field ten times per subclass in this tree)
    r = check_aria(aria_tree, "val")
    assert {k: r[k] for k in ("role", "n_fields", "found", "reference", "matched")} == {
        "role": "val", "n_fields": 4, "found": 34, "reference": 30, "matched": 21}
    assert r["recall"] == pytest.approx(21 / 30) and r["precision"] == pytest.approx(21 / 34)
    assert r["per_subclass"] == {
        "Benign": {"found": 5, "reference": 4, "matched": 4, "recall": 1.0, "precision": 0.8},
        "Early": {"found": 1, "reference": 1, "matched": 1, "recall": 1.0, "precision": 1.0},
        "Pre": {"found": 24, "reference": 25, "matched": 16, "recall": 0.64, "precision": pytest.approx(16 / 24)},
        "Pro": {"found": 4, "reference": 0, "matched": 0, "recall": None, "precision": 0.0}}
    r = check_aria(aria_tree, "test", limit=3)
    assert (r["n_fields"], r["found"], r["reference"], r["matched"]) == (3, 11, 9, 9)
    assert list(r["per_subclass"]) == ["Benign", "Early"] and r["per_subclass"]["Benign"]["found"] == 10
    with pytest.raises(LeukemiaCoreError) as err:
        check_aria(aria_tree, "unsplit")
    assert str(err.value) == f"{aria_tree}: no Aria Original fields with a Segmented twin in the unsplit role"
    # any readable folder works for the C-NMC count: one cell, none (a blank field) and several
    mixed = tmp_path / "mixed" / "all"
    mixed.mkdir(parents=True)
    cnmc = next(s for s in samples if s.dataset == "C-NMC 2019")
    aria = max((s for s in samples if s.dataset == "Aria ALL"), key=lambda s: len(find_cells(read_image(s.path))))
    import shutil
    shutil.copy(cnmc.path, mixed / ("a" + cnmc.path.suffix))
    shutil.copy(aria.path, mixed / ("b" + aria.path.suffix))
    cv2.imwrite(str(mixed / "c.png"), np.full((64, 64, 3), 235, np.uint8))
    c = check_cnmc(tmp_path / "mixed")
    n_aria = len(find_cells(read_image(aria.path)))
    assert n_aria > 1
    assert c == {"n_images": 3, "exactly_one": 1, "share_exactly_one": pytest.approx(1 / 3),
                 "cells_per_image": {"0": 1, "1": 1, str(n_aria): 1}}
    assert check_cnmc(cnmc_tree) == {"n_images": 9, "exactly_one": 9, "share_exactly_one": 1.0,
                                     "cells_per_image": {"1": 9}}
    out = tmp_path / "check.json"
    res = run_cells_check(None, cnmc_tree, out)
    assert json.loads(out.read_text()) == res
    assert res["format"] == "leukemia_core.cells_check/2" and res["iou_match"] == 0.5
    assert res["reference_min_area"] == 120 and res["bccd_box_iou"] == 0.3
    assert "aria" not in res and "bccd" not in res and "sheets" not in res and "images_per_s" not in res
    assert res["targets"] == {"recall": 0.95, "precision": 0.90, "cnmc_share_exactly_one": 1.0,
                              "bccd_recall": 0.97, "bccd_precision": 0.95, "bccd_share_exactly_one": 0.97,
                              "wbcseg_share_exactly_one": 0.99, "wbcseg_median_iou": 0.85,
                              "images_per_s_224": 150}
    assert res["cnmc"] == {"data": str(cnmc_tree), **check_cnmc(cnmc_tree)}
    assert res["created"].endswith("+00:00") and len(res["created"]) == 25
    res = run_cells_check(aria_tree, None, role="test", limit=1)
    assert "cnmc" not in res and res["aria"]["data"] == str(aria_tree)
    assert (res["aria"]["role"], res["aria"]["n_fields"]) == ("test", 1)
    assert set(res["images_per_s"]) == {"224", "224_colour_only"}


def test_run_cells_check_with_bccd_writes_sheets(aria_tree, cnmc_tree, bccd_tree, tmp_path):
    from leukemia_core.cells.bccd_check import check_bccd
    from leukemia_core.cells.check import run_cells_check
    res = run_cells_check(aria_tree, cnmc_tree, tmp_path / "c.json", role="test", limit=2, bccd=bccd_tree,
                          sheets=tmp_path / "sheets")
    assert res["bccd"] == {"data": str(bccd_tree), **check_bccd(bccd_tree, limit=2)[0]}
    assert set(res["images_per_s"]) == {"224", "224_colour_only", "640x480", "640x480_colour_only"}
    assert all(v > 0 for v in res["images_per_s"].values())
    assert res["sheets"] == {k: str(tmp_path / "sheets" / f"cells_check_{k}.png") for k in ("aria", "cnmc", "bccd")}
    # C-NMC's sheet shows only images whose count is not one: none here, so it is the empty sheet
    assert cv2.imread(res["sheets"]["cnmc"]).shape[0] == 40
    assert cv2.imread(res["sheets"]["aria"]).shape[0] > 40


def test_check_aria_sums_fields_per_subclass(aria_tree):
    from leukemia_core.cells.check import check_aria, run_cells_check
    # the test role by default: two fields per subclass, each the val field's twin (see above)
    r = check_aria(aria_tree)
    assert (r["role"], r["n_fields"], r["found"], r["reference"], r["matched"]) == ("test", 8, 68, 60, 42)
    assert r["per_subclass"]["Pre"] == {"found": 48, "reference": 50, "matched": 32, "recall": 0.64,
                                        "precision": pytest.approx(32 / 48)}
    assert r["per_subclass"]["Pro"] == {"found": 8, "reference": 0, "matched": 0, "recall": None, "precision": 0.0}
    assert run_cells_check(aria_tree, None, limit=1)["aria"]["role"] == "test"


def test_check_aria_with_nothing_found_or_no_reference(tmp_path):
    from leukemia_core.cells.check import check_aria
    # Benign: a blank field whose Segmented twin holds one cell; Early: blank and empty
    for sub, prefix, seg_cell in (("Benign", "WBC-Benign", True), ("Early", "WBC-Malignant-Early", False)):
        (tmp_path / "Original" / sub).mkdir(parents=True)
        (tmp_path / "Segmented" / sub).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "Original" / sub / f"{prefix}-001.png"), np.full((224, 224, 3), 235, np.uint8))
        seg = np.zeros((224, 224, 3), np.uint8)
        if seg_cell:
            seg[50:80, 50:80] = 200
        cv2.imwrite(str(tmp_path / "Segmented" / sub / f"{prefix}-001.png"), seg)
    r = check_aria(tmp_path, "train")
    assert (r["n_fields"], r["found"], r["reference"], r["matched"]) == (2, 0, 1, 0)
    assert r["recall"] == 0.0 and r["precision"] is None
    assert r["per_subclass"] == {
        "Benign": {"found": 0, "reference": 1, "matched": 0, "recall": 0.0, "precision": None},
        "Early": {"found": 0, "reference": 0, "matched": 0, "recall": None, "precision": None}}
    r = check_aria(tmp_path, "train", limit=1)
    assert r["n_fields"] == 1
