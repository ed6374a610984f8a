"""``adapt``: a site model fitted on part of a lab's labelled cells, its study on the rest, and a
learning curve that tells the lab how many more cells to label.

1. The lab's images are read once by the feature source (:func:`~.features.lab_features`).
2. They are split by group as ``verify`` splits them (:func:`~leukemia_core.verification.study.grouped_split`:
   a patient, block of fields or file stays on one side).
3. The head (:func:`~.head.fit_head`) is fitted on the fit part, its L2 strength chosen by
   grouped cross-validation inside that part; its calibration, threshold and refer band
   (:func:`~leukemia_core.models.calibration.fit_calibration`) on the fit part's *out-of-fold*
   scores, so no cell decides its own threshold.
4. The study: the verification figures (intervals, ROC AUC, acceptance criteria) on the held-out
   part, for the site model and, for a served model, for its own head with its stored
   calibration on the same cells ("before").
5. The learning curve: heads fitted on k images per class drawn from the fit part (the chosen
   strength, repeated draws), scored on the held-out part: ROC AUC and balanced accuracy with
   2.5-97.5 % ranges per k.
6. The site model: a :class:`~leukemia_core.verification.profile.SiteProfile` with the head, the
   calibration, the lab's colour reference, the base's sha256, and the study. It is saved when the
   study met the lab's criteria (or none were given); a failed one only with ``save_failed``, and
   marked so (``accepted`` False) wherever it is shown.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import replace
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..data.datasets import Record
from ..models.calibration import Calibration, fit_calibration
from ..verification.profile import SiteProfile, save_profile, site_reference
from ..verification.study import ScoredImages, VerificationError, acceptance, figures, grouped_split
from .features import AdaptationError, FeatureSource, LabCells, lab_features
from ..models.site_head import fit_head, out_of_fold

ADAPT_FORMAT = "leukemia_core.adaptation/1"
#: Fewest usable images per class: below this no head is fitted.
MIN_PER_CLASS = 5
#: Below this ROC AUC at the largest k, the advice says the features may not carry the lab's difference.
WEAK_AUC = 0.65
#: Learning-curve sizes (images per class), as far as the fit part allows.
CURVE_K = (5, 10, 20, 50, 100)


@dataclass
class AdaptResult:
    """What ``adapt`` produced: the report dict, the site model, where it was saved (None: not saved)."""

    report: dict
    profile: SiteProfile
    saved: Path | None = None
    files: dict = field(default_factory=dict)


def check_counts(lab: LabCells) -> None:
    """Raise :class:`AdaptationError` unless each class has :data:`MIN_PER_CLASS` usable images."""
    n = {"all": int(np.sum(lab.y_image == 1)), "hem": int(np.sum(lab.y_image == 0))}
    few = [f"{k.upper()} {v}" for k, v in n.items() if v < MIN_PER_CLASS]
    if n["all"] == 0 or n["hem"] == 0:
        one = "ALL" if n["all"] else "HEM"
        raise AdaptationError(f"one class only: {max(n.values())} usable {one} image(s) and none of the other class; "
                              "a head needs labelled cells of both classes")
    if few:
        raise AdaptationError(f"too few usable images per class ({', '.join(few)}; at least {MIN_PER_CLASS} of each "
                              "are needed, and 20 or more give a useful study)")


def _scored(lab: LabCells, images: Sequence[int], p: np.ndarray, model: str) -> ScoredImages:
    """The images ``images`` of ``lab`` as :class:`ScoredImages` with per-cell raw scores ``p`` (over all cells)."""
    images = list(images)
    raw = [p[lab.image_of == i] for i in images]
    crops = [lab.crops[lab.image_of == i] for i in images]
    return ScoredImages(model, lab.source["weights_sha256"], [lab.records[i] for i in images], raw, crops,
                        np.array([len(r) for r in raw], int))


def _shipped_head(source: FeatureSource):
    """The served model's own head as ``features -> raw P(ALL)`` (None for an encoder)."""
    if source.kind != "model":
        return None
    from ..models.registry import LOGITS_LAYER

    kernel, bias = (np.asarray(a, np.float64) for a in source.loaded.model.get_layer(LOGITS_LAYER).get_weights())

    def p(x):
        z = x @ kernel + bias
        return 1.0 / (1.0 + np.exp(-(z[:, 1] - z[:, 0])))
    return p


def _draw(lab: LabCells, fit: Sequence[int], k: int, rng) -> list[int] | None:
    """``k`` images per class drawn from the fit images ``fit``; None when a class has fewer."""
    out = []
    for cls in (1, 0):
        pool = [i for i in fit if lab.records[i].y == cls]
        if len(pool) < k:
            return None
        out += [pool[j] for j in rng.permutation(len(pool))[:k]]
    return out


def learning_curve(lab: LabCells, fit: Sequence[int], report: Sequence[int], C: float, draws: int = 20,
                   ks: Sequence[int] = CURVE_K, seed: int = 0) -> list[dict]:
    """Per k (images per class drawn from ``fit``): mean and 2.5-97.5 % range of ROC AUC and
    balanced accuracy (at P = 0.5 of the class-balanced head) on the ``report`` images' cells."""
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    rep = lab.cells_of(report)
    y_rep = lab.y[rep]
    out = []
    for k in ks:
        rng = np.random.default_rng(seed + k)
        aucs, bas = [], []
        for _ in range(draws):
            imgs = _draw(lab, fit, k, rng)
            if imgs is None:
                break
            cells = lab.cells_of(imgs)
            head = fit_head(lab.x[cells], lab.y[cells], C=C)
            p = head.predict(lab.x[rep])
            aucs.append(roc_auc_score(y_rep, p))
            bas.append(balanced_accuracy_score(y_rep, p >= 0.5))
        if not aucs:
            break
        out.append({"k": int(k), "draws": len(aucs),
                    "roc_auc": float(np.mean(aucs)), "roc_auc_low": float(np.percentile(aucs, 2.5)),
                    "roc_auc_high": float(np.percentile(aucs, 97.5)),
                    "balanced_accuracy": float(np.mean(bas)), "balanced_accuracy_low": float(np.percentile(bas, 2.5)),
                    "balanced_accuracy_high": float(np.percentile(bas, 97.5))})
    return out


def curve_advice(curve: list[dict]) -> str:
    """One sentence from the learning curve: whether more labelled cells are likely to help."""
    if len(curve) < 2:
        return "Too few cells for a learning curve: label at least 10 cells of each class."
    a, b = curve[-2], curve[-1]
    gain = b["roc_auc"] - a["roc_auc"]
    if b["roc_auc"] < WEAK_AUC and gain <= 0.02:
        return (f"With {b['k']} cells per class the head hardly separates the classes (ROC AUC {b['roc_auc']:.2f}) and "
                "more cells do not raise it: these features may not carry this lab's difference. Try another base "
                "(Features from), and check the labels.")
    if gain > 0.02:
        return (f"ROC AUC still rises from {a['k']} to {b['k']} cells per class ({a['roc_auc']:.2f} -> "
                f"{b['roc_auc']:.2f}): labelling more cells is likely to improve the site model.")
    return (f"ROC AUC levels off from {a['k']} to {b['k']} cells per class ({a['roc_auc']:.2f} -> "
            f"{b['roc_auc']:.2f}): more cells of the same kind are unlikely to change it much.")


def run_adapt(source: FeatureSource, records: Sequence[Record], name: str, *, rule: str = "centre",
              blobs: dict | None = None, min_sensitivity: float | None = None,
              min_specificity: float | None = None, level: str = "cell", fit_share: float = 0.5, seed: int = 0,
              draws: int = 20, n_boot: int = 1000, data: Sequence[str] = (), stored: Calibration | None = None,
              progress: Callable[[int, int], None] | None = None) -> AdaptResult:
    """Fit, study and describe a site model of ``source`` on the lab's labelled ``records``.

    ``stored``: the served model's shipped calibration (its colour reference is extended with the
    lab's cells; "before" figures use it); None for an encoder.

    Raises:
        AdaptationError: one class, too few images per class, no usable cell, groups that cannot
            be split into a fit and a report part.
    """
    lab = lab_features(source, records, rule, blobs, progress)
    check_counts(lab)
    try:
        fit, rep = grouped_split(lab.records, fit_share, seed)
    except VerificationError as exc:
        raise AdaptationError(str(exc)) from None
    fc, rc = lab.cells_of(fit), lab.cells_of(rep)
    head = fit_head(lab.x[fc], lab.y[fc], lab.groups[fc], seed)
    oof = out_of_fold(lab.x[fc], lab.y[fc], lab.groups[fc], head.C, seed)
    if oof is None:  # too few groups to cross-validate: the head's own scores (optimistic; said in the report)
        oof = head.predict(lab.x[fc])
    cal = fit_calibration(oof, lab.y[fc], np.array(["site"] * len(fc)))
    ref = site_reference(stored.reference if stored else None, lab.crops[fc])
    cal.info.update({"fitted_on": ["site"], "weights_sha256": lab.source["weights_sha256"], "site_model": name,
                     "scores": "out-of-fold" if len(fc) and oof is not None else "in-sample"})
    cal = replace(cal, reference=ref)
    p_all = head.predict(lab.x)
    after = figures(_scored(lab, rep, p_all, source.name), cal, n_boot=n_boot, seed=seed)
    before = None
    shipped = _shipped_head(source)
    if shipped is not None and stored is not None:
        before = figures(_scored(lab, rep, shipped(lab.x), source.name), stored, n_boot=n_boot, seed=seed)
    verdict = acceptance(after, min_sensitivity, min_specificity, level)
    curve = learning_curve(lab, fit, rep, head.C, draws, seed=seed)
    split = {"fit_images": len(fit), "report_images": len(rep), "fit_cells": int(len(fc)), "report_cells": int(len(rc)),
             "fit_groups": len({lab.records[i].group for i in fit}),
             "report_groups": len({lab.records[i].group for i in rep}), "fit_share": fit_share, "seed": seed}
    report = {"format": ADAPT_FORMAT, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "site_model": name, "base": lab.source, "cell_rule": rule, "data": [str(d) for d in data],
              "images": {"all": int(np.sum(lab.y_image == 1)), "hem": int(np.sum(lab.y_image == 0))},
              "skipped": lab.skipped, "split": split,
              "head": {k: v for k, v in head.to_json().items() if k != "w"},
              "criteria": {"min_sensitivity": min_sensitivity, "min_specificity": min_specificity, "level": level},
              "after": after, "before": before, "acceptance": verdict, "learning_curve": curve,
              "advice": curve_advice(curve)}
    short = {lvl: {k: after[lvl][k] for k in ("sensitivity", "specificity", "balanced_accuracy", "roc_auc")}
             for lvl in ("cell", "image")}
    base = {"kind": source.kind, "name": source.name, "weights_sha256": source.sha256,
            "input_size": source.input_size, "cell_share": source.cell_share, "mask_outside": source.mask_outside,
            "cell_rule": rule}
    fitted_on = {"images": {"all": int(np.sum(lab.y_image[fit] == 1)), "hem": int(np.sum(lab.y_image[fit] == 0))},
                 "cells": {"all": int(np.sum(lab.y[fc] == 1)), "hem": int(np.sum(lab.y[fc] == 0))},
                 "groups": split["fit_groups"], "data": [str(d) for d in data], "split_seed": seed, "split": split}
    profile = SiteProfile(name, source.name, source.sha256, cal,
                          _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), fitted_on,
                          {"cell": {"after": short["cell"]}, "image": {"after": short["image"]}},
                          head.to_json(), base,
                          {"acceptance": verdict, "held_out": short, "learning_curve": curve,
                           "advice": report["advice"], "split": split}, verdict["met"])
    return AdaptResult(report, profile)


def save_site_model(result: AdaptResult, profiles_dir: Path | None = None, save_failed: bool = False) -> Path | None:
    """Save ``result``'s site model unless it failed the lab's criteria and ``save_failed`` is off;
    return the path (None when not saved)."""
    if result.profile.accepted is False and not save_failed:
        return None
    path = save_profile(result.profile, Path(profiles_dir) / result.profile.file_name if profiles_dir else None)
    result.saved = path
    return path


def run_from_paths(model: str, records: Sequence[Record], name: str, weights_dir: Path | None = None,
                   **kw) -> AdaptResult:
    """:func:`run_adapt` for a model or encoder name (loads it; a served model's stored calibration
    is used for "before" and the colour reference)."""
    from .features import feature_source

    source = feature_source(model, weights_dir)
    stored = source.loaded.calibration if source.loaded is not None else None
    return run_adapt(source, records, name, stored=stored, **kw)


