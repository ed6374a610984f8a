"""Timing helpers shared by the benchmark's figures: interleaved rounds, medians, spreads, ratios,
and a Keras callback that stamps every training step."""

from __future__ import annotations

import gc
import statistics
import time
from typing import Callable, Sequence


def rnd(x: float | None, nd: int = 3) -> float | None:
    """``round(float(x), nd)``, None stays None."""
    return None if x is None else round(float(x), nd)


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``; None when either is missing or ``b`` is 0."""
    return None if a is None or b is None or b == 0 else a / b


def time_interleaved(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 2) -> dict[str, list[float]]:
    """Run each function ``warmup`` times, then ``repeats`` rounds calling each once per round.

    Interleaving makes background load hit every function alike, so ratios stay meaningful on a
    busy machine.

    Returns:
        seconds per call, per function (``repeats`` values each).
    """
    for f in fns.values():
        for _ in range(warmup):
            f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    gc.collect()
    for _ in range(max(1, repeats)):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return times


def med_ms(values: Sequence[float]) -> float:
    """Median of seconds, in milliseconds."""
    return statistics.median(values) * 1e3


def spread_ms(values: Sequence[float]) -> dict:
    """``{min, median, max, n}`` of seconds, in milliseconds."""
    v = sorted(values)
    return {"min": rnd(v[0] * 1e3), "median": rnd(med_ms(v)), "max": rnd(v[-1] * 1e3), "n": len(v)}


def step_timer():
    """A Keras callback whose ``stamps`` are ``perf_counter`` at train begin and after every batch
    (``numpy.diff(stamps)`` = seconds per step). Built on call: importing this module needs no Keras."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.stamps: list[float] = []

        def on_train_begin(self, logs=None):
            self.stamps = [time.perf_counter()]

        def on_train_batch_end(self, batch, logs=None):
            self.stamps.append(time.perf_counter())

    return StepTimer()
