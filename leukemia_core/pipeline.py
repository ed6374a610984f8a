"""The input pipeline: decode and resize each image once, then batch and augment with tf.data.

:func:`load_images` decodes every record once (threads; OpenCV and Pillow release the GIL) into
one ``uint8`` array, optionally cached on disk so a resumed or second training run skips decoding.
:func:`train_dataset` and :func:`eval_dataset` wrap such arrays; augmentation runs on whole batches
inside the graph, so an epoch costs what the model costs.
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
    h = hashlib.sha1(f"{size}|{noise_reduction}|v1".encode())
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


def train_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int = 0, augment=None):
    """Shuffled, batched, augmented ``tf.data.Dataset`` of ``(float32 [0,1] images, one-hot labels)``.

    Args:
        x: uint8 ``(N, S, S, 3)`` from :func:`load_images`.
        y: int ``(N,)`` class ids.
        augment: ``fn(images, step)`` from :func:`leukemia_core.augment.make_augmenter`, or None.
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    ds = ds.enumerate()

    def to_float(step, xy):
        images, labels = xy
        images = tf.cast(images, tf.float32) / 255.0
        if augment is not None:
            images = augment(images, step)
        return images, tf.one_hot(labels, 2)

    return ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def eval_dataset(x: np.ndarray, y: np.ndarray | None, batch_size: int):
    """Batched ``tf.data.Dataset`` in order, no augmentation (labels one-hot when given)."""
    import tensorflow as tf

    if y is None:
        ds = tf.data.Dataset.from_tensor_slices(x).batch(batch_size)
        return ds.map(lambda a: tf.cast(a, tf.float32) / 255.0).prefetch(tf.data.AUTOTUNE)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    return ds.map(lambda a, b: (tf.cast(a, tf.float32) / 255.0, tf.one_hot(b, 2))).prefetch(tf.data.AUTOTUNE)
