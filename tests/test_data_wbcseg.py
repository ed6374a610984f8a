"""data.wbcseg: the two labs' single normal cells, their types, groups and expert masks."""

import csv

import cv2
import numpy as np
import pytest
from conftest import SHARED_DATA

from leukemia_core.data.datasets import detect_layout, read_dataset
from leukemia_core.data.wbcseg import WBCSEG_BLOCK, is_wbcseg, read_mask, wbcseg_images
from leukemia_core.errors import DatasetLayoutError


def _tree(tmp_path, n1=22, n2=2):
    root = tmp_path / "wbcseg"
    rows = []
    for lab, n, side in (("1", n1, 12), ("2", n2, 30)):
        (root / f"dataset{lab}").mkdir(parents=True)
        for i in range(1, n + 1):
            img, mask = f"dataset{lab}/{i:03d}.bmp", f"dataset{lab}/{i:03d}.png"
            cv2.imwrite(str(root / img), np.full((side, side, 3), 200, np.uint8))
            m = np.zeros((side, side), np.uint8)
            m[2:8, 2:8], m[4:6, 4:6] = 128, 255
            cv2.imwrite(str(root / mask), m)
            kind = "lymphocyte" if i % 2 else "neutrophil"
            rows.append({"image": img, "mask": mask, "dataset": lab, "wbc_type": kind, "label": "hem"})
    with open(root / "index.csv", "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


def test_layout_records_groups_and_types(tmp_path):
    root = _tree(tmp_path)
    assert is_wbcseg(root) and detect_layout(root) == "wbcseg"
    recs = read_dataset(root)
    assert len(recs) == 24 and {r.label for r in recs} == {"hem"} and {r.split for r in recs} == {"test"}
    assert {r.dataset for r in recs} == {"wbcseg"} and [r.part for r in recs][-2:] == ["dataset2", "dataset2"]
    assert recs[0].subclass == "lymphocyte" and recs[1].subclass == "neutrophil"
    # blocks of consecutive images of one lab; a new lab starts a new block
    assert [r.group for r in recs[:WBCSEG_BLOCK + 1]][-2:] == ["wbcseg-dataset1-000", "wbcseg-dataset1-001"]
    assert recs[-1].group == "wbcseg-dataset2-000"
    nucleus, cell = read_mask(wbcseg_images(root)[0].mask)
    assert nucleus.sum() == 4 and cell.sum() == 36 and not (nucleus & ~cell).any()


def test_not_wbcseg_and_errors(tmp_path):
    assert not is_wbcseg(tmp_path)
    (tmp_path / "dataset1").mkdir()
    (tmp_path / "index.csv").write_text("file,label\n")
    assert not is_wbcseg(tmp_path)  # an index without masks is something else
    with pytest.raises(DatasetLayoutError, match="names no image"):
        (tmp_path / "index.csv").write_text("image,mask,dataset,wbc_type\n")
        wbcseg_images(tmp_path)
    with pytest.raises(DatasetLayoutError, match="no readable wbcseg index.csv"):
        wbcseg_images(tmp_path / "absent")
    with pytest.raises(DatasetLayoutError, match="not a readable mask"):
        read_mask(tmp_path / "index.csv")


@pytest.mark.skipif(not (SHARED_DATA / "wbcseg").is_dir(), reason="shared data not present")
def test_real_wbcseg_matches_data_notes():
    recs = read_dataset(SHARED_DATA / "wbcseg")
    assert len(recs) == 400 and sum(r.part == "dataset1" for r in recs) == 300
    types = {t: sum(r.subclass == t for r in recs) for t in ("neutrophil", "lymphocyte", "monocyte", "eosinophil")}
    assert types == {"neutrophil": 176 + 33, "lymphocyte": 53 + 37, "monocyte": 48 + 15, "eosinophil": 22 + 12}
