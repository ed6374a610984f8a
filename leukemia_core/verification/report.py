"""The verification study of one or more models as a JSON report, a CSV of figures and its
sample-size advice; the HTML is :mod:`.html`.

Report format ``leukemia_core.verification/1``::

    {"format": ..., "created": ..., "data": [...], "images": {"all": n, "hem": n}, "skipped": [...],
     "criteria": {"min_sensitivity": .., "min_specificity": .., "level": "cell"},
     "sample_size": {...},                        # sample_size(): widths now, cells needed, warning
     "models": {"proposed": {
         "weights_sha256": ..., "profile": null | "lab A",   # the calibration the study ran under
         "all": figures(),                       # every lab image, stored calibration (or the profile)
         "acceptance": {"met": true, "criteria": [...]},
         "validation": [...],                    # the model's own validation/test figures (its report)
         "site_calibration": {"split": {...}, "before": figures(), "after": figures(),
                              "profile": "path" | null} | {"error": "..."}}}}
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
from typing import Sequence


from ..data.datasets import Record
from ..models.calibration import Calibration
from ..models.card import report_thresholds
from .profile import SiteProfile, fit_profile
from ..stats import MIN_PER_CLASS, cells_for_width, wilson
from .study import ScoredImages, VerificationError, acceptance, figures, grouped_split

VERIFICATION_FORMAT = "leukemia_core.verification/1"
#: The interval width (full, 95 %) the page's sample-size advice aims at by default: ±5 points.
TARGET_WIDTH = 0.10
_FIGS = ("sensitivity", "specificity", "ppv", "npv", "balanced_accuracy")


def verify_model(scored: ScoredImages, stored: Calibration, validation: list[dict] | None = None,
                 used: SiteProfile | None = None, min_sensitivity: float | None = None,
                 min_specificity: float | None = None, level: str = "cell", fit_share: float = 0.5,
                 seed: int = 0, profile_name: str | None = None, data: Sequence[str] = (),
                 n_boot: int = 1000) -> tuple[dict, SiteProfile | None]:
    """One model's part of the report, and the site profile fitted on the fit part (None when the
    images cannot be split by group, or no ``profile_name``).

    ``stored``: the model's shipped calibration; ``used``: the profile the study runs under (its
    calibration replaces ``stored`` for the "all" figures); the site calibration is always fitted
    and reported against ``stored`` ("before") on the report part.
    """
    cal = used.calibration if used else stored
    everything = figures(scored, cal, n_boot=n_boot, seed=seed)
    out = {"weights_sha256": scored.weights_sha256, "profile": used.name if used else None,
           "threshold": cal.threshold, "all": everything,
           "acceptance": acceptance(everything, min_sensitivity, min_specificity, level),
           "validation": list(validation or [])}
    profile = None
    try:
        fit, rep = grouped_split(scored.records, fit_share, seed)
    except VerificationError as exc:
        out["site_calibration"] = {"error": str(exc)}
        return out, None
    profile = fit_profile(scored, fit, profile_name or "site", stored, list(data), seed)
    part = scored.subset(rep)
    before, after = figures(part, stored, n_boot=n_boot, seed=seed), figures(part, profile.calibration,
                                                                            n_boot=n_boot, seed=seed)
    split = {"fit_images": len(fit), "report_images": len(rep), "fit_share": fit_share, "seed": seed,
             "fit_groups": len({scored.records[i].group for i in fit}),
             "report_groups": len({scored.records[i].group for i in rep}),
             "grouped_by": sorted({_group_kind(r) for r in scored.records})}
    out["site_calibration"] = {"split": split, "before": before, "after": after,
                               "threshold": profile.calibration.threshold,
                               "field_threshold": profile.calibration.field_threshold,
                               "refer_half_width": profile.calibration.refer_half_width,
                               "profile_name": profile_name or "", "profile": None}
    held = {lvl: {when: {k: f[lvl][k] for k in ("sensitivity", "specificity", "balanced_accuracy")}
                  for when, f in (("before", before), ("after", after))} for lvl in ("cell", "image")}
    profile = SiteProfile(profile.name, profile.model, profile.weights_sha256, profile.calibration,
                          profile.created, {**profile.fitted_on, "split": split}, held)
    return out, profile if profile_name else None


def _group_kind(r: Record) -> str:
    if r.group.startswith("file-"):
        return "file (no patient id)"
    return "block of file numbers" if r.dataset == "aria" else "patient"


def sample_size(records: Sequence[Record], figs: dict | None = None, target_width: float = TARGET_WIDTH,
                level: str = "cell") -> dict:
    """How wide the intervals are for the images given and how many per class a target width needs.

    ``figs``: one model's :func:`~.study.figures` (its observed sensitivity and specificity are
    the expected proportions; 0.9 without). Returns per class ``{n, width, needed}`` and a warning
    text when a class has fewer than :data:`~.stats.MIN_PER_CLASS`.
    """
    n = {"all": sum(r.label == "all" for r in records), "hem": sum(r.label == "hem" for r in records)}
    out = {"target_width": target_width, "level": level, "min_per_class": MIN_PER_CLASS, "classes": {}}
    for lab, key in (("all", "sensitivity"), ("hem", "specificity")):
        f = (figs or {}).get(level, {}).get(key, {})
        k, m = f.get("k"), f.get("n") or n[lab]
        p = k / m if k is not None and m else 0.9
        _, lo, hi = wilson(round(p * m), m) if m else (None, None, None)
        out["classes"][lab] = {"n": int(m), "images": n[lab], "figure": key, "expected": p,
                               "width": None if lo is None else hi - lo, "needed": cells_for_width(target_width, p)}
    few = [f"{lab.upper()} {v['n']}" for lab, v in out["classes"].items() if v["n"] < MIN_PER_CLASS]
    out["warning"] = (f"Fewer than {MIN_PER_CLASS} cells in a class ({', '.join(few)}): the intervals are too wide "
                      "for a verification; add cells of that class." if few else "")
    return out


def build_report(results: dict[str, dict], records: Sequence[Record], skipped: list[dict],
                 data: Sequence[str] = (), criteria: dict | None = None, target_width: float = TARGET_WIDTH) -> dict:
    """The verification report (see the module docstring) from :func:`verify_model` results per model."""
    first = next(iter(results.values()), {}).get("all")
    crit = dict(criteria or {})
    return {"format": VERIFICATION_FORMAT,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "data": [str(d) for d in data],
            "images": {"all": sum(r.label == "all" for r in records), "hem": sum(r.label == "hem" for r in records)},
            "skipped": skipped, "criteria": crit,
            "sample_size": sample_size(records, first, target_width, crit.get("level", "cell")),
            "models": results}


def csv_rows(report: dict) -> list[dict]:
    """One row per (model, profile, part, level, figure): value, 95 % interval, k, n."""
    rows = []
    for model, res in report["models"].items():
        parts = [("all images", res.get("profile") or "", res["all"])]
        sc = res.get("site_calibration") or {}
        if "before" in sc:
            parts += [("report part, stored calibration", "", sc["before"]),
                      ("report part, site calibration", sc.get("profile_name") or "site calibration", sc["after"])]
        for part, prof, figs in parts:
            for level in ("cell", "image"):
                f = figs[level]
                for key in _FIGS + ("roc_auc",):
                    v = f[key]
                    rows.append({"model": model, "profile": prof, "part": part, "level": level, "figure": key,
                                 "value": _r(v["value"]), "low": _r(v["low"]), "high": _r(v["high"]),
                                 "k": v.get("k", ""), "n": v.get("n", f["n"]), "threshold": _r(report_thresholds(figs).threshold)})
    return rows


def _r(v) -> str | float:
    return "" if v is None else round(float(v), 4)


def to_csv(report: dict) -> str:
    """:func:`csv_rows` as CSV text."""
    buf = io.StringIO()
    cols = ["model", "profile", "part", "level", "figure", "value", "low", "high", "k", "n", "threshold"]
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(csv_rows(report))
    return buf.getvalue()


def figure_table(figs: dict, level: str) -> list[dict]:
    """Rows ``{figure, value, low, high, k, n}`` of one level of :func:`~.study.figures` (for tables)."""
    f = figs[level]
    names = {"sensitivity": "sensitivity (ALL)", "specificity": "specificity (HEM)", "ppv": "PPV", "npv": "NPV",
             "balanced_accuracy": "balanced accuracy", "roc_auc": "ROC AUC"}
    return [{"figure": names[k], "value": f[k]["value"], "low": f[k]["low"], "high": f[k]["high"],
             "k": f[k].get("k"), "n": f[k].get("n", f["n"])} for k in _FIGS + ("roc_auc",)]


def summary_line(report: dict) -> list[str]:
    """Short lines for the console: per model, cell-level figures and the criteria's result."""
    lines = []
    for model, res in report["models"].items():
        f = res["all"]["cell"]

        def fmt(v):
            return "n/a" if v["value"] is None else f"{v['value']:.3f} ({v['low']:.3f}-{v['high']:.3f})"

        acc = res["acceptance"]["met"]
        lines.append(f"{model}{' [' + res['profile'] + ']' if res.get('profile') else ''}: sensitivity "
                     f"{fmt(f['sensitivity'])}, specificity {fmt(f['specificity'])}, balanced accuracy "
                     f"{fmt(f['balanced_accuracy'])}, ROC AUC {fmt(f['roc_auc'])} on {f['n']} cells"
                     + ("" if acc is None else f"; acceptance criteria {'met' if acc else 'NOT met'}"))
        sc = res.get("site_calibration") or {}
        if "error" in sc:
            lines.append(f"  site calibration not fitted: {sc['error']}")
        elif sc:
            b, a = sc["before"]["cell"]["balanced_accuracy"], sc["after"]["cell"]["balanced_accuracy"]
            lines.append(f"  site calibration on {sc['split']['report_images']} held-out images: balanced accuracy "
                         f"{fmt(b)} stored -> {fmt(a)} site (threshold {report_thresholds(sc).threshold:.2f})")
    if report["sample_size"]["warning"]:
        lines.append("warning: " + report["sample_size"]["warning"])
    return lines


