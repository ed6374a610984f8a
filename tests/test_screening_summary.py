"""Per-folder summary of a screen output (leukemia_core.screening.summary), on hand-made rows."""

from __future__ import annotations

import pandas as pd

from leukemia_core.screening.summary import SUMMARY_COLUMNS, summarise, summarise_output
from leukemia_core.rows import write_part


def _img(path, label, notes="", error="", model="m"):
    return {"path": path, "model": model, "label": label, "notes": notes, "error": error}


def _cell(path, label, refer=False, model="m"):
    return {"path": path, "model": model, "label": label, "refer": refer}


def test_summary_per_folder_and_model():
    images = pd.DataFrame([_img("a/1.png", "ALL"), _img("a/2.png", "HEM", notes="grayscale"),
                           _img("a/3.png", "", error="bad"), _img("b/1.png", "HEM"), _img("a/1.png", "HEM", model="n")])
    cells = pd.DataFrame([_cell("a/1.png", "ALL"), _cell("a/1.png", "ALL", refer=True), _cell("a/2.png", "HEM"),
                          _cell("a/2.png", "HEM"), _cell("a/1.png", "HEM", model="n")])
    s = summarise(images, cells).set_index(["folder", "model"])
    a = s.loc[("a", "m")]
    assert (a["images"], a["read"], a["errors"], a["cells"], a["all_cells"]) == (3, 2, 1, 4, 2)
    assert a["blast_pct"] == 50.0 and a["refer"] == 1 and a["images_all"] == 1 and a["flagged"] == 1
    b = s.loc[("b", "m")]
    assert b["cells"] == 0 and pd.isna(b["blast_pct"]) and b["flagged"] == 0
    assert s.loc[("a", "n")]["blast_pct"] == 0.0


def test_empty_and_from_files(tmp_path):
    assert list(summarise(pd.DataFrame(), pd.DataFrame()).columns) == SUMMARY_COLUMNS
    write_part(tmp_path, "images", [{**_img("x/1.png", "ALL"), "n_cells": 1}])
    write_part(tmp_path, "cells", [_cell("x/1.png", "ALL")])
    s = summarise_output(tmp_path)
    assert s.to_dict("records")[0]["blast_pct"] == 100.0 and s.loc[0, "cells"] == 1
