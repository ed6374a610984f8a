"""Per-folder summary of a ``screen`` output: what a department looks at first.

One row per (folder, model): ``images`` (rows), ``read`` (without error), ``errors``, ``cells``
(found cells), ``all_cells`` (cells called ALL), ``blast_pct`` (``100 * all_cells / cells``; null
without cells), ``refer`` (cells in the refer band), ``images_all`` (images called ALL) and
``flagged`` (read images with a note: check by eye). The folder is the image path's parent.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..rows import read_table

SUMMARY_COLUMNS = ["folder", "model", "images", "read", "errors", "cells", "all_cells", "blast_pct", "refer",
                   "images_all", "flagged"]


def summarise(images: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """The summary (see the module) of an images table and a cells table (screen's columns)."""
    if images.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    img = images.assign(folder=[str(Path(p).parent) for p in images["path"]],
                        ok=images["error"].fillna("") == "")
    img["flag"] = img["ok"] & (img["notes"].fillna("") != "")
    img["is_all"] = img["ok"] & (img["label"] == "ALL")
    g = img.groupby(["folder", "model"], sort=True)
    out = pd.DataFrame({"images": g.size(), "read": g["ok"].sum(), "images_all": g["is_all"].sum(),
                        "flagged": g["flag"].sum()})
    out["errors"] = out["images"] - out["read"]
    if cells.empty:
        out["cells"], out["all_cells"], out["refer"] = 0, 0, 0
    else:
        c = cells.assign(folder=[str(Path(p).parent) for p in cells["path"]])
        c["is_all"] = c["label"] == "ALL"
        cg = c.groupby(["folder", "model"])
        cs = pd.DataFrame({"cells": cg.size(), "all_cells": cg["is_all"].sum(), "refer": cg["refer"].sum()})
        out = out.join(cs, how="left").fillna({"cells": 0, "all_cells": 0, "refer": 0})
    for col in ("images", "read", "errors", "cells", "all_cells", "refer", "images_all", "flagged"):
        out[col] = out[col].astype(int)
    out["blast_pct"] = [round(100.0 * a / n, 1) if n else None for a, n in zip(out["all_cells"], out["cells"])]
    return out.reset_index()[SUMMARY_COLUMNS]


def summarise_output(out: Path) -> pd.DataFrame:
    """:func:`summarise` of the Parquet tables under ``out`` (a ``screen --out`` folder)."""
    return summarise(read_table(out, "images").to_pandas(), read_table(out, "cells").to_pandas())
