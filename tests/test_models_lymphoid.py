"""Tests of leukemia_core.models.lymphoid: the gate is fitted, keeps the stated share of lymphoid
cells (out of fold), stops the other cells it can tell apart, and is absent without a fit."""

from __future__ import annotations

import numpy as np
import pytest

from leukemia_core.models.lymphoid import KEEP_LYMPHOID, fit_gate, lymphoid_scores, not_lymphoid


def _cells(n=200, seed=0, shift=5.0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2 == 0
    x = rng.normal(size=(n, 6))
    x[y, 0] += shift  # lymphoid cells differ in one feature
    return x, y, np.array([f"g{i // 4}" for i in range(n)])


def test_the_gate_keeps_the_lymphoid_share_and_stops_separable_others():
    x, y, g = _cells()
    gate = fit_gate(x, y, g)
    assert gate["n_cells"] == {"lymphoid": 100, "other": 100} and gate["keep_lymphoid"] == KEEP_LYMPHOID
    assert gate["out_of_fold"]["lymphoid_pass"] >= KEEP_LYMPHOID - 0.02
    xt, yt, _ = _cells(seed=1)
    stop = not_lymphoid(gate, xt)
    assert (~stop[yt]).mean() >= 0.9 and stop[~yt].mean() >= 0.8
    p = lymphoid_scores(gate, xt)
    assert p.shape == (200,) and 0 <= p.min() and p.max() <= 1 and p[yt].mean() > p[~yt].mean()


def test_no_gate_no_marks_and_too_few_cells_refused():
    x, y, g = _cells(n=30)
    assert not_lymphoid(None, x) is None and not_lymphoid({}, x) is None and lymphoid_scores(None, x) is None
    assert not_lymphoid({"threshold": 0.5}, None) is None
    with pytest.raises(ValueError, match="at least 10"):
        fit_gate(x[:12], y[:12], g[:12])


def _typed(n=60, seed=0):
    """Cells of three other types, each shifted in its own feature, and some lymphocytes (ignored)."""
    rng = np.random.default_rng(seed)
    types = np.array(["neutrophil", "eosinophil", "monocyte", "lymphocyte"] * (n // 4))
    x = rng.normal(size=(len(types), 6))
    for k, t in enumerate(("neutrophil", "eosinophil", "monocyte")):
        x[types == t, k + 1] += 4.0
    return x, types


def test_the_type_head_names_the_other_white_cells():
    from leukemia_core.models.lymphoid import differential, differential_text, fit_types, other_types

    x, types = _typed()
    gate = fit_gate(*_cells()[:3])
    gate["types"] = fit_types(gate, x, types)
    assert gate["types"]["classes"] == ["eosinophil", "monocyte", "neutrophil"]
    assert gate["types"]["n_cells"] == {"neutrophil": 15, "eosinophil": 15, "monocyte": 15}
    xt, tt = _typed(seed=1)
    named = np.array(other_types(gate, xt))
    other = tt != "lymphocyte"
    assert (named[other] == tt[other]).mean() >= 0.9
    counts = differential(np.array([False, True, True, False]))
    assert counts == {"lymphoid": 2, "other white cell": 2}
    assert differential_text(counts) == "lymphoid 2, other white cell 2"
    assert differential(np.array([True, False])) == {"lymphoid": 1, "other white cell": 1}
    assert differential(None) is None and differential_text(None) == ""
    assert differential(np.array([False, False])) == {"lymphoid": 2, "other white cell": 0}
    assert other_types({k: v for k, v in gate.items() if k != "types"}, xt) is None  # a gate without a head


def test_a_type_head_needs_two_types_with_cells():
    from leukemia_core.models.lymphoid import fit_types

    gate = fit_gate(*_cells()[:3])
    x, types = _typed()
    with pytest.raises(ValueError, match="two types"):
        fit_types(gate, x[types == "neutrophil"], types[types == "neutrophil"])
    two = np.isin(types, ["neutrophil", "monocyte"])
    head = fit_types(gate, x[two], types[two])
    assert head["classes"] == ["monocyte", "neutrophil"] and np.asarray(head["coef"]).shape == (2, 6)
