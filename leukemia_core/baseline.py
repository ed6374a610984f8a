"""The colour-only baseline: logistic regression on nine global colour statistics.

Features per image: mean, standard deviation and median of each RGB channel over the whole
image (after the same preprocessing the models get, at 64 px). A CNN that does not beat this
clearly may be reading stain and illumination rather than cells (see the data notes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .datasets import read_many
from .errors import LeukemiaCoreError
from .evaluate import build_set, group_sets, make_report
from .pipeline import load_images
from .splits import check_leakage, select

FEATURE_SIZE = 64
NAME = "colour_baseline"


def colour_features(x: np.ndarray) -> np.ndarray:
    """``uint8 (N, H, W, 3)`` -> ``float64 (N, 9)``: per-channel mean, std, median in [0, 1]."""
    f = x.reshape(len(x), -1, 3).astype(np.float64) / 255.0
    return np.concatenate([f.mean(1), f.std(1), np.median(f, axis=1)], axis=1)


def _family(key: str) -> str:
    return key.split("/")[0]


def run_baseline(data: Sequence[str], out: Path | None = None, exclude_parts: Sequence[str] = (),
                 threshold: float = 0.5, seed: int = 0, cache_dir: Path | None = None) -> dict:
    """Fit and report the colour-only baseline like ``evaluate`` reports a model.

    One classifier is fitted per dataset family (``cnmc``, ``aria-original``, ``aria-segmented``,
    ``folder``) on that family's ``train`` (or ``unsplit``) records, and scores that family's sets:
    stain and illumination differ between datasets, so a per-family fit is the strongest form of
    the colour shortcut, and the fairest bar for the models.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    records = [r for r in read_many(data) if r.part not in exclude_parts]
    train = select(records, ["train", "unsplit"])
    if not train:
        raise LeukemiaCoreError("the colour baseline needs training images")
    held = [r for r in records if r.split not in ("train", "unsplit")]
    check_leakage(train, held, "colour baseline train/held-out")
    sets_by_key = group_sets(records)
    classifiers = {}
    for key, recs in sets_by_key.items():
        if key.split("/")[1] not in ("train", "unsplit"):
            continue
        x, y, _, _ = load_images(recs, FEATURE_SIZE, True, cache_dir)
        if len(set(y.tolist())) < 2:
            continue
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced",
                                                                 random_state=seed))
        classifiers[_family(key)] = clf.fit(colour_features(x), y)
    sets, skipped = [], []
    for key, recs in sets_by_key.items():
        clf = classifiers.get(_family(key))
        if clf is None:
            continue
        xs, _, kept, bad = load_images(recs, FEATURE_SIZE, True, cache_dir)
        skipped += [{"path": str(r.path), "error": m} for r, m in bad]
        if kept:
            sets.append(build_set(key, kept, clf.predict_proba(colour_features(xs))[:, 1], threshold))
    report = make_report(NAME, sets, skipped, weights_sha256=None, input_size=FEATURE_SIZE,
                         threshold=threshold, data=[str(d) for d in data],
                         description="logistic regression on per-channel mean, std and median, "
                                     "fitted per dataset family on its training split")
    if out is not None:
        from .weights import write_json

        write_json(Path(out), report)
    return report
