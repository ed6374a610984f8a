"""Tables, bar values and percentages for people: human column names with units, no
``None``/``NaN`` shown."""

from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd

MISSING = "n/a"

#: Human names, with units, of the raw field names found in bench.json, cam_check.json, manifests.
HUMAN_NAMES = {
    "input_size": "input size (px)", "weights": "weights file", "predict_ms": "predict, one image (ms)",
    "floor_ms": "floor, one image (ms)", "predict_ratio": "predict / floor (ratio)",
    "gradcam_ms": "Grad-CAM, one image (ms)", "gradcam_ratio": "Grad-CAM / predict (ratio)",
    "gradcam_naive_ms": "naive tf-keras-vis Grad-CAM (ms)", "gradcam_naive_ratio": "naive / ours (ratio)",
    "batch_img_s": "batch predict (images/s)", "batch_floor_img_s": "batch floor (images/s)",
    "batch_ratio": "batch / floor (ratio)", "train_img_s": "training (images/s)",
    "train_memory_img_s": "training from memory (images/s)", "pipeline_ratio": "pipeline / memory (ratio)",
    "seconds": "time measured (s)", "n_images": "images scored", "n_flat_maps": "flat maps (images)",
    "mean_energy_on_cells": "mean share of map energy on cells (0-1)",
    "median_energy_on_cells": "median share of map energy on cells (0-1)",
    "share_of_fields_above_0.8": "fields with over 80% of energy on cells (share, 0-1)",
    "share_of_cells_above_0.6": "cells with 60% or more of the energy on the cell (share, 0-1)",
    "n_cells": "cells scored",
    "mask_area_mean": "mean share of field covered by cells (0-1)",
}


def human_name(col: str) -> str:
    """A column name for people: the known ones from :data:`HUMAN_NAMES`, else underscores to
    spaces with the unit of a ``_ms``/``_s``/``_mb`` suffix in brackets."""
    if col in HUMAN_NAMES:
        return HUMAN_NAMES[col]
    for suffix, unit in (("_ms", "ms"), ("_img_s", "images/s"), ("_mb", "MB"), ("_s", "s")):
        if col.endswith(suffix):
            return f"{col[: -len(suffix)].replace('_', ' ')} ({unit})"
    return col.replace("_", " ")


def human_columns(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its columns renamed by :func:`human_name`."""
    return df.rename(columns={c: human_name(c) for c in df.columns})


def _is_missing(v) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def shown_name(col: str, percent: Sequence[str] = (), units: dict[str, str] | None = None) -> str:
    """The name :func:`display_table` gives ``col``."""
    units = units or {}
    return f"{col} (%)" if col in percent else (f"{col} ({units[col]})" if col in units else col)


def display_table(df: pd.DataFrame, percent: Sequence[str] = (), decimals: dict[str, int] | None = None,
                  units: dict[str, str] | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """A copy of ``df`` for a page: no missing value shows as ``None``/``NaN``, units in the names.

    * ``percent`` columns (ratios 0-1) become percentages, named ``"<name> (%)"``;
    * ``decimals`` columns keep that many decimals; ``units`` appends ``" (<unit>)"`` to a name;
    * a numeric column without missing values stays numeric (sortable by value); one with missing
      values becomes text, formatted the same, with :data:`MISSING` in the gaps;
    * text columns get :data:`MISSING` for a missing value.

    Returns the frame and ``{shown column: printf format}`` for the numeric columns left numeric.
    """
    decimals, units = dict(decimals or {}), dict(units or {})
    out = pd.DataFrame(index=df.index)
    formats: dict[str, str] = {}
    for col in df.columns:
        v = df[col]
        name = shown_name(col, percent, units)
        numeric = pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v)
        if col in percent or col in decimals or numeric:
            x = pd.to_numeric(v, errors="coerce").astype(float) * (100 if col in percent else 1)
            digits = 1 if col in percent else decimals.get(col)
            if digits is None:  # plain numbers: integers as integers, else 3 decimals
                whole = x.dropna()
                digits = 0 if len(whole) and bool((whole == whole.round()).all()) else 3
            fmt = f"%.{digits}f" + ("%%" if col in percent else "")
            if x.isna().any():
                out[name] = [MISSING if pd.isna(a) else fmt % a for a in x]
            else:
                out[name] = x.round(digits).astype(int) if digits == 0 else x
                formats[name] = fmt
        elif pd.api.types.is_bool_dtype(v):
            out[name] = v.map({True: "yes", False: "no"})
        else:
            out[name] = [MISSING if _is_missing(a) else a for a in v]
    return out.reset_index(drop=True), formats


def size_across(size: float | None) -> str:
    """The text after a cell's call for its size in red cells (" · 1.6 red cells across"); empty
    where it was not measured."""
    return "" if size is None else f" · {size:.1f} red cells across"


def pct(x) -> str:
    """A ratio as a percentage for people: ``0.8749`` -> ``"87.5%"``; :data:`MISSING` for a missing
    or non-numeric value."""
    try:
        if x is None or x != x:
            return MISSING
        return f"{100 * float(x):.1f}%"
    except (TypeError, ValueError):
        return MISSING


def bar_values(values: Iterable, percent: bool = True) -> tuple[list[float], list[str]]:
    """Heights and labels for a bar chart in which no bar goes unseen: a missing value is drawn at
    height 0 labelled ``n/a (undefined)``, a zero as ``0 (zero)``, others as a percentage (or with
    3 decimals)."""
    ys, texts = [], []
    for v in values:
        if _is_missing(v):
            ys.append(0.0)
            texts.append("n/a (undefined)")
        else:
            ys.append(float(v))
            texts.append("0 (zero)" if float(v) == 0 else (f"{float(v):.1%}" if percent else f"{float(v):.3f}"))
    return ys, texts
