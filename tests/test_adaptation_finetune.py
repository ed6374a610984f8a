"""Fine-tuning the last block: the shipped graph is never changed, and the scores come back."""

from __future__ import annotations

import numpy as np
from adaptation_fixtures import tiny_encoder

from leukemia_core.adaptation import finetune
from leukemia_core.adaptation.features import encoder_source
from leukemia_core.models.site_head import fit_head


def test_fine_tuning_trains_a_copy_and_scores_the_test_cells(monkeypatch):
    source = encoder_source("densenet121", model=tiny_encoder(), sha256="ab" * 32, size=32)
    monkeypatch.setitem(finetune.LAST_BLOCK, "densenet121", ("relu",))
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (12, 32, 32, 3), dtype=np.uint8)
    y = np.array([0, 1] * 6)
    crops[y == 1, :, :, 0] = 250  # a red cast for the ALL cells: learnable
    before = [w.copy() for w in source.model.get_weights()]
    head = fit_head(source.features(crops), y, C=1.0)
    p = finetune.finetune_scores(source, head, crops, y, crops[:4], epochs=2)
    assert p.shape == (4,) and np.all((p >= 0) & (p <= 1))
    for a, b in zip(before, source.model.get_weights()):
        np.testing.assert_array_equal(a, b)
