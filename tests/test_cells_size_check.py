"""cells.size_check: the red-cell estimate against BCCD's boxes, sizes by lab and type, AUC, cost."""

import json
from pathlib import Path

import numpy as np
import pytest

from leukemia_core.cells.finder import find_cells
from leukemia_core.cells.size import red_cell_scale, sizes_in_red_cells
from leukemia_core.cells.size_check import box_diameter, run_size_check, summarize
from leukemia_core.data.images import read_image


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
        # a normal white cell is one to three red cells across; one cut by the edge gets no size
        for c, x in zip(cells, sizes_in_red_cells(rgb, cells)):
            assert (x is None) if c.touches_border else 1.0 < x < 3.0


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
