"""The files the app reads from ``model_weights/``, and what to do when one is missing.

* ``<model>.manifest.json``, ``<model>.history.json``, ``<model>.weights.npz`` (from ``train``),
* ``<model>.report.json`` and ``colour_baseline.report.json`` (from ``evaluate`` / ``baseline``),
* ``cam_check.json`` (from ``cam-check``), ``bench.json`` (from ``bench``),
* ``reference_published.json`` (the reference system's published numbers, kept for context).

A missing file is not an error here: loaders return ``None`` and :func:`how_to_make` gives the
command that produces the file. A file that is present but unreadable raises
:class:`~leukemia_core.errors.LeukemiaCoreError` with a message for a person.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import LeukemiaCoreError
from ..evaluation.baseline import NAME as BASELINE
from ..evaluation.evaluate import REPORT_FORMAT
from ..models import list_models
from ..models.weights import read_manifest
from ..jsonio import read_json
from ..paths import ARTEFACT_SUFFIXES, artefact_file, artefact_path, weights_dir_label, weights_dir_or_default

REFERENCE_FILE = "reference_published.json"

CAM_CHECK_FILE = "cam_check.json"

BENCH_FILE = "bench.json"

#: Environment variable restricting the models the app offers (comma-separated names).
APP_MODELS_ENV = "LEUKEMIA_APP_MODELS"


def app_models() -> list[str]:
    """Models the app offers: ``$LEUKEMIA_APP_MODELS`` (comma list) if set, else the registry's.

    Unregistered names in the variable are dropped; if none is left, the registry's list is used.
    """
    registered = list_models(include_test=True)
    wanted = [n.strip() for n in os.environ.get(APP_MODELS_ENV, "").split(",") if n.strip()]
    chosen = [n for n in wanted if n in registered]
    return chosen or list_models()


#: What the default model is chosen by, for a reader.
DEFAULT_MODEL_RULE = ("the highest cross-lab validation score (the mean ROC AUC over the labs' validation cells "
                      "that chose each model's epoch)")


def selection_score(name: str, wdir: Path | None = None) -> float | None:
    """The score that chose ``name``'s epoch (its manifest's ``training.selected_epoch.val_score``)."""
    try:
        man = read_manifest(name, wdir, missing_ok=True) or {}
    except LeukemiaCoreError:
        return None
    score = ((man.get("training") or {}).get("selected_epoch") or {}).get("val_score")
    return float(score) if isinstance(score, (int, float)) else None


def default_model(models: Sequence[str], wdir: Path | None = None) -> str | None:
    """The model with :data:`DEFAULT_MODEL_RULE`; the first offered when none has a score (None for
    an empty list)."""
    scored = [(s, -i, m) for i, m in enumerate(models) if (s := selection_score(m, wdir)) is not None]
    return max(scored)[2] if scored else (models[0] if models else None)


def how_to_make(kind: str, name: str = "NAME") -> str:
    """The command that produces a missing file of ``kind``.

    ``kind`` is one of ``weights``, ``report``, ``baseline``, ``cam_check``, ``bench``,
    ``reference``.
    """
    commands = {
        "weights": f"python -m leukemia_core train --model {name} --data /path/to/dataset "
                   f"--weights-dir model_weights   (writes {artefact_file(name, 'weights')}, "
                   f"{artefact_file(name, 'manifest')} and {artefact_file(name, 'history')})",
        "report": f"python -m leukemia_core evaluate --model {name} --data DIR "
                  f"--out model_weights/{artefact_file(name, 'report')}",
        "baseline": f"python -m leukemia_core baseline --data DIR --out model_weights/{artefact_file(BASELINE, 'report')}",
        "cam_check": f"python -m leukemia_core cam-check --model all --data /path/to/aria_all "
                     f"--out model_weights/{CAM_CHECK_FILE}",
        "bench": f"python -m leukemia_core bench --out model_weights/{BENCH_FILE}",
        "reference": f"restore model_weights/{REFERENCE_FILE} from the project's repository",
    }
    return commands[kind]


def missing_what(kind: str, name: str = "", wdir: Path | None = None) -> str:
    """One sentence saying which file of ``kind`` is missing where."""
    where = weights_dir_label(wdir)
    return {
        "weights": f"No trained weights for model '{name}' in {where}.",
        "report": f"No evaluation report for model '{name}' in {where} (expected {artefact_file(name, 'report')}).",
        "baseline": f"No colour-only baseline report in {where} (expected {artefact_file(BASELINE, 'report')}).",
        "cam_check": f"No Grad-CAM check in {where} (expected {CAM_CHECK_FILE}).",
        "bench": f"Speed: not measured yet (no {BENCH_FILE} in {where}).",
        "reference": f"The published reference figures are not in {where} (expected {REFERENCE_FILE}).",
    }[kind]


def load_history(name: str, wdir: Path | None = None) -> pd.DataFrame | None:
    """``<name>.history.json`` as a table, one row per epoch, or None.

    Adds ``step``: the epoch's position over all phases (a pretrained run's ``head`` phase comes
    before ``main``), so curves of both phases draw as one line.
    """
    data = read_json(artefact_path(name, "history", wdir))
    if data is None:
        return None
    if not isinstance(data, list):
        raise LeukemiaCoreError(f"{artefact_file(name, 'history')}: expected a list of epochs")
    df = pd.DataFrame(data)
    if df.empty:
        return df
    df.insert(0, "step", np.arange(1, len(df) + 1))
    df.insert(0, "model", name)
    return df


#: History columns that are curves, longest first (``val_<dataset>_<metric>`` is split on these).
CURVE_METRICS = ("balanced_accuracy", "learning_rate", "accuracy", "score", "loss", "auc")


def curve_of(col: str) -> tuple[str, str] | None:
    """``(subset, metric)`` of a history column, or None: ``loss`` -> (training, loss);
    ``val_cnmc_auc`` -> (validation, cnmc, auc); ``val_score`` -> (validation, score)."""
    subset, rest = ("validation", col[4:]) if col.startswith("val_") else ("training", col)
    for m in CURVE_METRICS:
        if rest == m or rest.endswith("_" + m):
            ds = rest[: -len(m)].strip("_")
            return (f"{subset}, {ds}" if ds else subset), m
    return None


def history_curves(histories: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """The training curves of :func:`load_history` tables in long form: one row per model, epoch
    and curve, with ``subset`` (training, or validation and its dataset), ``metric`` and ``value``
    beside the epoch's own columns. Empty when no table holds a numeric curve."""
    frames = [h for h in histories if h is not None and not h.empty]
    if not frames:
        return pd.DataFrame(columns=["model", "step", "subset", "metric", "value"])
    hist = pd.concat(frames, ignore_index=True)
    parts = [hist.assign(subset=cm[0], metric=cm[1], value=hist[col]) for col in hist.columns
             if (cm := curve_of(col)) is not None and pd.api.types.is_numeric_dtype(hist[col])]
    if not parts:
        return pd.DataFrame(columns=["model", "step", "subset", "metric", "value"])
    return pd.concat(parts, ignore_index=True).dropna(subset=["value"])


def report_path(name: str, wdir: Path | None = None) -> Path:
    """``<wdir>/<name>.report.json`` (default folder: :func:`weights_dir`)."""
    return artefact_path(name, "report", wdir)


def load_report(name: str, wdir: Path | None = None) -> dict | None:
    """``<name>.report.json`` or None; raises LeukemiaCoreError for a file of another format."""
    rep = read_json(report_path(name, wdir))
    if rep is None:
        return None
    if not isinstance(rep, dict) or rep.get("format") != REPORT_FORMAT:
        found = rep.get("format") if isinstance(rep, dict) else None
        raise LeukemiaCoreError(f"{report_path(name, wdir)}: not a {REPORT_FORMAT} report"
                                + (f" (it is {found}: rerun the command that writes it)" if found else ""))
    return rep


def report_names(wdir: Path | None = None, models: Sequence[str] | None = None) -> list[str]:
    """Names with a ``.report.json`` in ``wdir``: the given models' order first, the baseline last."""
    wdir = weights_dir_or_default(wdir)
    suffix = ARTEFACT_SUFFIXES["report"]
    found = sorted(p.name[: -len(suffix)] for p in wdir.glob("*" + suffix)) if wdir.is_dir() else []
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
    return read_json(weights_dir_or_default(wdir) / REFERENCE_FILE)


def load_cam_check(wdir: Path | None = None) -> dict | None:
    """``cam_check.json`` or None."""
    return read_json(weights_dir_or_default(wdir) / CAM_CHECK_FILE)


def load_bench(wdir: Path | None = None) -> dict | None:
    """``bench.json`` or None."""
    return read_json(weights_dir_or_default(wdir) / BENCH_FILE)


def short_sha(sha: str | None) -> str:
    """The first 12 characters of a commit or file hash (``""`` for None)."""
    return (sha or "")[:12]


def report_is_current(report: dict, manifest: dict | None) -> bool:
    """False when the report was computed from another weights file than the manifest describes."""
    sha = report.get("weights_sha256")
    return sha is None or manifest is None or sha == manifest.get("weights_sha256")
