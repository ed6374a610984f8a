"""Is an input unlike the training data? A stain/colour-profile check on cell crops.

Reference statistics are fitted on the training cells (by ``evaluate``, stored with the
calibration): mean and covariance of the nine colour statistics of each cell
(:func:`leukemia_core.data.colour.colour_features`: per-channel mean, std, median over the cell's
pixels). A cell's distance is its Mahalanobis distance to that reference; the flag threshold is
the :data:`PERCENTILE` th percentile of the validation cells' distances. An image is flagged when
the median distance of its cells exceeds the threshold ("outside what the model was trained on:
check by eye"). Other flags (no cell found, grayscale, too small) come from
:mod:`leukemia_core.cells.analyze`.
"""

from __future__ import annotations

import numpy as np

PERCENTILE = 99.0
NOTE_OOD = "stain/colour profile outside what the model was trained on; check by eye"


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
