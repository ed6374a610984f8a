"""Classify page tables and session store (no Streamlit in it): a reading of one image by one model
is a :class:`~leukemia_core.cells.analyze.ImageAnalysis` (made by
:func:`~leukemia_core.cells.analyze.read_cells` / ``read_calls`` + ``add_maps``); it keeps both maps
of every cell, so moving the threshold re-labels stored results only. Here: the session's store of
those readings, the results table's rows (the core's summary row in the page's columns) and the
models' consensus.
"""

from __future__ import annotations

import pandas as pd

from leukemia_core.cells.analyze import ImageAnalysis
from leukemia_core.rows import UNREAD_LABEL, UNREAD_REASON


#: Results one session keeps at most (entries of (image, model, weights, CAM method)).
SESSION_RESULTS = 400
#: Bytes of results one session keeps at most (crops and both maps of every cell read): a crowded
#: field of 27 cells takes about 1.2 MB, so about 50 such fields. The oldest results go first and
#: are recomputed if asked for again; eight sessions hold at most eight times this.
SESSION_RESULT_BYTES = 64 * 2**20


def store_result(cache: dict, key, result: ImageAnalysis, max_entries: int = SESSION_RESULTS,
                 max_bytes: int = SESSION_RESULT_BYTES) -> None:
    """Keep ``result`` in a session's store (``dict``, oldest first), dropping the oldest entries
    beyond ``max_entries`` or ``max_bytes`` (:attr:`ImageAnalysis.nbytes`); the newest always stays."""
    cache.pop(key, None)
    cache[key] = result
    total = sum(r.nbytes for r in cache.values())
    while len(cache) > 1 and (len(cache) > max_entries or total > max_bytes):
        total -= cache.pop(next(iter(cache))).nbytes


def summary_row(image: str, model: str, res: ImageAnalysis | None, thr: float, error: str = "") -> dict:
    """One results-table row for (image, model) at ``thr``: :meth:`ImageAnalysis.summary` in the
    page's columns (an empty row with ``error`` when ``res`` is None)."""
    if res is None:
        return {"image": image, "model": model, "call": UNREAD_LABEL, "reason": UNREAD_REASON, "P(ALL)": None,
                "cells": None, "ALL cells": None, "NO CALL cells": None, "blast %": None, "refer": None,
                "threshold": None, "check by eye": "", "error": error}
    s = res.summary(thr)
    n = s["cells"]
    return {"image": image, "model": model, "call": s["call"], "reason": s["reason"], "P(ALL)": round(s["p_all"], 4),
            "cells": n, "ALL cells": s["all_cells"] if n else None, "NO CALL cells": s["no_call"] if n else None,
            "blast %": round(s["blast_pct"], 1) if s["blast_pct"] is not None else None, "refer": s["refer"],
            "threshold": round(s["image_threshold"], 2), "check by eye": "; ".join(s["notes"]), "error": ""}


def results_table(rows: list[dict]) -> pd.DataFrame:
    """The page's results table of :func:`summary_row` rows (also its CSV download)."""
    cols = ["image", "model", "call", "reason", "P(ALL)", "cells", "ALL cells", "NO CALL cells", "blast %", "refer",
            "threshold", "check by eye", "error"]
    return pd.DataFrame(rows, columns=cols)


def consensus(df: pd.DataFrame) -> pd.DataFrame:
    """Per image: the majority call of the models and their agreement; disagreeing images first."""
    ok = df[df["error"] == ""]
    if ok.empty:
        return pd.DataFrame(columns=["image", "majority", "agreement", "calls"])
    out = []
    for image, g in ok.groupby("image", sort=False):
        counts = g["call"].value_counts()
        top = counts.index[0] if len(counts) == 1 or counts.iloc[0] > counts.iloc[1] else "tie"
        out.append({"image": image, "majority": top, "agreement": round(counts.iloc[0] / len(g), 2),
                    "calls": ", ".join(f"{m}: {c}" for m, c in zip(g["model"], g["call"]))})
    return pd.DataFrame(out).sort_values(["agreement", "image"], kind="stable").reset_index(drop=True)
