"""Is an input unlike the training data? Two checks: the colour profile of the cell crops (a note to
check by eye) and the features the model's head reads (a cell outside them gets NO CALL).

Reference statistics are fitted on the training cells (by ``evaluate``, stored with the
calibration): mean and covariance of the nine colour statistics of each cell
(:func:`leukemia_core.data.colour.colour_features`: per-channel mean, std, median over the cell's
pixels). A cell's distance is its Mahalanobis distance to that reference; the flag threshold is
the :data:`PERCENTILE` th percentile of the validation cells' distances. An image is flagged when
the median distance of its cells exceeds the threshold (:data:`NOTE_OOD`: a lab unlike the training
labs, where no call is validated; it fires on a whole lab, not on the wrong calls, and points to a
measurement on the lab's own cells). Other flags (no cell found, grayscale, too small) come from
:mod:`leukemia_core.cells.outcome`.

The feature reference (:func:`fit_feature_reference`, fitted by ``ood`` and kept in the calibration
file as ``feature_reference``) holds the training cells' features per (lab, class); a cell whose
features lie further from those of the class it is called than nearly all validation cells
(:data:`FEATURE_PERCENTILE`) is outside what the model can read, and its call is withheld.
"""

from __future__ import annotations

import numpy as np

PERCENTILE = 99.0
#: What the colour flag tells a user: a lab unlike the training labs, where no call has been validated
#: (a model trained without a lab reads it near chance: docs/results.md, leave-one-lab-out).
NOTE_OOD = ("stain/colour profile unlike the training labs: calls on it are not validated; check by eye, "
            "or measure the model on this lab's own cells (Verify at your lab)")


def _features(crops: np.ndarray) -> np.ndarray:
    # here, not at the top: evaluation.baseline -> evaluation.evaluate -> inference ->
    # cells.analyze -> models.ood would be an import cycle
    from ..data.colour import colour_features

    return colour_features(crops)


def fit_reference(train_crops: np.ndarray | list[np.ndarray], val_crops: np.ndarray,
                  percentile: float = PERCENTILE) -> dict:
    """Reference statistics from training cell crops (one array, or one per training dataset: each
    gets its own component, since labs differ); threshold from validation crops (``uint8``)."""
    groups = train_crops if isinstance(train_crops, list) else [train_crops]
    comps = []
    for crops in groups:
        f = _features(crops)
        cov = np.cov(f, rowvar=False) + 1e-4 * np.eye(f.shape[1])  # small sets: keep it invertible
        comps.append({"mean": f.mean(axis=0).tolist(), "cov_inv": np.linalg.inv(cov).tolist(), "n": len(f)})
    ref = {"kind": "colour profile of cell crops (9 statistics), Mahalanobis distance to the nearest training "
                   "dataset", "components": comps, "percentile": percentile}
    ref["threshold"] = float(np.percentile(distances(ref, val_crops), percentile)) if len(val_crops) else None
    return ref


def distances(ref: dict, crops: np.ndarray) -> np.ndarray:
    """Mahalanobis distance of each crop's colour statistics to the nearest reference component,
    ``float (N,)``."""
    if not len(crops):
        return np.zeros(0)
    f = _features(crops)
    out = []
    for c in ref["components"]:
        d = f - np.asarray(c["mean"])
        out.append(np.sqrt(np.maximum(0.0, np.einsum("ij,jk,ik->i", d, np.asarray(c["cov_inv"]), d))))
    return np.min(out, axis=0)


def is_outside(ref: dict | None, crops: np.ndarray) -> bool:
    """True when the median distance of the image's cell crops exceeds the reference threshold.

    ``crops``: ``uint8 (N, S, S, 3)`` cell crops on black. False without a reference or crops.
    """
    if not ref or ref.get("threshold") is None or not len(crops):
        return False
    return bool(np.median(distances(ref, crops)) > ref["threshold"])


def wrong_inputs(crops: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Deliberately wrong versions of real crops, to measure the flag: colours swapped (BGR),
    inverted, a green stain, and noise in the cell's shape."""
    rng = np.random.default_rng(seed)
    cell = crops.max(axis=-1, keepdims=True) > 8
    noise = (rng.integers(0, 256, crops.shape, dtype=np.uint16) * cell).astype(np.uint8)
    green = crops.copy()
    green[..., 1], green[..., 0] = crops[..., 0], crops[..., 1]
    return {"channels swapped (BGR)": crops[..., ::-1].copy(),
            "inverted": ((255 - crops) * cell).astype(np.uint8),
            "green stain": green, "noise": noise}


# ---------------------------------------------------------------------------------------------
# What the model reads: its features against the training cells of the class it calls.

#: Validation cells inside the threshold: a cell further from the training cells of its call than
#: this share of the validation cells is "outside what the model can read".
FEATURE_PERCENTILE = 95.0


def fit_feature_reference(feats: np.ndarray, y: np.ndarray, labs: np.ndarray, val_feats: np.ndarray,
                          val_called: np.ndarray, percentile: float = FEATURE_PERCENTILE) -> dict:
    """The training cells' features as one component per (lab, class): its mean, with one per-feature
    variance shared by all (a diagonal Mahalanobis distance: cheap to store and to compute for the
    thousand-odd features of a backbone). The threshold is the ``percentile`` th percentile of the
    validation cells' distances to the components of the class each is called.

    Args:
        feats: ``float (N, F)`` what the head reads, of the training cells; ``y`` their classes (0
            HEM, 1 ALL); ``labs`` their datasets.
        val_feats, val_called: the validation cells' features and calls (0/1).
    """
    feats, y, labs = np.asarray(feats, np.float64), np.asarray(y, int), np.asarray(labs).astype(str)
    comps = []
    for lab in sorted(set(labs)):
        for cls in (0, 1):
            k = (labs == lab) & (y == cls)
            if k.sum() >= 5:
                comps.append({"lab": lab, "class": cls, "n": int(k.sum()), "mean": feats[k].mean(axis=0).tolist()})
    centred = np.concatenate([feats[(labs == c["lab"]) & (y == c["class"])] - np.asarray(c["mean"]) for c in comps])
    ref = {"kind": "features the head reads: mean squared z-distance to the nearest training (lab, class) mean "
                   "of the class the cell is called", "components": comps,
           "scale": np.maximum(centred.std(axis=0), 1e-6).tolist(), "percentile": percentile}
    d = feature_distances(ref, val_feats, val_called)
    ref["threshold"] = float(np.percentile(d, percentile)) if len(d) else None
    return ref


def feature_distances(ref: dict, feats: np.ndarray, called: np.ndarray) -> np.ndarray:
    """``float (N,)``: each cell's mean squared z-distance to the nearest training component of the
    class it is called (``called``: 0/1 per cell); ``inf`` when no component has that class."""
    feats, called = np.asarray(feats, np.float64), np.asarray(called, int)
    if not len(feats):
        return np.zeros(0)
    scale = np.asarray(ref["scale"])
    out = np.full(len(feats), np.inf)
    for c in ref["components"]:
        k = called == c["class"]
        if k.any():
            d = np.mean(((feats[k] - np.asarray(c["mean"])) / scale) ** 2, axis=1)
            out[k] = np.minimum(out[k], d)
    return out


def outside_features(ref: dict | None, feats: np.ndarray, called: np.ndarray) -> np.ndarray | None:
    """``bool (N,)``: the cells further than the reference's threshold; None without a reference."""
    if not ref or ref.get("threshold") is None:
        return None
    return feature_distances(ref, feats, called) > ref["threshold"]
