"""The per-image steps of the Classify page (explain, tabulate), tested without a browser."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


#: Human names of the CAM methods of :mod:`leukemia_core.explain`.
CAM_METHOD_NAMES = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "scorecam": "Score-CAM"}


def make_explainer(loaded, method: str, scorecam_channels: int = 64):
    """An :class:`~leukemia_core.explain.Explainer` for a loaded model.

    Score-CAM uses at most ``scorecam_channels`` channels (the Explainer caps this at the number
    the explained layer has).
    """
    from ..explain import Explainer

    return Explainer(loaded.model, loaded.cam_layer, method, scorecam_max_n=scorecam_channels)


def explain_image(rgb: np.ndarray, predictor, explainer, threshold: float = 0.5) -> tuple[float, np.ndarray]:
    """P(ALL) and the CAM (``float32 (S, S)`` in [0, 1], on the padded square input) of one image.

    The map explains the class the image is called at ``threshold``: ALL evidence for an ALL call,
    HEM evidence for a HEM call (a second pass only for HEM calls).
    """
    p, maps = explainer.explain_called(predictor.prepare(rgb), threshold)
    return float(p[0]), np.asarray(maps[0], np.float32)


def call_of(p_all: float | None, threshold: float) -> str:
    """``"ALL"``/``"HEM"``, or ``""`` without a probability."""
    from ..inference import label_of

    return "" if p_all is None else label_of(p_all, threshold)


def results_frame(rows: Sequence[dict], threshold: float) -> pd.DataFrame:
    """Classify results table from rows ``{image, model, p_all, error}``: one row per (image, model)."""
    out = [{"image": r["image"], "model": r["model"], "call": call_of(r.get("p_all"), threshold),
            "P(ALL)": None if r.get("p_all") is None else round(float(r["p_all"]), 4),
            "error": r.get("error", "")} for r in rows]
    df = pd.DataFrame(out, columns=["image", "model", "call", "P(ALL)", "error"])
    df["P(ALL)"] = pd.to_numeric(df["P(ALL)"], errors="coerce")
    return df


def results_csv(df: pd.DataFrame, threshold: float) -> bytes:
    """The results table as CSV bytes, with the threshold used in its own column."""
    out = df.copy()
    out.insert(3, "threshold", threshold)
    return out.to_csv(index=False).encode("utf-8")
