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
