"""What the pages say besides their figures: text shown as typed, warnings on missing files with
the command that makes them, readable errors, and the caption naming a figure's set."""

from __future__ import annotations

import re

import streamlit as st

from leukemia_core.errors import LeukemiaCoreError
from leukemia_core.paths import weights_dir_label
from leukemia_core.reports.files import how_to_make, missing_what

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


def plain(text: str) -> str:
    """Escape Markdown so that text from a file name or message shows as typed."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def show_missing(kind: str, name: str = "", names: list[str] | None = None) -> None:
    """A warning that a file is missing, with the command(s) that produce it.

    With ``names``, one warning lists every model missing that kind of file.
    """
    names = names or [name]
    if len(names) > 1:
        thing = {"weights": "trained weights", "report": "evaluation report"}.get(kind, kind)
        what = f"No {thing} yet in {weights_dir_label()} for: {', '.join(names)}."
    else:
        what = missing_what(kind, names[0])
    st.warning(plain(what), icon=":material/info:")
    st.code("\n".join(how_to_make(kind, n or "NAME") for n in names), language="bash")


def show_error(exc: Exception, kind: str = "", name: str = "") -> None:
    """A readable error (never a stack trace), with the command that fixes it when known."""
    st.error(plain(str(exc)), icon=":material/error:")
    if kind:
        st.code(how_to_make(kind, name or "NAME"), language="bash")


def safe_load(loader, *args, **kwargs):
    """``loader(*args, **kwargs)``; an unreadable file shows its message and gives None (the page goes on)."""
    try:
        return loader(*args, **kwargs)
    except LeukemiaCoreError as exc:
        show_error(exc)
        return None


def role_caption(report_set: dict, what: str = "") -> None:
    """A caption naming a figure's set and its role (validation: not a test set)."""
    from leukemia_core.reports.sets import role_text

    lead = f"{what} on " if what else ""
    st.caption(f"{lead}{plain(report_set['key'])}, {plain(role_text(report_set))}.")
