"""The colour-only baseline, on the same cells the models see.

Features per cell crop: mean, standard deviation and median of each RGB channel over the cell's
own pixels (the non-black part of the crop). A logistic regression is fitted per dataset family
on its training cells and scores cells and images (image P(ALL) = mean of its whole cells, the
models' field rule) like ``evaluate`` scores a model. A CNN that does not beat this clearly may be
reading stain and illumination rather than cells (see the data notes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..cells.dataset import extract_cells
from ..data.colour import colour_features
from ..data.datasets import read_many
from ..data.splits import check_leakage, select
from ..errors import LeukemiaCoreError
from ..models.calibration import DEFAULT_THRESHOLD
from ..jsonio import write_json
from .evaluate import build_set, group_sets, image_scores, leave_out, make_report

FEATURE_SIZE = 80
NAME = "colour_baseline"


def _family(key: str) -> str:
    return key.split("/")[0]


def run_baseline(data: Sequence[str], out: Path | None = None, exclude_parts: Sequence[str] = ("Segmented",),
                 threshold: float = DEFAULT_THRESHOLD, seed: int = 0, cache_dir: Path | None = None,
                 left_out: Sequence[str] = ()) -> dict:
    """Fit and report the colour-only baseline like ``evaluate`` reports a model.

    One classifier is fitted per dataset family (``cnmc``, ``aria-original``, ``folder``) on that
    family's ``train`` (or ``unsplit``) cells, and scores that family's sets: stain and
    illumination differ between datasets, so a per-family fit is the strongest form of the colour
    shortcut, and the fairest bar for the models. Classes are weighted to balance, so 0.5 is its
    threshold.

    With ``left_out`` (leave-one-lab-out), each named dataset's images form one ``left-out`` set,
    scored by one classifier fitted on the training cells of every other family together: the
    baseline a model trained without that lab must beat.
    """
    # lazy: scikit-learn (about 1.2 s); the app's pages import this module for its NAME
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    records = leave_out([r for r in read_many(data) if r.part not in exclude_parts], left_out)
    train = select(records, ["train", "unsplit"])
    if not train:
        raise LeukemiaCoreError("the colour baseline needs training images")
    held = [r for r in records if r.split not in ("train", "unsplit")]
    check_leakage(train, held, "colour baseline train/held-out")
    sets_by_key = group_sets(records)
    cells = {key: extract_cells(recs, FEATURE_SIZE, cache_dir=cache_dir) for key, recs in sets_by_key.items()}
    def fit(parts):
        x = np.concatenate([colour_features(cs.x[~cs.border]) for cs in parts])
        y = np.concatenate([cs.y[~cs.border] for cs in parts])
        if len(set(y.tolist())) < 2:
            return None
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced",
                                                                 random_state=seed))
        return clf.fit(x, y)

    training = {key: cs for key, cs in cells.items() if key.split("/")[1] in ("train", "unsplit")}
    classifiers = {_family(key): fit([cs]) for key, cs in training.items()}
    pooled = fit(list(training.values())) if left_out and training else None
    sets, skipped = [], []
    for key, recs in sets_by_key.items():
        cs = cells[key]
        clf = pooled if key.endswith("/left-out") else classifiers.get(_family(key))
        skipped += [{"path": str(r.path), "error": m} for r, m in cs.errors]
        if clf is None or not len(cs.x):
            continue
        p = clf.predict_proba(colour_features(cs.x))[:, 1]
        per_image = image_scores(p, cs.image_index, cs.border, len(recs))
        kept = [i for i in range(len(recs)) if len(per_image[i])]
        sets.append(build_set(key, [recs[i] for i in kept], np.array([per_image[i].mean() for i in kept]),
                              threshold, [per_image[i] for i in kept]))
    report = make_report(NAME, sets, skipped, weights_sha256=None, input_size=FEATURE_SIZE,
                         threshold=threshold, data=[str(d) for d in data],
                         description="logistic regression on each cell's per-channel mean, std and median, "
                                     "fitted per dataset family on its training cells"
                                     + ("; left-out labs scored by one fit on every other family's training cells"
                                        if left_out else ""),
                         left_out=list(left_out), trained_on=sorted({r.dataset for r in train}))
    if out is not None:
        write_json(Path(out), report)
    return report
