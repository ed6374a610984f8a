"""Reading what ``model_weights/`` holds, for the dashboard (no Streamlit here).

Everything the app shows as a number comes through this module from a file:

* ``<model>.manifest.json``, ``<model>.history.json``, ``<model>.weights.npz`` (from ``train``),
* ``<model>.report.json`` and ``colour_baseline.report.json`` (from ``evaluate`` / ``baseline``),
* ``cam_check.json`` (from ``cam-check``), ``bench.json`` (from ``bench``),
* ``reference_published.json`` (the reference system's published numbers, kept for context).

A missing file is not an error here: loaders return ``None`` and :func:`how_to_make` gives the
command that produces the file. A file that is present but unreadable raises
:class:`~leukemia_core.errors.LeukemiaCoreError` with a message for a person.

It also holds the per-image steps of the Classify page (decode, explain, tabulate), so they are
tested without a browser, and the lookup of dataset images named in a report (they live in the
user's data folder: ``$LEUKEMIA_DATA`` or the path as stored).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .errors import ImageReadError, LeukemiaCoreError
from .evaluate import REPORT_FORMAT, labels_and_probs
from .images import read_image
from .metrics import compute_metrics, roc_points

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BASELINE = "colour_baseline"
REFERENCE_FILE = "reference_published.json"
CAM_CHECK_FILE = "cam_check.json"
BENCH_FILE = "bench.json"
#: Environment variable naming the folder that holds the datasets (for report images).
DATA_ENV = "LEUKEMIA_DATA"
#: Environment variable restricting the models the app offers (comma-separated names).
APP_MODELS_ENV = "LEUKEMIA_APP_MODELS"
#: Human names of the CAM methods of :mod:`leukemia_core.explain`.
CAM_METHOD_NAMES = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "scorecam": "Score-CAM"}
#: Longest side of the copy of an image shown on a page.
DISPLAY_MAX_SIDE = 768


# --------------------------------------------------------------------------- locations and models

def weights_dir() -> Path:
    """The folder the app reads: ``$LEUKEMIA_WEIGHTS_DIR`` or the project's ``model_weights/``."""
    from .inference import default_weights_dir

    return Path(default_weights_dir())


def app_models() -> list[str]:
    """Models the app offers: ``$LEUKEMIA_APP_MODELS`` (comma list) if set, else the registry's.

    Unregistered names in the variable are dropped; if none is left, the registry's list is used.
    """
    from .models import list_models

    registered = list_models(include_test=True)
    wanted = [n.strip() for n in os.environ.get(APP_MODELS_ENV, "").split(",") if n.strip()]
    chosen = [n for n in wanted if n in registered]
    return chosen or list_models()


def default_model(models: Sequence[str]) -> str | None:
    """``"proposed"`` when offered, else the first model (None for an empty list)."""
    if "proposed" in models:
        return "proposed"
    return models[0] if models else None


def how_to_make(kind: str, name: str = "NAME") -> str:
    """The command that produces a missing file of ``kind``.

    ``kind`` is one of ``weights``, ``report``, ``baseline``, ``cam_check``, ``bench``,
    ``reference``.
    """
    commands = {
        "weights": f"python -m leukemia_core train --model {name} --data /path/to/dataset "
                   f"--weights-dir model_weights   (writes {name}.weights.npz, {name}.manifest.json "
                   f"and {name}.history.json)",
        "report": f"python -m leukemia_core evaluate --model {name} --data DIR "
                  f"--out model_weights/{name}.report.json",
        "baseline": f"python -m leukemia_core baseline --data DIR --out model_weights/{BASELINE}.report.json",
        "cam_check": f"python -m leukemia_core cam-check --model all --data /path/to/aria_all "
                     f"--out model_weights/{CAM_CHECK_FILE}",
        "bench": f"python -m leukemia_core bench --out model_weights/{BENCH_FILE}",
        "reference": f"restore model_weights/{REFERENCE_FILE} from the project's repository",
    }
    return commands[kind]


def missing_what(kind: str, name: str = "", wdir: Path | None = None) -> str:
    """One sentence saying which file of ``kind`` is missing where."""
    wdir = Path(wdir or weights_dir())
    return {
        "weights": f"No trained weights for model '{name}' in {wdir}.",
        "report": f"No evaluation report for model '{name}' in {wdir} (expected {name}.report.json).",
        "baseline": f"No colour-only baseline report in {wdir} (expected {BASELINE}.report.json).",
        "cam_check": f"No Grad-CAM check in {wdir} (expected {CAM_CHECK_FILE}).",
        "bench": f"Speed: not measured yet (no {BENCH_FILE} in {wdir}).",
        "reference": f"The published reference figures are not in {wdir} (expected {REFERENCE_FILE}).",
    }[kind]


def missing_message(kind: str, name: str = "", wdir: Path | None = None) -> str:
    """What is missing where, and the command that produces it."""
    return f"{missing_what(kind, name, wdir)} Produce it with: {how_to_make(kind, name or 'NAME')}"


# --------------------------------------------------------------------------- JSON files

def _read_json(path: Path):
    """Parsed JSON, ``None`` when the file does not exist; raises LeukemiaCoreError when unreadable."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LeukemiaCoreError(f"{path}: unreadable JSON file ({exc})") from None


def load_manifest(name: str, wdir: Path | None = None) -> dict | None:
    """``<name>.manifest.json`` or None."""
    return _read_json(Path(wdir or weights_dir()) / f"{name}.manifest.json")


def load_history(name: str, wdir: Path | None = None) -> pd.DataFrame | None:
    """``<name>.history.json`` as a table, one row per epoch, or None.

    Adds ``step``: the epoch's position over all phases (a pretrained run's ``head`` phase comes
    before ``main``), so curves of both phases draw as one line.
    """
    data = _read_json(Path(wdir or weights_dir()) / f"{name}.history.json")
    if data is None:
        return None
    if not isinstance(data, list):
        raise LeukemiaCoreError(f"{name}.history.json: expected a list of epochs")
    df = pd.DataFrame(data)
    if df.empty:
        return df
    df.insert(0, "step", np.arange(1, len(df) + 1))
    df.insert(0, "model", name)
    return df


def report_path(name: str, wdir: Path | None = None) -> Path:
    return Path(wdir or weights_dir()) / f"{name}.report.json"


def load_report(name: str, wdir: Path | None = None) -> dict | None:
    """``<name>.report.json`` or None; raises LeukemiaCoreError for a file of another format."""
    rep = _read_json(report_path(name, wdir))
    if rep is None:
        return None
    if not isinstance(rep, dict) or rep.get("format") != REPORT_FORMAT:
        found = rep.get("format") if isinstance(rep, dict) else None
        raise LeukemiaCoreError(f"{report_path(name, wdir)}: not a {REPORT_FORMAT} report"
                                + (f" (it is {found}: rerun the command that writes it)" if found else ""))
    return rep


def report_names(wdir: Path | None = None, models: Sequence[str] | None = None) -> list[str]:
    """Names with a ``.report.json`` in ``wdir``: the given models' order first, the baseline last."""
    wdir = Path(wdir or weights_dir())
    found = sorted(p.name[: -len(".report.json")] for p in wdir.glob("*.report.json")) if wdir.is_dir() else []
    order = list(models or [])
    ranked = [n for n in order if n in found] + [n for n in found if n not in order and n != BASELINE]
    return ranked + ([BASELINE] if BASELINE in found else [])


def load_reports(names: Iterable[str], wdir: Path | None = None) -> tuple[dict[str, dict], list[str]]:
    """Reports by name, and one message per report that could not be read."""
    out, problems = {}, []
    for n in names:
        try:
            rep = load_report(n, wdir)
        except LeukemiaCoreError as exc:
            problems.append(str(exc))
            continue
        if rep is not None:
            out[n] = rep
    return out, problems


def load_reference(wdir: Path | None = None) -> dict | None:
    """``reference_published.json`` (the reference system's published numbers) or None."""
    return _read_json(Path(wdir or weights_dir()) / REFERENCE_FILE)


def load_cam_check(wdir: Path | None = None) -> dict | None:
    """``cam_check.json`` or None."""
    return _read_json(Path(wdir or weights_dir()) / CAM_CHECK_FILE)


def load_bench(wdir: Path | None = None) -> dict | None:
    """``bench.json`` or None."""
    return _read_json(Path(wdir or weights_dir()) / BENCH_FILE)


def short_sha(sha: str | None) -> str:
    return (sha or "")[:12]


def report_is_current(report: dict, manifest: dict | None) -> bool:
    """False when the report was computed from another weights file than the manifest describes."""
    sha = report.get("weights_sha256")
    return sha is None or manifest is None or sha == manifest.get("weights_sha256")


# --------------------------------------------------------------------------- report sets and metrics

#: Order of the roles on the pages: the most informative set first.
ROLE_ORDER = ("test", "val", "train", "unsplit")
#: Short names of the roles for selectors and legends.
ROLE_NAMES = {"test": "test", "val": "validation", "train": "training", "unsplit": "unsplit"}
#: Levels a report scores, and the report field holding each level's metrics.
LEVELS = {"cells": "cell_metrics", "images": "metrics", "images, grayscale": "grayscale_metrics"}
LEVEL_NAMES = {"cells": "cells", "images": "images (fields)", "images, grayscale": "images, grayscale crops"}
_DATASET_ORDER = ("cnmc", "cnmc-prelim", "aria-original")


def role_of(report_set: dict) -> str:
    """The set's data role (``test``, ``val``, ``train``, ``unsplit``)."""
    return report_set.get("role") or report_set["key"].split("/")[-1]


def role_text(report_set: dict) -> str:
    """What the set's role was used for (the report's ``role_text``, else the evaluator's wording)."""
    from .evaluate import ROLE_TEXT

    role = role_of(report_set)
    return report_set.get("role_text") or ROLE_TEXT.get(role, role)


def set_sort_key(key: str) -> tuple:
    """Test sets first, then validation, then training; C-NMC first within a role."""
    ds, _, role = key.rpartition("/")
    r = ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER)
    d = _DATASET_ORDER.index(ds) if ds in _DATASET_ORDER else len(_DATASET_ORDER)
    return (r, d, key)


def set_keys(report: dict) -> list[str]:
    """Set keys of a report, most informative first (see :func:`set_sort_key`)."""
    return sorted((s["key"] for s in report.get("sets", [])), key=set_sort_key)


def all_set_keys(reports: dict[str, dict]) -> list[str]:
    """Every set key found in any report, most informative first."""
    return sorted({s["key"] for r in reports.values() for s in r.get("sets", [])}, key=set_sort_key)


def get_set(report: dict, key: str) -> dict | None:
    return next((s for s in report.get("sets", []) if s["key"] == key), None)


def first_set(reports: dict[str, dict], key: str) -> dict | None:
    """The set ``key`` of the first report that has it."""
    return next((s for r in reports.values() if (s := get_set(r, key)) is not None), None)


def set_label(report_set: dict) -> str:
    """``cnmc/test (test)``, ``cnmc/val (validation, not a test set)``: for selectors."""
    role = role_of(report_set)
    extra = ", not a test set" if role == "val" else ""
    return f"{report_set['key']} ({ROLE_NAMES.get(role, role)}{extra})"


def _count(v) -> str:
    return "n/a" if v is None else str(v)


def set_facts(report_set: dict) -> str:
    """What a set holds: description, images, cells and groups."""
    kind = report_set.get("group_kind") or "group"
    cells = f", {_count(report_set.get('n_cells'))} cells" if "n_cells" in report_set else ""
    return (f"{str(report_set.get('description', '')).rstrip('. ')}. {_count(report_set.get('n_images'))} images"
            f"{cells} from {_count(report_set.get('n_groups'))} groups ({kind}).")


def set_caption(report_set: dict) -> str:
    """What a set was measured on and what its role was used for."""
    return f"{report_set['key']}: {role_text(report_set)}. {set_facts(report_set)}"


def sets_table(reports: dict[str, dict]) -> pd.DataFrame:
    """One row per set key found in any report (from the first report holding it), most informative
    first: role, images, cells, groups, what the role was used for, description."""
    rows = []
    for key in all_set_keys(reports):
        s = first_set(reports, key)
        rows.append({"set": key, "role": ROLE_NAMES.get(role_of(s), role_of(s)), "images": s.get("n_images"),
                     "cells": s.get("n_cells"), "groups": s.get("n_groups"),
                     "group kind": s.get("group_kind", ""), "used for": role_text(s),
                     "description": s.get("description", "")})
    return pd.DataFrame(rows, columns=["set", "role", "images", "cells", "groups", "group kind", "used for",
                                       "description"])


#: Ratio columns of :func:`metrics_table` (0-1; pages show them as percentages).
RATIO_COLUMNS = ("accuracy", "balanced accuracy", "sensitivity (ALL recall)", "specificity (HEM recall)",
                 "precision (ALL)", "recall (ALL)", "F1 (ALL)", "precision (weighted)", "recall (weighted)",
                 "F1 (weighted)")


#: The columns of :func:`metrics_table` a page shows in its summary table, with short names.
SUMMARY_COLUMNS = {"model": "model", "level": "level", "scored": "scored", "accuracy": "accuracy",
                   "balanced accuracy": "balanced accuracy", "sensitivity (ALL recall)": "sensitivity",
                   "specificity (HEM recall)": "specificity", "F1 (ALL)": "F1 ALL", "ROC AUC": "ROC AUC",
                   "threshold": "threshold"}
#: What each summary column means (tooltips).
SUMMARY_HELP = {"scored": "cells or images scored", "balanced accuracy": "mean of ALL recall and HEM recall",
                "sensitivity": "ALL recall: share of the ALL cells / images called ALL",
                "specificity": "HEM recall: share of the HEM cells / images called HEM",
                "F1 ALL": "F1 of the ALL class", "ROC AUC": "area under the ROC curve (0.5 = chance)",
                "threshold": "decision threshold on calibrated P(ALL)"}


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """The summary columns of a :func:`metrics_table`, under their short names."""
    return table[list(SUMMARY_COLUMNS)].rename(columns=SUMMARY_COLUMNS)


def field_threshold(report: dict) -> float | None:
    """The report's threshold for images of several cells (None: the cell threshold for all)."""
    ft = report.get("field_threshold", (report.get("calibration") or {}).get("field_threshold"))
    return None if ft is None else float(ft)


def threshold_text(report: dict, level: str = "cells", threshold: float | None = None) -> str:
    """The threshold(s) a level was called at, for people: ``"0.45"``, or for images with a field
    rule ``"0.45 one cell, 0.52 several"``. ``threshold``: a cell threshold other than the report's."""
    cell = float(report.get("threshold", 0.5)) if threshold is None else float(threshold)
    if level == "cells" or field_threshold(report) is None:
        return f"{cell:.2f}"
    several = _calibration_obj(report).image_threshold(cell, 2)
    return f"{cell:.2f}" if abs(several - cell) < 1e-9 else f"{cell:.2f} one cell, {several:.2f} several"


def _calibration_obj(report: dict):
    from .calibration import Calibration

    cal = dict(report.get("calibration") or {})
    if "field_threshold" not in cal and report.get("field_threshold") is not None:
        cal["field_threshold"] = report["field_threshold"]
    cal.setdefault("threshold", report.get("threshold", 0.5))
    return Calibration.from_json(cal)


def image_thresholds(report: dict | None, report_set: dict, threshold: float) -> np.ndarray:
    """Each image's threshold at cell threshold ``threshold``: an image of several cells follows
    the report's field rule (:meth:`~leukemia_core.calibration.Calibration.image_threshold`), one
    of one cell (or a report without a field rule) takes ``threshold``."""
    imgs = report_set.get("images", [])
    if report is None or field_threshold(report) is None:
        return np.full(len(imgs), float(threshold))
    cal = _calibration_obj(report)
    return np.array([cal.image_threshold(threshold, int(i.get("n_found", i.get("n_cells", 1)))) for i in imgs])


def _metric_row(name: str, s: dict, level: str, report: dict | None = None) -> dict:
    m = s.get(LEVELS[level]) or {}
    pc = (m.get("per_class") or {}).get("ALL", {})
    w = m.get("weighted") or {}
    n = m.get("n")
    if n is None:
        n = s.get("n_cells") if level == "cells" else s.get("n_images")
    return {
        "model": name, "set": s["key"], "role": ROLE_NAMES.get(role_of(s), role_of(s)),
        "level": LEVEL_NAMES[level], "scored": n,
        "accuracy": m.get("accuracy"), "balanced accuracy": m.get("balanced_accuracy"),
        "sensitivity (ALL recall)": m.get("sensitivity"), "specificity (HEM recall)": m.get("specificity"),
        "precision (ALL)": pc.get("precision"), "recall (ALL)": pc.get("recall"), "F1 (ALL)": pc.get("f1"),
        "precision (weighted)": w.get("precision"), "recall (weighted)": w.get("recall"),
        "F1 (weighted)": w.get("f1"), "ROC AUC": m.get("roc_auc"),
        "threshold": (threshold_text(report, "cells" if level == "cells" else "images") if report is not None
                      else ("n/a" if m.get("threshold") is None else f"{m['threshold']:.2f}")),
    }


def metrics_table(reports: dict[str, dict], set_key: str | None = None,
                  levels: Sequence[str] = ("cells", "images")) -> pd.DataFrame:
    """Stored metrics, one row per (model, set, level); only ``set_key`` when given.

    ``levels``: ``cells`` (each cell carries its image's label), ``images`` (the image call from
    the mean P(ALL) of its whole cells), ``images, grayscale`` (test sets: grayscale crops, the
    colour-shortcut check). A level a set does not have is left out. The colour-only baseline is a
    row like any model. Values are the reports' own, at each report's threshold; ``scored`` is the
    number of cells or images.
    """
    rows = [_metric_row(n, s, lv, rep) for n, rep in reports.items() for s in rep.get("sets", [])
            if set_key is None or s["key"] == set_key for lv in levels if s.get(LEVELS[lv])]
    cols = list(_metric_row("", {"key": ""}, "images").keys())
    df = pd.DataFrame(rows, columns=cols)
    num = [c for c in cols if c not in ("model", "set", "role", "level", "threshold")]
    df[num] = df[num].apply(pd.to_numeric, errors="coerce")
    return df


def datasets_of(reports: dict[str, dict]) -> list[str]:
    """Dataset prefixes of the set keys (``cnmc``, ``aria-original`` ...): ``cnmc`` first, then as seen."""
    out: list[str] = []
    for rep in reports.values():
        for s in rep.get("sets", []):
            d = s["key"].split("/")[0]
            if d not in out:
                out.append(d)
    return sorted(out, key=lambda d: (_DATASET_ORDER.index(d) if d in _DATASET_ORDER else len(_DATASET_ORDER)))


_DATASET_NAMES = {"cnmc": "C-NMC 2019", "aria": "Aria ALL", "aria-original": "Aria ALL"}
_INIT_NAMES = {"imagenet": "ImageNet initialisation", "random": "random initialisation"}


def reference_label(reference: dict | None) -> str:
    """How published figures are labelled wherever they are shown: whose figures, on which data,
    which split and which initialisation (from ``reference_published.json``)."""
    ref = reference or {}
    parts = [_DATASET_NAMES.get(ref.get("dataset"), ref.get("dataset") or "dataset not stated"),
             f"{ref.get('split') or 'unknown'} split",
             _INIT_NAMES.get(ref.get("init"), f"{ref['init']} initialisation" if ref.get("init")
                             else "initialisation not stated")]
    if ref.get("epochs"):
        parts.append(f"{ref['epochs']} epochs")
    return f"The reference system's README figures ({', '.join(parts)}); not measured here"


def accuracy_by_role(reports: dict[str, dict], dataset: str, reference: dict | None = None,
                     level: str = "images", metric: str = "accuracy") -> pd.DataFrame:
    """``metric`` (a :func:`~leukemia_core.metrics.compute_metrics` key) on every role of
    ``dataset``, per model, at ``level``; roles in the order test, val, train.

    With ``reference``, the published training and validation accuracies are added as rows whose
    ``source`` is :func:`reference_label` (their ``role`` says ``published train`` /
    ``published validation``: another split, not ours).
    """
    rows = []
    for name, rep in reports.items():
        for s in rep.get("sets", []):
            ds = s["key"].rpartition("/")[0]
            m = s.get(LEVELS[level])
            if ds != dataset or not m:
                continue
            n = m.get("n", s.get("n_cells") if level == "cells" else s.get("n_images"))
            rows.append({"model": name, "role": ROLE_NAMES.get(role_of(s), role_of(s)), "value": m.get(metric),
                         "source": "this project", "set": s["key"], "scored": n, "groups": s.get("n_groups")})
    if reference and metric == "accuracy":
        label = reference_label(reference)
        for name, figs in reference.get("models", {}).items():
            for role, field in (("published train", "train_accuracy"), ("published validation", "val_accuracy")):
                if figs.get(field) is not None:
                    rows.append({"model": name, "role": role, "value": float(figs[field]), "source": label,
                                 "set": reference.get("dataset", ""), "scored": None, "groups": None})
    df = pd.DataFrame(rows, columns=["model", "role", "value", "source", "set", "scored", "groups"])
    order = {r: i for i, r in enumerate(["test", "validation", "training", "unsplit", "published train",
                                         "published validation"])}
    return df.sort_values("role", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)


def reference_table(reference: dict | None) -> pd.DataFrame:
    """Published figures as a table (empty without a reference file)."""
    rows = [{"model": n, "published train accuracy": f.get("train_accuracy"),
             "published validation accuracy": f.get("val_accuracy")}
            for n, f in (reference or {}).get("models", {}).items()]
    return pd.DataFrame(rows, columns=["model", "published train accuracy", "published validation accuracy"])


def labels_probs(report_set: dict, level: str = "images") -> tuple[np.ndarray, np.ndarray]:
    """``(y, p_all)`` of a set at ``level``: per image (``images``) or per cell (``cells``: each
    cell carries its image's label). Empty arrays when the set stores no cells."""
    if level == "images":
        return labels_and_probs(report_set)
    y, p = [], []
    for img in report_set.get("images", []):
        cells = img.get("cells") or []
        y += [1 if img["label"] == "all" else 0] * len(cells)
        p += list(cells)
    return np.asarray(y, int), np.asarray(p, float)


def roc_curves(reports: dict[str, dict], set_key: str, level: str = "images") -> dict[str, dict]:
    """ROC points per model on ``set_key`` from the stored probabilities at ``level``.

    Returns ``{model: {"fpr", "tpr", "auc"}}``; models without that set or with one class only
    are left out.
    """
    out = {}
    for name, rep in reports.items():
        s = get_set(rep, set_key)
        if s is None or not s.get("images"):
            continue
        y, p = labels_probs(s, level)
        pts = roc_points(y, p)
        if not pts["fpr"]:
            continue
        out[name] = {"fpr": pts["fpr"], "tpr": pts["tpr"], "auc": (s.get(LEVELS[level]) or {}).get("roc_auc")}
    return out


# --------------------------------------------------------------------------- calibration

def calibration_of(report: dict) -> dict | None:
    """The report's fitted calibration (None when the model was not calibrated, e.g. the baseline)."""
    cal = report.get("calibration")
    return cal if isinstance(cal, dict) and cal.get("fitted") else None


def refer_band(report: dict) -> tuple[float, float] | None:
    """``(low, high)`` of the refer band around the report's threshold, or None without one."""
    cal = calibration_of(report)
    if not cal or not cal.get("refer_half_width"):
        return None
    thr, w = float(cal.get("threshold", report.get("threshold", 0.5))), float(cal["refer_half_width"])
    return max(0.0, thr - w), min(1.0, thr + w)


def calibration_table(reports: dict[str, dict]) -> pd.DataFrame:
    """One row per report: threshold (cells, and images of one cell), field threshold (images of
    several cells; "same" without a field rule), refer band, ECE before/after calibration and what
    it was fitted on. A report without a fitted calibration says so (its ECE cells are missing)."""
    rows = []
    for name, rep in reports.items():
        cal = calibration_of(rep)
        info = (cal or {}).get("info") or {}
        band = refer_band(rep)
        ft = field_threshold(rep)
        rows.append({
            "model": name, "threshold": rep.get("threshold"),
            "field threshold": "same" if ft is None else f"{ft:.2f}",
            "refer band": f"{band[0]:.2f}–{band[1]:.2f}" if band else "none",
            "ECE before": info.get("ece_before"), "ECE after": info.get("ece_after"),
            "validation cells": info.get("n_cells"),
            "balanced accuracy at threshold": info.get("balanced_accuracy_at_threshold"),
            "refer share": info.get("refer_share"),
            "calibrated on": ", ".join(info.get("fitted_on") or []) if cal else
                             ("not calibrated: threshold 0.5 on its own probabilities" if name == BASELINE
                              else "not calibrated"),
        })
    return pd.DataFrame(rows, columns=["model", "threshold", "field threshold", "refer band", "ECE before", "ECE after",
                                       "validation cells", "balanced accuracy at threshold", "refer share",
                                       "calibrated on"])


def reliability_frame(reports: dict[str, dict]) -> pd.DataFrame:
    """Reliability bins of every calibrated report, before and after calibration (validation cells).

    Columns: model, stage (``before`` / ``after``), mean P(ALL), observed ALL share, cells, weight.
    """
    rows = []
    for name, rep in reports.items():
        info = (calibration_of(rep) or {}).get("info") or {}
        for stage in ("before", "after"):
            for b in info.get(f"reliability_{stage}") or []:
                rows.append({"model": name, "stage": f"{stage} calibration", "mean P(ALL)": b.get("mean_p"),
                             "observed ALL share": b.get("observed"), "cells": b.get("n"),
                             "weight": b.get("weight")})
    return pd.DataFrame(rows, columns=["model", "stage", "mean P(ALL)", "observed ALL share", "cells", "weight"])


def confusion_at(report_set: dict, threshold: float, level: str = "images", report: dict | None = None) -> dict:
    """Metrics of ``report_set`` recomputed at cell threshold ``threshold`` from its stored
    probabilities at ``level`` (``images`` or ``cells``). With ``report``, images of several cells
    follow its field rule (:func:`image_thresholds`).

    Returns :func:`~leukemia_core.metrics.compute_metrics`'s dict plus ``counts`` (2x2 array,
    rows true HEM/ALL, columns predicted HEM/ALL) and ``rates`` (each row divided by its total;
    NaN for a class without images).
    """
    y, p = labels_probs(report_set, level)
    thr = image_thresholds(report, report_set, threshold) if level == "images" and report is not None else threshold
    m = compute_metrics(y, p, thr)
    counts = np.asarray(m["confusion_matrix"], float)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(totals > 0, counts / np.where(totals > 0, totals, 1), np.nan)
    m["counts"] = counts.astype(int)
    m["rates"] = rates
    return m


def misclassified(report_set: dict, threshold: float, report: dict | None = None) -> pd.DataFrame:
    """Images the model gets wrong at cell threshold ``threshold``, most confident mistakes first.

    With ``report``, images of several cells follow its field rule (:func:`image_thresholds`).
    Columns: path, true, predicted, p_all, threshold (the image's), cells (scored cells of the
    image), ALL cells (those called ALL at ``threshold``; None when the report stores no cells),
    group, subclass, part, confidence (distance of P(ALL) from the image's threshold).
    """
    rows = []
    thresholds = image_thresholds(report, report_set, threshold)
    for img, thr in zip(report_set.get("images", []), thresholds):
        true = img["label"].upper()
        pred = call_of(img["p_all"], thr)
        if pred != true:
            cells = img.get("cells")
            rows.append({"path": img["path"], "true": true, "predicted": pred, "p_all": img["p_all"],
                         "threshold": float(thr),
                         "cells": img.get("n_cells", len(cells) if cells is not None else None),
                         "ALL cells": None if cells is None else int(sum(c >= threshold for c in cells)),
                         "group": img.get("group", ""), "subclass": img.get("subclass", ""),
                         "part": img.get("part", ""), "confidence": abs(img["p_all"] - thr)})
    df = pd.DataFrame(rows, columns=["path", "true", "predicted", "p_all", "threshold", "cells", "ALL cells", "group",
                                     "subclass", "part", "confidence"])
    return df.sort_values("confidence", ascending=False, kind="stable").reset_index(drop=True)


def resolve_image(stored: str, data_roots: Sequence[str] = (), data_env: str | None = None) -> Path | None:
    """Find an image named in a report on this machine, or None.

    Tries, in order: the path as stored (absolute, or relative to the working directory and to the
    project); then, under ``$LEUKEMIA_DATA`` (or ``data_env``): the path relative to the data
    folder the report was made from (with and without that folder's own name), and the stored
    path's trailing parts, longest first.
    """
    p = Path(stored)
    cands = [p] if p.is_absolute() else [Path.cwd() / p, PROJECT_ROOT / p]
    base = data_env if data_env is not None else os.environ.get(DATA_ENV, "")
    if base:
        root = Path(base).expanduser()
        for d in data_roots:
            dp = Path(d)
            try:
                rel = p.relative_to(dp)
            except ValueError:
                continue
            cands += [root / rel, root / dp.name / rel]
        parts = p.parts[1:] if p.is_absolute() else p.parts
        parts = tuple(x for x in parts if x not in ("..", "."))
        cands += [root.joinpath(*parts[i:]) for i in range(max(0, len(parts) - 6), len(parts))]
    for c in cands:
        if c.is_file():
            return c
    return None


def data_hint(report: dict | None = None) -> str:
    """Where to point ``$LEUKEMIA_DATA`` so that report images are found."""
    roots = ", ".join((report or {}).get("data", [])) or "the dataset folder"
    now = os.environ.get(DATA_ENV)
    state = f"It is now {now!r}." if now else "It is not set."
    return (f"The image files of this report are not reachable from here. Set the environment variable "
            f"{DATA_ENV} to the folder that holds the data the report was made from ({roots}), "
            f"then restart the app. {state}")


# --------------------------------------------------------------------------- model facts

def model_facts(names: Sequence[str], wdir: Path | None = None) -> pd.DataFrame:
    """One row per model with a manifest: parameters, file size, input size, training facts."""
    wdir = Path(wdir or weights_dir())
    rows = []
    for n in names:
        man = load_manifest(n, wdir)
        if man is None:
            continue
        tr = man.get("training", {})
        wfile = wdir / man.get("weights_file", f"{n}.weights.npz")
        sel = tr.get("selected_epoch") or {}
        rows.append({
            "model": n, "description": man.get("description", ""), "parameters": man.get("params"),
            "file size (MB)": round(wfile.stat().st_size / 2**20, 2) if wfile.is_file() else None,
            "input size (px)": man.get("input_size"), "initialisation": man.get("init"),
            "epochs run": tr.get("epochs_run"), "epochs max": tr.get("epochs_max"),
            "selected epoch": sel.get("epoch"),
            "training time (min)": round(tr["seconds"] / 60, 1) if tr.get("seconds") is not None else None,
            "seed": tr.get("seed"), "commit": short_sha(man.get("commit")), "date": man.get("date"),
        })
    return pd.DataFrame(rows, columns=["model", "description", "parameters", "file size (MB)", "input size (px)",
                                       "initialisation", "epochs run", "epochs max", "selected epoch",
                                       "training time (min)", "seed", "commit", "date"])


def training_data_table(name: str, wdir: Path | None = None) -> pd.DataFrame:
    """Image counts and groups per split the model's manifest records."""
    man = load_manifest(name, wdir) or {}
    tr = man.get("training", {})
    rows = []
    for role in ("train", "val"):
        summ = tr.get(role) or {}
        for key, count in (summ.get("images") or {}).items():
            rows.append({"used for": role, "dataset/split/label": key, "images": count})
        for key, count in (summ.get("groups") or {}).items():
            rows.append({"used for": role, "dataset/split/label": f"{key} (groups)", "images": count})
    return pd.DataFrame(rows, columns=["used for", "dataset/split/label", "images"])


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + " "))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = v
        elif isinstance(v, str) and len(v) < 40:
            out[key] = v
    return out


def per_model_table(data: dict | None, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Top-level figures per model from a ``{"models": {name: {...}}}`` file (bench, cam check).

    Nested detail (a bench ``profile``, per-image lists) is left out. A list of rows with a
    ``model`` field is also accepted. Empty without data.
    """
    if not data:
        return pd.DataFrame()
    models = data.get("models", data.get("results"))
    rows = []
    if isinstance(models, dict):
        rows = [{"model": n, **{k: x for k, x in v.items() if not isinstance(x, (dict, list))}}
                for n, v in models.items() if isinstance(v, dict)]
    elif isinstance(models, list):
        rows = [{"model": r.get("model", ""), **_flatten({k: v for k, v in r.items() if k != "model"})}
                for r in models if isinstance(r, dict)]
    df = pd.DataFrame(rows)
    if names is not None and not df.empty:
        df = df[df["model"].isin(list(names) + [BASELINE])]
    return df.reset_index(drop=True)


# --------------------------------------------------------------------------- tables for people

MISSING = "n/a"
#: Human names, with units, of the raw field names found in bench.json, cam_check.json, manifests.
HUMAN_NAMES = {
    "input_size": "input size (px)", "weights": "weights file", "predict_ms": "predict, one image (ms)",
    "floor_ms": "floor, one image (ms)", "predict_ratio": "predict / floor (ratio)",
    "gradcam_ms": "Grad-CAM, one image (ms)", "gradcam_ratio": "Grad-CAM / predict (ratio)",
    "gradcam_naive_ms": "naive tf-keras-vis Grad-CAM (ms)", "gradcam_naive_ratio": "naive / ours (ratio)",
    "batch_img_s": "batch predict (images/s)", "batch_floor_img_s": "batch floor (images/s)",
    "batch_ratio": "batch / floor (ratio)", "train_img_s": "training (images/s)",
    "train_memory_img_s": "training from memory (images/s)", "pipeline_ratio": "pipeline / memory (ratio)",
    "seconds": "time measured (s)", "n_images": "images scored", "n_flat_maps": "flat maps (images)",
    "mean_energy_on_cells": "mean share of map energy on cells (0-1)",
    "median_energy_on_cells": "median share of map energy on cells (0-1)",
    "share_of_fields_above_0.8": "fields with over 80% of energy on cells (share, 0-1)",
    "share_of_cells_above_0.6": "cells with 60% or more of the energy on the cell (share, 0-1)",
    "n_cells": "cells scored",
    "mask_area_mean": "mean share of field covered by cells (0-1)",
}


def human_name(col: str) -> str:
    """A column name for people: the known ones from :data:`HUMAN_NAMES`, else underscores to
    spaces with the unit of a ``_ms``/``_s``/``_mb`` suffix in brackets."""
    if col in HUMAN_NAMES:
        return HUMAN_NAMES[col]
    for suffix, unit in (("_ms", "ms"), ("_img_s", "images/s"), ("_mb", "MB"), ("_s", "s")):
        if col.endswith(suffix):
            return f"{col[: -len(suffix)].replace('_', ' ')} ({unit})"
    return col.replace("_", " ")


def human_columns(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns={c: human_name(c) for c in df.columns})


def _is_missing(v) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def shown_name(col: str, percent: Sequence[str] = (), units: dict[str, str] | None = None) -> str:
    """The name :func:`display_table` gives ``col``."""
    units = units or {}
    return f"{col} (%)" if col in percent else (f"{col} ({units[col]})" if col in units else col)


def display_table(df: pd.DataFrame, percent: Sequence[str] = (), decimals: dict[str, int] | None = None,
                  units: dict[str, str] | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """A copy of ``df`` for a page: no missing value shows as ``None``/``NaN``, units in the names.

    * ``percent`` columns (ratios 0-1) become percentages, named ``"<name> (%)"``;
    * ``decimals`` columns keep that many decimals; ``units`` appends ``" (<unit>)"`` to a name;
    * a numeric column without missing values stays numeric (sortable by value); one with missing
      values becomes text, formatted the same, with :data:`MISSING` in the gaps;
    * text columns get :data:`MISSING` for a missing value.

    Returns the frame and ``{shown column: printf format}`` for the numeric columns left numeric.
    """
    decimals, units = dict(decimals or {}), dict(units or {})
    out = pd.DataFrame(index=df.index)
    formats: dict[str, str] = {}
    for col in df.columns:
        v = df[col]
        name = shown_name(col, percent, units)
        numeric = pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v)
        if col in percent or col in decimals or numeric:
            x = pd.to_numeric(v, errors="coerce").astype(float) * (100 if col in percent else 1)
            digits = 1 if col in percent else decimals.get(col)
            if digits is None:  # plain numbers: integers as integers, else 3 decimals
                whole = x.dropna()
                digits = 0 if len(whole) and bool((whole == whole.round()).all()) else 3
            fmt = f"%.{digits}f" + ("%%" if col in percent else "")
            if x.isna().any():
                out[name] = [MISSING if pd.isna(a) else fmt % a for a in x]
            else:
                out[name] = x.round(digits).astype(int) if digits == 0 else x
                formats[name] = fmt
        elif pd.api.types.is_bool_dtype(v):
            out[name] = v.map({True: "yes", False: "no"})
        else:
            out[name] = [MISSING if _is_missing(a) else a for a in v]
    return out.reset_index(drop=True), formats


def bar_values(values: Iterable, percent: bool = True) -> tuple[list[float], list[str]]:
    """Heights and labels for a bar chart in which no bar goes unseen: a missing value is drawn at
    height 0 labelled ``n/a (undefined)``, a zero as ``0 (zero)``, others as a percentage (or with
    3 decimals)."""
    ys, texts = [], []
    for v in values:
        if _is_missing(v):
            ys.append(0.0)
            texts.append("n/a (undefined)")
        else:
            ys.append(float(v))
            texts.append("0 (zero)" if float(v) == 0 else (f"{float(v):.1%}" if percent else f"{float(v):.3f}"))
    return ys, texts


# --------------------------------------------------------------------------- Classify page steps

@dataclass
class ImageInput:
    """One image to classify: a display name and its bytes (kept in memory, never on disk)."""

    name: str
    data: bytes

    @cached_property
    def digest(self) -> str:
        """sha256 of the bytes: the key of this image's results."""
        return hashlib.sha256(self.data).hexdigest()


def decode(item: ImageInput) -> tuple[np.ndarray | None, str]:
    """``(rgb, "")`` or ``(None, message)`` for an unreadable file."""
    buf = io.BytesIO(item.data)
    buf.name = item.name
    try:
        return read_image(buf), ""
    except ImageReadError as exc:
        return None, str(exc)


def make_explainer(loaded, method: str, scorecam_channels: int = 64):
    """An :class:`~leukemia_core.explain.Explainer` for a loaded model.

    Score-CAM uses at most ``scorecam_channels`` channels (the Explainer caps this at the number
    the explained layer has).
    """
    from .explain import Explainer

    return Explainer(loaded.model, loaded.cam_layer, method, scorecam_max_n=scorecam_channels)


def explain_image(rgb: np.ndarray, predictor, explainer, threshold: float = 0.5) -> tuple[float, np.ndarray]:
    """P(ALL) and the CAM (``float32 (S, S)`` in [0, 1], on the padded square input) of one image.

    The map explains the class the image is called at ``threshold``: ALL evidence for an ALL call,
    HEM evidence for a HEM call (a second pass only for HEM calls).
    """
    p, maps = explainer.explain_called(predictor.prepare(rgb), threshold)
    return float(p[0]), np.asarray(maps[0], np.float32)


def heatmap_on_image(heatmap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """See :func:`leukemia_core.explain.heatmap_on_image` (imported lazily: it pulls in Keras)."""
    from .explain import heatmap_on_image as to_image

    return to_image(heatmap, shape)


def display_copy(rgb: np.ndarray, max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """A copy small enough to show (aspect kept); the image itself when already small."""
    import cv2

    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def call_of(p_all: float | None, threshold: float) -> str:
    """``"ALL"``/``"HEM"``, or ``""`` without a probability."""
    from .inference import label_of

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
