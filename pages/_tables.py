"""Tables for people on every page: percentages, units and "n/a" from
:func:`leukemia_core.reports.display.display_table`, drawn with Streamlit, and the summary and
calibration tables several pages show."""

from __future__ import annotations

import streamlit as st

#: What an empty cell of any table shows (Streamlit's default is the word "None").
MISSING = "n/a"


def show_table(df, percent=(), decimals=None, units=None, key: str | None = None, static: bool = False,
               decimals3=(), help: dict | None = None, **kwargs) -> None:  # noqa: A002 (Streamlit's word)
    """A table for people (see :func:`leukemia_core.reports.display_table`): ratio columns as
    percentages with "(%)" in the name, units in the names, "n/a" for missing values, never "None".

    ``static``: ``st.table`` (every column and line shown in full, for short tables with long
    text); else ``st.dataframe``, sortable by value, with each column sized to its content.
    ``help``: a tooltip per column (original name).
    """
    from leukemia_core.reports.display import display_table, shown_name

    dec = dict(decimals or {})
    dec.update({c: 3 for c in decimals3})
    shown, formats = display_table(df, percent, dec, units)
    if static:  # st.table has no column formats: print the numbers
        for c, f in formats.items():
            shown[c] = [f % v for v in shown[c]]
        st.table(shown)
        return
    config = {c: st.column_config.NumberColumn(c, format=f) for c, f in formats.items()}
    for col, text in (help or {}).items():
        name = shown_name(col, percent, units)
        if name in formats:
            config[name] = st.column_config.NumberColumn(name, format=formats[name], help=text)
        elif name in shown.columns:
            config[name] = st.column_config.Column(name, help=text)
    config.update(kwargs.pop("column_config", {}))
    st.dataframe(shown, hide_index=True, key=key, column_config=config, placeholder=MISSING, **kwargs)


#: How summary tables (:func:`leukemia_core.reports.summary_table`) are shown.
SUMMARY_PERCENT = ("accuracy", "balanced accuracy", "sensitivity", "specificity", "F1 ALL")
SUMMARY_UNITS = {"scored": "count", "ROC AUC": "0-1", "threshold": "P(ALL)"}


def show_summary(table, key: str, static: bool = True) -> None:
    """A :func:`~leukemia_core.reports.metrics_table`'s summary columns, short names with tooltips."""
    from leukemia_core.reports.scores import SUMMARY_HELP, summary_table

    show_table(summary_table(table), key=key, static=static, percent=SUMMARY_PERCENT,
               decimals={"ROC AUC": 3}, units=SUMMARY_UNITS, help=SUMMARY_HELP)


def show_calibration_table(reports: dict, key: str) -> None:
    """The calibration table (threshold, field threshold, refer band, ECE) of the given reports."""
    from leukemia_core.reports.thresholds import calibration_table

    show_table(calibration_table(reports), key=key, static=True,
               percent=["balanced accuracy at threshold", "refer share"],
               decimals={"threshold": 2, "ECE before": 3, "ECE after": 3},
               units={"threshold": "P(ALL)", "field threshold": "P(ALL)", "refer band": "P(ALL)",
                      "ECE before": "0-1", "ECE after": "0-1", "validation cells": "count"})
