"""Training throughput on white-cell crops, as :mod:`leukemia_core.training.train` trains.

The project's path: ``model.fit`` on :func:`~leukemia_core.data.pipeline.balanced_batches` (a Keras
``PyDataset`` drawing crops by dataset and class) through
:func:`~leukemia_core.training.train.training_model` (the augmentation layers in front of the classifier).
The floor: the classifier alone (no augmentation) fitted on the same batches already in memory
(numpy arrays, ``batch_size`` = the same). ``pipeline_ratio = train_img_s / train_memory_img_s``.
Both are compiled as training compiles (Adam, cosine schedule, label-smoothed cross-entropy);
medians of steady-state steps, the first step of every ``fit`` call (iterator start-up) reported
apart. The augmented model on the in-memory batches separates the two costs in the profile.
"""

from __future__ import annotations

import gc
import statistics
import time

import numpy as np

from .loading import BenchImages
from ..timing import med_ms, ratio, rnd, spread_ms, step_timer

TRAIN_BATCH = 32
#: As :mod:`leukemia_core.training.train` compiles (its defaults).
LEARNING_RATE, LABEL_SMOOTHING = 1e-3, 0.05


def compile_for_training(model, decay_steps: int = 1000) -> None:
    """Compile as training does: Adam on a cosine schedule, label-smoothed cross-entropy."""
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(LEARNING_RATE, decay_steps=decay_steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=LABEL_SMOOTHING), metrics=["accuracy"])


def training_cells(loaded, images: BenchImages) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every sample's cell crops at the model's scale: ``uint8 (N, S, S, 3)``, labels, datasets."""
    from ..cells.analyze import crop_key, find_and_crop

    xs, ys, ds = [], [], []
    for rgb, label, dataset in zip(images.decoded, images.labels, images.datasets):
        crops = find_and_crop(rgb, *crop_key(loaded)).crops
        xs.append(crops)
        ys += [int(label)] * len(crops)
        ds += [dataset] * len(crops)
    return np.concatenate(xs), np.array(ys, np.int32), np.array(ds)


def bench_training(loaded, images: BenchImages, rounds: int, steps: int, seed: int = 0) -> dict:
    """``model.fit`` throughput fed by ``balanced_batches`` with augmentation, against memory.

    Args:
        loaded: the model (it is trained here: bench it last).
        rounds: ``fit`` calls per source, alternating.
        steps: timed steps per call (the first of ``steps + 1`` is left out).

    Returns:
        ``{"train_img_s", "train_memory_img_s", "pipeline_ratio", "profile"}``.
    """
    from ..data.pipeline import balanced_batches, sample_weights
    from ..training.train import training_model

    x, y, datasets = training_cells(loaded, images)
    batches = balanced_batches(x, y, sample_weights(y, datasets), TRAIN_BATCH, steps + 1, seed)
    # the batches alone (no model): what drawing and scaling them costs
    iter_s = []
    for _ in range(2):
        t0 = time.perf_counter()
        drawn = [batches[i] for i in range(len(batches))]
        iter_s.append(time.perf_counter() - t0)
    x_mem = np.concatenate([a for a, _ in drawn])
    y_mem = np.concatenate([b for _, b in drawn])

    classifier = loaded.model
    trainer = training_model(classifier, True, seed)
    compile_for_training(trainer)
    compile_for_training(classifier)
    timer = step_timer()
    t0 = time.perf_counter()
    # warm-up: traces each train step (one step is enough)
    trainer.fit(batches, epochs=1, steps_per_epoch=1, verbose=0, callbacks=[timer])
    classifier.fit(x_mem[:TRAIN_BATCH], y_mem[:TRAIN_BATCH], batch_size=TRAIN_BATCH, verbose=0, shuffle=False)
    trainer.fit(x_mem[:TRAIN_BATCH], y_mem[:TRAIN_BATCH], batch_size=TRAIN_BATCH, verbose=0, shuffle=False)
    warm_s = time.perf_counter() - t0

    runs = {
        "pipeline": lambda: trainer.fit(batches, epochs=1, verbose=0, callbacks=[timer]),
        "memory": lambda: classifier.fit(x_mem, y_mem, batch_size=TRAIN_BATCH, epochs=1, verbose=0, shuffle=False,
                                         callbacks=[timer]),
        "memory_augmented": lambda: trainer.fit(x_mem, y_mem, batch_size=TRAIN_BATCH, epochs=1, verbose=0,
                                                shuffle=False, callbacks=[timer]),
    }
    step_s: dict[str, list[float]] = {k: [] for k in runs}
    first_s: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(max(1, rounds)):
        for k, fit in runs.items():
            gc.collect()
            fit()
            d = np.diff(timer.stamps)
            first_s[k].append(float(d[0]))
            step_s[k].extend(d[1:].tolist() or [float(d[0])])
    img_s = {k: TRAIN_BATCH / statistics.median(v) for k, v in step_s.items()}
    return {
        "train_img_s": img_s["pipeline"],
        "train_memory_img_s": img_s["memory"],
        "pipeline_ratio": ratio(img_s["pipeline"], img_s["memory"]),
        "profile": {
            "train_batch": TRAIN_BATCH,
            "cells": len(y),
            "step_ms_pipeline": spread_ms(step_s["pipeline"]),
            "step_ms_memory": spread_ms(step_s["memory"]),
            "step_ms_memory_augmented": spread_ms(step_s["memory_augmented"]),
            "train_memory_augmented_img_s": rnd(img_s["memory_augmented"], 2),
            "first_step_ms_pipeline": rnd(med_ms(first_s["pipeline"])),
            "first_step_ms_memory": rnd(med_ms(first_s["memory"])),
            "batches_alone_ms_per_batch": rnd(min(iter_s) * 1e3 / len(batches)),
            "warmup_fit_s": rnd(warm_s, 2),
        },
    }
