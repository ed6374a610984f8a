"""How well a lab's own k cells per class adapt a model: ``python -m leukemia_core adapt-kshot``.

For each (lab, model or encoder) and k: draws of k images per class, group by group
(:func:`~leukemia_core.verification.study.kshot_split`: a patient's images all on one side), fit
the site model's head on them (its strength chosen inside the draw), and score every image of the
groups not drawn from. Beside it, on the same draws:

* **no profile**: the served model as shipped (its head, stored calibration and threshold);
* **calibration only**: a site calibration fitted on the drawn images (what ``verify`` makes);

ROC AUC (cells) and balanced accuracy (cells; the site model at its out-of-fold calibrated
threshold, the others at theirs) are reported as the mean over draws with 2.5-97.5 % ranges.
Whether the lab was in the model's training data is read from its manifest and written beside
every row: a lab in training is not a left-out lab.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..data.datasets import read_dataset
from ..docblocks import markers
from ..models.calibration import fit_calibration
from ..jsonio import write_json
from ..stats import balanced_accuracy
from ..verification.study import kshot_split
from .features import feature_source, lab_features
from .finetune import EPOCHS, LAST_BLOCK, LEARNING_RATE, finetune_scores
from ..models.site_head import fit_head, out_of_fold
from .study import _shipped_head

KSHOT_FORMAT = "leukemia_core.adapt_kshot/1"
BLOCK = "adapt-kshot"
START, END = markers(BLOCK)
#: Datasets whose images are one labelled cell each (the centre cell is the labelled one).
SINGLE_CELL = ("cnmc", "folder")


def _in_training(source, dataset: str) -> str:
    """``"no"``, ``"yes"`` or ``"test role only"`` (its other roles trained the model) for a lab."""
    if source.kind == "encoder":
        return "no (ImageNet encoder)"
    data = " ".join(str(d) for d in (source.loaded.manifest.get("training") or {}).get("data", []))
    key = {"cnmc": "cnmc", "aria": "aria", "bccd": "bccd"}.get(dataset, dataset)
    return "yes (other images of this lab)" if key in data else "no"


def _stats(v: list[float]) -> dict:
    v = [x for x in v if x is not None]
    if not v:
        return {"mean": None, "low": None, "high": None}
    return {"mean": float(np.mean(v)), "low": float(np.percentile(v, 2.5)), "high": float(np.percentile(v, 97.5))}


def kshot_one(source, records, ks: Sequence[int], draws: int, rule: str, stored=None,
              finetune_ks: Sequence[int] = (), finetune_draws: int = 5) -> dict:
    """The k-shot figures of one feature source on one lab's records; at ``finetune_ks``, the
    first ``finetune_draws`` draws also fine-tune the last block (:mod:`.finetune`), reported
    beside the frozen head on those same draws."""
    from sklearn.metrics import roc_auc_score

    lab = lab_features(source, records, rule)
    shipped = _shipped_head(source)
    raw = shipped(lab.x) if shipped is not None else None
    out = {"images": {"all": int(np.sum(lab.y_image == 1)), "hem": int(np.sum(lab.y_image == 0))},
           "cells": int(len(lab.x)), "groups": len({r.group for r in lab.records}), "skipped": len(lab.skipped),
           "k": {}}
    for k in ks:
        rows = {"site_model": [], "calibration_only": [], "no_profile": []}
        tuned: list[tuple[float, float]] = []  # (frozen AUC, fine-tuned AUC) on the same draws
        n_draws, report_sizes = 0, []
        for d in range(draws * 5):
            if n_draws == draws:
                break
            split = kshot_split(lab.records, k, seed=d)
            if split is None:
                continue
            n_draws += 1
            fit, rep = split
            fc, rc = lab.cells_of(fit), lab.cells_of(rep)
            y_fit, y_rep = lab.y[fc], lab.y[rc]
            report_sizes.append(len(rep))
            head = fit_head(lab.x[fc], y_fit, lab.groups[fc], seed=d)
            oof = out_of_fold(lab.x[fc], y_fit, lab.groups[fc], head.C, d)
            cal = fit_calibration(oof if oof is not None else head.predict(lab.x[fc]), y_fit,
                                  np.array(["site"] * len(fc)))
            p = cal.apply(head.predict(lab.x[rc]))
            rows["site_model"].append((roc_auc_score(y_rep, p), balanced_accuracy(y_rep, p >= cal.threshold)))
            if k in finetune_ks and len(tuned) < finetune_draws and source.name in LAST_BLOCK:
                pf = finetune_scores(source, head, lab.crops[fc], y_fit, lab.crops[rc], seed=d)
                tuned.append((rows["site_model"][-1][0], roc_auc_score(y_rep, pf)))
            if raw is not None and stored is not None:
                p0 = stored.apply(raw[rc])
                rows["no_profile"].append((roc_auc_score(y_rep, p0), balanced_accuracy(y_rep, p0 >= stored.threshold)))
                c1 = fit_calibration(raw[fc], y_fit, np.array(["site"] * len(fc)))
                p1 = c1.apply(raw[rc])
                rows["calibration_only"].append((roc_auc_score(y_rep, p1), balanced_accuracy(y_rep, p1 >= c1.threshold)))
        if not n_draws:
            out["k"][str(k)] = {"draws": 0, "note": f"fewer than {k} images per class with a group left to score"}
            continue
        entry = {"draws": n_draws, "report_images_mean": float(np.mean(report_sizes))}
        for how, vals in rows.items():
            if vals:
                entry[how] = {"roc_auc": _stats([a for a, _ in vals]),
                              "balanced_accuracy": _stats([b for _, b in vals])}
        if tuned:
            entry["finetune"] = {"draws": len(tuned), "frozen_roc_auc": _stats([a for a, _ in tuned]),
                                 "finetuned_roc_auc": _stats([b for _, b in tuned]),
                                 "epochs": EPOCHS, "learning_rate": LEARNING_RATE}
        out["k"][str(k)] = entry
    return out


ROLES = ("all", "train", "val", "test")


def parse_lab(spec: str, default_role: str = "all") -> tuple[str, str]:
    """``DIR`` or ``DIR:ROLE`` (ROLE one of :data:`ROLES`) -> ``(dir, role)``."""
    head, sep, tail = spec.rpartition(":")
    return (head, tail) if sep and tail in ROLES else (spec, default_role)


def parse_model(spec: str) -> tuple[str, str | None, str]:
    """``NAME``, ``NAME=WEIGHTS_DIR`` or ``NAME=WEIGHTS_DIR:LABEL`` -> ``(name, weights_dir, label)``."""
    name, _, rest = spec.partition("=")
    wdir, _, label = rest.partition(":")
    return name, (wdir or None), (label or (f"{name} ({Path(wdir).name})" if wdir else name))


def run_adapt_kshot(models: Sequence[str], labs: Sequence[str], ks: Sequence[int] = (5, 10, 20, 50),
                    draws: int = 20, role: str = "all", out: Path | None = None,
                    progress: Callable[[str], None] | None = None, finetune_ks: Sequence[int] = (),
                    finetune_draws: int = 5) -> dict:
    """Measure every model spec (:func:`parse_model`) on every lab folder; write the JSON to ``out``."""
    rows = []
    for lab in labs:
        lab_dir, lab_role = parse_lab(lab, role)
        recs = [r for r in read_dataset(Path(lab_dir))
                if r.part != "Segmented" and (lab_role == "all" or r.split == lab_role)]
        if not recs:
            continue
        dataset = recs[0].dataset
        rule = "centre" if dataset in SINGLE_CELL else "all"
        for spec in models:
            name, wdir, label = parse_model(spec)
            source = feature_source(name, wdir)
            if progress:
                progress(f"{label} on {len(recs)} {dataset} images ({lab_role} role)")
            stored = source.loaded.calibration if source.loaded is not None else None
            res = kshot_one(source, recs, ks, draws, rule, stored, finetune_ks, finetune_draws)
            res.update({"lab": dataset, "role": lab_role, "model": label, "kind": source.kind,
                        "weights_sha256": source.sha256, "lab_in_training": _in_training(source, dataset),
                        "cell_rule": rule})
            rows.append(res)
    result = {"format": KSHOT_FORMAT, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "ks": list(ks), "draws": draws, "finetune_ks": list(finetune_ks), "finetune_draws": finetune_draws,
              "rows": rows}
    if out is not None:
        write_json(Path(out), result)
    return result


def _fmt(s: dict | None) -> str:
    if not s or s.get("mean") is None:
        return "–"
    return f"{s['mean']:.2f} ({s['low']:.2f}-{s['high']:.2f})"


def kshot_table(result: dict) -> str:
    """Markdown table: per lab, model and k, ROC AUC / balanced accuracy of the three readings."""
    lines = ["| lab (role) | model | lab in its training | k per class | site model: AUC | bal. acc. | "
             "calibration only: AUC | bal. acc. | no profile: AUC | bal. acc. |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        for k, e in row["k"].items():
            if not e.get("draws"):
                continue
            cells = []
            for how in ("site_model", "calibration_only", "no_profile"):
                h = e.get(how) or {}
                cells += [_fmt(h.get("roc_auc")), _fmt(h.get("balanced_accuracy"))]
            lines.append(f"| {row['lab']} ({row['role']}) | {row['model']} | {row['lab_in_training']} | {k} | "
                         + " | ".join(cells) + " |")
    tuned = [(row, k, e["finetune"]) for row in result["rows"] for k, e in row["k"].items() if e.get("finetune")]
    if tuned:
        lines += ["", "| lab (role) | model | k per class | draws | frozen head: AUC | fine-tuned last block: AUC |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {row['lab']} ({row['role']}) | {row['model']} | {k} | {f['draws']} | "
                  f"{_fmt(f['frozen_roc_auc'])} | {_fmt(f['finetuned_roc_auc'])} |" for row, k, f in tuned]
        f0 = tuned[0][2]
        lines.append(f"\nFine-tuning: the last block and the head, {f0['epochs']} epochs, "
                     f"Adam {f0['learning_rate']:g}, "
                     "flips and quarter turns, started from the frozen head; both columns on the same draws.")
    lines.append("")
    lines.append(f"Mean over {result['draws']} draws (2.5-97.5 % of draws in brackets); each draw fits on k images "
                 "per class of some groups and scores every image of the other groups. Written by "
                 "`python -m leukemia_core adapt-kshot`.")
    return "\n".join(lines)
