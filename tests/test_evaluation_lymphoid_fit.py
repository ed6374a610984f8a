"""Tests of leukemia_core.evaluation.lymphoid_fit: what the gate stops and lets through per set, its
table, typed images only, and that the docs block and the served gates are the shipped measurement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from leukemia_core.data.datasets import Record
from leukemia_core.evaluation.lymphoid_fit import _rates, _typed, table

GATE = {"mean": [0.0], "scale": [1.0], "coef": [1.0], "intercept": 0.0, "threshold": 0.5}


def test_rates_per_set_and_type():
    cells = {"x": np.array([[2.0], [-2.0], [-2.0], [2.0]]), "lymphoid": np.array([True, True, False, False]),
             "type": np.array(["lymphocyte", "lymphocyte", "neutrophil", "monocyte"])}
    r = _rates(GATE, cells)
    assert (r["lymphoid_pass"], r["other_stopped"], r["cells"]) == (0.5, 0.5, 4)
    assert r["by_type"]["neutrophil"] == {"cells": 1, "stopped": 1.0}
    only = _rates(GATE, {k: v[:2] for k, v in cells.items()})
    assert only["other_stopped"] is None and only["lymphoid_pass"] == 0.5
    assert _rates(GATE, {"type": np.array([])}) == {"cells": 0}


def test_only_images_of_one_type_are_used():
    rec = lambda t: Record(Path("a.png"), "hem", "g", "bccd", "train", "x", t)  # noqa: E731
    assert [r.subclass for r in _typed([rec("neutrophil"), rec("neutrophil+eosinophil"), rec(""),
                                        rec("lymphocyte")])] == ["neutrophil", "lymphocyte"]


def test_table_rows():
    doc = {"models": {"m": {"sets": {"bccd/test": {"cells": 4, "other_cells": 3, "lymphoid_cells": 1,
                                                   "other_stopped": 2 / 3, "lymphoid_pass": 1.0},
                                     "aria/test": {"cells": 0}}}}}
    text = table(doc)
    assert "| m | bccd/test (3 other, 1 lymphoid) | 66.7 % | 100.0 % | – |" in text and "aria/test" not in text
    doc["models"]["m"]["sets"]["bccd/test"]["by_type"] = {"neutrophil": {"cells": 2, "stopped": 1.0, "named_right": 0.5},
                                                          "lymphocyte": {"cells": 1, "stopped": 0.0}}
    assert "| 66.7 % | 100.0 % | neutrophil 50.0 % (2) |" in table(doc)


def test_rates_name_each_other_type_by_the_type_head():
    gate = {**GATE, "types": {"classes": ["monocyte", "neutrophil"], "coef": [[-1.0], [1.0]], "intercept": [0.0, 0.0]}}
    cells = {"x": np.array([[3.0], [-2.0], [-3.0], [2.0]]), "lymphoid": np.array([True, False, False, False]),
             "type": np.array(["lymphocyte", "neutrophil", "monocyte", "neutrophil"])}
    r = _rates(gate, cells)  # x > 0 reads neutrophil, x < 0 monocyte
    assert r["by_type"]["monocyte"]["named_right"] == 1.0 and r["by_type"]["neutrophil"]["named_right"] == 0.5
    assert "named_right" not in r["by_type"]["lymphocyte"]


def test_the_docs_block_and_the_served_gates_are_the_shipped_measurement():
    from leukemia_core.docblocks import block_text
    from leukemia_core.jsonio import read_json
    from leukemia_core.paths import PROJECT_ROOT

    doc = read_json(PROJECT_ROOT / "model_weights" / "lymphoid_gate.json")
    if not doc:
        pytest.skip("no shipped lymphoid_gate.json")
    assert block_text((PROJECT_ROOT / "docs" / "results.md").read_text(), "lymphoid-gate") == table(doc)
    for m, r in doc["models"].items():
        cal = read_json(PROJECT_ROOT / "model_weights" / f"{m}.calibration.json")
        assert cal["lymphoid_gate"]["threshold"] == r["threshold"]
