"""``python -m leukemia_core refer-band``: each model's refer band at the stated referral rate
(:data:`~leukemia_core.models.calibration.REFER_RATE`), refitted from the calibrated P(ALL) its
report stores for the validation cells (no model runs), and measured on cells that chose nothing:
the report's test sets and, for the leave-one-lab-out runs in ``model_weights/lolo/``, the lab left
out (each run's band fitted on its own validation cells). Per set: the share of cells referred, the
share of the wrong calls among them (what referring catches) and the accuracy of the calls outside
the band. Writes the band into each shipped model's calibration file (and the copy of the
calibration its report keeps, which the tables read), ``model_weights/refer_band.json`` and the
``refer-band`` block of docs/results.md.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..jsonio import read_json, write_json
from ..models.calibration import REFER_RATE, balanced_weights, calibration_path, read_calibration, refer_band_of

FORMAT = "leukemia_core.refer_band/1"


def _cells(report: dict, keys) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(calibrated P(ALL), y, dataset)`` of every cell of the report's sets named by ``keys``."""
    p, y, ds = [], [], []
    for s in report["sets"]:
        if s["key"] not in keys:
            continue
        for im in s["images"]:
            cells = im.get("cells") or []
            p += list(cells)
            y += [int(im["label"] == "all")] * len(cells)
            ds += [s["dataset"]] * len(cells)
    return np.asarray(p, float), np.asarray(y, int), np.asarray(ds)


def _measure(p: np.ndarray, y: np.ndarray, threshold: float, half: float) -> dict:
    if not len(p):
        return {"cells": 0}
    inside = (p >= threshold - half) & (p <= threshold + half)
    wrong = (p >= threshold) != (y == 1)
    out = ~inside
    return {"cells": int(len(p)), "referred": float(inside.mean()), "wrong_calls": int(wrong.sum()),
            "wrong_calls_referred": float((wrong & inside).sum() / wrong.sum()) if wrong.any() else None,
            "accuracy_outside": float((~wrong[out]).mean()) if out.any() else None,
            "accuracy_all": float((~wrong).mean())}


def band_of_report(report: dict, rate: float = REFER_RATE) -> dict:
    """The band refitted on ``report``'s validation cells, and its figures on every other set."""
    val = [s["key"] for s in report["sets"] if s["key"].endswith("/val")]
    p, y, ds = _cells(report, val)
    thr = float(report["threshold"])
    half, fit = refer_band_of(p, y, balanced_weights(y, ds), thr, rate)
    sets = {s["key"]: _measure(*_cells(report, [s["key"]])[:2], thr, half) for s in report["sets"]
            if s["key"].endswith(("/test", "/left-out"))}
    return {"model": report["model"], "left_out": report.get("left_out") or [], "threshold": thr,
            "refer_half_width": half, "validation": {**fit, "cells": int(len(p))}, "sets": sets}


#: Figures of the earlier band rule (a target accuracy), dropped when the band is refitted.
_OLD_KEYS = ("refer_target", "refer_reached", "refer_max_share")


def _with_band(info: dict | None, band: dict) -> dict:
    return {k: v for k, v in {**(info or {}), **band}.items() if k not in _OLD_KEYS}


def refit(models: list[str], weights_dir: Path, lolo_dir: Path | None = None, write: bool = True) -> dict:
    """Refit and measure each model's band (and each leave-one-lab-out run's in ``lolo_dir``);
    with ``write``, store each shipped model's band in its calibration file."""
    out = {"format": FORMAT, "refer_rate": REFER_RATE, "models": {}}
    for name in models:
        report = read_json(Path(weights_dir) / f"{name}.report.json")
        if not report:
            continue
        r = band_of_report(report)
        out["models"][name] = r
        if write:  # the calibration file the app reads, and the report's copy the tables read
            band = {k: v for k, v in r["validation"].items() if k != "cells"}
            cal = read_calibration(weights_dir, name)
            write_json(calibration_path(weights_dir, name), replace(cal, refer_half_width=r["refer_half_width"],
                                                                    info=_with_band(cal.info, band)).to_json())
            if isinstance(report.get("calibration"), dict):
                report["calibration"]["refer_half_width"] = r["refer_half_width"]
                report["calibration"]["info"] = _with_band(report["calibration"].get("info"), band)
                write_json(Path(weights_dir) / f"{name}.report.json", report)
    for f in sorted(Path(lolo_dir).glob("*.report.json")) if lolo_dir else []:
        report = read_json(f)
        if report and report.get("left_out") and not f.name.startswith("colour_baseline"):
            out["models"][f.name.removesuffix(".report.json")] = band_of_report(report)
    return out


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def table(doc: dict) -> str:
    """The docs block: per model and set, cells referred and wrong calls among them."""
    lines = ["| model | half-width | set | cells | referred | wrong calls | of them referred | "
             "accuracy outside the band (all cells) |", "|---|---:|---|---:|---:|---:|---:|---:|"]
    for name, r in doc["models"].items():
        v = r["validation"]
        lines.append(f"| {name} | {r['refer_half_width']:.2f} | validation (chose it) | {v['cells']} | "
                     f"{_pct(v['refer_share'])} (weighted) | - | {_pct(v['wrong_calls_referred'])} | "
                     f"{_pct(v['balanced_accuracy_outside_refer_band'])} (balanced) |")
        for key, s in r["sets"].items():
            if s.get("cells"):
                lines.append(f"| {name} | | {key} | {s['cells']} | {_pct(s['referred'])} | {s['wrong_calls']} | "
                             f"{_pct(s['wrong_calls_referred'])} | {_pct(s['accuracy_outside'])} "
                             f"({_pct(s['accuracy_all'])}) |")
    lines += ["", f"Referral rate {100 * doc['refer_rate']:.0f} % of the weighted validation cells. Generated by "
              "`python -m leukemia_core refer-band --model all --doc docs/results.md` from the reports' stored "
              "P(ALL) (`model_weights/refer_band.json`)."]
    return "\n".join(lines)
