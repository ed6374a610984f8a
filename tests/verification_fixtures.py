"""Made-up verification data for the tests of leukemia_core.verification: a lab whose raw model
outputs are shifted (the stored threshold 0.5 calls nearly everything ALL) and whose cells have
their own colour, so that a site profile has something to correct. No model is run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from leukemia_core.data.datasets import Record
from leukemia_core.models.calibration import Calibration, sigmoid
from leukemia_core.verification.study import ScoredImages

SHA = "ab" * 32


def crops_of(colour, n: int, rng, side: int = 8) -> np.ndarray:
    """``n`` crops ``uint8 (n, side, side, 3)`` of one colour with a little noise, on black corners."""
    c = np.clip(rng.normal(colour, 6, (n, side, side, 3)), 9, 255).astype(np.uint8)
    c[:, 0, 0] = 0
    return c


def shifted_lab(n_groups: int = 12, per_group: int = 4, cells: int = 3, seed: int = 0,
                colour=(90, 160, 90)) -> ScoredImages:
    """A lab of ``n_groups`` patients per class, ``per_group`` images each, ``cells`` cells per image.

    Raw logit of a cell: HEM ~ N(1.5, 0.8), ALL ~ N(3.5, 0.8): well separated, but above 0 (raw
    P(ALL) 0.5) for nearly every cell, so a 0.5 threshold calls nearly everything ALL.
    """
    rng = np.random.default_rng(seed)
    records, raw, crops = [], [], []
    for label, mu in (("hem", 1.5), ("all", 3.5)):
        for g in range(n_groups):
            for i in range(per_group):
                records.append(Record(Path(f"{label}{g}_{i}.png"), label, f"{label.upper()}-{g}", "site", "unsplit"))
                raw.append(sigmoid(rng.normal(mu, 0.8, cells)))
                crops.append(crops_of(colour, cells, rng))
    return ScoredImages("tiny_cnn", SHA, records, raw, crops, np.full(len(records), cells, int))


def stored_calibration(colour=(150, 60, 170), seed: int = 1) -> Calibration:
    """An identity calibration at threshold 0.5 with a colour reference fitted on violet cells."""
    from leukemia_core.models.ood import fit_reference

    rng = np.random.default_rng(seed)
    ref = fit_reference(crops_of(colour, 200, rng), crops_of(colour, 100, rng))
    return Calibration(threshold=0.5, reference=ref)
