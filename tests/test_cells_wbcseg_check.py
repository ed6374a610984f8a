"""cells.wbcseg_check: one cell found where one is, its outline against the expert mask, and found
cells that are not the white cell, on drawn single-cell images with their masks."""

import csv

import cv2
import numpy as np
from conftest import _disc, _field

from leukemia_core.cells.wbcseg_check import GOOD_IOU, check_wbcseg


def _tree(tmp_path, images):
    """A wbcseg folder of drawn images: ``images`` is ``[(lab, white cells as (centre, r)), mask disc]``."""
    root, rows = tmp_path / "wbcseg", []
    for i, (lab, cells, mask_disc) in enumerate(images, 1):
        (root / f"dataset{lab}").mkdir(parents=True, exist_ok=True)
        img = _field(120)
        for centre, r in cells:
            _disc(img, centre, r)
        m = np.zeros((120, 120), np.uint8)
        cv2.circle(m, *mask_disc, 128, -1)
        name = f"dataset{lab}/{i:03d}"
        cv2.imwrite(str(root / f"{name}.bmp"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / f"{name}.png"), m)
        rows.append({"image": f"{name}.bmp", "mask": f"{name}.png", "dataset": lab, "wbc_type": "lymphocyte"})
    with open(root / "index.csv", "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


def test_one_cell_its_outline_and_stray_cells(tmp_path):
    one = ("1", [((60, 60), 22)], ((60, 60), 22))           # the finder's cell is the expert's
    two = ("1", [((40, 40), 18), ((95, 95), 12)], ((40, 40), 18))  # a second, stray "cell"
    loose = ("2", [((60, 60), 15)], ((60, 60), 30))         # the expert's outline is much larger
    rows = []
    r = check_wbcseg(_tree(tmp_path, [one, two, loose]), rows)
    a, b = r["by_lab"]["dataset1"], r["by_lab"]["dataset2"]
    assert (a["n_images"], a["exactly_one"], a["stray_cells"], a["images_with_stray"]) == (2, 1, 1, 1)
    assert a["median_iou"] > GOOD_IOU and a["share_iou_good"] == 1.0 and a["cells_per_image"] == {"1": 1, "2": 1}
    assert b["exactly_one"] == 1 and b["median_iou"] < 0.5 and b["share_iou_good"] == 0.0
    assert r["by_lab"]["all"]["n_images"] == 3 and r["by_lab"]["all"]["share_exactly_one"] == 2 / 3
    assert len(rows) == 3 and sorted(e for e, *_ in rows) == [0, 1, 1]  # errors: count off, or outline off
