"""What the AppTest tests of the pages share: running the app, reading what a run drew (texts,
tables, charts, captions), and setting the sidebar."""

from __future__ import annotations

import re

import pytest
from app_fixtures import APP

from leukemia_core.samples import list_samples

PAGES = ["pages/classify.py", "pages/comparison.py", "pages/validation.py", "pages/about.py"]
TIMEOUT = 180


def run_app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()


def page_text(at) -> str:
    """Every message, markdown, caption and code block of the last run, as one string."""
    parts = []
    for kind in ("markdown", "caption", "warning", "info", "error", "success", "code", "text", "header", "subheader"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts).replace("\\", "")


def no_exception(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def table_with(at, column: str):
    """The first table (interactive or static) of the last run that has ``column``."""
    for df in list(at.dataframe) + list(at.table):
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with a column {column!r}")


def chart_count(at) -> int:
    return len(at.get("plotly_chart"))


def no_none_cells(at) -> None:
    """No table of the last run shows a missing value as None/NaN (they must read "n/a")."""
    for t in list(at.dataframe) + list(at.table):
        df = t.value
        assert not df.isna().any().any(), (list(df.columns), df[df.isna().any(axis=1)])
        assert not df.astype(str).isin(["None", "nan", "NaN"]).any().any(), list(df.columns)


def shown_number(v):
    """A shown table value as a number (None for "n/a"): numeric columns stay numbers, a column with a
    gap is text ("87.5%", "0.023", "n/a")."""
    if isinstance(v, str):
        return None if v == "n/a" else float(v.rstrip("%"))
    return None if v is None or v != v else float(v)  # an empty cell (no blast %: no cell has a call)


def classify_table(at):
    return table_with(at, "blast %")


_CELL_CAPTION = re.compile(r"^(cell \d+|whole image): :(red|blue|gray)\[\*\*(ALL|HEM|NO CALL)\*\*\] (\d\.\d\d)")


def cell_captions(at) -> list[tuple[str, str]]:
    """(call, P(ALL) with 2 decimals) of every cell crop drawn in the Classify gallery, in page order."""
    return [(m.group(3), m.group(4)) for c in at.caption if (m := _CELL_CAPTION.match(c.value))]


def fields_drawn(at) -> int:
    """Images drawn with their cells outlined (or whole, when no cell was found)."""
    caps = [i.proto.imgs[0].caption for i in at.image if i.proto.imgs]
    return sum(c.startswith(("Found white cells", "No white cell found")) for c in caps)


def expected_cells(a, thr) -> list[tuple[str, str]]:
    """What the gallery must show for an analysis: cells by P(ALL), highest first, with their outcomes."""
    labels = a.cell_labels(thr)
    return [(labels[i], f"{a.p_all[i]:.2f}") for i in sorted(range(len(labels)), key=lambda i: -a.p_all[i])]


def same_cells(shown: list[tuple[str, str]], a, thr) -> bool:
    """The gallery shows :func:`expected_cells`, allowing a different outcome only for a cell whose
    shown P(ALL) (rounded to 2 decimals) lies within 0.01 of a decision edge (the threshold or the
    refer band's ends), where the page's and the test's float rounding may fall on either side."""
    want = expected_cells(a, thr)
    lo, hi = a.calibration.band_at(thr)
    edges = [thr] + ([lo, hi] if a.calibration.refer_half_width > 0 else [])
    return len(shown) == len(want) and all(
        s == w or (s[1] == w[1] and min(abs(float(w[1]) - e) for e in edges) <= 0.01)
        for s, w in zip(shown, want))


def sample_of(dataset: str, label: str = ""):
    return next(s for s in list_samples() if s.dataset == dataset and (not label or s.label == label))


def own_threshold_off(at, value: float):
    """Turn off "each model's validated threshold" and set the sidebar threshold."""
    at.toggle(key="app_own_threshold").set_value(False).run()
    return at.slider(key="app_threshold").set_value(value).run()


@pytest.fixture(scope="module")
def tiny_analysis(app_weights):
    """What a ``Predictor`` of the fixture's model reads in each sample (as ``predict`` reads it)."""
    from conftest import analyze_file

    from leukemia_core.inference import Predictor, load_model

    pred = Predictor(load_model("tiny_cnn", app_weights["weights_dir"]))
    return lambda path: analyze_file(pred, path)


def no_machine_path(at) -> None:
    """Nothing the last run wrote names a folder of this machine (the checkout, the weights folder)."""
    import os

    from leukemia_core.paths import PROJECT_ROOT, WEIGHTS_ENV

    text = page_text(at)
    for folder in filter(None, (str(PROJECT_ROOT), os.environ.get(WEIGHTS_ENV))):
        assert folder not in text, f"a machine path on the page: {folder}"
