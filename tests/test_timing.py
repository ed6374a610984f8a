"""timing: interleaved rounds, medians and ratios of the benchmark (arithmetic, never a speed)."""

import numpy as np

from leukemia_core.timing import med_ms, ratio, rnd, spread_ms, step_timer, time_interleaved


def test_rounding_and_ratios_keep_missing_values_missing():
    assert rnd(None) is None and rnd(1.23456) == 1.235 and rnd(2, 1) == 2.0
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None and ratio(1.0, None) is None and ratio(1.0, 0) is None


def test_interleaved_rounds_call_each_function_alike():
    calls = []
    fns = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    times = time_interleaved(fns, repeats=3, warmup=1)
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}
    assert calls == ["a", "b"] + ["a", "b"] * 3  # warm-up first, then one call of each per round
    assert all(t >= 0 for v in times.values() for t in v)
    assert len(time_interleaved({"a": lambda: None}, repeats=0, warmup=0)["a"]) == 1  # at least one round


def test_medians_and_spreads_in_milliseconds():
    assert med_ms([0.001, 0.003, 0.002]) == 2.0
    assert spread_ms([0.003, 0.001, 0.002]) == {"min": 1.0, "median": 2.0, "max": 3.0, "n": 3}


def test_step_timer_stamps_each_training_step():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    timer = step_timer()
    model.fit(np.zeros((8, 2)), np.zeros((8, 1)), batch_size=2, epochs=1, verbose=0, callbacks=[timer])
    assert len(timer.stamps) == 1 + 4 and np.all(np.diff(timer.stamps) >= 0)
