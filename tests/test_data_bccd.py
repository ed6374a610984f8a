"""data.bccd: BCCD's Pascal VOC boxes, its layout, roles by contiguous file numbers and records."""

import pytest

from leukemia_core.data.bccd import (BCCD_BLOCK, Box, bccd_images, bccd_roles, is_bccd, read_boxes,
                                     white_cell_boxes)
from leukemia_core.data.datasets import detect_layout, read_dataset
from leukemia_core.errors import DatasetLayoutError
from leukemia_core.samples import SAMPLES_DIR

LYMPHOCYTE_XML = SAMPLES_DIR / "annotations" / "BloodImage_00305.xml"


def test_read_boxes_of_a_real_annotation():
    assert read_boxes(LYMPHOCYTE_XML) == [Box("WBC", 190, 244, 309, 370)]
    every = read_boxes(LYMPHOCYTE_XML, kind=None)
    kinds = {b.kind for b in every}
    assert kinds == {"WBC", "RBC", "Platelets"} and len(every) == 15
    assert len(read_boxes(LYMPHOCYTE_XML, kind="RBC")) == sum(b.kind == "RBC" for b in every)


def test_read_boxes_refuses_missing_and_malformed_files(tmp_path):
    with pytest.raises(DatasetLayoutError, match="not a readable Pascal VOC annotation"):
        read_boxes(tmp_path / "absent.xml")
    bad = tmp_path / "bad.xml"
    bad.write_text("<annotation><object>")
    with pytest.raises(DatasetLayoutError, match="bad.xml"):
        read_boxes(bad)


def test_box_contains_and_iou():
    b = Box("WBC", 10, 20, 30, 60)
    assert b.contains(10, 20) and b.contains(30, 60) and b.contains(20, 40)
    assert not b.contains(9.9, 40) and not b.contains(20, 60.1)
    assert b.iou((10, 20, 30, 60)) == 1.0
    assert b.iou((40, 0, 50, 10)) == 0.0
    # half the box: intersection 400 of union 800
    assert b.iou((10, 20, 30, 40)) == pytest.approx(0.5)
    assert Box("WBC", 0, 0, 0, 0).iou((0, 0, 0, 0)) == 0.0


def test_layout_roles_groups_and_records(bccd_tree):
    assert is_bccd(bccd_tree) and detect_layout(bccd_tree) == "bccd"
    roles = bccd_roles(bccd_tree)
    # ten images: last 30 % test, the 20 % before val, the rest train, by file number
    assert [roles[f"BloodImage_{n:05d}"] for n in range(10)] == ["train"] * 5 + ["val"] * 2 + ["test"] * 3
    imgs = bccd_images(bccd_tree)
    assert [p.name for p, _, _ in imgs] == [f"BloodImage_{n:05d}.jpg" for n in range(10)]
    assert {g for _, g, _ in imgs} == {"bccd-train-000", "bccd-val-000", "bccd-test-000"}
    recs = read_dataset(bccd_tree)
    assert len(recs) == 10 and {r.label for r in recs} == {"hem"}
    assert [r.split for r in recs] == [roles[r.path.stem] for r in recs]
    assert {r.dataset for r in recs} == {"bccd"}


def test_groups_are_blocks_of_consecutive_numbers(tmp_path):
    root = tmp_path / "b"
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations").mkdir()
    for n in (1, 9, 10, 25, 31, 40, 41, 55, 60, 70):
        (root / "JPEGImages" / f"BloodImage_{n:05d}.jpg").write_bytes(b"")
    groups = {p.stem: g for p, g, _ in bccd_images(root)}
    assert groups["BloodImage_00001"] == groups["BloodImage_00009"] == "bccd-train-000"
    assert groups["BloodImage_00010"] == f"bccd-train-{10 // BCCD_BLOCK:03d}"
    assert groups["BloodImage_00070"] == "bccd-test-007"


def test_white_cell_boxes_and_empty_layouts(bccd_tree, tmp_path):
    img = bccd_tree / "JPEGImages" / "BloodImage_00001.jpg"
    assert white_cell_boxes(bccd_tree, img) == [Box("WBC", 190, 244, 309, 370)]
    (bccd_tree / "Annotations" / "BloodImage_00001.xml").unlink()
    assert white_cell_boxes(bccd_tree, img) == []
    empty = tmp_path / "empty"
    (empty / "JPEGImages").mkdir(parents=True)
    (empty / "Annotations").mkdir()
    with pytest.raises(DatasetLayoutError, match="JPEGImages/ holds no .jpg"):
        bccd_images(empty)
    assert not is_bccd(tmp_path)
