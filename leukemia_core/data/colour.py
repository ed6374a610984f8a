"""Colour statistics of a cell crop: what the colour-only baseline and the colour references of the
models and of a site profile read. They sit with the data: nothing here knows a model."""

from __future__ import annotations

import numpy as np


def colour_features(x: np.ndarray) -> np.ndarray:
    """``uint8 (N, H, W, 3)`` -> ``float64 (N, 9)``: per-channel mean, std, median in [0, 1] over
    the non-black pixels of each crop (the whole crop when it is all black)."""
    out = np.zeros((len(x), 9))
    for i, crop in enumerate(x):
        px = crop.reshape(-1, 3)
        cell = px[px.max(axis=1) > 8]
        f = (cell if len(cell) else px).astype(np.float64) / 255.0
        out[i] = np.concatenate([f.mean(0), f.std(0), np.median(f, axis=0)])
    return out
