"""The input pipeline: balanced batches from ``uint8`` cell crops, and batched prediction.

Crops come decoded once (and cached) from :func:`leukemia_core.cells.dataset.extract_cells`.
:func:`balanced_batches` draws training batches from them with plain NumPy, so training needs no
tf.data and runs on the JAX backend too; augmentation runs as Keras layers in front of the model
(:mod:`leukemia_core.data.augment`). :func:`sample_weights` also weights the calibration fit.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


#: How a training batch is drawn (``train --sampling``), as the manifest says it.
SAMPLING = {"dataset": "balanced within each dataset",
            "class": "the two classes equally often; within a class, datasets by their shares"}


def sample_weights(y: np.ndarray, datasets: Sequence[str], shares: dict[str, float] | None = None,
                   by: str = "dataset") -> np.ndarray:
    """Per-sample drawing weights, summing to 1 (``float64 (N,)``, non-negative).

    ``by="dataset"``: each dataset gets its ``shares`` entry (equal shares by default) and within a
    dataset the two classes are drawn equally often, so a dataset of one class (BCCD: normal cells
    only) adds its whole share to that class. ``by="class"``: the two classes are drawn equally
    often overall, and within a class the datasets holding it by their shares, so a dataset of one
    class shares its class's half with the others instead of tilting the batches towards it.
    Within a (dataset, class) every sample is drawn equally often.

    ``y``: ``int (N,)`` class ids (0 HEM, 1 ALL); ``datasets``: ``(N,)`` names.
    """
    if by not in SAMPLING:
        raise ValueError(f"sampling by {by!r}: expected one of {', '.join(SAMPLING)}")
    datasets = np.asarray(datasets)
    y = np.asarray(y)
    if not len(y):
        return np.zeros(0, np.float64)
    names = sorted(set(datasets.tolist()))
    shares = {n: (shares or {}).get(n, 1.0) for n in names}
    present = {(n, c): bool(np.any((datasets == n) & (y == c))) for n in names for c in (0, 1)}
    w = np.zeros(len(y), np.float64)
    for n in names:
        for c in (0, 1):
            if not present[n, c]:
                continue
            if by == "dataset":  # the dataset's share, split between the classes it holds
                part = shares[n] / sum(shares.values()) / sum(present[n, k] for k in (0, 1))
            else:  # the class's half, split between the datasets holding it
                part = shares[n] / sum(shares[m] for m in names if present[m, c])
            sel = (datasets == n) & (y == c)
            w[sel] = part / sel.sum()
    return w / w.sum()


def balanced_batches(x: np.ndarray, y: np.ndarray, weights: np.ndarray, batch_size: int, steps: int,
                     seed: int = 0):
    """A ``keras.utils.PyDataset`` of ``(float32 [0, 1] (B, S, S, 3), one-hot float32 (B, 2))``.

    Samples are drawn with replacement by ``weights`` (see :func:`sample_weights`), so that
    ``model.fit`` runs the same on the TensorFlow and JAX backends without tf.data. Batch ``i`` of
    epoch ``e`` depends only on ``(seed, e, i)``.
    """
    # lazy: Keras imports TensorFlow (about 4 s here); the sampler's weights are used without it (calibration)
    import keras

    class _Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = 0

        def __len__(self):
            return steps

        def on_epoch_end(self):
            self.epoch += 1

        def __getitem__(self, i):
            rng = np.random.default_rng([seed, self.epoch, i])
            idx = rng.choice(len(x), batch_size, p=weights)
            xb = x[idx].astype(np.float32) / np.float32(255.0)
            yb = np.eye(2, dtype=np.float32)[y[idx]]
            return xb, yb

    return _Batches()


def predict_array(model, x: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """``P(ALL)`` float ``(N,)`` for uint8 crops ``(N, S, S, 3)`` (any Keras backend)."""
    if len(x) == 0:
        return np.zeros(0, np.float64)
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].astype(np.float32) / np.float32(255.0)
        out.append(np.asarray(model(xb, training=False))[:, 1])
    return np.concatenate(out).astype(np.float64)
