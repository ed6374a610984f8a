"""reports.display: human column names with units, tables that never show None/NaN, visible bars,
percentages."""

import numpy as np
import pandas as pd

from leukemia_core.reports.display import (
    HUMAN_NAMES,
    MISSING,
    bar_values,
    display_table,
    human_columns,
    human_name,
    pct,
    shown_name,
    size_across,
)


def test_human_names():
    assert human_name("predict_ms") == HUMAN_NAMES["predict_ms"]
    assert human_name("load_time_ms") == "load time (ms)"
    assert human_name("train_img_s") == HUMAN_NAMES["train_img_s"]
    assert human_name("x_img_s") == "x (images/s)"
    assert human_name("peak_mb") == "peak (MB)"
    assert human_name("cold_start_s") == "cold start (s)"
    assert human_name("model") == "model" and human_name("some_field") == "some field"
    df = human_columns(pd.DataFrame({"predict_ms": [1.0], "model": ["m"]}))
    assert list(df.columns) == [HUMAN_NAMES["predict_ms"], "model"]


def test_shown_name():
    assert shown_name("acc", percent=["acc"]) == "acc (%)"
    assert shown_name("t", units={"t": "s"}) == "t (s)"
    assert shown_name("x") == "x"


def test_display_table_formats_and_fills_gaps():
    df = pd.DataFrame({"acc": [0.5, None], "auc": [0.91234, 0.8], "n": [3, 4], "r": [0.25, 0.5],
                       "name": ["a", None], "ok": [True, False], "t": [1.5, np.nan]}, index=[5, 6])
    out, formats = display_table(df, percent=["acc", "r"], decimals={"auc": 2}, units={"t": "s"})
    assert list(out.columns) == ["acc (%)", "auc", "n", "r (%)", "name", "ok", "t (s)"]
    assert out.index.tolist() == [0, 1]
    assert out["acc (%)"].tolist() == ["50.0%", MISSING]  # a gap makes the column text
    assert out["r (%)"].tolist() == [25.0, 50.0] and formats["r (%)"] == "%.1f%%"  # no gap: stays numeric
    assert out["auc"].tolist() == [0.91234, 0.8] and formats["auc"] == "%.2f"
    assert out["n"].tolist() == [3, 4] and formats["n"] == "%.0f"
    assert out["name"].tolist() == ["a", MISSING] and out["ok"].tolist() == ["yes", "no"]
    assert out["t (s)"].tolist() == ["1.500", MISSING]
    assert "acc (%)" not in formats and "name" not in formats
    shown = out.astype(str).to_numpy().ravel().tolist()
    assert not any(v in ("None", "nan", "NaN") for v in shown)


def test_bar_values_never_hide_a_bar():
    ys, texts = bar_values([0.5, 0.0, None, float("nan")])
    assert ys == [0.5, 0.0, 0.0, 0.0]
    assert texts == ["50.0%", "0 (zero)", "n/a (undefined)", "n/a (undefined)"]
    assert bar_values([0.12345], percent=False) == ([0.12345], ["0.123"])
    assert bar_values([]) == ([], [])


def test_pct_rounds_to_one_decimal_and_names_a_missing_value():
    assert pct(0.8749) == "87.5%" and pct(1) == "100.0%" and pct(np.float32(0.0)) == "0.0%"
    assert pct(None) == pct(float("nan")) == pct("not a number") == pct([0.5]) == MISSING == "n/a"


def test_size_across_one_decimal_or_nothing():
    assert size_across(1.6249) == " · 1.6 red cells across"
    assert size_across(None) == ""


def test_display_table_never_shows_none():
    import pandas as pd

    df = pd.DataFrame({"model": ["a", None], "balanced accuracy": [0.875, None], "ROC AUC": [0.9, 0.75],
                       "cells": [12, None], "held": [True, False]})
    shown, formats = display_table(df, percent=["balanced accuracy"], decimals={"ROC AUC": 3},
                                           units={"cells": "count"})
    assert list(shown.columns) == ["model", "balanced accuracy (%)", "ROC AUC", "cells (count)", "held"]
    assert shown.to_dict("list") == {"model": ["a", "n/a"], "balanced accuracy (%)": ["87.5%", "n/a"],
                                     "ROC AUC": [0.9, 0.75], "cells (count)": ["12", "n/a"], "held": ["yes", "no"]}
    assert formats == {"ROC AUC": "%.3f"}  # a complete numeric column stays numeric (sortable)
    ys, texts = bar_values([0.5, 0.0, None, float("nan")])
    assert ys == [0.5, 0.0, 0.0, 0.0] and texts == ["50.0%", "0 (zero)", "n/a (undefined)", "n/a (undefined)"]
    assert human_name("predict_ms") == "predict, one image (ms)"
    assert human_name("x_img_s") == "x (images/s)"
