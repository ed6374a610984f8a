"""Classify page steps: read an image cell by cell with one model, keep what the page needs to
redraw it at any threshold without running the model again.

For every cell both maps are kept (evidence for ALL and for HEM), so the map shown always explains
the call at the current threshold, and moving the threshold re-labels stored results only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leukemia_core.cells.finder import Cell
from leukemia_core.models.calibration import Calibration
from leukemia_core.models.ood import NOTE_OOD, is_outside


@dataclass
class CellResult:
    """One model's reading of one image: cells, crops, calibrated P(ALL) and both maps per cell."""

    cells: list[Cell]
    crops: np.ndarray            # uint8 (N, S, S, 3)
    p_all: np.ndarray            # float (N,), calibrated
    maps_all: np.ndarray | None  # float16 (N, S, S): evidence for ALL; None while the maps load
    maps_hem: np.ndarray | None  # float16 (N, S, S): evidence for HEM; None while the maps load
    whole_image: bool
    notes: list[str] = field(default_factory=list)
    calibration: Calibration = Calibration()

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays kept (crops, P(ALL), both maps): what the session store counts."""
        maps = sum(m.nbytes for m in (self.maps_all, self.maps_hem) if m is not None)
        return int(self.crops.nbytes + self.p_all.nbytes + maps)

    @property
    def has_maps(self) -> bool:
        """False for a call made on ONNX Runtime before TensorFlow (the maps) was ready."""
        return self.maps_all is not None and self.maps_hem is not None

    def counted(self) -> np.ndarray:
        if self.whole_image:
            return np.ones(1, bool)
        whole = np.array([not c.touches_border for c in self.cells])
        return whole if whole.any() else np.ones(len(whole), bool)

    def image_p(self) -> float:
        return float(self.p_all[self.counted()].mean())

    def image_call(self, thr: float) -> str:
        """The image's call at cell threshold ``thr`` (fields use the validated field offset)."""
        n = 0 if self.whole_image else len(self.cells)
        return "ALL" if self.image_p() >= self.calibration.image_threshold(thr, n) else "HEM"

    def calls(self, thr: float) -> list[str]:
        return ["ALL" if p >= thr else "HEM" for p in self.p_all]

    def refer(self, thr: float) -> np.ndarray:
        return self.calibration.refer(self.p_all, thr)

    def map_of(self, i: int, thr: float) -> np.ndarray:
        """The map explaining cell ``i``'s call at ``thr`` (float32 (S, S) in [0, 1]; zeros while the maps load)."""
        if not self.has_maps:
            return np.zeros(self.crops.shape[1:3], np.float32)
        return (self.maps_all[i] if self.p_all[i] >= thr else self.maps_hem[i]).astype(np.float32)


#: Results one session keeps at most (entries of (image, model, weights, CAM method)).
SESSION_RESULTS = 400
#: Bytes of results one session keeps at most (crops and both maps of every cell read): a crowded
#: field of 27 cells takes about 1.2 MB, so about 50 such fields. The oldest results go first and
#: are recomputed if asked for again; eight sessions hold at most eight times this.
SESSION_RESULT_BYTES = 64 * 2**20


def store_result(cache: dict, key, result: CellResult, max_entries: int = SESSION_RESULTS,
                 max_bytes: int = SESSION_RESULT_BYTES) -> None:
    """Keep ``result`` in a session's store (``dict``, oldest first), dropping the oldest entries
    beyond ``max_entries`` or ``max_bytes`` (:attr:`CellResult.nbytes`); the newest always stays."""
    cache.pop(key, None)
    cache[key] = result
    total = sum(r.nbytes for r in cache.values())
    while len(cache) > 1 and (len(cache) > max_entries or total > max_bytes):
        total -= cache.pop(next(iter(cache))).nbytes


def read_cells(rgb: np.ndarray, predictor, explainer, calibration: Calibration | None = None) -> CellResult:
    """Find, crop, score and explain (both classes) every white cell of ``rgb``; ``calibration``
    (a site profile's) replaces the model's stored one when given."""
    found = predictor.find_cells(rgb)
    x = found.crops.astype(np.float32) / np.float32(255.0)
    p_raw, maps_all = explainer.predict_and_explain(x, class_index=1)
    _, maps_hem = explainer.predict_and_explain(x, class_index=0)
    cal = calibration or predictor.loaded.calibration
    notes = list(found.notes)
    if not found.whole_image and is_outside(cal.reference, found.crops):  # as predict does
        notes.append(NOTE_OOD)
    return CellResult(found.cells, found.crops, cal.apply(np.asarray(p_raw, np.float64)),
                      np.asarray(maps_all, np.float16), np.asarray(maps_hem, np.float16), found.whole_image,
                      notes, cal)


def read_calls(rgb: np.ndarray, predictor, calibration: Calibration | None = None) -> CellResult:
    """Find, crop and score every white cell of ``rgb`` without maps (an ONNX Runtime predictor:
    no TensorFlow); :func:`add_maps` adds them when the explainer is ready."""
    a = predictor.analyze(predictor.find_cells(rgb))
    cal = calibration or predictor.loaded.calibration
    notes = [n for n in a.found.notes if n != NOTE_OOD]
    if not a.found.whole_image and is_outside(cal.reference, a.found.crops):  # as read_cells does
        notes.append(NOTE_OOD)
    return CellResult(a.found.cells, a.found.crops, cal.apply(a.p_raw), None, None, a.found.whole_image, notes, cal)


def add_maps(res: CellResult, explainer) -> CellResult:
    """``res`` with both maps of every cell from ``explainer``; its P(ALL) (the call) is kept."""
    from dataclasses import replace

    x = res.crops.astype(np.float32) / np.float32(255.0)
    _, maps_all = explainer.predict_and_explain(x, class_index=1)
    _, maps_hem = explainer.predict_and_explain(x, class_index=0)
    return replace(res, maps_all=np.asarray(maps_all, np.float16), maps_hem=np.asarray(maps_hem, np.float16))


def summary_row(image: str, model: str, res: CellResult | None, thr: float, error: str = "") -> dict:
    """One results-table row for (image, model) at ``thr``."""
    if res is None:
        return {"image": image, "model": model, "call": "", "P(ALL)": None, "cells": None, "ALL cells": None,
                "blast %": None, "refer": None, "threshold": None, "check by eye": "", "error": error}
    calls = res.calls(thr)
    n = 0 if res.whole_image else len(res.cells)
    n_all = sum(c == "ALL" for c in calls) if n else None
    p = res.image_p()
    return {"image": image, "model": model, "call": res.image_call(thr), "P(ALL)": round(p, 4),
            "cells": n, "ALL cells": n_all, "blast %": round(100 * n_all / n, 1) if n else None,
            "refer": int(res.refer(thr).sum()),
            "threshold": round(res.calibration.image_threshold(thr, n), 2),
            "check by eye": "; ".join(res.notes), "error": ""}


def results_table(rows: list[dict]) -> pd.DataFrame:
    cols = ["image", "model", "call", "P(ALL)", "cells", "ALL cells", "blast %", "refer", "threshold",
            "check by eye", "error"]
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
