"""The input pipeline: decode each image once into a ``uint8`` array, then feed balanced batches.

:func:`load_images` decodes every record once (threads; OpenCV and Pillow release the GIL) into
one ``uint8`` array, optionally cached on disk so a resumed or second training run skips decoding
(cell crops: :func:`leukemia_core.cells.dataset.extract_cells`). :func:`balanced_batches` draws
training batches from such arrays with plain NumPy, so training needs no tf.data and runs on the
JAX backend too; augmentation runs as Keras layers in front of the model
(:mod:`leukemia_core.augment`).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from .datasets import Record
from .errors import ImageReadError
from .images import read_image
from .preprocess import prepare


def _load_one(path: Path, size: int, noise_reduction: bool):
    try:
        return prepare(read_image(path), size, noise_reduction), None
    except ImageReadError as exc:
        return None, str(exc)


def _cache_key(records: Sequence[Record], size: int, noise_reduction: bool) -> str:
    return files_key(records, f"{size}|{noise_reduction}|v1")


def files_key(records: Sequence[Record], settings: str) -> str:
    """A short cache key for ``settings`` applied to these files (path, size and mtime of each)."""
    h = hashlib.sha1(settings.encode())
    for r in records:
        st = r.path.stat()
        h.update(f"{r.path.resolve()}|{st.st_size}|{int(st.st_mtime)}\n".encode())
    return h.hexdigest()[:20]


def load_images(records: Sequence[Record], size: int, noise_reduction: bool = True,
                cache_dir: Path | None = None, workers: int | None = None):
    """Decode, denoise and resize every record once.

    Returns:
        ``(x, y, kept, errors)``: ``x`` uint8 ``(N, size, size, 3)``, ``y`` int32 ``(N,)`` (0 HEM,
        1 ALL), the records that loaded, and ``(record, message)`` for those that did not.
    """
    records = list(records)
    cache_file = None
    if cache_dir is not None and records:
        cache_file = Path(cache_dir) / f"images-{_cache_key(records, size, noise_reduction)}.npz"
        if cache_file.is_file():
            with np.load(cache_file) as z:
                ok = z["ok"]
                errors = [(r, "could not be read (cached result)") for r, good in zip(records, ok) if not good]
                kept = [r for r, good in zip(records, ok) if good]
                return z["x"], z["y"], kept, errors
    workers = workers or min(8, (os.cpu_count() or 2) * 2)
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda r: _load_one(r.path, size, noise_reduction), records))
    kept, arrays, errors = [], [], []
    for r, (arr, err) in zip(records, results):
        if arr is None:
            errors.append((r, err))
        else:
            kept.append(r)
            arrays.append(arr)
    x = np.stack(arrays) if arrays else np.zeros((0, size, size, 3), np.uint8)
    y = np.array([r.y for r in kept], np.int32)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        ok = np.array([arr is not None for arr, _ in results])
        tmp = cache_file.with_suffix(".tmp.npz")
        np.savez(tmp, x=x, y=y, ok=ok)
        tmp.replace(cache_file)
    return x, y, kept, errors


def class_weights(y: np.ndarray) -> dict[int, float]:
    """Inverse-frequency weights ``n / (2 * n_c)`` for the two classes (all 1.0 when a class is absent)."""
    n = len(y)
    counts = [int(np.sum(y == c)) for c in (0, 1)]
    if min(counts) == 0:
        return {0: 1.0, 1: 1.0}
    return {c: float(n / (2 * counts[c])) for c in (0, 1)}


def sample_weights(y: np.ndarray, datasets: Sequence[str], shares: dict[str, float] | None = None) -> np.ndarray:
    """Per-sample drawing weights: each dataset gets its ``shares`` entry (equal shares by default)
    and within a dataset the two classes are drawn equally often. Sums to 1."""
    datasets = np.asarray(datasets)
    names = sorted(set(datasets.tolist()))
    shares = {n: (shares or {}).get(n, 1.0) for n in names}
    total = sum(shares.values())
    w = np.zeros(len(y), np.float64)
    for n in names:
        in_ds = datasets == n
        classes = [c for c in (0, 1) if np.any(in_ds & (y == c))]
        for c in classes:
            sel = in_ds & (y == c)
            w[sel] = shares[n] / total / len(classes) / sel.sum()
    return w / w.sum()


def balanced_batches(x: np.ndarray, y: np.ndarray, weights: np.ndarray, batch_size: int, steps: int,
                     seed: int = 0):
    """A ``keras.utils.PyDataset`` of ``(float32 [0, 1] (B, S, S, 3), one-hot float32 (B, 2))``.

    Samples are drawn with replacement by ``weights`` (see :func:`sample_weights`), so that
    ``model.fit`` runs the same on the TensorFlow and JAX backends without tf.data. Batch ``i`` of
    epoch ``e`` depends only on ``(seed, e, i)``.
    """
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
